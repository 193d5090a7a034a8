//! Announcing the addresses lifeboat serves on, so that a neighbour that still has another MAC
//! for one of them sends to the right one at once. That happens whenever lifeboat comes back with
//! a new MAC: a container on macvlan gets a new one at every start, a NIC is swapped, the service
//! moves to another machine with the same address. Without the announcement the neighbour sends
//! into the void until its entry expires, up to a minute, while a bootloader retries and gives up.
//!
//! When: at start; when a service starts (a click on the dashboard); when a served address
//! appears (added to a served interface, the interface recreated, its MAC changed, its link up
//! again), which the kernel's word on changed addresses and links brings at once ([`Neighbours::changes`];
//! without it, a look every [`WATCH_EVERY`]). How: [`ANNOUNCE_NUM`] frames per address,
//! [`ANNOUNCE_INTERVAL`] apart (RFC 5227 §2.3 for IPv4, RFC 4861 §7.2.6 for IPv6), never more
//! than one round per address and MAC in [`ROUND_GAP`]; one log line per interface and round.
//!
//! Which addresses: those of the sockets the running services listen on (every address of the
//! family for `0.0.0.0` and `::`), and the IPv4 addresses of the interfaces DHCP answers on.
//! What is announced and when is decided here from values ([`served_addresses`],
//! [`Schedule`]); the loop around it lists the interfaces and sends through the binder's
//! [`Neighbours`], which tests replace.
//!
//! **Invariant:** only where the binder gives [`Neighbours`] (the system binder: the machine's
//! own interfaces), only addresses an interface has, from that interface and with its MAC.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::{FutureExt as _, StreamExt as _};
use lifeboat_dhcp::Mac;
use lifeboat_net::{Announcement, Interface, InterfaceIpv6};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::binder::Neighbours;
use crate::services::Services;

/// How many announcements of one address in a round (RFC 5227's ANNOUNCE_NUM): the second
/// reaches a neighbour that ignored the first because it had just updated its entry (Linux's
/// `locktime`, 1 s).
const ANNOUNCE_NUM: u32 = 2;

/// The time between them (RFC 5227's ANNOUNCE_INTERVAL).
const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(2);

/// How often the served addresses are listed again, to find new ones, where nobody says when
/// they change.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// How often they are listed anyway where the kernel says when they change: a notification lost
/// (a full netlink socket drops them) delays an announcement by at most this.
const WATCH_WHEN_TOLD: Duration = Duration::from_secs(10);

/// How long the announcer lets a burst of change notifications settle before it looks: an added
/// address brings several, a link that flaps brings many, and one look covers them all. Also the
/// most looks a stream of notifications can cause: one per this.
const SETTLE: Duration = Duration::from_millis(50);

/// The least time between two rounds for one address and MAC: a flapping link or a row of
/// clicks does not turn into a stream of broadcasts.
const ROUND_GAP: Duration = Duration::from_secs(10);

/// Where a running service can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServedOn {
    /// The sockets it listens on (TFTP, HTTP boot).
    Sockets(Vec<SocketAddr>),
    /// The interfaces whose requests it answers, by index (DHCP, IPv4 only).
    Interfaces(BTreeSet<u32>),
}

impl ServedOn {
    fn serves(&self, interface_index: u32, address: IpAddr) -> bool {
        match self {
            ServedOn::Sockets(sockets) => sockets.iter().any(|socket| {
                socket.ip() == address || (socket.ip().is_unspecified() && socket.is_ipv4() == address.is_ipv4())
            }),
            ServedOn::Interfaces(indexes) => address.is_ipv4() && indexes.contains(&interface_index),
        }
    }
}

/// One address to announce, with the interface that has it and that interface's MAC.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Served {
    interface_index: u32,
    interface: String,
    mac: Mac,
    address: IpAddr,
}

