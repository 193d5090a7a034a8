//! The in-memory database of [`Store::open_memory`](crate::store::Store::open_memory), and what
//! keeps it alive.
//!
//! SQLite frees an in-memory database with its last connection, and a pool does not promise to
//! keep a connection: sqlx discards one whose liveness check was cancelled (an `acquire`
//! abandoned when a task stops), and the lease writer closes one after an error. On a private
//! `:memory:` database the pool's next connection then opens a new, empty database: every table
//! is gone at once, mid-run. So the database is named and opened in shared-cache mode, and one
//! more connection, which never runs a statement, holds it until the last clone of the store is
//! dropped. Any connection the pool opens later finds the same tables.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

/// Numbers the in-memory databases of this process: shared-cache names are process-wide.
static NEXT_DATABASE: AtomicU64 = AtomicU64::new(0);

/// The connect options of a new in-memory database, unique in this process. Every connection
/// opened with them (or their clones) reaches the same database.
pub(crate) fn new_database() -> SqliteConnectOptions {
    let number = NEXT_DATABASE.fetch_add(1, Ordering::Relaxed);
    SqliteConnectOptions::new().filename(format!("file:lifeboat-memory-{number}")).in_memory(true).shared_cache(true)
}

/// A connection to an in-memory database that is only held, never used: while it is open, the
/// database and its tables exist, whatever happens to the pool's connections.
pub(crate) struct MemoryKeeper {
    /// Behind a mutex only so that the store stays `Sync`; nothing ever locks it.
    _connection: Mutex<SqliteConnection>,
}

impl MemoryKeeper {
    /// Open the connection that holds the database of `options`.
    pub(crate) async fn open(options: &SqliteConnectOptions) -> Result<MemoryKeeper, sqlx::Error> {
        let connection = options.connect().await?;
        Ok(MemoryKeeper { _connection: Mutex::new(connection) })
    }
}

impl std::fmt::Debug for MemoryKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryKeeper")
    }
}
