//! Scenario tests of the responder, driven by the DISCOVERs that real clients sent (captured
//! dhclient, udhcpc, iPXE, OVMF, AAVMF and U-Boot) and by variants derived from them: the whole
//! DISCOVER-OFFER-REQUEST-ACK exchange, renewing, init-reboot, relays, BOOTP with and without the
//! cookie, proxyDHCP, DECLINE, RELEASE, INFORM and a restart from persisted leases. The captured
//! REQUESTs, renewals, declines, releases, relayed and BOOTP packets themselves, unedited, are in
//! `responder_captured.rs`.

#![allow(clippy::disallowed_methods, reason = "a test is a driver: it reads its fixture files")]

mod support;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use lifeboat_dhcp::config::{Mac, Reservation};
use lifeboat_dhcp::destination::{CLIENT_PORT, PXE_PORT, SERVER_PORT};
use lifeboat_dhcp::scope::{InterfaceAddr, resolve};
use lifeboat_dhcp::{Arrival, Destination, Handled, Lease, LeaseChange, Level, Responder, Settings};
use support::{Packet, Seen};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 1);
const IFINDEX: u32 = 4;
const NOW: u64 = 1_800_000_000;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn interfaces() -> Vec<InterfaceAddr> {
    vec![
        InterfaceAddr { name: "lo".into(), index: 1, address: ip("127.0.0.1"), prefix: 8 },
        InterfaceAddr { name: "lab0".into(), index: IFINDEX, address: SERVER, prefix: 24 },
        InterfaceAddr { name: "pxe0".into(), index: 5, address: ip("192.168.50.2"), prefix: 24 },
    ]
}

/// lab0: 10.7.0.100-10.7.0.149, a relayed subnet 10.8.0.0/24, proxyDHCP on pxe0.
fn settings() -> Settings {
    let ranges: Vec<_> = ["10.7.0.100,10.7.0.149,2h", "10.8.0.10,10.8.0.20,255.255.255.0", "192.168.50.0,proxy"]
        .iter()
        .map(|r| r.parse().unwrap())
        .collect();
    let mut s = Settings::new(resolve(&ranges, &interfaces(), &[]).unwrap());
    s.boot_rules = [
        "ipxe=boot.ipxe",
        "bios=undionly.kpxe",
        "efi-x64=snponly.efi",
        "efi-arm64=grubaa64.efi",
        "efi-x64-http=images/boot.efi",
    ]
    .iter()
    .map(|r| r.parse().unwrap())
    .collect();
    s.default_boot = Some("pxelinux.0".parse().unwrap());
    s.extra_options = vec!["option:router,10.7.0.254".parse().unwrap()];
    s.reservations = vec!["02:00:00:00:00:aa,10.7.0.5,printer".parse().unwrap()];
    s
}

fn on_lab() -> Arrival {
    support::broadcast_arrival(IFINDEX, SERVER)
}

fn replied(h: &Handled) -> Seen {
    let reply = h.reply.as_ref().unwrap_or_else(|| panic!("no reply: {}", h.explanation));
    Seen::parse(&reply.bytes)
}

/// DISCOVER then REQUEST (selecting) for `discover`; returns the OFFER, the ACK and the change.
fn full_exchange(r: &mut Responder, discover: &Packet, arrival: &Arrival) -> (Seen, Seen, Handled) {
    let offer = r.handle(&discover.bytes(), arrival, NOW);
    let o = replied(&offer);
    assert_eq!(o.message_type(), Some(2), "{}", offer.explanation);
    assert!(offer.change.is_none(), "an offer is not persisted");
    let request = discover
        .clone()
        .message_type(3)
        .with_option(50, &o.yiaddr().octets())
        .with_option(54, &arrival.local_address.octets());
    let ack = r.handle(&request.bytes(), arrival, NOW + 1);
    let a = replied(&ack);
    assert_eq!(a.message_type(), Some(5), "{}", ack.explanation);
    (o, a, ack)
}

struct FirmwareCase {
    fixture: &'static str,
    file: &'static str,
    rule: &'static str,
    vendor_class: Option<&'static [u8]>,
}

