//! The glue between the DHCP server and the SQLite store: lease types converted both ways, and
//! the store's write-behind writer as the server's [`LeaseSink`].

use std::sync::Arc;

use lifeboat_dhcp::{ClientKey, Lease, LeaseChange};
use lifeboat_server::{LeaseSink, Persisted};
use lifeboat_store::{Lease as StoredLease, LeaseChange as StoredChange, LeaseWriter};

use crate::lease_book::LeaseBook;

/// Persists lease changes through the group-commit writer, and keeps the lease book in step.
pub(crate) struct StoreSink {
    pub(crate) writer: LeaseWriter,
    pub(crate) book: Arc<LeaseBook>,
}

impl LeaseSink for StoreSink {
    fn persist(&self, change: LeaseChange) -> Persisted {
        self.book.record(&change);
        let committed = self.writer.submit(to_stored(change));
        Box::pin(async move { committed.await.map_err(|e| e.to_string()) })
    }
}

pub(crate) fn to_stored(change: LeaseChange) -> StoredChange {
    match change {
        LeaseChange::Upsert(l) => StoredChange::Upsert(StoredLease {
            client_key: l.key.0,
            mac: l.mac,
            address: l.address,
            hostname: l.hostname,
            expires_at: l.expires.map(|e| i64::try_from(e).unwrap_or(i64::MAX)),
        }),
        LeaseChange::Remove { key, .. } => StoredChange::Remove { client_key: key.0 },
    }
}

pub(crate) fn from_stored(l: StoredLease) -> Lease {
    Lease {
        key: ClientKey(l.client_key),
        mac: l.mac,
        address: l.address,
        hostname: l.hostname,
        // A negative time in the file (hand-edited) counts as long expired.
        expires: l.expires_at.map(|e| u64::try_from(e).unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn round_trip() {
        let lease = Lease {
            key: ClientKey(vec![1, 2, 3]),
            mac: vec![2, 0, 0, 0, 0, 1],
            address: Ipv4Addr::new(10, 0, 0, 5),
            hostname: Some("lab".into()),
            expires: Some(1_900_000_000),
        };
        let StoredChange::Upsert(stored) = to_stored(LeaseChange::Upsert(lease.clone())) else { panic!("upsert") };
        assert_eq!(from_stored(stored), lease);
        let infinite = Lease { expires: None, ..lease };
        let StoredChange::Upsert(stored) = to_stored(LeaseChange::Upsert(infinite.clone())) else { panic!("upsert") };
        assert_eq!(stored.expires_at, None);
        assert_eq!(from_stored(stored), infinite);
        let removed = to_stored(LeaseChange::Remove { key: ClientKey(vec![9]), address: Ipv4Addr::new(10, 0, 0, 6) });
        assert_eq!(removed, StoredChange::Remove { client_key: vec![9] });
    }
}
