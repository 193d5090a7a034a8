//! The responder against packets that real clients sent, byte for byte: every `captured-*.hex`
//! fixture was recorded with tcpdump in network namespaces (its first line names the program and
//! version) and goes into [`Responder::handle`] unedited, except where a test says it derives a
//! variant.
//!
//! The settings mirror the server the packets were captured against: dnsmasq 2.90 on
//! 10.77.0.1/24 with range 10.77.0.100-150 (10 minutes) and the same `--dhcp-reservation` lines, plus
//! the subnet 10.78.0.0/24 behind dhcrelay, which reached the server from 10.79.0.2 with giaddr
//! 10.78.0.1. So the addresses, server identifiers and relay addresses inside the real packets
//! are the ones this responder owns.

#![allow(clippy::disallowed_methods, reason = "a test is a driver: it reads its fixture files")]

mod support;

use std::net::{Ipv4Addr, SocketAddrV4};

use lifeboat_dhcp::destination::{CLIENT_PORT, SERVER_PORT};
use lifeboat_dhcp::scope::{InterfaceAddr, resolve};
use lifeboat_dhcp::{Arrival, ClientKey, Destination, Handled, Lease, LeaseChange, Level, Responder, Settings};
use support::{Packet, Seen, fixture};

/// Our address on the client segment (bridge br0 of the capture).
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const LAN: u32 = 7;
/// Our address towards the relay (veth vrly of the capture).
const UPLINK_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 1);
const UPLINK: u32 = 8;
/// dhcrelay's address on the server side: the relayed packets came from here.
const RELAY_SOURCE: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 2);
/// dhcrelay's address on the client side: giaddr.
const GIADDR: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
const NOW: u64 = 1_800_000_000;
const LEASE_SECS: u64 = 600;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn settings() -> Settings {
    let interfaces = [
        InterfaceAddr { name: "lo".into(), index: 1, address: ip("127.0.0.1"), prefix: 8 },
        InterfaceAddr { name: "br0".into(), index: LAN, address: SERVER, prefix: 24 },
        InterfaceAddr { name: "vrly".into(), index: UPLINK, address: UPLINK_ADDRESS, prefix: 24 },
    ];
    let ranges: Vec<_> = ["10.77.0.100,10.77.0.150,10m", "10.78.0.100,10.78.0.150,255.255.255.0,10m"]
        .iter()
        .map(|r| r.parse().unwrap())
        .collect();
    let mut s = Settings::new(resolve(&ranges, &interfaces, &[]).unwrap());
    s.boot_rules = [
        "ipxe=boot.ipxe",
        "bios=undionly.kpxe",
        "efi-x64=snponly.efi",
        "efi-arm64=grubaa64.efi",
        "arch:22=boot.scr.uimg",
    ]
    .iter()
    .map(|r| r.parse().unwrap())
    .collect();
    s.default_boot = Some("pxelinux.0".parse().unwrap());
    // The capture's --dhcp-host lines: bootpc/bootptest/udhcpc, and the two clients that declined.
    s.reservations = ["7a:91:5d:b5:6f:10,10.77.0.5", "92:c4:ea:b3:89:b9,10.77.0.66", "52:88:57:b2:a4:48,10.77.0.67"]
        .iter()
        .map(|r| r.parse().unwrap())
        .collect();
    s
}

/// A request that arrived on the client segment from `source`.
fn on_lan(source: SocketAddrV4) -> Arrival {
    Arrival { interface: LAN, local_address: SERVER, local_port: SERVER_PORT, source }
}

/// A client without an address yet: 0.0.0.0:68.
fn unconfigured() -> Arrival {
    on_lan(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT))
}

fn from_relay() -> Arrival {
    Arrival {
        interface: UPLINK,
        local_address: UPLINK_ADDRESS,
        local_port: SERVER_PORT,
        source: SocketAddrV4::new(RELAY_SOURCE, SERVER_PORT),
    }
}

fn replied(h: &Handled) -> Seen {
    let reply = h.reply.as_ref().unwrap_or_else(|| panic!("no reply: {}", h.explanation));
    Seen::parse(&reply.bytes)
}

fn destination(h: &Handled) -> Destination {
    h.reply.as_ref().unwrap().to
}