#[test]
fn each_firmware_gets_its_boot_file_through_a_full_exchange() {
    let cases = [
        FirmwareCase {
            fixture: "captured-ipxe-bios-discover.hex",
            file: "boot.ipxe",
            rule: "--dhcp-boot-rule ipxe",
            vendor_class: Some(b"PXEClient"),
        },
        FirmwareCase {
            fixture: "captured-ipxe-efi-x64-discover.hex",
            file: "boot.ipxe",
            rule: "--dhcp-boot-rule ipxe",
            vendor_class: Some(b"PXEClient"),
        },
        FirmwareCase {
            fixture: "captured-ovmf-uefi-discover.hex",
            file: "snponly.efi",
            rule: "--dhcp-boot-rule efi-x64",
            vendor_class: Some(b"PXEClient"),
        },
        FirmwareCase {
            fixture: "captured-aavmf-uefi-arm64-discover.hex",
            file: "grubaa64.efi",
            rule: "--dhcp-boot-rule efi-arm64",
            vendor_class: Some(b"PXEClient"),
        },
        // U-Boot sends option 93 = 22 (ARM64 U-Boot), which no rule here names.
        FirmwareCase {
            fixture: "captured-uboot-arm64-discover.hex",
            file: "pxelinux.0",
            rule: "--dhcp-boot",
            vendor_class: None,
        },
        FirmwareCase {
            fixture: "captured-dhclient-discover.hex",
            file: "pxelinux.0",
            rule: "--dhcp-boot",
            vendor_class: None,
        },
        FirmwareCase {
            fixture: "captured-udhcpc-discover.hex",
            file: "pxelinux.0",
            rule: "--dhcp-boot",
            vendor_class: None,
        },
    ];
    for case in cases {
        let mut r = Responder::new(settings(), []);
        let discover = Packet::fixture(case.fixture);
        let (offer, ack, handled) = full_exchange(&mut r, &discover, &on_lab());
        let name = case.fixture;
        assert_eq!(offer.yiaddr(), ack.yiaddr(), "{name}");
        assert!(
            (100..150).contains(&offer.yiaddr().octets()[3]) && offer.yiaddr().octets()[..3] == [10, 7, 0],
            "{name}: {}",
            offer.yiaddr()
        );
        for seen in [&offer, &ack] {
            assert_eq!(seen.file(), case.file, "{name}");
            assert_eq!(seen.siaddr(), SERVER, "{name}: next server defaults to our address");
            assert_eq!(seen.option(54), Some(&SERVER.octets()[..]), "{name}");
            assert_eq!(seen.option(1), Some(&[255, 255, 255, 0][..]), "{name}");
            assert_eq!(seen.option(3), Some(&[10, 7, 0, 254][..]), "{name}");
            assert_eq!(seen.u32_option(51), Some(7200), "{name}");
            assert_eq!(seen.xid(), discover.header[4..8], "{name}");
            assert_eq!(seen.option(60), case.vendor_class, "{name}");
            assert_eq!(seen.option(43).is_some(), case.vendor_class.is_some(), "{name}: PXE discovery control");
        }
        assert_eq!(handled.explanation.boot, Some((case.file.to_owned(), case.rule.to_owned())), "{name}");
        assert_eq!(handled.explanation.level, Level::Info);
        match handled.change {
            Some(LeaseChange::Upsert(Lease { address, expires, .. })) => {
                assert_eq!(address, ack.yiaddr(), "{name}");
                assert_eq!(expires, Some(NOW + 1 + 7200), "{name}");
            }
            other => panic!("{name}: ACK without a lease to persist: {other:?}"),
        }
    }
}

#[test]
fn uefi_http_boot_gets_a_url() {
    let mut r = Responder::new(settings(), []);
    let discover = Packet::new([2, 0, 0, 0, 0, 0x16], &[(53, &[1]), (93, &[0, 16]), (60, b"HTTPClient:Arch:00016")]);
    let offer = replied(&r.handle(&discover.bytes(), &on_lab(), NOW));
    assert_eq!(offer.file(), "http://10.7.0.1/images/boot.efi");
    assert_eq!(offer.option(60), Some(&b"HTTPClient"[..]));
}

#[test]
fn destinations_follow_rfc_2131() {
    let mut r = Responder::new(settings(), []);
    let mac = [2, 0, 0, 0, 0, 1];
    let discover = Packet::new(mac, &[(53, &[1])]);
    let unicast = r.handle(&discover.bytes(), &on_lab(), NOW);
    let yiaddr = replied(&unicast).yiaddr();
    assert_eq!(
        unicast.reply.unwrap().to,
        Destination::Hardware { interface: IFINDEX, mac: lifeboat_dhcp::Mac(mac), address: yiaddr }
    );
    let broadcast = r.handle(&discover.clone().broadcast_flag(true).bytes(), &on_lab(), NOW);
    assert_eq!(broadcast.reply.unwrap().to, Destination::Broadcast { interface: IFINDEX });

    // Renewing: unicast to ciaddr, no option 50 or 54 needed.
    let (_, ack, _) = full_exchange(&mut r, &discover, &on_lab());
    let renew = Packet::new(mac, &[(53, &[3])]).ciaddr(ack.yiaddr());
    let renewed = r.handle(&renew.bytes(), &on_lab(), NOW + 3600);
    assert_eq!(replied(&renewed).message_type(), Some(5), "{}", renewed.explanation);
    assert_eq!(replied(&renewed).yiaddr(), ack.yiaddr());
    assert_eq!(renewed.reply.unwrap().to, Destination::Unicast(SocketAddrV4::new(ack.yiaddr(), CLIENT_PORT)));
    assert!(
        matches!(renewed.change, Some(LeaseChange::Upsert(Lease { expires: Some(e), .. })) if e == NOW + 3600 + 7200)
    );
}

