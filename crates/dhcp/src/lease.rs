//! The lease table: which client holds or has been offered which address, and which addresses are
//! quarantined after a DECLINE.
//!
//! **Invariant:** an address is held by at most one client and a client holds at most one address;
//! the two maps (`by_key`, `by_address`) always agree. An expired lease still occupies its slot
//! until someone else needs the address, so a returning client gets its old address back.
//! Offers made from a pool are also kept per pool group (a scope) in the order they expire, so
//! the responder learns in O(log n) how many are outstanding and which is the oldest; every
//! offer in those queues is an offer of the table, and a queued offer that lapsed is forgotten
//! when the queue is next looked at (a flood of made-up clients must not stay in memory).
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
        f.write_str(&crate::config::hardware_text(&self.0))
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

/// A bind not saved yet, and the bound lease it replaced: what to put back in the table if the
/// store cannot save it ([`LeaseTable::undo`]). Without that, memory would promise a client
/// more time than the database holds, and a renewal answered from memory while the database is
/// unreachable would hand out time that no other instance knows of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsavedBind {
    key: ClientKey,
    address: Ipv4Addr,
    expires: Option<u64>,
    replaced: Option<Lease>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Holding {
    /// Offered in a DHCPOFFER at `made` and reserved for the client until `until`. `queued`
    /// places it in the queue of its group: (group, sequence number); `None` for offers not
    /// counted (a reserved address).
    Offered {
        made: u64,
        until: u64,
        queued: Option<(usize, u64)>,
    },
    Bound(Lease),
}

/// Where a new offer is counted: `Some(group)` for an address from a scope's pools (`group` is
/// the scope's index), `None` for one counted nowhere (a reservation).
pub type OfferGroup = Option<usize>;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    address: Ipv4Addr,
    holding: Holding,
}

