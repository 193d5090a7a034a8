//! Who may start a transfer now: the total and per-client limits, and one transfer per client
//! transfer ID (a client that repeats its request while we answer must not get two).
//!
//! A share of the places ([`reserve`]) is kept for known clients: those that completed a
//! transfer here before, and those the observer knows (a DHCP lease, a host entry). A flood of
//! requests from new addresses then cannot lock out the device being recovered.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoAdmission {
    /// The same client port already has a transfer: a repeated request, ignored silently.
    Duplicate,
    ServerBusy {
        limit: usize,
    },
    ClientBusy {
        limit: usize,
    },
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
    active: std::collections::HashSet<SocketAddr>,
}

/// Clients that completed a transfer, remembered up to this many (the oldest are forgotten).
const MAX_REMEMBERED: usize = 4096;

/// The places of `max_total` kept for known clients: a quarter, at least one when there are two.
pub(crate) fn reserve(max_total: usize) -> usize {
    if max_total < 2 { 0 } else { (max_total / 4).max(1) }
}

/// The running transfers, counted, and the clients that completed one.
#[derive(Debug)]
pub(crate) struct Admission {
    max_total: usize,
    max_per_client: usize,
    counts: Mutex<Counts>,
    completed: Mutex<Remembered>,
}

/// A bounded set of addresses, oldest first.
#[derive(Debug, Default)]
struct Remembered {
    order: VecDeque<IpAddr>,
    set: HashSet<IpAddr>,
}

/// A running transfer's place; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Ticket {
    admission: Arc<Admission>,
    peer: SocketAddr,
}

impl Admission {
    pub(crate) fn new(max_total: usize, max_per_client: usize) -> Arc<Admission> {
        Arc::new(Admission { max_total, max_per_client, counts: Mutex::default(), completed: Mutex::default() })
    }

    /// A place for `peer`. `known` says the observer knows the client; a client that completed
    /// a transfer before is known too. Unknown clients get the places outside the reserve.
    pub(crate) fn admit(self: &Arc<Self>, peer: SocketAddr, known: bool) -> Result<Ticket, NoAdmission> {
        let known = known || self.has_completed(peer.ip());
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.active.contains(&peer) {
            return Err(NoAdmission::Duplicate);
        }
        let limit = if known { self.max_total } else { self.max_total - reserve(self.max_total) };
        if counts.total >= limit {
            return Err(NoAdmission::ServerBusy { limit: self.max_total });
        }
        let client = counts.per_client.entry(peer.ip()).or_default();
        if *client >= self.max_per_client {
            return Err(NoAdmission::ClientBusy { limit: self.max_per_client });
        }
        *client += 1;
        counts.total += 1;
        counts.active.insert(peer);
        Ok(Ticket { admission: Arc::clone(self), peer })
    }

    /// Transfers running now.
    pub(crate) fn running(&self) -> usize {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).total
    }

    /// `client` completed a transfer: from now on it is a known client.
    pub(crate) fn completed(&self, client: IpAddr) {
        let mut remembered = self.completed.lock().unwrap_or_else(|p| p.into_inner());
        if !remembered.set.insert(client) {
            return;
        }
        remembered.order.push_back(client);
        if remembered.order.len() > MAX_REMEMBERED
            && let Some(oldest) = remembered.order.pop_front()
        {
            remembered.set.remove(&oldest);
        }
    }

    fn has_completed(&self, client: IpAddr) -> bool {
        self.completed.lock().unwrap_or_else(|p| p.into_inner()).set.contains(&client)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.admission.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.total -= 1;
        counts.active.remove(&self.peer);
        if let Some(client) = counts.per_client.get_mut(&self.peer.ip()) {
            *client -= 1;
            if *client == 0 {
                counts.per_client.remove(&self.peer.ip());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(last: u8, port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, last], port))
    }

    #[test]
    fn limits_and_duplicates() {
        let admission = Admission::new(3, 2);
        let a = admission.admit(peer(1, 1000), true).unwrap();
        assert_eq!(admission.admit(peer(1, 1000), true).unwrap_err(), NoAdmission::Duplicate);
        let _b = admission.admit(peer(1, 1001), true).unwrap();
        assert_eq!(admission.admit(peer(1, 1002), true).unwrap_err(), NoAdmission::ClientBusy { limit: 2 });
        let _c = admission.admit(peer(2, 1000), true).unwrap();
        assert_eq!(admission.admit(peer(3, 1000), true).unwrap_err(), NoAdmission::ServerBusy { limit: 3 });
        drop(a);
        assert_eq!(admission.running(), 2);
        assert!(admission.admit(peer(1, 1000), true).is_ok());
    }

    #[test]
    fn a_flood_of_new_clients_leaves_the_reserve_to_known_ones() {
        let admission = Admission::new(8, 8);
        assert_eq!(reserve(8), 2);
        let flood: Vec<Ticket> = (0..6).map(|i| admission.admit(peer(100 + i, 1), false).unwrap()).collect();
        assert_eq!(admission.admit(peer(200, 1), false).unwrap_err(), NoAdmission::ServerBusy { limit: 8 });
        let known = admission.admit(peer(1, 1), true).expect("a client the observer knows gets a reserved place");
        admission.completed(peer(2, 1).ip());
        let returning = admission.admit(peer(2, 7), false).expect("a client that completed a transfer is known");
        assert_eq!(admission.admit(peer(3, 1), true).unwrap_err(), NoAdmission::ServerBusy { limit: 8 });
        drop((flood, known, returning));
        assert_eq!(admission.running(), 0);
    }

    #[test]
    fn remembered_clients_are_bounded() {
        let admission = Admission::new(4, 4);
        for i in 0..(MAX_REMEMBERED as u32 + 10) {
            admission.completed(IpAddr::from(i.to_be_bytes()));
        }
        assert!(!admission.has_completed(IpAddr::from(0u32.to_be_bytes())), "the oldest was forgotten");
        assert!(admission.has_completed(IpAddr::from((MAX_REMEMBERED as u32).to_be_bytes())));
        assert_eq!(admission.completed.lock().unwrap().order.len(), MAX_REMEMBERED);
    }
}
