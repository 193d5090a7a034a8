//! The lease table: which client holds or has been offered which address, and which addresses are
//! quarantined after a DECLINE.
//!
//! **Invariant:** an address is held by at most one client and a client holds at most one address;
//! the two maps (`by_key`, `by_address`) always agree. An expired lease or offer still occupies its
//! slot until someone else needs the address, so a returning client gets its old address back.
//!
//! The maps are B-trees, not hash maps: every request looks them up, and a hash map that grows
//! past its capacity rehashes all its entries at once. With tens of thousands of leases that
//! stalls every client waiting behind it for milliseconds each time the table doubles; a B-tree
//! grows a node at a time.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

/// Who a lease belongs to: option 61 (client identifier) when the client sent one, else the
/// hardware type followed by the hardware address (RFC 2131 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientKey(pub Vec<u8>);

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A bound lease, as it is persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub key: ClientKey,
    /// The client's hardware address (chaddr, `hlen` bytes).
    pub mac: Vec<u8>,
    pub address: Ipv4Addr,
    /// Option 12 of the client, if it sent one.
    pub hostname: Option<String>,
    /// Unix seconds when the lease ends; `None` is infinite (BOOTP).
    pub expires: Option<u64>,
}

/// What the driver must persist. A reply that depends on a change is sent only after the change
/// is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseChange {
    Upsert(Lease),
    Remove { key: ClientKey, address: Ipv4Addr },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Holding {
    /// Offered in a DHCPOFFER and reserved for the client until `until`.
    Offered {
        until: u64,
    },
    Bound(Lease),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    address: Ipv4Addr,
    holding: Holding,
}

impl Entry {
    fn active(&self, now: u64) -> bool {
        match &self.holding {
            Holding::Offered { until } => *until > now,
            Holding::Bound(lease) => lease.expires.is_none_or(|e| e > now),
        }
    }
}

/// Leases and offers in memory. The driver loads it from the store at start-up.
#[derive(Debug, Default)]
pub struct LeaseTable {
    by_key: BTreeMap<ClientKey, Entry>,
    by_address: BTreeMap<Ipv4Addr, ClientKey>,
    quarantine: BTreeMap<Ipv4Addr, u64>,
}

impl LeaseTable {
    /// A table holding `leases` (from the store). Later entries win on conflicts.
    pub fn with_leases(leases: impl IntoIterator<Item = Lease>) -> LeaseTable {
        let mut table = LeaseTable::default();
        for lease in leases {
            table.insert(lease.key.clone(), Entry { address: lease.address, holding: Holding::Bound(lease) });
        }
        table
    }

    /// The address `key` holds or was offered, active or expired.
    pub fn address_of(&self, key: &ClientKey) -> Option<Ipv4Addr> {
        self.by_key.get(key).map(|e| e.address)
    }

    /// The bound lease of `key`, active or expired.
    pub fn lease_of(&self, key: &ClientKey) -> Option<&Lease> {
        match &self.by_key.get(key)?.holding {
            Holding::Bound(lease) => Some(lease),
            Holding::Offered { .. } => None,
        }
    }

    /// True when `key` may take `address` now: nobody else holds an active lease or offer on it
    /// and it is not quarantined.
    pub fn is_free_for(&self, address: Ipv4Addr, key: &ClientKey, now: u64) -> bool {
        if self.quarantine.get(&address).is_some_and(|until| *until > now) {
            return false;
        }
        match self.by_address.get(&address) {
            None => true,
            Some(holder) if holder == key => true,
            Some(holder) => !self.by_key[holder].active(now),
        }
    }

    /// The hardware address of the bound lease on `address`, active or expired.
    pub fn bound_mac(&self, address: Ipv4Addr) -> Option<&[u8]> {
        match &self.by_key.get(self.by_address.get(&address)?)?.holding {
            Holding::Bound(lease) => Some(&lease.mac),
            Holding::Offered { .. } => None,
        }
    }

    /// Until when `address` is kept out of the pool after a DECLINE, if it is now.
    pub fn quarantined_until(&self, address: Ipv4Addr, now: u64) -> Option<u64> {
        self.quarantine.get(&address).copied().filter(|until| *until > now)
    }

    /// Reserve `address` for `key` until `until` (a DHCPOFFER). A bound lease of `key` on the same
    /// address stays bound.
    pub fn offer(&mut self, key: &ClientKey, address: Ipv4Addr, until: u64) {
        if self.by_key.get(key).is_some_and(|e| e.address == address && matches!(e.holding, Holding::Bound(_))) {
            return;
        }
        self.insert(key.clone(), Entry { address, holding: Holding::Offered { until } });
    }

    /// Drop the offer `key` has (the client chose another server). Bound leases stay.
    pub fn withdraw_offer(&mut self, key: &ClientKey) {
        if self.by_key.get(key).is_some_and(|e| matches!(e.holding, Holding::Offered { .. })) {
            self.remove(key);
        }
    }

    /// Bind a lease (DHCPACK or BOOTP reply). Returns the change to persist.
    pub fn bind(&mut self, lease: Lease) -> LeaseChange {
        self.quarantine.remove(&lease.address);
        self.insert(lease.key.clone(), Entry { address: lease.address, holding: Holding::Bound(lease.clone()) });
        LeaseChange::Upsert(lease)
    }

    /// The client gives `address` back (DHCPRELEASE). Nothing happens unless `key` holds it.
    pub fn release(&mut self, key: &ClientKey, address: Ipv4Addr) -> Option<LeaseChange> {
        if self.by_key.get(key)?.address != address {
            return None;
        }
        self.remove(key);
        Some(LeaseChange::Remove { key: key.clone(), address })
    }

