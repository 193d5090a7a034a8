//! The responder under a flood of DISCOVERs from made-up MACs, and against spoofed relays: the
//! pool is never emptied for good, reserved hosts and renewing clients are answered at once,
//! the warnings stay few, and a `giaddr` nobody configured gets nothing.

#![allow(clippy::disallowed_methods, reason = "a test is a driver: it reads its fixture files")]

mod support;

use std::net::{Ipv4Addr, SocketAddrV4};

use lifeboat_dhcp::destination::SERVER_PORT;
use lifeboat_dhcp::scope::{InterfaceAddr, resolve};
use lifeboat_dhcp::{Arrival, Handled, Level, Responder, Settings};
use support::{Packet, Seen};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const IFINDEX: u32 = 3;
const NOW: u64 = 1_800_000_000;
/// The reserved host.
const PRINTER: [u8; 6] = [2, 0, 0, 0, 0, 0xaa];

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// lab0 with 51 addresses (10.9.0.100-150) and a reservation; a relayed subnet 10.8.0.0/24.
fn settings() -> Settings {
    let interfaces = vec![InterfaceAddr { name: "lab0".into(), index: IFINDEX, address: SERVER, prefix: 24 }];
    let ranges: Vec<_> =
        ["10.9.0.100,10.9.0.150,1h", "10.8.0.10,10.8.0.20,255.255.255.0"].iter().map(|r| r.parse().unwrap()).collect();
    let mut s = Settings::new(resolve(&ranges, &interfaces, &[]).unwrap());
    s.reservations = vec!["02:00:00:00:00:aa,10.9.0.5,printer".parse().unwrap()];
    s
}

fn on_lab() -> Arrival {
    support::broadcast_arrival(IFINDEX, SERVER)
}

/// A made-up MAC for flood request `n`.
fn flood_mac(n: u32) -> [u8; 6] {
    let [a, b, c, d] = n.to_be_bytes();
    [0x06, 0x66, a, b, c, d]
}

fn discover(mac: [u8; 6]) -> Vec<u8> {
    Packet::new(mac, &[(53, &[1])]).bytes()
}

fn offered(h: &Handled) -> Option<Ipv4Addr> {
    h.reply.as_ref().map(|r| Seen::parse(&r.bytes)).filter(|s| s.message_type() == Some(2)).map(|s| s.yiaddr())
}

/// DISCOVER and REQUEST at `now`: the address acknowledged, if any.
fn exchange(r: &mut Responder, mac: [u8; 6], now: u64) -> Option<Ipv4Addr> {
    let offer = offered(&r.handle(&discover(mac), &on_lab(), now))?;
    let request = Packet::new(mac, &[(53, &[3]), (50, &offer.octets()), (54, &SERVER.octets())]);
    let ack = r.handle(&request.bytes(), &on_lab(), now);
    let seen = Seen::parse(&ack.reply?.bytes);
    (seen.message_type() == Some(5)).then(|| seen.yiaddr())
}

#[test]
fn a_hundred_made_up_macs_in_one_second_leave_room_for_the_next_client_and_the_reserved_host() {
    let mut r = Responder::new(settings(), []);
    for n in 0..100 {
        r.handle(&discover(flood_mac(n)), &on_lab(), NOW);
    }
    // The reserved host, during the flood: at once.
    assert_eq!(exchange(&mut r, PRINTER, NOW), Some(ip("10.9.0.5")));
    // A new client asks a moment later, as a client retrying its DISCOVER does, and gets an
    // address every flood offer has left unclaimed since.
    let newcomer = [2, 0, 0, 0, 0, 0x01];
    let served = (NOW..NOW + 5).find_map(|now| exchange(&mut r, newcomer, now));
    let address = served.expect("the new client was not served within 5 s of the flood");
    assert!((100..=150).contains(&address.octets()[3]), "{address}");
    let leased: Vec<Ipv4Addr> = r.leases().active_leases(NOW + 5).map(|l| l.address).collect();
    assert_eq!(leased.len(), 2, "{leased:?}");
}

