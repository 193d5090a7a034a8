//! Opening the database: checks on the file, connection settings, schema migrations.
//!
//! **Invariant:** every connection of a [`Store`] runs with WAL journaling, `synchronous = FULL`
//! (a committed transaction is on disk when the commit returns), foreign keys on and a busy
//! timeout; and a [`Store`] only exists once the schema is migrated to this build's version.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};

use crate::error::{StoreError, file_error, migrate_error, sql_error};

/// The schema, from the workspace's `migrations/` folder, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// How long a statement waits for another connection's (or process') lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections of a file database. Writes are serialized by SQLite; reads in WAL mode run beside
/// them.
const MAX_CONNECTIONS: u32 = 4;

/// What an in-memory store reports as its path in errors.
const MEMORY_PATH: &str = ":memory:";

/// The lifeboat database. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    path: Arc<Path>,
}

impl Store {
    /// Open the database file at `path`, creating it if it does not exist, and bring its schema up
    /// to date. The directory must exist.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        check_file(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            // A local file needs no liveness check, and the check is one more round trip to
            // sqlx's SQLite thread on every write.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|e| sql_error(path, "open it", e))?;
        Store::migrated(pool, path).await
    }

    /// A fresh database that lives in memory until the last clone of the store is dropped. For
    /// tests: nothing is durable.
    pub async fn open_memory() -> Result<Store, StoreError> {
        let path = Path::new(MEMORY_PATH);
        let options = SqliteConnectOptions::new().in_memory(true).busy_timeout(BUSY_TIMEOUT).foreign_keys(true);
        // One connection that is never closed: the database disappears with its last connection.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|e| sql_error(path, "open it", e))?;
        Store::migrated(pool, path).await
    }

    /// A store on a pool opened by someone else, such as the one `#[sqlx::test]` hands a test,
    /// with its schema brought up to date. The pool's connection settings are the caller's:
    /// lifeboat itself uses [`Store::open`].
    pub async fn from_pool(pool: SqlitePool) -> Result<Store, StoreError> {
        let path = pool.connect_options().get_filename().to_path_buf();
        Store::migrated(pool, &path).await
    }

    async fn migrated(pool: SqlitePool, path: &Path) -> Result<Store, StoreError> {
        MIGRATOR.run(&pool).await.map_err(|e| migrate_error(path, e))?;
        Ok(Store { pool, path: Arc::from(path) })
    }

    /// The file this store was opened from (`:memory:` for an in-memory store).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Close every connection, waiting for the ones in use. Later calls on any clone fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Start a write transaction. `BEGIN IMMEDIATE` takes the write lock at once, so a busy
    /// database is waited for (busy timeout) instead of failing halfway through the transaction.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(|e| self.error("start a transaction", e))
    }

    /// A connection of the pool for the lease writer to hold.
    pub(crate) async fn writer_connection(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        self.pool.acquire().await.map_err(|e| self.error("open a connection", e))
    }

    /// Commit a transaction begun with [`Store::begin_write`].
    pub(crate) async fn commit(&self, transaction: Transaction<'static, Sqlite>) -> Result<(), StoreError> {
        transaction.commit().await.map_err(|e| self.error("commit a transaction", e))
    }

    /// A driver error met while trying to `action`, with this store's path.
    pub(crate) fn error(&self, action: &'static str, source: sqlx::Error) -> StoreError {
        sql_error(&self.path, action, source)
    }

    pub(crate) fn path_buf(&self) -> PathBuf {
        self.path.to_path_buf()
    }

    /// A row of `table` that this build cannot read back, with what is wrong with it.
    pub(crate) fn invalid_row(&self, table: &'static str, detail: String) -> StoreError {
        StoreError::InvalidRow { path: self.path_buf(), table, detail }
    }
}

/// Check the things SQLite would only report as "unable to open database file": a missing
/// directory, a directory in place of the file, missing permissions. Creates the file if it is
/// missing (SQLite takes an empty file as a new database).
fn check_file(path: &Path) -> Result<(), StoreError> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(StoreError::MissingDirectory { path: path.to_path_buf(), dir: dir.to_path_buf() });
    }
    if path.is_dir() {
        return Err(StoreError::IsDirectory { path: path.to_path_buf() });
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| file_error(path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pragma<T>(store: &Store, name: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite> + Send + Unpin,
    {
        let sql = format!("PRAGMA {name}");
        let row: (T,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_one(store.pool())
            .await
            .unwrap_or_else(|e| panic!("PRAGMA {name}: {e}"));
        row.0
    }

    #[tokio::test]
    async fn file_store_connections_use_wal_full_sync_foreign_keys_and_busy_timeout() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("lifeboat.db")).await.expect("open");
        assert_eq!(pragma::<String>(&store, "journal_mode").await, "wal");
        // 2 is FULL.
        assert_eq!(pragma::<i64>(&store, "synchronous").await, 2);
        assert_eq!(pragma::<i64>(&store, "foreign_keys").await, 1);
        assert_eq!(pragma::<i64>(&store, "busy_timeout").await, 5000);
    }

    #[tokio::test]
    async fn memory_store_is_migrated() {
        let store = Store::open_memory().await.expect("open");
        let tables: (i64,) =
            sqlx::query_as("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'leases'")
                .fetch_one(store.pool())
                .await
                .expect("query");
        assert_eq!(tables.0, 1);
        assert_eq!(store.path(), Path::new(":memory:"));
    }
}
