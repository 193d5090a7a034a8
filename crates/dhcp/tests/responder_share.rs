//! Two responders sharing one range, as the two lifeboats of an HA pair do: each answers its own
//! part of the clients, neither offers an address the other bound (once it learned it), and
//! when one is gone the other answers everyone, its partner's clients' rebinding included.

#![allow(clippy::disallowed_methods, reason = "a test is a driver: it reads its fixture files")]

mod support;

use std::net::Ipv4Addr;

use lifeboat_dhcp::scope::{InterfaceAddr, resolve};
use lifeboat_dhcp::{Arrival, Handled, LeaseChange, LoadShare, Responder, Settings};
use support::{Packet, Seen};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const IFINDEX: u32 = 3;
const NOW: u64 = 1_800_000_000;

fn settings() -> Settings {
    let interfaces = vec![InterfaceAddr { name: "lab0".into(), index: IFINDEX, address: SERVER, prefix: 24 }];
    let ranges: Vec<_> = ["10.9.0.100,10.9.0.150,1h"].iter().map(|r| r.parse().unwrap()).collect();
    Settings::new(resolve(&ranges, &interfaces, &[]).unwrap())
}

fn on_lab() -> Arrival {
    support::broadcast_arrival(IFINDEX, SERVER)
}

fn mac(n: u8) -> [u8; 6] {
    [2, 0, 0, 0, 1, n]
}

fn offered(h: &Handled) -> Option<Ipv4Addr> {
    h.reply.as_ref().map(|r| Seen::parse(&r.bytes)).filter(|s| s.message_type() == Some(2)).map(|s| s.yiaddr())
}

fn acked(h: &Handled) -> Option<Ipv4Addr> {
    h.reply.as_ref().map(|r| Seen::parse(&r.bytes)).filter(|s| s.message_type() == Some(5)).map(|s| s.yiaddr())
}

/// DISCOVER and REQUEST: the lease bound, if this responder served the client.
fn exchange(r: &mut Responder, mac: [u8; 6]) -> Option<lifeboat_dhcp::Lease> {
    let offer = offered(&r.handle(&Packet::new(mac, &[(53, &[1])]).bytes(), &on_lab(), NOW))?;
    let request = Packet::new(mac, &[(53, &[3]), (50, &offer.octets()), (54, &SERVER.octets())]);
    let handled = r.handle(&request.bytes(), &on_lab(), NOW);
    acked(&handled)?;
    match handled.change {
        Some(LeaseChange::Upsert(lease)) => Some(lease),
        other => panic!("an ACK without its lease: {other:?}"),
    }
}

#[test]
fn each_client_is_served_by_exactly_one_of_the_pair_and_both_serve_some() {
    let (mut first, mut second) = (Responder::new(settings(), []), Responder::new(settings(), []));
    first.share_load(Some(LoadShare { index: 0, of: 2 }));
    second.share_load(Some(LoadShare { index: 1, of: 2 }));
    let (mut served_first, mut addresses) = (0, Vec::new());
    for n in 0..40 {
        let by_first = exchange(&mut first, mac(n));
        let by_second = exchange(&mut second, mac(n));
        assert!(by_first.is_some() != by_second.is_some(), "client {n}: {by_first:?} {by_second:?}");
        served_first += usize::from(by_first.is_some());
        // What one binds, the other learns (through the shared database).
        let lease = by_first.or(by_second).unwrap();
        addresses.push(lease.address);
        first.learn([lease.clone()]);
        second.learn([lease]);
    }
    assert!((10..=30).contains(&served_first), "the first served {served_first} of 40");
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), 40, "an address was given twice");
}

#[test]
fn a_learned_lease_keeps_its_address_from_other_clients_and_its_client_rebinds_with_the_survivor() {
    let mut first = Responder::new(settings(), []);
    first.share_load(Some(LoadShare { index: 0, of: 2 }));
    let mut second = Responder::new(settings(), []);
    second.share_load(Some(LoadShare { index: 1, of: 2 }));
    // A client of the first's part: one a responder with the same share serves.
    let mut probe = Responder::new(settings(), []);
    probe.share_load(Some(LoadShare { index: 0, of: 2 }));
    let client = (0..=255).map(mac).find(|m| exchange(&mut probe, *m).is_some()).unwrap();
    let lease = exchange(&mut first, client).expect("the first serves its client");
    second.learn([lease.clone()]);

    // The first is gone: the second now answers everyone.
    second.share_load(None);
    let others: Vec<Ipv4Addr> =
        (0..40).filter_map(|n| exchange(&mut second, [2, 0, 0, 0, 2, n])).map(|l| l.address).collect();
    assert_eq!(others.len(), 40, "the survivor answers everyone");
    assert!(!others.contains(&lease.address), "the learned address was given to another client");
    // The client's renewal went unanswered (its server is gone); it rebinds by broadcast.
    let rebind = Packet::new(client, &[(53, &[3])]).ciaddr(lease.address);
    let handled = second.handle(&rebind.bytes(), &on_lab(), NOW + 1800);
    assert_eq!(acked(&handled), Some(lease.address), "{:?}", handled.explanation);
}

#[test]
fn before_they_hear_of_each_others_leases_the_pair_hands_out_disjoint_addresses() {
    let (mut first, mut second) = (Responder::new(settings(), []), Responder::new(settings(), []));
    let shares = [LoadShare { index: 0, of: 2 }, LoadShare { index: 1, of: 2 }];
    first.share_load(Some(shares[0]));
    second.share_load(Some(shares[1]));
    // Two clients, one of each instance, whose hashes start their search for a free address at
    // the same address: what makes two instances that have not yet heard of each other's
    // latest leases (a notification takes milliseconds) pick one address for two clients.
    let pool = &settings().scopes[0].pools[0];
    let key = |m: [u8; 6]| lifeboat_dhcp::ClientKey([&[1u8][..], &m[..]].concat());
    let start = |m: [u8; 6]| lifeboat_dhcp::allocate::scan(pool, &key(m), |_| true).unwrap();
    let macs: Vec<[u8; 6]> = (0..=255).map(mac).chain((0..=255).map(|n| [2, 0, 0, 0, 2, n])).collect();
    let (a, b) = macs
        .iter()
        .filter(|m| shares[0].answers(&key(**m)))
        .find_map(|a| macs.iter().find(|b| shares[1].answers(&key(**b)) && start(**b) == start(*a)).map(|b| (*a, *b)))
        .expect("two such clients among 512");

    let by_first = exchange(&mut first, a).expect("the first serves its client");
    let by_second = exchange(&mut second, b).expect("the second serves its client");
    assert_ne!(by_first.address, by_second.address, "one address for two clients");
    assert!(shares[0].prefers(by_first.address) && shares[1].prefers(by_second.address));
}
