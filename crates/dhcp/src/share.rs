//! Load sharing between the instances of a fleet that serve one range (an HA pair): each client
//! belongs to one of them, by a hash of its client key, as RFC 3074 assigns clients to servers
//! by a hash of their identifier. The others stay quiet to its DISCOVERs and to its REQUESTs
//! after a reboot (broadcast, no server identifier, no `ciaddr`), so two servers do not answer
//! every client. A client renewing its lease asks the server that granted it; if that one is
//! gone, it rebinds by broadcast (`ciaddr` set), and every instance that knows the lease answers
//! that. When an instance is gone, the application shares the load among those left.
//!
//! **Invariant:** with the same instances up, every instance computes the same owner for a
//! client (the hash is fixed: FNV-1a, not `std`'s per-process hasher), and exactly one owns it.

use crate::allocate::fnv1a;
use crate::lease::ClientKey;

/// This instance's part of the clients: those whose bucket is `index` of `of` buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadShare {
    /// This instance's place among those sharing, `0..of`.
    pub index: u32,
    /// How many instances share the range.
    pub of: u32,
}

impl LoadShare {
    /// Whether this instance answers the client `key`.
    pub fn answers(&self, key: &ClientKey) -> bool {
        self.of <= 1 || bucket(key) % self.of == self.index
    }

    /// Whether a new client of this instance should get `address` while it has a choice: each
    /// instance hands out its own part of the range (by the address modulo `of`), so two
    /// instances that have not yet heard of each other's latest leases do not both pick one
    /// address (the database would refuse one of them, and that client's ACK). Only when its
    /// part is full does an instance take a free address of the others'.
    pub fn prefers(&self, address: std::net::Ipv4Addr) -> bool {
        self.of <= 1 || u32::from(address) % self.of == self.index
    }
}

/// The client's bucket: FNV-1a of its key (which also picks its first address to try,
/// allocate.rs), mixed again so that keys differing in their last byte only (sequential MACs)
/// spread over every bucket, and the owner does not follow the address.
fn bucket(key: &ClientKey) -> u32 {
    // The finalizer of MurmurHash3: every input bit moves about half of the output bits.
    let mut h = fnv1a(&key.0);
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> ClientKey {
        ClientKey([&[1u8, 0x52, 0x54, 0][..], &n.to_be_bytes()[..]].concat())
    }

    #[test]
    fn the_instances_prefer_disjoint_parts_of_the_range_that_cover_it() {
        let shares = [LoadShare { index: 0, of: 2 }, LoadShare { index: 1, of: 2 }];
        for last in 0..=255u8 {
            let address = std::net::Ipv4Addr::new(10, 0, 0, last);
            let preferring = shares.iter().filter(|share| share.prefers(address)).count();
            assert_eq!(preferring, 1, "{address}");
        }
        assert!(LoadShare { index: 0, of: 1 }.prefers(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    }

    #[test]
    fn every_client_has_exactly_one_owner_and_the_load_is_split() {
        let shares = [LoadShare { index: 0, of: 2 }, LoadShare { index: 1, of: 2 }];
        let mut first = 0;
        for n in 0..1000 {
            let owners: Vec<bool> = shares.iter().map(|share| share.answers(&key(n))).collect();
            assert_eq!(owners.iter().filter(|o| **o).count(), 1, "client {n}: {owners:?}");
            first += usize::from(owners[0]);
        }
        assert!((400..=600).contains(&first), "the first instance owns {first} of 1000");
    }

    #[test]
    fn alone_an_instance_answers_everyone() {
        let alone = LoadShare { index: 0, of: 1 };
        assert!((0..100).all(|n| alone.answers(&key(n))));
    }
}