#[test]
fn init_reboot_acks_its_address_and_naks_a_foreign_one() {
    let mut r = Responder::new(settings(), []);
    let mac = [2, 0, 0, 0, 0, 2];
    let (_, ack, _) = full_exchange(&mut r, &Packet::new(mac, &[(53, &[1])]), &on_lab());
    let reboot = Packet::new(mac, &[(53, &[3]), (50, &ack.yiaddr().octets())]);
    assert_eq!(replied(&r.handle(&reboot.bytes(), &on_lab(), NOW + 10)).message_type(), Some(5));

    // The client moved here from another network: NAK, broadcast, nothing persisted.
    let moved = Packet::new(mac, &[(53, &[3]), (50, &[192, 168, 1, 77])]);
    let nak = r.handle(&moved.bytes(), &on_lab(), NOW + 20);
    let seen = replied(&nak);
    assert_eq!((seen.message_type(), seen.yiaddr()), (Some(6), Ipv4Addr::UNSPECIFIED));
    assert_eq!(nak.reply.unwrap().to, Destination::Broadcast { interface: IFINDEX });
    assert!(nak.change.is_none());
    assert!(nak.explanation.outcome.contains("not on this network"), "{}", nak.explanation);

    // Clients without a lease here are answered only by an authoritative server (below they are
    // ignored: `unknown_clients_are_answered_only_when_authoritative`).
    let mut settings = settings();
    settings.authoritative = true;
    let mut r = Responder::new(settings, []);
    let (_, ack, _) = full_exchange(&mut r, &Packet::new(mac, &[(53, &[1])]), &on_lab());
    // Another client asks for the first one's address.
    let thief = Packet::new([2, 0, 0, 0, 0, 3], &[(53, &[3]), (50, &ack.yiaddr().octets())]);
    assert_eq!(replied(&r.handle(&thief.bytes(), &on_lab(), NOW + 30)).message_type(), Some(6));
    // An address inside the subnet but outside the range.
    let outside = Packet::new([2, 0, 0, 0, 0, 4], &[(53, &[3]), (50, &[10, 7, 0, 60])]);
    let h = r.handle(&outside.bytes(), &on_lab(), NOW + 30);
    let nak = replied(&h);
    assert_eq!(nak.message_type(), Some(6));
    assert!(h.explanation.outcome.contains("outside the range"));
    // The NAK's message (option 56) is for the client's log, which knows nothing of our flags.
    let message = String::from_utf8_lossy(nak.option(56).expect("a NAK says why")).into_owned();
    assert_eq!(message, "address is outside the range this server hands out");
}

#[test]
fn unknown_clients_are_answered_only_when_authoritative() {
    // A client rebooting with an address it got elsewhere (or before this server lost its
    // database): no lease, no offer, no reservation here, no server identifier.
    let stranger = Packet::new([2, 0, 0, 0, 0, 7], &[(53, &[3]), (50, &[10, 7, 0, 120])]);
    // Another stranger asking for the same address (which the first one holds, once it is
    // answered).
    let taken = Packet::new([2, 0, 0, 0, 0, 8], &[(53, &[3]), (50, &[10, 7, 0, 120])]);

    let mut strict = Responder::new(settings(), []);
    for request in [&stranger, &taken] {
        let h = strict.handle(&request.bytes(), &on_lab(), NOW);
        assert!(h.reply.is_none() && h.change.is_none(), "RFC 2131 §4.3.2: silent, got {}", h.explanation);
        assert!(h.explanation.outcome.contains("no lease here"), "{}", h.explanation);
    }
    // Wrong network is NAKed either way (RFC 2131 §4.3.2 SHOULD).
    let moved = Packet::new([2, 0, 0, 0, 0, 9], &[(53, &[3]), (50, &[192, 168, 1, 77])]);
    assert_eq!(replied(&strict.handle(&moved.bytes(), &on_lab(), NOW)).message_type(), Some(6));
    // A reserved host is known without a lease.
    let printer = Packet::new([2, 0, 0, 0, 0, 0xaa], &[(53, &[3]), (50, &[10, 7, 0, 5])]);
    assert_eq!(replied(&strict.handle(&printer.bytes(), &on_lab(), NOW)).message_type(), Some(5));

    let mut settings = settings();
    settings.authoritative = true;
    let mut authoritative = Responder::new(settings, []);
    let h = authoritative.handle(&stranger.bytes(), &on_lab(), NOW);
    assert_eq!((replied(&h).message_type(), replied(&h).yiaddr()), (Some(5), ip("10.7.0.120")), "{}", h.explanation);
    assert!(matches!(h.change, Some(LeaseChange::Upsert(_))), "the lease is rebuilt");
    let h = authoritative.handle(&taken.bytes(), &on_lab(), NOW);
    assert_eq!(replied(&h).message_type(), Some(6), "a NAK at once: {}", h.explanation);
    assert!(h.explanation.outcome.contains("in use by another client"), "{}", h.explanation);
}

