//! The leases DHCP holds, as the rest of lifeboat sees them: the dashboard's lease list, and the
//! MAC of a TFTP client that is known by its address.
//!
//! **Invariant:** the book follows every lease change the DHCP server hands to the store, in the
//! same order, so it shows what the database will hold once the writer has committed. It is
//! updated from the DHCP task, so it only ever takes a short lock.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use lifeboat_dhcp::{ClientKey, Lease, LeaseChange, Mac};

/// Called for every lease the DHCP server grants, thousands of times a second under load: every
/// operation is a lookup in an ordered map, never a scan, and never a rehash of the whole table
/// (which a hash map does as it grows, stalling the DHCP task for milliseconds).
#[derive(Debug, Default)]
pub(crate) struct LeaseBook {
    leases: Mutex<Leases>,
}

#[derive(Debug, Default)]
struct Leases {
    by_address: BTreeMap<Ipv4Addr, Lease>,
    /// Where each client's lease is in `by_address`.
    address_of: BTreeMap<ClientKey, Ipv4Addr>,
}

impl Leases {
    fn insert(&mut self, lease: Lease) {
        let (address, key) = (lease.address, lease.key.clone());
        // The client moved: its old address is free.
        if let Some(old) = self.address_of.insert(key.clone(), address)
            && old != address
        {
            self.by_address.remove(&old);
        }
        // Another client held this address: it holds nothing now.
        if let Some(previous) = self.by_address.insert(address, lease)
            && previous.key != key
        {
            self.address_of.remove(&previous.key);
        }
    }

    fn remove(&mut self, address: Ipv4Addr) {
        if let Some(lease) = self.by_address.remove(&address) {
            self.address_of.remove(&lease.key);
        }
    }
}

impl LeaseBook {
    /// Start over from `leases` (loaded from the store when DHCP starts).
    pub(crate) fn reset(&self, leases: &[Lease]) {
        let mut book = self.lock();
        *book = Leases::default();
        for lease in leases {
            book.insert(lease.clone());
        }
    }

    pub(crate) fn record(&self, change: &LeaseChange) {
        let mut book = self.lock();
        match change {
            LeaseChange::Upsert(lease) => book.insert(lease.clone()),
            LeaseChange::Remove { address, .. } => book.remove(*address),
        }
    }

    /// The hardware address of whoever holds `address` with a lease that has not expired at
    /// `now` (Unix seconds).
    pub(crate) fn active_mac_of(&self, address: Ipv4Addr, now: u64) -> Option<Mac> {
        let book = self.lock();
        let lease = book.by_address.get(&address)?;
        if lease.expires.is_some_and(|e| e <= now) {
            return None;
        }
        Mac::from_hardware(&lease.mac)
    }

    /// The lease on `address`, active or expired.
    pub(crate) fn lease_on(&self, address: Ipv4Addr) -> Option<Lease> {
        self.lock().by_address.get(&address).cloned()
    }

    /// Leases that have not expired at `now` (Unix seconds), by address.
    pub(crate) fn active(&self, now: u64) -> Vec<Lease> {
        let book = self.lock();
        book.by_address.values().filter(|l| l.expires.is_none_or(|e| e > now)).cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Leases> {
        self.leases.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use lifeboat_dhcp::ClientKey;

    use super::*;

    fn lease(n: u8, last: u8, expires: Option<u64>) -> Lease {
        Lease {
            key: ClientKey(vec![1, 2, 0, 0, 0, 0, n]),
            mac: vec![2, 0, 0, 0, 0, n],
            address: Ipv4Addr::new(10, 0, 0, last),
            hostname: None,
            expires,
        }
    }

    #[test]
    fn follows_binds_moves_and_releases() {
        let book = LeaseBook::default();
        book.reset(&[lease(1, 10, Some(100)), lease(2, 11, None)]);
        assert_eq!(book.active_mac_of(Ipv4Addr::new(10, 0, 0, 10), 0), Some(Mac([2, 0, 0, 0, 0, 1])));
        // Client 1 moves to .12: .10 is free.
        book.record(&LeaseChange::Upsert(lease(1, 12, Some(200))));
        assert_eq!(book.active_mac_of(Ipv4Addr::new(10, 0, 0, 10), 0), None);
        assert_eq!(book.active_mac_of(Ipv4Addr::new(10, 0, 0, 12), 0), Some(Mac([2, 0, 0, 0, 0, 1])));
        book.record(&LeaseChange::Remove { key: lease(2, 11, None).key, address: Ipv4Addr::new(10, 0, 0, 11) });
        assert_eq!(book.active(150).len(), 1);
        assert_eq!(book.active_mac_of(Ipv4Addr::new(10, 0, 0, 12), 250), None, "expired");
        assert!(book.active(250).is_empty(), "expired leases are not active");
    }

    #[test]
    fn an_address_taken_over_leaves_no_trace_of_its_old_holder() {
        let book = LeaseBook::default();
        book.record(&LeaseChange::Upsert(lease(1, 10, None)));
        book.record(&LeaseChange::Upsert(lease(2, 10, None)));
        assert_eq!(book.active_mac_of(Ipv4Addr::new(10, 0, 0, 10), 0), Some(Mac([2, 0, 0, 0, 0, 2])));
        // Client 1 comes back elsewhere; client 2 keeps .10.
        book.record(&LeaseChange::Upsert(lease(1, 11, None)));
        assert_eq!(book.active_mac_of(Ipv4Addr::new(10, 0, 0, 10), 0), Some(Mac([2, 0, 0, 0, 0, 2])));
        assert_eq!(book.active(0).len(), 2);
        let book = book.leases.lock().unwrap();
        assert_eq!(book.address_of.len(), book.by_address.len());
    }
}