    /// The client found `address` in use (DHCPDECLINE): forget its lease and keep the address out
    /// of the pool until `until`.
    pub fn decline(&mut self, key: &ClientKey, address: Ipv4Addr, until: u64) -> Option<LeaseChange> {
        let change = self.release(key, address)?;
        self.quarantine.insert(address, until);
        Some(change)
    }

    /// Forget quarantines that ended (call now and then to bound memory).
    pub fn prune_quarantine(&mut self, now: u64) {
        self.quarantine.retain(|_, until| *until > now);
    }

    /// Active bound leases.
    pub fn active_leases(&self, now: u64) -> impl Iterator<Item = &Lease> {
        self.by_key.values().filter(move |e| e.active(now)).filter_map(|e| match &e.holding {
            Holding::Bound(lease) => Some(lease),
            Holding::Offered { .. } => None,
        })
    }

    fn insert(&mut self, key: ClientKey, entry: Entry) {
        self.remove(&key);
        if let Some(previous) = self.by_address.insert(entry.address, key.clone()) {
            self.by_key.remove(&previous);
        }
        self.by_key.insert(key, entry);
    }

    fn remove(&mut self, key: &ClientKey) {
        if let Some(old) = self.by_key.remove(key) {
            self.by_address.remove(&old.address);
        }
    }

    #[cfg(test)]
    fn check_consistent(&self) {
        assert_eq!(self.by_key.len(), self.by_address.len());
        for (key, entry) in &self.by_key {
            assert_eq!(self.by_address.get(&entry.address), Some(key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> ClientKey {
        ClientKey(vec![1, 0x52, 0x54, 0, 0, 0, n])
    }

    fn lease(n: u8, last: u8, expires: Option<u64>) -> Lease {
        Lease {
            key: key(n),
            mac: key(n).0[1..].to_vec(),
            address: Ipv4Addr::new(10, 0, 0, last),
            hostname: None,
            expires,
        }
    }

    #[test]
    fn offers_reserve_until_they_expire() {
        let mut t = LeaseTable::default();
        let a = Ipv4Addr::new(10, 0, 0, 10);
        t.offer(&key(1), a, 100);
        assert!(!t.is_free_for(a, &key(2), 99));
        assert!(t.is_free_for(a, &key(1), 99));
        assert!(t.is_free_for(a, &key(2), 100));
        // Key 2 takes the expired offer: key 1 loses it.
        t.offer(&key(2), a, 200);
        assert_eq!(t.address_of(&key(1)), None);
        assert_eq!(t.address_of(&key(2)), Some(a));
        t.check_consistent();
    }

    #[test]
    fn a_client_holds_one_address() {
        let mut t = LeaseTable::default();
        t.offer(&key(1), Ipv4Addr::new(10, 0, 0, 10), 100);
        t.offer(&key(1), Ipv4Addr::new(10, 0, 0, 11), 100);
        assert!(t.is_free_for(Ipv4Addr::new(10, 0, 0, 10), &key(2), 0));
        t.bind(lease(1, 12, Some(500)));
        assert!(t.is_free_for(Ipv4Addr::new(10, 0, 0, 11), &key(2), 0));
        assert_eq!(t.lease_of(&key(1)).map(|l| l.address), Some(Ipv4Addr::new(10, 0, 0, 12)));
        t.check_consistent();
    }

    #[test]
    fn an_offer_does_not_downgrade_a_bound_lease() {
        let mut t = LeaseTable::with_leases([lease(1, 10, Some(500))]);
        t.offer(&key(1), Ipv4Addr::new(10, 0, 0, 10), 50);
        assert!(t.lease_of(&key(1)).is_some());
        assert!(!t.is_free_for(Ipv4Addr::new(10, 0, 0, 10), &key(2), 100));
        t.withdraw_offer(&key(1));
        assert!(t.lease_of(&key(1)).is_some(), "withdrawing an offer keeps a bound lease");
    }

    #[test]
    fn expired_leases_are_kept_until_needed() {
        let t = LeaseTable::with_leases([lease(1, 10, Some(500)), lease(2, 11, None)]);
        assert!(!t.is_free_for(Ipv4Addr::new(10, 0, 0, 10), &key(3), 499));
        assert!(t.is_free_for(Ipv4Addr::new(10, 0, 0, 10), &key(3), 500));
        assert!(!t.is_free_for(Ipv4Addr::new(10, 0, 0, 11), &key(3), u64::MAX), "infinite leases never expire");
        assert_eq!(t.address_of(&key(1)), Some(Ipv4Addr::new(10, 0, 0, 10)));
        assert_eq!(t.active_leases(499).count(), 2);
        assert_eq!(t.active_leases(500).count(), 1);
    }

    #[test]
    fn release_and_decline() {
        let mut t = LeaseTable::with_leases([lease(1, 10, Some(500))]);
        let a = Ipv4Addr::new(10, 0, 0, 10);
        assert_eq!(t.release(&key(1), Ipv4Addr::new(10, 0, 0, 99)), None, "not its address");
        assert_eq!(t.release(&key(2), a), None, "not its lease");
        assert_eq!(t.release(&key(1), a), Some(LeaseChange::Remove { key: key(1), address: a }));
        assert!(t.is_free_for(a, &key(2), 0));

        t.bind(lease(1, 10, Some(500)));
        assert!(t.decline(&key(1), a, 700).is_some());
        assert!(!t.is_free_for(a, &key(1), 699), "quarantined for everybody");
        assert!(t.is_free_for(a, &key(2), 700));
        t.prune_quarantine(700);
        assert!(t.quarantine.is_empty());
        t.check_consistent();
    }
}