#[test]
fn concurrent_clients_never_share_an_address() {
    let mut r = Responder::new(settings(), []);
    let macs: Vec<[u8; 6]> = (0..50u8).map(|n| [2, 0, 0, 1, 0, n]).collect();
    // All 50 DISCOVER before anyone REQUESTs: offers must be distinct and fill the 50-address pool.
    let offers: Vec<Ipv4Addr> = macs
        .iter()
        .map(|m| replied(&r.handle(&Packet::new(*m, &[(53, &[1])]).bytes(), &on_lab(), NOW)).yiaddr())
        .collect();
    let mut distinct = offers.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 50);
    let late = r.handle(&Packet::new([2, 0, 0, 2, 0, 0], &[(53, &[1])]).bytes(), &on_lab(), NOW);
    assert!(late.reply.is_none());
    assert_eq!(late.explanation.level, Level::Warn);
    assert!(late.explanation.outcome.contains("no free address"), "{}", late.explanation);
    for (m, offered) in macs.iter().zip(&offers) {
        let req = Packet::new(*m, &[(53, &[3]), (50, &offered.octets()), (54, &SERVER.octets())]);
        let ack = replied(&r.handle(&req.bytes(), &on_lab(), NOW + 1));
        assert_eq!((ack.message_type(), ack.yiaddr()), (Some(5), *offered));
    }
    assert_eq!(r.counters().naks, 0);
    assert_eq!(r.leases().active_leases(NOW + 1).count(), 50);
}

#[test]
fn an_offer_not_taken_is_released_when_the_client_picks_another_server() {
    let mut s = settings();
    s.scopes[0].pools[0].end = ip("10.7.0.100"); // one address
    let mut r = Responder::new(s, []);
    let a = Packet::new([2, 0, 0, 0, 0, 0xa], &[(53, &[1])]);
    let b = Packet::new([2, 0, 0, 0, 0, 0xb], &[(53, &[1])]);
    let offered = replied(&r.handle(&a.bytes(), &on_lab(), NOW)).yiaddr();
    assert!(r.handle(&b.bytes(), &on_lab(), NOW).reply.is_none(), "reserved for a");
    let elsewhere = a.clone().message_type(3).with_option(50, &[10, 9, 9, 9]).with_option(54, &[10, 7, 0, 99]);
    let h = r.handle(&elsewhere.bytes(), &on_lab(), NOW + 1);
    assert!(h.reply.is_none() && h.change.is_none());
    assert_eq!(replied(&r.handle(&b.bytes(), &on_lab(), NOW + 1)).yiaddr(), offered);
    // And an offer that nobody takes expires on its own.
    let c = Packet::new([2, 0, 0, 0, 0, 0xc], &[(53, &[1])]);
    assert!(r.handle(&c.bytes(), &on_lab(), NOW + 2).reply.is_none());
    assert_eq!(replied(&r.handle(&c.bytes(), &on_lab(), NOW + 1 + 61)).yiaddr(), offered);
}

#[test]
fn decline_quarantines_and_release_frees() {
    let mut r = Responder::new(settings(), []);
    let mac = [2, 0, 0, 0, 0, 0xd];
    let (_, ack, _) = full_exchange(&mut r, &Packet::new(mac, &[(53, &[1])]), &on_lab());
    let addr = ack.yiaddr();
    let decline = Packet::new(mac, &[(53, &[4]), (50, &addr.octets()), (54, &SERVER.octets())]);
    let h = r.handle(&decline.bytes(), &on_lab(), NOW + 5);
    assert!(h.reply.is_none());
    assert!(matches!(&h.change, Some(LeaseChange::Remove { address, .. }) if *address == addr));
    assert_eq!(h.explanation.level, Level::Warn);
    // The same client asks again and must get another address, as must everyone for 10 minutes.
    let again = replied(&r.handle(&Packet::new(mac, &[(53, &[1])]).bytes(), &on_lab(), NOW + 6));
    assert_ne!(again.yiaddr(), addr);

    let (_, ack2, _) = full_exchange(&mut r, &Packet::new(mac, &[(53, &[1])]), &on_lab());
    let release = Packet::new(mac, &[(53, &[7]), (54, &SERVER.octets())]).ciaddr(ack2.yiaddr());
    let h = r.handle(&release.bytes(), &on_lab(), NOW + 7);
    assert!(h.reply.is_none());
    assert!(matches!(&h.change, Some(LeaseChange::Remove { address, .. }) if *address == ack2.yiaddr()));
    assert_eq!(r.leases().active_leases(NOW + 7).count(), 0);
    // Releasing someone else's address does nothing.
    let forged = Packet::new([2, 0, 0, 0, 0, 0xe], &[(53, &[7])]).ciaddr(ack2.yiaddr());
    assert!(r.handle(&forged.bytes(), &on_lab(), NOW + 8).change.is_none());
}

