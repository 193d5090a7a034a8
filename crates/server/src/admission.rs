//! Who may start a transfer now: the total and per-client limits, and one transfer per client
//! transfer ID (a client that repeats its request while we answer must not get two).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
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

/// The running transfers, counted.
#[derive(Debug)]
pub(crate) struct Admission {
    max_total: usize,
    max_per_client: usize,
    counts: Mutex<Counts>,
}

/// A running transfer's place; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Ticket {
    admission: Arc<Admission>,
    peer: SocketAddr,
}

impl Admission {
    pub(crate) fn new(max_total: usize, max_per_client: usize) -> Arc<Admission> {
        Arc::new(Admission { max_total, max_per_client, counts: Mutex::default() })
    }

    pub(crate) fn admit(self: &Arc<Self>, peer: SocketAddr) -> Result<Ticket, Refusal> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.active.contains(&peer) {
            return Err(Refusal::Duplicate);
        }
        if counts.total >= self.max_total {
            return Err(Refusal::ServerBusy { limit: self.max_total });
        }
        let client = counts.per_client.entry(peer.ip()).or_default();
        if *client >= self.max_per_client {
            return Err(Refusal::ClientBusy { limit: self.max_per_client });
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
        let a = admission.admit(peer(1, 1000)).unwrap();
        assert_eq!(admission.admit(peer(1, 1000)).unwrap_err(), Refusal::Duplicate);
        let _b = admission.admit(peer(1, 1001)).unwrap();
        assert_eq!(admission.admit(peer(1, 1002)).unwrap_err(), Refusal::ClientBusy { limit: 2 });
        let _c = admission.admit(peer(2, 1000)).unwrap();
        assert_eq!(admission.admit(peer(3, 1000)).unwrap_err(), Refusal::ServerBusy { limit: 3 });
        drop(a);
        assert_eq!(admission.running(), 2);
        assert!(admission.admit(peer(1, 1000)).is_ok());
    }
}
