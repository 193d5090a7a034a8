//! A per-client request budget that blunts floods from one hardware address.
//!
//! **Invariant:** memory stays bounded: at most [`MAX_TRACKED`] clients are tracked, and the table
//! is cleared of stale entries before it grows past that.

use std::collections::HashMap;

/// Most clients tracked at once.
pub const MAX_TRACKED: usize = 65_536;

/// Allows `per_second` requests per client and second (fixed one-second windows).
#[derive(Debug)]
pub struct RateLimiter {
    per_second: u32,
    seen: HashMap<Vec<u8>, (u64, u32)>,
}

impl RateLimiter {
    pub fn new(per_second: u32) -> RateLimiter {
        RateLimiter { per_second, seen: HashMap::new() }
    }

    /// Count a request from `client` at `now` (seconds); false when it is over budget.
    pub fn allow(&mut self, client: &[u8], now: u64) -> bool {
        if self.seen.len() >= MAX_TRACKED && !self.seen.contains_key(client) {
            self.seen.retain(|_, (second, _)| *second == now);
            if self.seen.len() >= MAX_TRACKED {
                // Every tracked client is active this very second: a flood of fresh addresses.
                // Refusing newcomers protects the clients already in progress.
                return false;
            }
        }
        let (second, count) = self.seen.entry(client.to_vec()).or_insert((now, 0));
        if *second != now {
            *second = now;
            *count = 0;
        }
        *count += 1;
        *count <= self.per_second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_per_client_and_second() {
        let mut r = RateLimiter::new(3);
        assert!((0..3).all(|_| r.allow(b"a", 10)));
        assert!(!r.allow(b"a", 10));
        assert!(r.allow(b"b", 10), "other clients are not affected");
        assert!(r.allow(b"a", 11), "a new second, a new budget");
    }

    #[test]
    fn memory_is_bounded() {
        let mut r = RateLimiter::new(1);
        for i in 0..MAX_TRACKED as u32 {
            assert!(r.allow(&i.to_be_bytes(), 1));
        }
        assert!(!r.allow(b"late", 1), "table full of clients active this second");
        assert!(r.allow(b"late", 2), "stale entries are dropped");
        assert_eq!(r.seen.len(), 1);
    }
}