#[test]
fn a_restart_from_persisted_leases_gives_every_client_its_address() {
    let mut first = Responder::new(settings(), []);
    let mut persisted = Vec::new();
    let mut had = Vec::new();
    for n in 0..20u8 {
        let (_, ack, h) = full_exchange(&mut first, &Packet::new([2, 0, 0, 3, 0, n], &[(53, &[1])]), &on_lab());
        let Some(LeaseChange::Upsert(lease)) = h.change else { panic!("no lease") };
        persisted.push(lease);
        had.push(ack.yiaddr());
    }
    // The new process knows only what was persisted; clients come back in reverse order.
    let mut second = Responder::new(settings(), persisted);
    for n in (0..20u8).rev() {
        let offer =
            replied(&second.handle(&Packet::new([2, 0, 0, 3, 0, n], &[(53, &[1])]).bytes(), &on_lab(), NOW + 100));
        assert_eq!(offer.yiaddr(), had[usize::from(n)]);
    }
}

#[test]
fn relayed_requests_use_the_relay_subnet_and_go_back_to_the_relay() {
    let mut r = Responder::new(settings(), []);
    let relay = ip("10.8.0.1");
    let discover =
        Packet::fixture("captured-dhclient-discover.hex").giaddr(relay).with_option(82, &[1, 3, b'p', b'1', b'a']);
    let arrival = Arrival { source: SocketAddrV4::new(relay, SERVER_PORT), ..on_lab() };
    let h = r.handle(&discover.bytes(), &arrival, NOW);
    let offer = replied(&h);
    assert_eq!(offer.yiaddr().octets()[..3], [10, 8, 0]);
    assert_eq!(h.reply.as_ref().unwrap().to, Destination::Relay(SocketAddrV4::new(relay, SERVER_PORT)));
    assert_eq!(offer.option(82), Some(&[1, 3, b'p', b'1', b'a'][..]), "relay agent information echoed");
    assert_eq!(*offer.codes().last().unwrap(), 82, "option 82 comes last");
    assert_eq!(offer.option(54), Some(&SERVER.octets()[..]));
    // A relay for a subnet we do not serve is ignored.
    let stranger = Packet::fixture("captured-dhclient-discover.hex").giaddr(ip("172.16.0.1"));
    assert!(r.handle(&stranger.bytes(), &arrival, NOW).reply.is_none());
}

#[test]
fn bootp_with_and_without_the_cookie() {
    let reserved = [2, 0, 0, 0, 0, 0xaa];
    for cookie in [true, false] {
        let mut r = Responder::new(settings(), []);
        let h = r.handle(&Packet::new(reserved, &[]).bootp(cookie).bytes(), &on_lab(), NOW);
        let reply = h.reply.as_ref().unwrap_or_else(|| panic!("{}", h.explanation));
        assert!(reply.bytes.len() >= 300, "cookie={cookie}: {} bytes", reply.bytes.len());
        let seen = Seen::parse(&reply.bytes);
        assert_eq!(seen.yiaddr(), ip("10.7.0.5"), "the reservation");
        assert_eq!(seen.file(), "pxelinux.0");
        assert_eq!(seen.siaddr(), SERVER);
        assert_eq!(seen.message_type(), None, "no DHCP message type in a BOOTP reply");
        if cookie {
            assert_eq!(seen.codes(), [1, 3], "RFC 1497 vendor area: mask and router");
        } else {
            assert!(reply.bytes[236..].iter().all(|b| *b == 0));
        }
        assert!(
            matches!(h.change, Some(LeaseChange::Upsert(Lease { expires: None, .. }))),
            "BOOTP leases are permanent"
        );
    }
    // An unknown MAC is ignored unless --dhcp-bootp-dynamic.
    let stranger = Packet::new([2, 0, 0, 0, 0, 0xbb], &[]).bootp(true);
    let mut r = Responder::new(settings(), []);
    let h = r.handle(&stranger.bytes(), &on_lab(), NOW);
    assert!(h.reply.is_none());
    assert!(h.explanation.outcome.contains("--dhcp-bootp-dynamic"), "{}", h.explanation);
    let mut dynamic = settings();
    dynamic.bootp_dynamic = true;
    let mut r = Responder::new(dynamic, []);
    let seen = replied(&r.handle(&stranger.bytes(), &on_lab(), NOW));
    assert_eq!(seen.yiaddr().octets()[..3], [10, 7, 0]);
}