/// The lease a client holds after the ACK that preceded its captured packet.
fn lease_of(p: &Packet, address: Ipv4Addr) -> Lease {
    Lease { key: ClientKey(p.client_key()), mac: p.mac().to_vec(), address, hostname: None, expires: Some(NOW + 300) }
}

/// Checks every reply shares: header fields copied from the request, our server identifier and
/// a size the client accepts.
fn check_reply_to(request: &Packet, seen: &Seen, server_id: Ipv4Addr, name: &str) {
    assert_eq!(seen.xid(), request.xid(), "{name}: xid");
    assert_eq!(seen.bytes[10..12], request.header[10..12], "{name}: flags");
    assert_eq!(seen.bytes[24..44], request.header[24..44], "{name}: giaddr and chaddr");
    assert_eq!(seen.option(54), Some(&server_id.octets()[..]), "{name}: server identifier");
    if let Some(max) = request.max_reply_len() {
        assert!(seen.bytes.len() <= max, "{name}: {} bytes, client accepts {max}", seen.bytes.len());
    }
}

fn in_lan_range(a: Ipv4Addr) -> bool {
    a.octets()[..3] == [10, 77, 0] && (100..=150).contains(&a.octets()[3])
}

struct Firmware {
    discover: &'static str,
    request: Option<&'static str>,
    file: &'static str,
    rule: &'static str,
    vendor_class: Option<&'static [u8]>,
    /// The client set the broadcast flag (EDK2 does, iPXE and U-Boot do not).
    broadcast: bool,
}

#[test]
fn real_firmware_exchanges_get_their_boot_files() {
    let cases = [
        Firmware {
            discover: "captured-ipxe-bios-discover.hex",
            request: Some("captured-ipxe-bios-request.hex"),
            file: "boot.ipxe",
            rule: "--dhcp-boot-rule ipxe",
            vendor_class: Some(b"PXEClient"),
            broadcast: false,
        },
        Firmware {
            discover: "captured-ipxe-efi-x64-discover.hex",
            request: None,
            file: "boot.ipxe",
            rule: "--dhcp-boot-rule ipxe",
            vendor_class: Some(b"PXEClient"),
            broadcast: false,
        },
        Firmware {
            discover: "captured-ovmf-uefi-discover.hex",
            request: Some("captured-ovmf-uefi-request.hex"),
            file: "snponly.efi",
            rule: "--dhcp-boot-rule efi-x64",
            vendor_class: Some(b"PXEClient"),
            broadcast: true,
        },
        Firmware {
            discover: "captured-aavmf-uefi-arm64-discover.hex",
            request: None,
            file: "grubaa64.efi",
            rule: "--dhcp-boot-rule efi-arm64",
            vendor_class: Some(b"PXEClient"),
            broadcast: true,
        },
        Firmware {
            discover: "captured-uboot-arm64-discover.hex",
            request: Some("captured-uboot-arm64-request.hex"),
            file: "boot.scr.uimg",
            rule: "--dhcp-boot-rule arch:22",
            vendor_class: None,
            broadcast: false,
        },
    ];
    for case in cases {
        let name = case.discover;
        let mut r = Responder::new(settings(), []);
        let discover = Packet::fixture(name);
        let h = r.handle(&fixture(name), &unconfigured(), NOW);
        let offer = replied(&h);
        assert_eq!(offer.message_type(), Some(2), "{name}: {}", h.explanation);
        assert!(in_lan_range(offer.yiaddr()), "{name}: {}", offer.yiaddr());
        check_reply_to(&discover, &offer, SERVER, name);
        assert_eq!((offer.file(), offer.siaddr()), (case.file.to_owned(), SERVER), "{name}");
        assert_eq!(offer.option(60), case.vendor_class, "{name}");
        assert_eq!(offer.u32_option(51), Some(600), "{name}");
        assert_eq!(h.explanation.boot, Some((case.file.to_owned(), case.rule.to_owned())), "{name}");
        let expected_to = |address| {
            if case.broadcast {
                Destination::Broadcast { interface: LAN }
            } else {
                Destination::Hardware { interface: LAN, mac: lifeboat_dhcp::Mac(discover.mac()), address }
            }
        };
        assert_eq!(destination(&h), expected_to(offer.yiaddr()), "{name}");

        // The captured REQUEST names the address dnsmasq offered in the capture and server
        // 10.77.0.1 (us): it is ACKed for that address, whatever we offered.
        let Some(request_name) = case.request else { continue };
        let request = Packet::fixture(request_name);
        let asked = Ipv4Addr::from(<[u8; 4]>::try_from(request.option(50).unwrap()).unwrap());
        let h = r.handle(&fixture(request_name), &unconfigured(), NOW + 1);
        let ack = replied(&h);
        assert_eq!((ack.message_type(), ack.yiaddr()), (Some(5), asked), "{request_name}: {}", h.explanation);
        check_reply_to(&request, &ack, SERVER, request_name);
        assert_eq!(ack.file(), case.file, "{request_name}");
        assert_eq!(destination(&h), expected_to(asked), "{request_name}");
        match h.change {
            Some(LeaseChange::Upsert(lease)) => {
                assert_eq!((lease.key.0, lease.address), (request.client_key(), asked), "{request_name}");
                assert_eq!(lease.expires, Some(NOW + 1 + LEASE_SECS), "{request_name}");
            }
            other => panic!("{request_name}: ACK without a lease to persist: {other:?}"),
        }
    }
}