/// The addresses `served` reaches on `interfaces` (IPv6 ones from `ipv6`): on interfaces that
/// are up and have a MAC, so never loopback.
fn served_addresses(interfaces: &[Interface], ipv6: &[InterfaceIpv6], served: &[ServedOn]) -> BTreeSet<Served> {
    let mut all = BTreeSet::new();
    for interface in interfaces.iter().filter(|i| i.up) {
        let Some(mac) = interface.mac else { continue };
        let v4 = interface.ipv4.iter().map(|(address, _)| IpAddr::V4(*address));
        let v6 = ipv6.iter().filter(|a| a.interface_index == interface.index).map(|a| IpAddr::V6(a.address));
        for address in v4.chain(v6) {
            if served.iter().any(|s| s.serves(interface.index, address)) {
                all.insert(Served {
                    interface_index: interface.index,
                    interface: interface.name.clone(),
                    mac,
                    address,
                });
            }
        }
    }
    all
}

/// Which served addresses are due for a round of announcements.
#[derive(Debug, Default)]
struct Schedule {
    /// What was served at the last look.
    served: BTreeSet<Served>,
    /// When each address (with its MAC) last had a round, for [`ROUND_GAP`].
    last_round: BTreeMap<Served, Instant>,
}

impl Schedule {
    /// What to announce now that `served` is served: what was not at the last look, or all of
    /// it when `all` (a service started), less what had a round within [`ROUND_GAP`].
    fn due(&mut self, served: BTreeSet<Served>, now: Instant, all: bool) -> Vec<Served> {
        self.last_round.retain(|_, at| now.duration_since(*at) < ROUND_GAP);
        let due: Vec<Served> = served
            .iter()
            .filter(|s| all || !self.served.contains(s))
            .filter(|s| !self.last_round.contains_key(s))
            .cloned()
            .collect();
        for served in &due {
            self.last_round.insert(served.clone(), now);
        }
        self.served = served;
        due
    }
}

/// The addresses due on one interface: one round, one log line.
#[derive(Debug, PartialEq, Eq)]
struct Round {
    interface_index: u32,
    interface: String,
    mac: Mac,
    addresses: Vec<IpAddr>,
}

fn rounds(due: Vec<Served>) -> Vec<Round> {
    let mut rounds: Vec<Round> = Vec::new();
    for served in due {
        match rounds.iter_mut().find(|r| r.interface_index == served.interface_index && r.mac == served.mac) {
            Some(round) => round.addresses.push(served.address),
            None => rounds.push(Round {
                interface_index: served.interface_index,
                interface: served.interface,
                mac: served.mac,
                addresses: vec![served.address],
            }),
        }
    }
    rounds
}

/// Announce what the running services serve on, as the module says, until `shutdown`.
pub(crate) async fn announce_served(
    services: Arc<Services>,
    neighbours: Arc<dyn Neighbours>,
    shutdown: CancellationToken,
) {
    let mut schedule = Schedule::default();
    let mut sending = JoinSet::new();
    let mut changes = neighbours.changes();
    let mut all = true;
    loop {
        let served = services.served_on();
        let addresses =
            if served.is_empty() { Some(BTreeSet::new()) } else { current(neighbours.as_ref(), &served).await };
        // When the interfaces cannot be listed this time, nothing changed as far as is known.
        if let Some(addresses) = addresses {
            for round in rounds(schedule.due(addresses, Instant::now(), all)) {
                sending.spawn(announce(Arc::clone(&neighbours), round));
            }
        }
        while sending.try_join_next().is_some() {}
        let look_in = if changes.is_some() { WATCH_WHEN_TOLD } else { WATCH_EVERY };
        all = tokio::select! {
            () = shutdown.cancelled() => return,
            () = services.next_start() => true,
            heard = next_changes(&mut changes) => {
                if !heard {
                    tracing::debug!("no more word of address changes: looking every second instead");
                    changes = None;
                }
                false
            }
            () = tokio::time::sleep(look_in) => false,
        };
    }
}