#[test]
fn reservations() {
    let mut s = settings();
    s.reservations.push(Reservation { boot_file: Some("special.img".into()), ..s.reservations[0].clone() });
    s.reservations.remove(0);
    let mut r = Responder::new(s, []);
    let mac = [2, 0, 0, 0, 0, 0xaa];
    // A PXE ROM gets the host's image; the iPXE that the image may chainload gets the `ipxe`
    // rule's file, so the chainload ends. OVMF and iPXE identify the client differently (option
    // 61): the reserved address still goes to the same MAC.
    let (offer, _, h) =
        full_exchange(&mut r, &Packet::fixture("captured-ovmf-uefi-discover.hex").with_mac(mac), &on_lab());
    assert_eq!((offer.yiaddr(), offer.file()), (ip("10.7.0.5"), "special.img".to_owned()));
    assert_eq!(h.explanation.boot.unwrap().1, "host 02:00:00:00:00:aa");
    let (offer, _, h) =
        full_exchange(&mut r, &Packet::fixture("captured-ipxe-bios-discover.hex").with_mac(mac), &on_lab());
    assert_eq!((offer.yiaddr(), offer.file()), (ip("10.7.0.5"), "boot.ipxe".to_owned()));
    assert_eq!(h.explanation.boot.unwrap().1, "--dhcp-boot-rule ipxe");
    // The reserved address is never given to anyone else, even when asked for: a stranger gets
    // no answer here (an authoritative server would NAK it).
    let other = Packet::new([2, 0, 0, 0, 0, 0xab], &[(53, &[3]), (50, &[10, 7, 0, 5])]);
    let h = r.handle(&other.bytes(), &on_lab(), NOW);
    assert!(h.reply.is_none() && h.change.is_none(), "{}", h.explanation);
    // The reserved host asking for another address is told no.
    let wrong = Packet::new(mac, &[(53, &[3]), (50, &[10, 7, 0, 120])]);
    assert_eq!(replied(&r.handle(&wrong.bytes(), &on_lab(), NOW)).message_type(), Some(6));
    // It finds its reserved address in use and declines it: no address until the quarantine
    // ends, and the log says why.
    let ipxe = Packet::fixture("captured-ipxe-bios-discover.hex").with_mac(mac);
    let decline = ipxe.clone().message_type(4).with_option(50, &[10, 7, 0, 5]).with_option(54, &SERVER.octets());
    assert!(r.handle(&decline.bytes(), &on_lab(), NOW + 1).change.is_some());
    let held = r.handle(&ipxe.bytes(), &on_lab(), NOW + 2);
    assert!(held.reply.is_none());
    assert!(
        held.explanation.outcome.contains("was declined") && held.explanation.outcome.contains("599 s"),
        "{}",
        held.explanation
    );
    assert_eq!(
        replied(&r.handle(&Packet::new(mac, &[(53, &[1])]).bytes(), &on_lab(), NOW + 601)).yiaddr(),
        ip("10.7.0.5")
    );
}

#[test]
fn proxy_dhcp_answers_pxe_clients_with_boot_information_only() {
    let mut r = Responder::new(settings(), []);
    let on_pxe = Arrival { interface: 5, local_address: ip("192.168.50.2"), ..on_lab() };
    let pxe = Packet::fixture("captured-ovmf-uefi-discover.hex");
    let h = r.handle(&pxe.bytes(), &on_pxe, NOW);
    let offer = replied(&h);
    assert_eq!((offer.message_type(), offer.yiaddr()), (Some(2), Ipv4Addr::UNSPECIFIED));
    assert_eq!(offer.file(), "snponly.efi");
    assert_eq!(offer.option(60), Some(&b"PXEClient"[..]));
    assert_eq!(offer.option(54), Some(&[192, 168, 50, 2][..]));
    assert_eq!(offer.option(51), None, "no lease in proxy mode");
    assert!(h.change.is_none());
    // Ordinary clients and REQUESTs are left to the real DHCP server.
    assert!(r.handle(&Packet::fixture("captured-udhcpc-discover.hex").bytes(), &on_pxe, NOW).reply.is_none());
    assert!(r.handle(&pxe.clone().message_type(3).bytes(), &on_pxe, NOW).reply.is_none());
    // Port 4011: the boot-server REQUEST is answered to where it came from.
    let source = SocketAddrV4::new(ip("192.168.50.77"), CLIENT_PORT);
    let boot_server = Arrival { local_port: PXE_PORT, source, ..on_pxe };
    let request = pxe.message_type(3).ciaddr(*source.ip());
    let h = r.handle(&request.bytes(), &boot_server, NOW);
    let ack = replied(&h);
    assert_eq!((ack.message_type(), ack.file()), (Some(5), "snponly.efi".to_owned()));
    assert_eq!(h.reply.unwrap().to, Destination::Unicast(source));
}