/// U-Boot says option 93 = 22 (ARM64 U-Boot), not 11 (ARM64 UEFI): an `efi-arm64` rule does
/// not catch it, and without a rule of its own it gets the `--dhcp-boot` default.
#[test]
fn uboot_is_not_an_efi_arm64_client() {
    let mut s = settings();
    s.boot_rules.retain(|r| r.name != "arch:22");
    let mut r = Responder::new(s, []);
    let h = r.handle(&fixture("captured-uboot-arm64-discover.hex"), &unconfigured(), NOW);
    assert_eq!(replied(&h).file(), "pxelinux.0");
    assert_eq!(h.explanation.boot.unwrap().1, "--dhcp-boot");
}

#[test]
fn dhclient_selecting_request_is_acked_for_the_offered_address() {
    let name = "captured-dhclient-request.hex";
    let request = Packet::fixture(name);
    let mut r = Responder::new(settings(), []);
    let h = r.handle(&fixture(name), &unconfigured(), NOW);
    let ack = replied(&h);
    assert_eq!((ack.message_type(), ack.yiaddr()), (Some(5), ip("10.77.0.125")), "{}", h.explanation);
    check_reply_to(&request, &ack, SERVER, name);
    assert_eq!(ack.file(), "pxelinux.0");
    assert_eq!(
        destination(&h),
        Destination::Hardware { interface: LAN, mac: lifeboat_dhcp::Mac(request.mac()), address: ip("10.77.0.125") }
    );
}

#[test]
fn bootpc_gets_a_padded_bootp_reply_with_its_reservation() {
    let name = "captured-bootpc-bootrequest.hex";
    let request = Packet::fixture(name);
    assert!(request.cookie && request.options.is_empty(), "bootpc sends the cookie and END only");
    let mut r = Responder::new(settings(), []);
    let h = r.handle(&fixture(name), &unconfigured(), NOW);
    let reply = replied(&h);
    assert!(reply.bytes.len() >= 300, "{} bytes", reply.bytes.len());
    assert_eq!(reply.yiaddr(), ip("10.77.0.5"), "the --dhcp-reservation reservation");
    assert_eq!((reply.file(), reply.siaddr()), ("pxelinux.0".to_owned(), SERVER));
    assert_eq!(reply.xid(), request.xid());
    assert_eq!(reply.bytes[236..240], [99, 130, 83, 99], "an RFC 1497 vendor area for a client that sent the cookie");
    assert_eq!(reply.message_type(), None, "no DHCP options in a BOOTP reply");
    assert_eq!(reply.option(1), Some(&[255, 255, 255, 0][..]));
    assert_eq!(destination(&h), Destination::Broadcast { interface: LAN }, "bootpc sets the broadcast flag");
    match h.change {
        Some(LeaseChange::Upsert(lease)) => {
            assert_eq!((lease.key.0, lease.expires), (request.client_key(), None), "BOOTP leases are permanent");
        }
        other => panic!("no lease to persist: {other:?}"),
    }
}

