//! The store's write-behind lease writer as the DHCP server's [`LeaseSink`], keeping the lease
//! book in step.

use std::sync::Arc;

use lifeboat_dhcp::LeaseChange;
use lifeboat_server::{LeaseSink, Persisted};
use lifeboat_store::LeaseWriter;

use crate::lease_book::LeaseBook;

/// Persists lease changes through the group-commit writer, and keeps the lease book in step.
pub(crate) struct StoreSink {
    pub(crate) writer: LeaseWriter,
    pub(crate) book: Arc<LeaseBook>,
}

impl LeaseSink for StoreSink {
    fn persist(&self, change: LeaseChange) -> Persisted {
        self.book.record(&change);
        let committed = self.writer.submit(change);
        Box::pin(async move { committed.await.map_err(|e| e.to_string()) })
    }
}