#[test]
fn inform_gets_options_without_a_lease() {
    let mut r = Responder::new(settings(), []);
    let inform = Packet::new([2, 0, 0, 0, 0, 0x1f], &[(53, &[8])]).ciaddr(ip("10.7.0.33"));
    let h = r.handle(&inform.bytes(), &on_lab(), NOW);
    let ack = replied(&h);
    assert_eq!((ack.message_type(), ack.yiaddr(), ack.option(51)), (Some(5), Ipv4Addr::UNSPECIFIED, None));
    assert_eq!(ack.option(3), Some(&[10, 7, 0, 254][..]));
    assert_eq!(h.reply.unwrap().to, Destination::Unicast(SocketAddrV4::new(ip("10.7.0.33"), CLIENT_PORT)));
    assert!(h.change.is_none());
}

#[test]
fn floods_and_garbage_are_counted_and_dropped() {
    let mut r = Responder::new(settings(), []);
    let discover = Packet::new([2, 0, 0, 0, 0, 0x99], &[(53, &[1])]).bytes();
    let answered = (0..100).filter(|_| r.handle(&discover, &on_lab(), NOW).reply.is_some()).count();
    assert_eq!(answered, 20);
    assert_eq!(r.counters().rate_limited, 80);
    assert!(r.handle(&discover, &on_lab(), NOW + 1).reply.is_some(), "a new second");
    let h = r.handle(&[1, 2, 3], &on_lab(), NOW);
    assert!(h.reply.is_none() && h.explanation.outcome.contains("malformed"));
    assert_eq!(r.counters().malformed, 1);
    // A packet on an interface without a range.
    let elsewhere = Arrival { interface: 99, ..on_lab() };
    let h = r.handle(&Packet::new([2, 0, 0, 0, 0, 0x98], &[(53, &[1])]).bytes(), &elsewhere, NOW);
    assert!(h.reply.is_none() && h.explanation.outcome.contains("no --dhcp-range"), "{}", h.explanation);
}

#[test]
fn host_boot_files_apply_with_or_without_a_reservation_and_change_while_running() {
    let mut r = Responder::new(settings(), []);
    let uefi = |last: u8| Packet::fixture("captured-ovmf-uefi-discover.hex").with_mac([2, 0, 0, 0, 0, last]);
    let (offer, _, _) = full_exchange(&mut r, &uefi(0xc1), &on_lab());
    assert_eq!(offer.file(), "snponly.efi", "before: the efi-x64 rule");
    let dynamic_address = offer.yiaddr();

    // The dashboard maps 02:..:c1 to an image (no reserved address) and reserves 10.7.0.6 with an
    // image for 02:..:c2.
    let c1: Mac = "02:00:00:00:00:c1".parse().unwrap();
    let c2: Mac = "02:00:00:00:00:c2".parse().unwrap();
    let mut reservations = settings().reservations;
    reservations.push(Reservation {
        mac: c2,
        address: ip("10.7.0.6"),
        name: None,
        boot_file: Some("c2/openwrt.bin".into()),
    });
    r.set_hosts(reservations, BTreeMap::from([(c1, "c1/recovery.img".to_owned())]), Default::default());

    let (offer, _, h) = full_exchange(&mut r, &uefi(0xc1), &on_lab());
    assert_eq!(offer.file(), "c1/recovery.img");
    assert_eq!(offer.yiaddr(), dynamic_address, "the lease is kept");
    assert_eq!(h.explanation.boot.unwrap().1, "host 02:00:00:00:00:c1");
    let (offer, _, _) = full_exchange(&mut r, &uefi(0xc2), &on_lab());
    assert_eq!((offer.yiaddr(), offer.file()), (ip("10.7.0.6"), "c2/openwrt.bin".to_owned()));
    // Plain BOOTP (a U-Boot or netinstall client) gets the host's image too.
    let bootp = Packet::new([2, 0, 0, 0, 0, 0xc2], &[]).bootp(true);
    let seen = replied(&r.handle(&bootp.bytes(), &on_lab(), NOW));
    assert_eq!((seen.yiaddr(), seen.file()), (ip("10.7.0.6"), "c2/openwrt.bin".to_owned()));

    // The mapping is removed: the rules apply again.
    r.set_hosts(settings().reservations, BTreeMap::new(), Default::default());
    let (offer, _, _) = full_exchange(&mut r, &uefi(0xc1), &on_lab());
    assert_eq!(offer.file(), "snponly.efi");
}

