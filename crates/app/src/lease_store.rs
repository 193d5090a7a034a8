//! The store's write-behind lease writer as the DHCP server's [`LeaseSink`], keeping the lease
//! book in step.

use std::sync::Arc;
use std::time::Duration;

use lifeboat_dhcp::LeaseChange;
use lifeboat_server::{LeaseSink, NotSaved, Persisted, Reachable};
use lifeboat_store::{LeaseWriter, Store, WriteError};

use crate::lease_book::LeaseBook;

/// How often an unreachable database is asked whether it is back.
const REACHABLE_AGAIN_EVERY: Duration = Duration::from_secs(1);

/// Persists lease changes through the group-commit writer, and keeps the lease book in step.
pub(crate) struct StoreSink {
    pub(crate) store: Store,
    pub(crate) writer: LeaseWriter,
    pub(crate) book: Arc<LeaseBook>,
}

impl LeaseSink for StoreSink {
    fn persist(&self, change: LeaseChange) -> Persisted {
        self.book.record(&change);
        let committed = self.writer.submit(change);
        Box::pin(async move { committed.await.map_err(not_saved) })
    }

    fn reachable(&self) -> Reachable {
        let store = self.store.clone();
        Box::pin(async move {
            // Bounded by the outage: each try fails within the pool's acquire timeout.
            while store.ping().await.is_err() {
                tokio::time::sleep(REACHABLE_AGAIN_EVERY).await;
            }
        })
    }
}

fn not_saved(error: WriteError) -> NotSaved {
    match &error {
        WriteError::Commit(cause) if cause.is_unreachable() => NotSaved::Unreachable(error.to_string()),
        _ => NotSaved::Failed(error.to_string()),
    }
}
