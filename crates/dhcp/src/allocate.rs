//! Choosing a free address in a pool.
//!
//! **Invariant:** the first address tried for a client depends only on its key and the pool, so a
//! client that lost its lease (or a restarted server with an empty table) tends to get the same
//! address again, and near-sequential MACs start far apart instead of racing for one address.

use std::net::Ipv4Addr;

use crate::lease::ClientKey;
use crate::scope::Pool;

/// 32-bit FNV-1a. Written here because the start position must be stable across Rust releases
/// and runs, which `std`'s `DefaultHasher` does not promise; a crate for five lines is not worth it.
pub(crate) fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// The first free address of `pool` for `key`, probing from the key's stable start position.
pub fn scan(pool: &Pool, key: &ClientKey, mut is_free: impl FnMut(Ipv4Addr) -> bool) -> Option<Ipv4Addr> {
    let size = pool.size();
    let first = fnv1a(&key.0) % size;
    (0..size).map(|i| Ipv4Addr::from(u32::from(pool.start) + (first + i) % size)).find(|addr| is_free(*addr))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::config::LeaseTime;

    fn pool(start: &str, end: &str) -> Pool {
        Pool {
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
            lease: LeaseTime::Infinite,
            text: String::new(),
        }
    }

    fn key(n: u32) -> ClientKey {
        ClientKey([&[1u8, 0x52, 0x54][..], &n.to_be_bytes()[..]].concat())
    }

    #[test]
    fn stable_and_spread() {
        let p = pool("10.0.0.10", "10.0.0.209");
        let first = scan(&p, &key(1), |_| true).unwrap();
        assert_eq!(scan(&p, &key(1), |_| true), Some(first), "same key, same start");
        let starts: BTreeSet<Ipv4Addr> = (0..50).map(|n| scan(&p, &key(n), |_| true).unwrap()).collect();
        assert!(starts.len() > 35, "sequential keys start apart: {} distinct of 50", starts.len());
        assert!(starts.iter().all(|a| p.contains(*a)));
    }

    #[test]
    fn fills_the_whole_pool_then_gives_up() {
        let p = pool("10.0.0.1", "10.0.0.7");
        let mut taken = BTreeSet::new();
        for n in 0..7 {
            let a = scan(&p, &key(n), |a| !taken.contains(&a)).expect("pool has room");
            assert!(taken.insert(a));
        }
        assert_eq!(scan(&p, &key(99), |a| !taken.contains(&a)), None);
        let single = pool("10.0.0.5", "10.0.0.5");
        assert_eq!(scan(&single, &key(3), |_| true), Some(Ipv4Addr::new(10, 0, 0, 5)));
    }

    #[test]
    fn fnv_reference_values() {
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
    }
}