#[test]
fn a_sustained_flood_is_answered_within_the_budget_and_a_real_client_still_gets_in() {
    let mut r = Responder::new(settings(), []);
    let budget = u64::from(Settings::new(Vec::new()).new_clients_per_second);
    let mut offers_per_second = Vec::new();
    let mut newcomer = None;
    for second in 0..5u64 {
        let now = NOW + second;
        let mut offers = 0;
        for n in 0..1000 {
            if offered(&r.handle(&discover(flood_mac((second * 1000 + n) as u32)), &on_lab(), now)).is_some() {
                offers += 1;
            }
            // A real client in the middle of the third second, between two flood datagrams.
            if second == 2 && n == 500 {
                newcomer = exchange(&mut r, [2, 0, 0, 0, 0, 0x02], now);
            }
        }
        offers_per_second.push(offers);
    }
    assert!(offers_per_second.iter().all(|o| *o <= budget + 51), "{offers_per_second:?}");
    assert!(offers_per_second[1..].iter().all(|o| *o <= budget), "{offers_per_second:?}");
    assert!(r.counters().held_back > 4000, "{:?}", r.counters());
    // The real client may have lost to the flood in the budget of that second; a client retries.
    let served = newcomer.or_else(|| (NOW + 5..NOW + 10).find_map(|now| exchange(&mut r, [2, 0, 0, 0, 0, 0x02], now)));
    assert!(served.is_some(), "the real client was never served");
}

#[test]
fn renewing_clients_and_reserved_hosts_are_never_held_back() {
    let mut r = Responder::new(settings(), []);
    let renewing = [2, 0, 0, 0, 0, 0x03];
    let address = exchange(&mut r, renewing, NOW).expect("a lease before the flood");
    for n in 0..5000 {
        r.handle(&discover(flood_mac(n)), &on_lab(), NOW + 1);
    }
    // A renewal (REQUEST with ciaddr) and a reboot (DISCOVER of a known client) both get through.
    let renew = Packet::new(renewing, &[(53, &[3])]).ciaddr(address);
    let ack = Seen::parse(&r.handle(&renew.bytes(), &on_lab(), NOW + 1).reply.expect("renewal answered").bytes);
    assert_eq!((ack.message_type(), ack.yiaddr()), (Some(5), address));
    assert_eq!(offered(&r.handle(&discover(renewing), &on_lab(), NOW + 1)), Some(address));
    assert_eq!(offered(&r.handle(&discover(PRINTER), &on_lab(), NOW + 1)), Some(ip("10.9.0.5")));
}

#[test]
fn an_empty_pool_is_warned_about_once_every_ten_seconds_with_a_count() {
    let mut r = Responder::new(settings(), []);
    let mut warnings = Vec::new();
    for second in 0..25u64 {
        for n in 0..100 {
            let h = r.handle(&discover(flood_mac((second * 100 + n) as u32)), &on_lab(), NOW + second);
            if h.explanation.level == Level::Warn {
                warnings.push((second, h.explanation.outcome.clone()));
            }
        }
    }
    assert_eq!(warnings.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [0, 10, 20], "{warnings:?}");
    // What was held back meanwhile, and the offers made quietly under pressure, are counted.
    let second = &warnings[1].1;
    assert!(second.contains("more such") && second.contains("offers to new clients"), "{second}");
}

#[test]
fn a_sustained_flood_stays_held_to_the_budget_after_the_first_offers_lapse() {
    let mut r = Responder::new(settings(), []);
    let budget = u64::from(Settings::new(Vec::new()).new_clients_per_second);
    // 200 a second for three minutes: the offers made before the pressure (60 s holds) lapse,
    // and the budget must hold all the same, not let a burst through at full rate.
    let mut most = 0;
    for second in 0..180u64 {
        let offers = (0..200u32)
            .filter(|n| {
                offered(&r.handle(&discover(flood_mac((second * 200) as u32 + n)), &on_lab(), NOW + second)).is_some()
            })
            .count() as u64;
        if second >= 5 {
            most = most.max(offers);
        }
    }
    assert!(most <= budget, "{most} offers in one second after the start of the flood");
    // And once the flood is over, a new client is answered at once again.
    assert!(exchange(&mut r, [2, 0, 0, 0, 0, 0x09], NOW + 180 + 61).is_some());
}

#[test]
fn offers_to_new_clients_under_pressure_are_not_logged_one_by_one() {
    let mut r = Responder::new(settings(), []);
    let levels: Vec<Level> =
        (0..40).map(|n| r.handle(&discover(flood_mac(n)), &on_lab(), NOW).explanation.level).collect();
    assert_eq!(levels[..12].iter().filter(|l| **l == Level::Info).count(), 12, "{levels:?}");
    assert!(levels[12..].iter().all(|l| *l == Level::Debug), "{levels:?}");
}