#[test]
fn bootptest_without_the_cookie_gets_an_all_zero_vendor_area() {
    let name = "captured-bootptest-nocookie-bootrequest.hex";
    let request = Packet::fixture(name);
    assert!(!request.cookie, "{name} must be BOOTP without the magic cookie");
    let mut r = Responder::new(settings(), []);
    // bootptest sent it from the address it had configured, to the server's unicast address.
    let h = r.handle(&fixture(name), &on_lan(SocketAddrV4::new(ip("10.77.0.200"), CLIENT_PORT)), NOW);
    let reply = &h.reply.as_ref().unwrap_or_else(|| panic!("{}", h.explanation)).bytes;
    assert_eq!(reply.len(), 300);
    assert!(reply[236..].iter().all(|b| *b == 0), "vendor area must be empty: {:02x?}", &reply[236..]);
    let seen = Seen::parse(reply);
    assert_eq!((seen.yiaddr(), seen.file(), seen.xid()), (ip("10.77.0.5"), "pxelinux.0".to_owned(), request.xid()));
    assert_eq!(
        destination(&h),
        Destination::Hardware { interface: LAN, mac: lifeboat_dhcp::Mac(request.mac()), address: ip("10.77.0.5") }
    );
}

#[test]
fn renewals_get_a_unicast_ack_to_ciaddr() {
    for (name, address) in [("captured-udhcpc-renew.hex", "10.77.0.5"), ("captured-dhclient-renew.hex", "10.77.0.125")]
    {
        let address = ip(address);
        let request = Packet::fixture(name);
        assert_eq!(request.header[12..16], address.octets(), "{name}: ciaddr");
        assert!(request.option(50).is_none() && request.option(54).is_none(), "{name}: RENEWING carries neither");
        let mut r = Responder::new(settings(), [lease_of(&request, address)]);
        let h = r.handle(&fixture(name), &on_lan(SocketAddrV4::new(address, CLIENT_PORT)), NOW);
        let ack = replied(&h);
        assert_eq!((ack.message_type(), ack.yiaddr()), (Some(5), address), "{name}: {}", h.explanation);
        check_reply_to(&request, &ack, SERVER, name);
        assert_eq!(ack.u32_option(51), Some(600), "{name}");
        assert_eq!(destination(&h), Destination::Unicast(SocketAddrV4::new(address, CLIENT_PORT)), "{name}");
        assert!(
            matches!(h.change, Some(LeaseChange::Upsert(Lease { expires: Some(e), .. })) if e == NOW + LEASE_SECS),
            "{name}: the renewed lease is persisted"
        );
    }
}

#[test]
fn init_reboot_is_acked_for_its_lease_and_naked_for_an_address_held_by_another() {
    let name = "captured-dhclient-init-reboot.hex";
    let request = Packet::fixture(name);
    let address = ip("10.77.0.125");
    assert_eq!((request.option(54), request.header[12..16].to_vec()), (None, vec![0; 4]), "INIT-REBOOT");

    let mut r = Responder::new(settings(), [lease_of(&request, address)]);
    let h = r.handle(&fixture(name), &unconfigured(), NOW);
    let ack = replied(&h);
    assert_eq!((ack.message_type(), ack.yiaddr()), (Some(5), address), "{}", h.explanation);
    check_reply_to(&request, &ack, SERVER, name);
    assert_eq!(
        destination(&h),
        Destination::Hardware { interface: LAN, mac: lifeboat_dhcp::Mac(request.mac()), address }
    );

    let other =
        Lease { key: ClientKey(vec![1, 2, 0, 0, 0, 0, 9]), mac: vec![2, 0, 0, 0, 0, 9], ..lease_of(&request, address) };
    // This client has no lease here: a server that is not authoritative stays silent (the
    // client's lease may be another server's), an authoritative one says no at once.
    let mut r = Responder::new(settings(), [other.clone()]);
    let h = r.handle(&fixture(name), &unconfigured(), NOW);
    assert!(h.reply.is_none(), "{}", h.explanation);
    let mut authoritative = settings();
    authoritative.authoritative = true;
    let mut r = Responder::new(authoritative, [other]);
    let h = r.handle(&fixture(name), &unconfigured(), NOW);
    let nak = replied(&h);
    assert_eq!((nak.message_type(), nak.yiaddr()), (Some(6), Ipv4Addr::UNSPECIFIED));
    assert_eq!(destination(&h), Destination::Broadcast { interface: LAN });
    assert!(h.change.is_none());
}

