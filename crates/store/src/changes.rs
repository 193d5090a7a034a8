//! What other instances change in a shared database, as it happens: PostgreSQL's triggers
//! notify the channel `lifeboat_changes` with the name of the table a committed statement
//! changed (migrations/postgres), and [`Changes`] hears it through `LISTEN`.
//!
//! **Invariant:** a change is never lost silently: when the listening connection drops (the
//! server restarted, the network failed), notifications sent meanwhile are gone, so the next
//! thing [`Changes::next`] yields is [`Change::Missed`], after which a listener reloads what it
//! follows. On SQLite, one lifeboat owns the file: nothing else changes it, and
//! [`Changes::next`] never yields.

use std::time::Duration;

use sqlx::postgres::PgListener;

use crate::error::StoreError;
use crate::store::{Pool, Store};

/// The channel the triggers notify.
const CHANNEL: &str = "lifeboat_changes";

/// How long to wait before listening again after the connection could not be made.
const RETRY: Duration = Duration::from_secs(1);

/// Something another writer changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A statement on this table was committed (`hosts`, `aliases`, `boot_profiles`,
    /// `settings`, `leases`, `instance_commands`).
    Table(String),
    /// The connection was lost and made again: anything may have changed meanwhile.
    Missed,
}

/// The changes of a store's database, in the order they were committed.
#[derive(Debug)]
pub struct Changes {
    store: Store,
    listener: Option<PgListener>,
}

impl Store {
    /// Listen for changes made by anyone to this database (this store's own included). On
    /// PostgreSQL this holds a connection of its own, outside the pool.
    pub async fn changes(&self) -> Result<Changes, StoreError> {
        let listener = match self.pool() {
            Pool::Sqlite(_) => None,
            Pool::Postgres(_) => Some(self.listen().await?),
        };
        Ok(Changes { store: self.clone(), listener })
    }

    async fn listen(&self) -> Result<PgListener, StoreError> {
        let Pool::Postgres(pool) = self.pool() else { unreachable!("listen is only called on PostgreSQL") };
        let mut listener = PgListener::connect_with(pool).await.map_err(|e| self.error("listen for changes", e))?;
        listener.listen(CHANNEL).await.map_err(|e| self.error("listen for changes", e))?;
        Ok(listener)
    }
}

impl Changes {
    /// The next change. Waits as long as nothing changes. When the connection is lost, listens
    /// again on a new one (every second until the server answers), then yields
    /// [`Change::Missed`]: what was committed in between was not heard.
    pub async fn next(&mut self) -> Change {
        let Some(listener) = self.listener.as_mut() else {
            return std::future::pending().await;
        };
        let lost = match listener.try_recv().await {
            Ok(Some(notification)) => return Change::Table(notification.payload().to_owned()),
            Ok(None) => "the connection was closed".to_owned(),
            Err(error) => error.to_string(),
        };
        tracing::warn!("not hearing other lifeboats' changes until the database answers again: {lost}");
        loop {
            tokio::time::sleep(RETRY).await;
            if let Ok(listener) = self.store.listen().await {
                tracing::info!("hearing other lifeboats' changes again");
                self.listener = Some(listener);
                return Change::Missed;
            }
        }
    }
}