#[test]
fn offers_made_under_pressure_hold_their_address_briefly() {
    let mut r = Responder::new(settings(), []);
    for n in 0..30 {
        r.handle(&discover(flood_mac(n)), &on_lab(), NOW);
    }
    // 30 offers of 51: under pressure since the 12th. The last offers lapse after 10 s, not 60.
    let late = flood_mac(29);
    let address = offered(&r.handle(&discover(late), &on_lab(), NOW)).unwrap();
    let other = [2, 0, 0, 0, 0, 0x04];
    let request = Packet::new(other, &[(53, &[3]), (50, &address.octets()), (54, &SERVER.octets())]);
    let taken = Seen::parse(&r.handle(&request.bytes(), &on_lab(), NOW + 11).reply.unwrap().bytes);
    assert_eq!((taken.message_type(), taken.yiaddr()), (Some(5), address), "a pressured offer held past 10 s");
}

#[test]
fn a_relayed_request_from_a_giaddr_nobody_configured_gets_nothing() {
    let mut r = Responder::new(settings(), []);
    let relayed = |giaddr: Ipv4Addr| {
        let packet = Packet::new([2, 0, 0, 0, 0, 0x05], &[(53, &[1])]).giaddr(giaddr);
        let arrival = Arrival { source: SocketAddrV4::new(giaddr, SERVER_PORT), ..on_lab() };
        (packet.bytes(), arrival)
    };
    // A relay of the relayed subnet is answered; one that names the local subnet (where a
    // reply to `giaddr` would go to a host of the sender's choice) or a foreign one is not.
    let (bytes, arrival) = relayed(ip("10.8.0.1"));
    assert!(offered(&r.handle(&bytes, &arrival, NOW)).is_some());
    for spoofed in [ip("10.9.0.77"), ip("203.0.113.9")] {
        let (bytes, arrival) = relayed(spoofed);
        let h = r.handle(&bytes, &arrival, NOW);
        assert!(h.reply.is_none(), "{spoofed}: {}", h.explanation);
        assert!(h.explanation.outcome.contains("--dhcp-relay-allow"), "{}", h.explanation);
    }
    // Unless the operator trusts relays there.
    let mut trusting = settings();
    trusting.relay_allow = vec!["10.9.0.64/26".parse().unwrap()];
    let mut r = Responder::new(trusting, []);
    let (bytes, arrival) = relayed(ip("10.9.0.77"));
    let offer = offered(&r.handle(&bytes, &arrival, NOW)).expect("a relay in --dhcp-relay-allow is answered");
    assert_eq!(offer.octets()[..3], [10, 9, 0]);
}

#[test]
fn where_another_server_answers_new_clients_get_nothing_and_known_ones_are_still_served() {
    let mut r = Responder::new(settings(), []);
    let known = [2, 0, 0, 0, 0, 0x06];
    let address = exchange(&mut r, known, NOW).expect("a lease before the other server appeared");
    r.hold_new_clients(IFINDEX);
    let h = r.handle(&discover([2, 0, 0, 0, 0, 0x07]), &on_lab(), NOW + 1);
    assert!(h.reply.is_none(), "{}", h.explanation);
    assert!(h.explanation.outcome.contains("another DHCP server"), "{}", h.explanation);
    assert_eq!(offered(&r.handle(&discover(known), &on_lab(), NOW + 1)), Some(address));
    assert_eq!(exchange(&mut r, PRINTER, NOW + 1), Some(ip("10.9.0.5")), "a reserved host");
    // Relayed scopes are not on that segment.
    let relayed = Packet::new([2, 0, 0, 0, 0, 0x08], &[(53, &[1])]).giaddr(ip("10.8.0.1"));
    let arrival = Arrival { source: SocketAddrV4::new(ip("10.8.0.1"), SERVER_PORT), ..on_lab() };
    assert!(offered(&r.handle(&relayed.bytes(), &arrival, NOW + 1)).is_some());
}

#[test]
fn lifeboats_own_probe_is_never_answered() {
    let mut s = settings();
    let own = [2, 0, 0, 0, 0, 0x99];
    s.own_macs = vec![lifeboat_dhcp::config::Mac(own)];
    let mut r = Responder::new(s, []);
    let probe = lifeboat_dhcp::probe::probe_discover(lifeboat_dhcp::Mac(own), 7);
    let h = r.handle(&probe, &on_lab(), NOW);
    assert!(h.reply.is_none() && h.change.is_none(), "{}", h.explanation);
    assert_eq!(r.leases().active_leases(NOW).count(), 0);
}