#[test]
fn declines_quarantine_the_address() {
    for (name, address) in
        [("captured-dhclient-decline.hex", "10.77.0.66"), ("captured-udhcpc-decline.hex", "10.77.0.67")]
    {
        let address = ip(address);
        let decline = Packet::fixture(name);
        assert_eq!(decline.option(50), Some(&address.octets()[..]), "{name}");
        let mut r = Responder::new(settings(), [lease_of(&decline, address)]);
        let h = r.handle(&fixture(name), &unconfigured(), NOW);
        assert!(h.reply.is_none(), "{name}: a DECLINE gets no reply");
        assert_eq!(h.change, Some(LeaseChange::Remove { key: ClientKey(decline.client_key()), address }), "{name}");
        assert_eq!(h.explanation.level, Level::Warn, "{name}");
        assert_eq!(r.leases().active_leases(NOW).count(), 0, "{name}");
        // The address is reserved for this very client, yet it is not offered again until the
        // quarantine ends: the client just told us another host uses it.
        let discover = decline.clone().message_type(1).without_option(50).without_option(54);
        assert!(r.handle(&discover.bytes(), &unconfigured(), NOW + 10).reply.is_none(), "{name}");
        let later = replied(&r.handle(&discover.bytes(), &unconfigured(), NOW + 601));
        assert_eq!((later.message_type(), later.yiaddr()), (Some(2), address), "{name}");
    }
}

#[test]
fn releases_end_the_lease() {
    for (name, address) in
        [("captured-udhcpc-release.hex", "10.77.0.5"), ("captured-dhclient-release.hex", "10.77.0.125")]
    {
        let address = ip(address);
        let release = Packet::fixture(name);
        let mut r = Responder::new(settings(), [lease_of(&release, address)]);
        let h = r.handle(&fixture(name), &on_lan(SocketAddrV4::new(address, CLIENT_PORT)), NOW);
        assert!(h.reply.is_none(), "{name}: a RELEASE gets no reply");
        assert_eq!(h.change, Some(LeaseChange::Remove { key: ClientKey(release.client_key()), address }), "{name}");
        assert_eq!(r.leases().active_leases(NOW).count(), 0, "{name}");
    }
}

#[test]
fn relayed_exchange_goes_back_to_the_relay_with_option_82() {
    let relay = SocketAddrV4::new(GIADDR, SERVER_PORT);
    let mut r = Responder::new(settings(), []);
    let discover = Packet::fixture("captured-dhcrelay-discover.hex");
    assert_eq!(discover.option(82), Some(&b"\x01\x05rly-c"[..]), "dhcrelay -a: circuit id = interface");
    let h = r.handle(&fixture("captured-dhcrelay-discover.hex"), &from_relay(), NOW);
    let offer = replied(&h);
    assert_eq!(offer.message_type(), Some(2), "{}", h.explanation);
    assert!(offer.yiaddr().octets()[..3] == [10, 78, 0] && (100..=150).contains(&offer.yiaddr().octets()[3]));
    check_reply_to(&discover, &offer, UPLINK_ADDRESS, "relayed DISCOVER");
    assert_eq!(offer.giaddr(), GIADDR);
    assert_eq!(offer.option(1), Some(&[255, 255, 255, 0][..]));
    assert_eq!(offer.option(82), discover.option(82), "relay agent information echoed");
    assert_eq!(offer.codes().last(), Some(&82), "option 82 comes last");
    assert_eq!(destination(&h), Destination::Relay(relay), "to giaddr:67, not to the packet's source");

    let request = Packet::fixture("captured-dhcrelay-request.hex");
    let h = r.handle(&fixture("captured-dhcrelay-request.hex"), &from_relay(), NOW + 1);
    let ack = replied(&h);
    assert_eq!((ack.message_type(), ack.yiaddr()), (Some(5), ip("10.78.0.112")), "{}", h.explanation);
    check_reply_to(&request, &ack, UPLINK_ADDRESS, "relayed REQUEST");
    assert_eq!(ack.option(82), request.option(82));
    assert_eq!(destination(&h), Destination::Relay(relay));
    assert!(matches!(h.change, Some(LeaseChange::Upsert(Lease { address, .. })) if address == ip("10.78.0.112")));
}
