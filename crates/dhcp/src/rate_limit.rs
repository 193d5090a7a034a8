//! A per-client request budget that blunts floods from one hardware address.
//!
//! **Invariant:** memory stays bounded: at most [`MAX_TRACKED`] clients are counted in a second,
//! and a new second starts from an empty table without visiting its entries, so the limiter never
//! stalls the responder, however many clients the last second had.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hasher};

/// Most clients counted in one second; newcomers beyond that are refused until the next.
pub const MAX_TRACKED: usize = 65_536;

/// Allows `per_second` requests per client and second (fixed one-second windows).
#[derive(Debug)]
pub struct RateLimiter {
    per_second: u32,
    /// The second being counted.
    second: u64,
    /// Requests this second, by a keyed hash of the client. Counting hashes rather than keys
    /// keeps the table free of heap keys, so clearing it for a new second costs no matter its
    /// size nothing but resetting its control bytes. The keys are already secret hashes, so the
    /// table's own hasher needs no seed.
    counts: HashMap<u64, u32, BuildHasherDefault<DefaultHasher>>,
    /// The secret the clients' hashes are keyed with: chosen at random by the driver, so clients
    /// cannot choose identifiers that collide (a collision only makes two clients share a budget).
    seed: u64,
}

impl RateLimiter {
    /// `seed` keys the hash of client identifiers; the driver picks it at random once per
    /// process (this crate has no randomness of its own).
    pub fn new(per_second: u32, seed: u64) -> RateLimiter {
        RateLimiter { per_second, second: 0, counts: HashMap::default(), seed }
    }

    /// SipHash (std's `DefaultHasher`) of the seed followed by the client: a secret prefix makes
    /// it a keyed hash, which std's seeded `RandomState` would be too, were it not seeded from
    /// the OS behind the caller's back.
    fn client_hash(&self, client: &[u8]) -> u64 {
        let mut hasher = BuildHasherDefault::<DefaultHasher>::default().build_hasher();
        hasher.write_u64(self.seed);
        hasher.write(client);
        hasher.finish()
    }

    /// Count a request from `client` at `now` (seconds); false when it is over budget.
    pub fn allow(&mut self, client: &[u8], now: u64) -> bool {
        if now != self.second {
            self.second = now;
            self.counts.clear();
        }
        let id = self.client_hash(client);
        if let Some(count) = self.counts.get_mut(&id) {
            *count = count.saturating_add(1);
            return *count <= self.per_second;
        }
        if self.counts.len() >= MAX_TRACKED {
            // This many clients in one second is a flood of fresh addresses. Refusing newcomers
            // protects the clients already in progress.
            return false;
        }
        self.counts.insert(id, 1);
        self.per_second >= 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_per_client_and_second() {
        let mut r = RateLimiter::new(3, 7);
        assert!((0..3).all(|_| r.allow(b"a", 10)));
        assert!(!r.allow(b"a", 10));
        assert!(r.allow(b"b", 10), "other clients are not affected");
        assert!(r.allow(b"a", 11), "a new second, a new budget");
        assert!(r.allow(b"a", 11) && r.allow(b"a", 11) && !r.allow(b"a", 11));
    }

    #[test]
    fn memory_is_bounded() {
        let mut r = RateLimiter::new(1, 7);
        for i in 0..MAX_TRACKED as u32 {
            assert!(r.allow(&i.to_be_bytes(), 1));
        }
        assert!(!r.allow(b"late", 1), "table full of clients active this second");
        assert!(r.allow(&7u32.to_be_bytes(), 2), "a client counted last second starts afresh");
        assert!(r.allow(b"late", 2), "a new second has room again");
        assert_eq!(r.counts.len(), 2);
    }

    #[test]
    fn a_zero_budget_refuses_everyone() {
        let mut r = RateLimiter::new(0, 7);
        assert!(!r.allow(b"a", 1));
        assert!(!r.allow(b"a", 1));
    }

    #[test]
    fn the_seed_keys_the_client_hash() {
        let (a, b) = (RateLimiter::new(1, 1), RateLimiter::new(1, 2));
        assert_eq!(a.client_hash(b"52:54:00:12:34:56"), RateLimiter::new(1, 1).client_hash(b"52:54:00:12:34:56"));
        assert_ne!(a.client_hash(b"52:54:00:12:34:56"), b.client_hash(b"52:54:00:12:34:56"));
    }
}
