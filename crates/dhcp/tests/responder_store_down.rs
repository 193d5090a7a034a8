//! The responder while its lease store cannot save anything (the fleet's PostgreSQL is
//! unreachable): a client with an active saved lease keeps it, for the time it has left and
//! never a second more; nobody gets a new lease; a bind the store failed to save is undone, so
//! memory never promises more than the database holds.

#![allow(clippy::disallowed_methods, reason = "a test is a driver: it reads its fixture files")]

mod support;

use std::net::Ipv4Addr;

use lifeboat_dhcp::scope::{InterfaceAddr, resolve};
use lifeboat_dhcp::{Arrival, Handled, Lease, LeaseChange, Responder, Settings};
use support::{Packet, Seen};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const IFINDEX: u32 = 3;
const NOW: u64 = 1_800_000_000;
const HOUR: u64 = 3600;

fn responder() -> Responder {
    let interfaces = vec![InterfaceAddr { name: "lab0".into(), index: IFINDEX, address: SERVER, prefix: 24 }];
    let ranges: Vec<_> = ["10.9.0.100,10.9.0.150,1h"].iter().map(|r| r.parse().unwrap()).collect();
    Responder::new(Settings::new(resolve(&ranges, &interfaces, &[]).unwrap()), [])
}

fn on_lab() -> Arrival {
    support::broadcast_arrival(IFINDEX, SERVER)
}

fn mac(n: u8) -> [u8; 6] {
    [2, 0, 0, 0, 1, n]
}

fn seen(h: &Handled) -> Option<Seen> {
    h.reply.as_ref().map(|r| Seen::parse(&r.bytes))
}

/// The address and lease time of an ACK (5) or OFFER (2) of `kind`.
fn answered(h: &Handled, kind: u8) -> Option<(Ipv4Addr, u32)> {
    let s = seen(h).filter(|s| s.message_type() == Some(kind))?;
    Some((s.yiaddr(), s.u32_option(51)?))
}

/// A full DORA at `now`: the saved lease.
fn bind(r: &mut Responder, mac: [u8; 6], now: u64) -> Lease {
    let (offer, _) = answered(&r.handle(&Packet::new(mac, &[(53, &[1])]).bytes(), &on_lab(), now), 2).unwrap();
    let request = Packet::new(mac, &[(53, &[3]), (50, &offer.octets()), (54, &SERVER.octets())]);
    match r.handle(&request.bytes(), &on_lab(), now).change {
        Some(LeaseChange::Upsert(lease)) => lease,
        other => panic!("no lease bound: {other:?}"),
    }
}

fn renewal(mac: [u8; 6], address: Ipv4Addr) -> Vec<u8> {
    Packet::new(mac, &[(53, &[3])]).ciaddr(address).bytes()
}

#[test]
fn a_saved_lease_is_renewed_from_memory_for_the_time_it_has_left_and_nothing_is_saved() {
    let mut r = responder();
    let lease = bind(&mut r, mac(1), NOW);
    r.set_store_down(true);

    let later = NOW + 1000;
    let handled = r.handle(&renewal(mac(1), lease.address), &on_lab(), later);
    assert_eq!(answered(&handled, 5), Some((lease.address, 2600)), "{:?}", handled.explanation);
    assert_eq!(handled.change, None, "nothing to save: the saved lease is unchanged");
    let renewal_at = seen(&handled).unwrap().u32_option(58);
    assert_eq!(renewal_at, Some(1300), "T1 is half of what is left, so the client comes back soon");
    assert!(handled.explanation.outcome.contains("cannot be reached"), "{}", handled.explanation.outcome);

    // Rebooting (INIT-REBOOT) or rediscovering, the same client gets the same answer.
    let reboot = Packet::new(mac(1), &[(53, &[3]), (50, &lease.address.octets())]);
    assert_eq!(answered(&r.handle(&reboot.bytes(), &on_lab(), later), 5), Some((lease.address, 2600)));
    let discover = Packet::new(mac(1), &[(53, &[1])]);
    assert_eq!(answered(&r.handle(&discover.bytes(), &on_lab(), later), 2), Some((lease.address, 2600)));

    // Once the saved lease has run out, there is nothing left to give.
    let handled = r.handle(&renewal(mac(1), lease.address), &on_lab(), NOW + HOUR);
    assert!(handled.reply.is_none() && handled.change.is_none(), "{:?}", handled.explanation);
}

#[test]
fn nobody_gets_a_new_lease_or_another_address_while_the_store_is_down() {
    let mut r = responder();
    let lease = bind(&mut r, mac(1), NOW);
    r.set_store_down(true);
    let discover = r.handle(&Packet::new(mac(2), &[(53, &[1])]).bytes(), &on_lab(), NOW);
    assert!(discover.reply.is_none() && discover.change.is_none(), "{:?}", discover.explanation);
    let other = Ipv4Addr::new(10, 9, 0, 140);
    let request = Packet::new(mac(1), &[(53, &[3]), (50, &other.octets()), (54, &SERVER.octets())]);
    let handled = r.handle(&request.bytes(), &on_lab(), NOW);
    assert!(handled.reply.is_none() && handled.change.is_none(), "{:?}", handled.explanation);
    assert_eq!(r.leases().lease_of(&lease.key), Some(&lease), "the saved lease is untouched");

    // Back up: both are served as usual, with fresh leases to save.
    r.set_store_down(false);
    assert_eq!(bind(&mut r, mac(2), NOW + 1).expires, Some(NOW + 1 + HOUR));
    let handled = r.handle(&renewal(mac(1), lease.address), &on_lab(), NOW + 1);
    assert!(matches!(handled.change, Some(LeaseChange::Upsert(ref l)) if l.expires == Some(NOW + 1 + HOUR)));
}

#[test]
fn a_renewal_the_store_failed_to_save_is_undone_and_never_promised_from_memory() {
    let mut r = responder();
    let lease = bind(&mut r, mac(1), NOW);
    // The renewal at NOW + 1800 would extend the lease to NOW + 5400, but its commit fails as
    // the database goes away: the ACK was withheld, and memory must forget the extension.
    let handled = r.handle(&renewal(mac(1), lease.address), &on_lab(), NOW + 1800);
    r.undo(handled.unsaved.expect("a bind comes with its undo"));
    r.set_store_down(true);
    let handled = r.handle(&renewal(mac(1), lease.address), &on_lab(), NOW + 1900);
    assert_eq!(answered(&handled, 5), Some((lease.address, 1700)), "only what the saved lease has left");
}