impl Entry {
    fn active(&self, now: u64) -> bool {
        match &self.holding {
            Holding::Offered { until, .. } => *until > now,
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
    /// Per group, the counted offers by (until, sequence number). Expired ones are dropped from
    /// the front as they are met; their entries stay in `by_key` until the address is needed.
    offers: Vec<BTreeMap<(u64, u64), ClientKey>>,
    next_offer: u64,
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

    /// Reserve `address` for `key` from `now` until `until` (a DHCPOFFER), counted in `group`. A
    /// bound lease of `key` on the same address stays bound.
    pub fn offer(&mut self, key: &ClientKey, address: Ipv4Addr, now: u64, until: u64, group: OfferGroup) {
        if self.by_key.get(key).is_some_and(|e| e.address == address && matches!(e.holding, Holding::Bound(_))) {
            return;
        }
        let queued = group.map(|group| {
            if self.offers.len() <= group {
                self.offers.resize_with(group + 1, BTreeMap::new);
            }
            self.next_offer += 1;
            (group, self.next_offer)
        });
        // Out of the queue first: `insert` removes the client's old entry (and its queue place).
        self.insert(key.clone(), Entry { address, holding: Holding::Offered { made: now, until, queued } });
        if let Some((group, seq)) = queued {
            self.offers[group].insert((until, seq), key.clone());
        }
    }

    /// Offers of `group` that have not expired at `now`. Expired ones are forgotten on the way,
    /// so a flood of made-up clients leaves nothing behind once its offers lapse.
    pub fn outstanding_offers(&mut self, group: usize, now: u64) -> usize {
        let Some(queue) = self.offers.get_mut(group) else { return 0 };
        let mut lapsed = Vec::new();
        while let Some(entry) = queue.first_entry().filter(|e| e.key().0 <= now) {
            lapsed.push(entry.remove());
        }
        for key in lapsed {
            if self.by_key.get(&key).is_some_and(|e| matches!(e.holding, Holding::Offered { .. })) {
                self.remove(&key);
            }
        }
        self.offers.get(group).map_or(0, BTreeMap::len)
    }

    /// The offer of `group` that expires first, among those not expired at `now`: its client,
    /// its address and when it was made.
    pub fn oldest_offer(&mut self, group: usize, now: u64) -> Option<(ClientKey, Ipv4Addr, u64)> {
        self.outstanding_offers(group, now);
        let (_, key) = self.offers.get(group)?.first_key_value()?;
        let entry = self.by_key.get(key)?;
        let Holding::Offered { made, .. } = entry.holding else { return None };
        Some((key.clone(), entry.address, made))
    }

    /// Drop the offer `key` has (the client chose another server, or its address went to
    /// another client under pressure). Bound leases stay.
    pub fn withdraw_offer(&mut self, key: &ClientKey) {
        if self.by_key.get(key).is_some_and(|e| matches!(e.holding, Holding::Offered { .. })) {
            self.remove(key);
        }
    }

    /// Bind a lease (DHCPACK or BOOTP reply). Returns the change to persist, and what to hand
    /// to [`LeaseTable::undo`] if it cannot be.
    pub fn bind(&mut self, lease: Lease) -> (LeaseChange, UnsavedBind) {
        self.quarantine.remove(&lease.address);
        let before =
            self.insert(lease.key.clone(), Entry { address: lease.address, holding: Holding::Bound(lease.clone()) });
        let replaced = match before {
            Some(Entry { holding: Holding::Bound(old), .. }) => Some(old),
            _ => None,
        };
        let unsaved = UnsavedBind { key: lease.key.clone(), address: lease.address, expires: lease.expires, replaced };
        (LeaseChange::Upsert(lease), unsaved)
    }

    /// The store could not save `unsaved`: the client's lease goes back to what the database
    /// still holds. Nothing changes when a later bind or release of the client came in between,
    /// or when someone else took the replaced lease's address meanwhile.
    pub fn undo(&mut self, unsaved: UnsavedBind) {
        let current = match self.by_key.get(&unsaved.key).map(|e| &e.holding) {
            Some(Holding::Bound(lease)) => lease,
            _ => return,
        };
        if current.address != unsaved.address || current.expires != unsaved.expires {
            return;
        }
        self.remove(&unsaved.key);
        if let Some(old) = unsaved.replaced
            && !self.by_address.contains_key(&old.address)
        {
            self.insert(unsaved.key, Entry { address: old.address, holding: Holding::Bound(old) });
        }
    }

    /// Take in a lease another instance of the fleet bound (read from the shared database):
    /// nothing to persist, it is there already. It replaces whatever this table held for the
    /// client or on the address: the database let the other instance write it.
    pub fn learn(&mut self, lease: Lease) {
        self.quarantine.remove(&lease.address);
        self.insert(lease.key.clone(), Entry { address: lease.address, holding: Holding::Bound(lease) });
    }

    /// The client gives `address` back (DHCPRELEASE). Nothing happens unless `key` holds it.
    pub fn release(&mut self, key: &ClientKey, address: Ipv4Addr) -> Option<LeaseChange> {
        if self.by_key.get(key)?.address != address {
            return None;
        }
        self.remove(key);
        Some(LeaseChange::Remove { key: key.clone(), address })
    }

    /// An administrator frees `address` (the dashboard's "release"): the bound lease on it is
    /// forgotten, as if its client had sent a DHCPRELEASE. `None` when no lease is bound there.
    pub fn release_address(&mut self, address: Ipv4Addr) -> Option<LeaseChange> {
        let key = self.by_address.get(&address)?.clone();
        if !matches!(self.by_key.get(&key)?.holding, Holding::Bound(_)) {
            return None;
        }
        self.release(&key, address)
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

    /// Put `entry` in for `key`, displacing whoever held its address. Returns what `key` had.
    fn insert(&mut self, key: ClientKey, entry: Entry) -> Option<Entry> {
        let before = self.remove(&key);
        if let Some(previous) = self.by_address.insert(entry.address, key.clone())
            && let Some(old) = self.by_key.remove(&previous)
        {
            self.unqueue(&old);
        }
        self.by_key.insert(key, entry);
        before
    }

    fn remove(&mut self, key: &ClientKey) -> Option<Entry> {
        let old = self.by_key.remove(key)?;
        self.by_address.remove(&old.address);
        self.unqueue(&old);
        Some(old)
    }

    fn unqueue(&mut self, entry: &Entry) {
        if let Holding::Offered { until, queued: Some((group, seq)), .. } = entry.holding
            && let Some(queue) = self.offers.get_mut(group)
        {
            queue.remove(&(until, seq));
        }
    }

    #[cfg(test)]
    fn check_consistent(&self) {
        assert_eq!(self.by_key.len(), self.by_address.len());
        for (key, entry) in &self.by_key {
            assert_eq!(self.by_address.get(&entry.address), Some(key));
        }
        for (group, queue) in self.offers.iter().enumerate() {
            for ((until, seq), key) in queue {
                let holding = &self.by_key[key].holding;
                assert!(
                    matches!(holding, Holding::Offered { until: u, queued: Some((g, s)), .. } if u == until && *g == group && s == seq),
                    "{holding:?}"
                );
            }
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
        t.offer(&key(1), a, 0, 100, None);
        assert!(!t.is_free_for(a, &key(2), 99));
        assert!(t.is_free_for(a, &key(1), 99));
        assert!(t.is_free_for(a, &key(2), 100));
        // Key 2 takes the expired offer: key 1 loses it.
        t.offer(&key(2), a, 0, 200, None);
        assert_eq!(t.address_of(&key(1)), None);
        assert_eq!(t.address_of(&key(2)), Some(a));
        t.check_consistent();
    }

    #[test]
    fn a_client_holds_one_address() {
        let mut t = LeaseTable::default();
        t.offer(&key(1), Ipv4Addr::new(10, 0, 0, 10), 0, 100, None);
        t.offer(&key(1), Ipv4Addr::new(10, 0, 0, 11), 0, 100, None);
        assert!(t.is_free_for(Ipv4Addr::new(10, 0, 0, 10), &key(2), 0));
        t.bind(lease(1, 12, Some(500)));
        assert!(t.is_free_for(Ipv4Addr::new(10, 0, 0, 11), &key(2), 0));
        assert_eq!(t.lease_of(&key(1)).map(|l| l.address), Some(Ipv4Addr::new(10, 0, 0, 12)));
        t.check_consistent();
    }

    #[test]
    fn an_offer_does_not_downgrade_a_bound_lease() {
        let mut t = LeaseTable::with_leases([lease(1, 10, Some(500))]);
        t.offer(&key(1), Ipv4Addr::new(10, 0, 0, 10), 0, 50, None);
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
    fn counted_offers_queue_by_expiry_and_leave_the_queue_however_they_end() {
        let mut t = LeaseTable::default();
        let a = |last| Ipv4Addr::new(10, 0, 0, last);
        t.offer(&key(1), a(10), 0, 160, Some(0));
        t.offer(&key(2), a(11), 0, 110, Some(0));
        t.offer(&key(3), a(12), 0, 200, Some(1));
        t.offer(&key(4), a(13), 0, 300, None);
        assert_eq!(
            (t.outstanding_offers(0, 100), t.outstanding_offers(1, 100), t.outstanding_offers(7, 100)),
            (2, 1, 0)
        );
        assert_eq!(t.oldest_offer(0, 100), Some((key(2), a(11), 0)), "the one that expires first");
        assert_eq!(t.oldest_offer(0, 110), Some((key(1), a(10), 0)), "an expired offer is not outstanding");
        assert_eq!(t.address_of(&key(2)), None, "and it is forgotten");
        assert!(t.is_free_for(a(11), &key(9), 110));
        // Bound, withdrawn, re-offered elsewhere or taken over: out of the queue each time.
        t.bind(lease(1, 10, Some(500)));
        assert_eq!(t.outstanding_offers(0, 100), 0);
        t.offer(&key(5), a(20), 0, 150, Some(1));
        t.withdraw_offer(&key(3));
        t.offer(&key(5), a(21), 0, 150, Some(1));
        assert_eq!(t.outstanding_offers(1, 100), 1);
        t.offer(&key(6), a(21), 0, 170, Some(1));
        assert_eq!(t.oldest_offer(1, 100), Some((key(6), a(21), 0)));
        assert_eq!(t.outstanding_offers(1, 100), 1);
        t.check_consistent();
    }

    #[test]
    fn an_administrator_releases_a_bound_address_only() {
        let mut t = LeaseTable::default();
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 50), Ipv4Addr::new(10, 0, 0, 51));
        t.bind(lease(1, 50, Some(1000)));
        t.offer(&key(2), b, 0, 60, None);
        assert_eq!(t.release_address(b), None, "an offer is no lease");
        assert_eq!(t.release_address(Ipv4Addr::new(10, 0, 0, 52)), None, "nobody holds it");
        assert_eq!(t.release_address(a), Some(LeaseChange::Remove { key: key(1), address: a }));
        assert_eq!(t.lease_of(&key(1)), None);
        assert!(t.is_free_for(a, &key(3), 0), "the address is back in the pool");
        assert_eq!(t.release_address(a), None, "released once");
    }

    #[test]
    fn an_unsaved_bind_is_undone_unless_something_came_after_it() {
        let mut t = LeaseTable::with_leases([lease(1, 10, Some(500))]);
        let (_, unsaved) = t.bind(lease(1, 10, Some(900)));
        t.undo(unsaved);
        assert_eq!(t.lease_of(&key(1)), Some(&lease(1, 10, Some(500))), "back to what the store holds");

        let (_, unsaved) = t.bind(lease(2, 20, Some(900)));
        t.undo(unsaved);
        assert_eq!(t.lease_of(&key(2)), None, "a new client had nothing before");
        assert!(t.is_free_for(Ipv4Addr::new(10, 0, 0, 20), &key(3), 0));

        let (_, first) = t.bind(lease(1, 10, Some(900)));
        t.bind(lease(1, 10, Some(1000)));
        t.undo(first);
        assert_eq!(t.lease_of(&key(1)).and_then(|l| l.expires), Some(1000), "a later bind stays");

        // The client moved to another address; meanwhile its old one went to someone else.
        let mut t = LeaseTable::with_leases([lease(1, 10, Some(500))]);
        let (_, unsaved) = t.bind(lease(1, 11, Some(900)));
        t.bind(lease(2, 10, Some(900)));
        t.undo(unsaved);
        assert_eq!(t.lease_of(&key(1)), None);
        assert_eq!(t.lease_of(&key(2)).map(|l| l.address), Some(Ipv4Addr::new(10, 0, 0, 10)));
        t.check_consistent();
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
