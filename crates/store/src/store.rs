//! Opening the database: checks on the file or the server, connection settings, schema
//! migrations, and the one place that knows which engine a [`Store`] runs on.
//!
//! **Invariant:** a [`Store`] only exists once the schema is migrated to this build's version.
//! Every SQLite connection runs with WAL journaling, `synchronous = FULL` (a committed
//! transaction is on disk when the commit returns), foreign keys on and a busy timeout. Every
//! PostgreSQL connection runs with `synchronous_commit = on`, whatever the server's default, so
//! a commit has reached the server's WAL on disk when it returns.
//!
//! The rest of the crate writes a query once and runs it on either engine through
//! [`with_pool!`]: the placeholders are `$1`, `$2`, … (both engines read them), and where the SQL
//! of the two engines differs, the module says why next to the two texts.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Postgres, Sqlite, Transaction};

use crate::error::{StoreError, file_error, migrate_error, sql_error};
use crate::location::DatabaseLocation;
use crate::memory::{self, MemoryKeeper};

/// The SQLite schema, from the workspace's `migrations/sqlite/` folder, embedded at compile time.
static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The PostgreSQL schema, from `migrations/postgres/`. Its migrator takes an advisory lock, so
/// two lifeboats starting at once on a new database do not both create the tables.
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// How long a statement waits for another connection's (or process') lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections of a file database. Writes are serialized by SQLite; reads in WAL mode run beside
/// them.
const MAX_CONNECTIONS: u32 = 4;

/// Connections to a PostgreSQL server: the lease writer holds one, the history writer, the
/// change listener and the dashboard's reads share the rest.
const MAX_POSTGRES_CONNECTIONS: u32 = 8;

/// How long opening a PostgreSQL connection (or waiting for a free one) may take. A server that
/// does not answer is reported after this long instead of holding a DHCP commit indefinitely.
const POSTGRES_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What an in-memory store reports as its path in errors.
const MEMORY_PATH: &str = ":memory:";

/// A pool of connections to the database, one variant per engine.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Run `$body` with `$pool` bound to the store's connection pool, whichever engine it is. The
/// body is written once and compiled once per engine, each time with that engine's types.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store.pool() {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Starting a transaction that writes, the way each engine wants it.
pub(crate) trait BeginWrite {
    type Database: sqlx::Database;

    async fn begin_write(&self) -> Result<Transaction<'static, Self::Database>, sqlx::Error>;
}

impl BeginWrite for SqlitePool {
    type Database = Sqlite;

    /// `BEGIN IMMEDIATE` takes the write lock at once, so a busy database is waited for (busy
    /// timeout) instead of failing halfway through the transaction.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Database = Postgres;

    /// PostgreSQL locks rows as they are written; unique constraints decide conflicts.
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// The lifeboat database. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    location: Arc<DatabaseLocation>,
    /// The name of the lifeboat using this store, recorded with what it writes ('' until
    /// [`Store::for_instance`] names it).
    instance: Arc<str>,
    /// For an in-memory store, what keeps its database alive while a clone of the store lives.
    _memory: Option<Arc<MemoryKeeper>>,
}

impl Store {
    /// Open the database at `location`: a SQLite file (created if missing) or a PostgreSQL
    /// database, and bring its schema up to date.
    pub async fn connect(location: &DatabaseLocation) -> Result<Store, StoreError> {
        match location {
            DatabaseLocation::File(path) => Store::open(path).await,
            DatabaseLocation::Postgres(_) => Store::open_postgres(location).await,
        }
    }