#[test]
fn with_an_http_boot_server_ipxe_gets_its_script_url_and_uefi_http_boot_its_file_there() {
    let http = lifeboat_dhcp::boot::HttpBootServer { address: None, port: 4080 };
    let profiled = [2, 0, 0, 0, 0, 0xaa];
    let script_url = "http://10.7.0.1:4080/ipxe?mac=${netX/mac}";

    // A host that boots a profile: its iPXE gets the script, before the `ipxe` rule; its PXE ROM
    // still gets the loader the rules name.
    let mut s = settings();
    s.http_boot = Some(http);
    let mut r = Responder::new(s.clone(), []);
    r.set_hosts(s.reservations.clone(), BTreeMap::new(), [Mac(profiled)].into());
    let ipxe = Packet::fixture("captured-ipxe-bios-discover.hex");
    let (offer, _, h) = full_exchange(&mut r, &ipxe.clone().with_mac(profiled), &on_lab());
    assert_eq!(offer.file(), script_url);
    assert_eq!(h.explanation.boot.unwrap().1, "host 02:00:00:00:00:aa boot profile");
    let (offer, _, _) =
        full_exchange(&mut r, &Packet::fixture("captured-ovmf-uefi-discover.hex").with_mac(profiled), &on_lab());
    assert_eq!(offer.file(), "snponly.efi");

    // Any other iPXE follows the `ipxe` rule as before; without one, it gets the script too.
    let other = [2, 0, 0, 0, 0, 0x33];
    let (offer, _, _) = full_exchange(&mut r, &ipxe.clone().with_mac(other), &on_lab());
    assert_eq!(offer.file(), "boot.ipxe");
    let mut no_rule = s.clone();
    no_rule.boot_rules.retain(|rule| rule.name != "ipxe");
    let mut r = Responder::new(no_rule, []);
    let (offer, _, h) = full_exchange(&mut r, &ipxe.with_mac(other), &on_lab());
    assert_eq!(offer.file(), script_url);
    assert_eq!(h.explanation.boot.unwrap().1, "HTTP boot");

    // UEFI HTTP boot gets its rule's file as a URL on the HTTP boot server, at the address it
    // listens on when that is one address.
    let mut pinned = s;
    pinned.http_boot = Some(lifeboat_dhcp::boot::HttpBootServer { address: Some(ip("10.7.0.2")), port: 8081 });
    let mut r = Responder::new(pinned, []);
    let http_client =
        Packet::new([2, 0, 0, 0, 0, 0x44], &[(53, &[1]), (60, b"HTTPClient:Arch:00016:UNDI:003001"), (93, &[0, 16])]);
    let (offer, _, _) = full_exchange(&mut r, &http_client, &on_lab());
    assert_eq!(offer.file(), "http://10.7.0.2:8081/images/boot.efi");
    assert_eq!(offer.option(60), Some(&b"HTTPClient"[..]));
}

/// A host with both an image (an iPXE loader) and a boot profile: PXE firmware that is not iPXE
/// gets the image over TFTP, and the iPXE it loads gets the script. An iPXE ROM (QEMU's NIC ROM,
/// or a NIC flashed with iPXE) is indistinguishable from that chainloaded iPXE (both send user
/// class `iPXE`), so it gets the script at once and never loads the image.
#[test]
fn a_host_with_an_image_and_a_boot_profile_gives_pxe_firmware_the_image_and_ipxe_the_script() {
    let http = lifeboat_dhcp::boot::HttpBootServer { address: None, port: 4080 };
    let host = [2, 0, 0, 0, 0, 0xab];
    let script_url = "http://10.7.0.1:4080/ipxe?mac=${netX/mac}";
    let mut s = settings();
    s.http_boot = Some(http);
    let mut r = Responder::new(s.clone(), []);
    r.set_hosts(s.reservations, BTreeMap::from([(Mac(host), "loaders/snponly.efi".to_owned())]), [Mac(host)].into());

    let firmware = Packet::fixture("captured-ovmf-uefi-discover.hex").with_mac(host);
    let (offer, _, h) = full_exchange(&mut r, &firmware, &on_lab());
    assert_eq!(offer.file(), "loaders/snponly.efi");
    assert_eq!(h.explanation.boot.unwrap().1, "host 02:00:00:00:00:ab");

    for ipxe in ["captured-ipxe-efi-x64-discover.hex", "captured-ipxe-bios-discover.hex"] {
        let (offer, _, h) = full_exchange(&mut r, &Packet::fixture(ipxe).with_mac(host), &on_lab());
        assert_eq!(offer.file(), script_url, "{ipxe}");
        assert_eq!(h.explanation.boot.unwrap().1, "host 02:00:00:00:00:ab boot profile", "{ipxe}");
    }
}