/// Wait for the next burst of changes `changes` reports, given [`SETTLE`] to end: false once the
/// stream has ended. Without a stream, never.
async fn next_changes(changes: &mut Option<BoxStream<'static, ()>>) -> bool {
    let Some(changes) = changes else { return std::future::pending().await };
    if changes.next().await.is_none() {
        return false;
    }
    tokio::time::sleep(SETTLE).await;
    while let Some(Some(())) = changes.next().now_or_never() {}
    true
}

/// The addresses `served` reaches now; `None` when the interfaces cannot be listed.
async fn current(neighbours: &dyn Neighbours, served: &[ServedOn]) -> Option<BTreeSet<Served>> {
    match neighbours.addresses().await {
        Ok((interfaces, ipv6)) => Some(served_addresses(&interfaces, &ipv6, served)),
        Err(error) => {
            tracing::debug!("cannot list the interfaces' addresses: {error}");
            None
        }
    }
}

/// Send `round`'s announcements, [`ANNOUNCE_NUM`] of each address [`ANNOUNCE_INTERVAL`] apart.
async fn announce(neighbours: Arc<dyn Neighbours>, round: Round) {
    let listed: Vec<String> = round.addresses.iter().map(ToString::to_string).collect();
    tracing::info!(
        "announcing {} on {} as {}, so that neighbours still holding an old MAC switch at once",
        listed.join(", "),
        round.interface,
        round.mac
    );
    for n in 0..ANNOUNCE_NUM {
        if n > 0 {
            tokio::time::sleep(ANNOUNCE_INTERVAL).await;
        }
        for address in &round.addresses {
            let frame = match address {
                IpAddr::V4(address) => Announcement::ipv4(round.mac, *address),
                IpAddr::V6(address) => Announcement::ipv6(round.mac, *address),
            };
            if let Err(error) = neighbours.send(round.interface_index, &frame) {
                // Once per round: the interface went away, or its queue is full.
                tracing::warn!("cannot announce {address} on {}: {error}", round.interface);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn machine() -> Vec<Interface> {
        vec![
            Interface { name: "lo".into(), index: 1, mac: None, up: true, ipv4: vec![(Ipv4Addr::LOCALHOST, 8)] },
            Interface {
                name: "lab0".into(),
                index: 2,
                mac: Some(Mac(MAC)),
                up: true,
                ipv4: vec![(Ipv4Addr::new(10, 7, 0, 1), 24), (Ipv4Addr::new(192, 168, 0, 66), 24)],
            },
            Interface {
                name: "wan0".into(),
                index: 3,
                mac: Some(Mac([2, 0, 0, 0, 0, 3])),
                up: true,
                ipv4: vec![(Ipv4Addr::new(172, 16, 0, 5), 16)],
            },
            Interface {
                name: "down0".into(),
                index: 4,
                mac: Some(Mac([2, 0, 0, 0, 0, 4])),
                up: false,
                ipv4: vec![(Ipv4Addr::new(10, 9, 0, 1), 24)],
            },
        ]
    }

    fn ipv6() -> Vec<InterfaceIpv6> {
        vec![
            InterfaceIpv6 { interface_index: 1, address: Ipv6Addr::LOCALHOST },
            InterfaceIpv6 { interface_index: 2, address: "fe80::2".parse().unwrap() },
        ]
    }

    fn addresses(set: &BTreeSet<Served>) -> Vec<String> {
        set.iter().map(|s| format!("{} {}", s.interface, s.address)).collect()
    }

    #[test]
    fn a_wildcard_socket_serves_every_address_of_its_family_on_interfaces_that_are_up_with_a_mac() {
        let tftp = ServedOn::Sockets(vec!["0.0.0.0:69".parse().unwrap()]);
        let served = served_addresses(&machine(), &ipv6(), &[tftp]);
        assert_eq!(addresses(&served), ["lab0 10.7.0.1", "lab0 192.168.0.66", "wan0 172.16.0.5"]);
        let tftp6 = ServedOn::Sockets(vec!["[::]:69".parse().unwrap()]);
        assert_eq!(addresses(&served_addresses(&machine(), &ipv6(), &[tftp6])), ["lab0 fe80::2"]);
    }

    #[test]
    fn a_socket_on_one_address_serves_that_address_and_dhcp_its_interfaces() {
        let http = ServedOn::Sockets(vec!["192.168.0.66:80".parse().unwrap(), "127.0.0.1:80".parse().unwrap()]);
        let dhcp = ServedOn::Interfaces(BTreeSet::from([3, 4]));
        let served = served_addresses(&machine(), &ipv6(), &[http, dhcp]);
        assert_eq!(addresses(&served), ["lab0 192.168.0.66", "wan0 172.16.0.5"]);
        assert!(served.iter().all(|s| s.mac != Mac([0; 6])));
        assert_eq!(served.first().map(|s| s.mac), Some(Mac(MAC)));
    }

    fn lab0(address: &str, mac: [u8; 6]) -> Served {
        Served { interface_index: 2, interface: "lab0".into(), mac: Mac(mac), address: address.parse().unwrap() }
    }

    #[test]
    fn a_new_address_or_mac_is_due_at_once_and_an_unchanged_one_not_again() {
        let mut schedule = Schedule::default();
        let start = Instant::now();
        let first = BTreeSet::from([lab0("10.7.0.1", MAC)]);
        assert_eq!(schedule.due(first.clone(), start, false), [lab0("10.7.0.1", MAC)]);
        assert_eq!(schedule.due(first, start + WATCH_EVERY, false), []);
        // An address added; then the interface comes back with a new MAC.
        let added = BTreeSet::from([lab0("10.7.0.1", MAC), lab0("10.7.0.9", MAC)]);
        assert_eq!(schedule.due(added, start + 2 * WATCH_EVERY, false), [lab0("10.7.0.9", MAC)]);
        let new_mac = [2, 0, 0, 0, 0, 0x22];
        let moved = BTreeSet::from([lab0("10.7.0.1", new_mac), lab0("10.7.0.9", new_mac)]);
        let due = schedule.due(moved, start + 3 * WATCH_EVERY, false);
        assert_eq!(due, [lab0("10.7.0.1", new_mac), lab0("10.7.0.9", new_mac)]);
    }

    #[test]
    fn a_service_start_announces_everything_but_no_address_twice_within_the_gap() {
        let mut schedule = Schedule::default();
        let start = Instant::now();
        let served = BTreeSet::from([lab0("10.7.0.1", MAC)]);
        assert_eq!(schedule.due(served.clone(), start, true).len(), 1);
        // A click right after start, and a flapping link: both within the gap.
        assert_eq!(schedule.due(served.clone(), start + Duration::from_secs(3), true), []);
        assert_eq!(schedule.due(BTreeSet::new(), start + Duration::from_secs(4), false), []);
        assert_eq!(schedule.due(served.clone(), start + Duration::from_secs(5), false), []);
        // Past the gap, a start announces again; a quiet look does not.
        assert_eq!(schedule.due(served.clone(), start + ROUND_GAP + WATCH_EVERY, false), []);
        assert_eq!(schedule.due(served, start + ROUND_GAP + 2 * WATCH_EVERY, true).len(), 1);
    }

    #[test]
    fn one_round_per_interface_and_mac() {
        let wan = Served {
            interface_index: 3,
            interface: "wan0".into(),
            mac: Mac([2, 0, 0, 0, 0, 3]),
            address: "172.16.0.5".parse().unwrap(),
        };
        let due = vec![lab0("10.7.0.1", MAC), wan, lab0("fe80::2", MAC)];
        let rounds = rounds(due);
        assert_eq!(rounds.len(), 2);
        assert_eq!(rounds[0].interface, "lab0");
        assert_eq!(rounds[0].addresses, ["10.7.0.1".parse::<IpAddr>().unwrap(), "fe80::2".parse().unwrap()]);
        assert_eq!(rounds[1].addresses, ["172.16.0.5".parse::<IpAddr>().unwrap()]);
    }
}
