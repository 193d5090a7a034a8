//! Property tests of the responder: arbitrary bytes never panic it, and no sequence of client
//! messages ever leaves two clients holding one address or a lease outside the pool.

#![allow(clippy::disallowed_methods, reason = "a test is a driver: it reads its fixture files")]

mod support;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use lifeboat_dhcp::destination::{CLIENT_PORT, SERVER_PORT};
use lifeboat_dhcp::scope::{InterfaceAddr, resolve};
use lifeboat_dhcp::{Arrival, LeaseChange, Responder, Settings};
use proptest::prelude::*;
use support::{Packet, Seen};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 3, 0, 1);

fn responder() -> Responder {
    let ranges = ["10.3.0.10,10.3.0.14".parse().unwrap()];
    let ifs = [InterfaceAddr { name: "eth0".into(), index: 2, address: SERVER, prefix: 24 }];
    let mut s = Settings::new(resolve(&ranges, &ifs, &[]).unwrap());
    s.bootp_dynamic = true;
    s.per_client_rate = u32::MAX;
    Responder::new(s, [])
}

fn arrival() -> Arrival {
    Arrival {
        interface: 2,
        local_address: SERVER,
        local_port: SERVER_PORT,
        source: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT),
    }
}

#[derive(Debug, Clone)]
enum Op {
    Discover,
    Select { last: u8 },
    InitReboot { last: u8 },
    Renew { last: u8 },
    Decline { last: u8 },
    Release { last: u8 },
    Bootp,
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let last = 8u8..17; // the pool is .10-.14; .8, .9, .15, .16 are outside it
    prop_oneof![
        Just(Op::Discover),
        last.clone().prop_map(|last| Op::Select { last }),
        last.clone().prop_map(|last| Op::InitReboot { last }),
        last.clone().prop_map(|last| Op::Renew { last }),
        last.clone().prop_map(|last| Op::Decline { last }),
        last.prop_map(|last| Op::Release { last }),
        Just(Op::Bootp),
        (1u64..4000).prop_map(Op::Wait),
    ]
}

fn packet(client: u8, op: &Op) -> Option<Packet> {
    let mac = [2, 0, 0, 0, 0, client];
    let a = |last: u8| Ipv4Addr::new(10, 3, 0, last);
    Some(match op {
        Op::Discover => Packet::new(mac, &[(53, &[1])]),
        Op::Select { last } => Packet::new(mac, &[(53, &[3]), (50, &a(*last).octets()), (54, &SERVER.octets())]),
        Op::InitReboot { last } => Packet::new(mac, &[(53, &[3]), (50, &a(*last).octets())]),
        Op::Renew { last } => Packet::new(mac, &[(53, &[3])]).ciaddr(a(*last)),
        Op::Decline { last } => Packet::new(mac, &[(53, &[4]), (50, &a(*last).octets()), (54, &SERVER.octets())]),
        Op::Release { last } => Packet::new(mac, &[(53, &[7])]).ciaddr(a(*last)),
        Op::Bootp => Packet::new(mac, &[]).bootp(true),
        Op::Wait(_) => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut r = responder();
        let _ = r.handle(&bytes, &arrival(), 1000);
    }

    #[test]
    fn no_two_clients_ever_hold_one_address(steps in proptest::collection::vec((0u8..6, op()), 1..60)) {
        let mut r = responder();
        let mut now = 1_000_000u64;
        // What the driver would have persisted: key -> address.
        let mut store: BTreeMap<Vec<u8>, Ipv4Addr> = BTreeMap::new();
        for (client, op) in &steps {
            if let Op::Wait(secs) = op {
                now += secs;
                continue;
            }
            let Some(p) = packet(*client, op) else { continue };
            let h = r.handle(&p.bytes(), &arrival(), now);
            if let Some(reply) = &h.reply {
                let seen = Seen::parse(&reply.bytes);
                if matches!(seen.message_type(), Some(5) | None) && !seen.yiaddr().is_unspecified() {
                    prop_assert!((10..=14).contains(&seen.yiaddr().octets()[3]), "leased outside the pool: {}", h.explanation);
                    prop_assert!(h.change.is_some(), "ACK without a lease change: {}", h.explanation);
                }
            }
            match h.change {
                Some(LeaseChange::Upsert(lease)) => {
                    store.retain(|_, a| *a != lease.address);
                    store.insert(lease.key.0.clone(), lease.address);
                }
                Some(LeaseChange::Remove { key, .. }) => _ = store.remove(&key.0),
                None => {}
            }
            let mut active: Vec<Ipv4Addr> = r.leases().active_leases(now).map(|l| l.address).collect();
            let n = active.len();
            active.sort();
            active.dedup();
            prop_assert_eq!(active.len(), n, "two active leases on one address after {:?}", op);
        }
        // A restart from the persisted state agrees with the live table on every active lease.
        for lease in r.leases().active_leases(now) {
            prop_assert_eq!(store.get(&lease.key.0), Some(&lease.address));
        }
    }
}