    /// Open the database file at `path`, creating it if it does not exist, and bring its schema up
    /// to date. The directory must exist.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        let location = DatabaseLocation::File(path.to_path_buf());
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
            .map_err(|e| sql_error(&location, "open it", e))?;
        Store::migrated(Pool::Sqlite(pool), location).await
    }

    /// Connect to the PostgreSQL database of `location` and bring its schema up to date. The
    /// database must exist; lifeboat creates its tables in it.
    async fn open_postgres(location: &DatabaseLocation) -> Result<Store, StoreError> {
        let DatabaseLocation::Postgres(url) = location else {
            unreachable!("open_postgres is only called with a PostgreSQL location");
        };
        let options: PgConnectOptions =
            url.as_str().parse().map_err(|e| StoreError::BadUrl { database: location.to_string(), source: e })?;
        let options = options.application_name("lifeboat").options([("synchronous_commit", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_POSTGRES_CONNECTIONS)
            .acquire_timeout(POSTGRES_CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| sql_error(location, "connect to it", e))?;
        Store::migrated(Pool::Postgres(pool), location.clone()).await
    }

    /// A fresh database that lives in memory until the last clone of the store is dropped: for
    /// tests, and for `lifeboat recover` run without a database. Nothing is durable.
    pub async fn open_memory() -> Result<Store, StoreError> {
        let location = DatabaseLocation::File(MEMORY_PATH.into());
        let options = memory::new_database().busy_timeout(BUSY_TIMEOUT).foreign_keys(true);
        let keeper = MemoryKeeper::open(&options).await.map_err(|e| sql_error(&location, "open it", e))?;
        // One connection for the pool, as SQLite serializes writes anyway and shared-cache
        // connections would lock each other's tables.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|e| sql_error(&location, "open it", e))?;
        let store = Store::migrated(Pool::Sqlite(pool), location).await?;
        Ok(Store { _memory: Some(Arc::new(keeper)), ..store })
    }

    /// A store on a SQLite pool opened by someone else, such as the one `#[sqlx::test]` hands a
    /// test, with its schema brought up to date. The pool's connection settings are the
    /// caller's: lifeboat itself uses [`Store::open`].
    pub async fn from_pool(pool: SqlitePool) -> Result<Store, StoreError> {
        let location = DatabaseLocation::File(pool.connect_options().get_filename().to_path_buf());
        Store::migrated(Pool::Sqlite(pool), location).await
    }

    async fn migrated(pool: Pool, location: DatabaseLocation) -> Result<Store, StoreError> {
        let outcome = match &pool {
            Pool::Sqlite(pool) => SQLITE_MIGRATOR.run(pool).await,
            Pool::Postgres(pool) => POSTGRES_MIGRATOR.run(pool).await,
        };
        outcome.map_err(|e| migrate_error(&location, e))?;
        Ok(Store { pool, location: Arc::new(location), instance: Arc::from(""), _memory: None })
    }

    /// This store, writing as the lifeboat named `instance`: transfers, events and leases record
    /// the name, and the instance's own row in `instances` is this name's.
    pub fn for_instance(self, instance: &str) -> Store {
        Store { instance: Arc::from(instance), ..self }
    }

    /// The name this store writes as.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Where this store's database is (`:memory:` for an in-memory store).
    pub fn location(&self) -> &DatabaseLocation {
        &self.location
    }

    /// Whether several lifeboats can share this database: true on PostgreSQL.
    pub fn is_shared(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    /// Ask the database for nothing: `Ok` when it answers now. Used to learn when an unreachable
    /// PostgreSQL server is back.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))
            .map_err(|e| self.error("reach the database", e))
    }

    /// Close every connection, waiting for the ones in use. Later calls on any clone fail.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await);
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A driver error met while trying to `action`, with this store's location.
    pub(crate) fn error(&self, action: &'static str, source: sqlx::Error) -> StoreError {
        sql_error(&self.location, action, source)
    }

    /// A row of `table` that this build cannot read back, with what is wrong with it.
    pub(crate) fn invalid_row(&self, table: &'static str, detail: String) -> StoreError {
        StoreError::InvalidRow { database: self.location.to_string(), table, detail }
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
        let Pool::Sqlite(pool) = store.pool() else { panic!("not a SQLite store") };
        let sql = format!("PRAGMA {name}");
        let row: (T,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_one(pool)
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
        assert!(!store.is_shared());
    }

    #[tokio::test]
    async fn memory_store_is_migrated() {
        let store = Store::open_memory().await.expect("open");
        let tables: i64 = with_pool!(store, pool => sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'leases'"
        )
        .fetch_one(pool)
        .await
        .expect("query"));
        assert_eq!(tables, 1);
        assert_eq!(store.location().to_string(), ":memory:");
    }

    /// The pool may close its connection (here as the lease writer does after an error); the
    /// next one finds the same database, with its tables and rows. Two stores in memory are two
    /// databases.
    #[tokio::test]
    async fn a_memory_store_outlives_the_connections_of_its_pool() {
        let store = Store::open_memory().await.expect("open");
        store.set_setting("probe", "kept").await.expect("write");
        let Pool::Sqlite(pool) = store.pool() else { unreachable!("an in-memory store is SQLite") };
        for _ in 0..3 {
            let mut connection = pool.acquire().await.expect("connection");
            connection.close_on_drop();
            drop(connection);
            assert_eq!(store.setting("probe").await.expect("read").as_deref(), Some("kept"));
        }
        let other = Store::open_memory().await.expect("open another");
        assert_eq!(other.setting("probe").await.expect("read"), None);
    }
}
