//! Helpers shared by the store tests: lease and transfer fixtures, a store on a `#[sqlx::test]`
//! pool, a side connection to the database file, bounded waits, and [`on_both_engines!`], which
//! runs a test once on a SQLite file and once on a database of its own in the PostgreSQL server
//! named by `LIFEBOAT_TEST_POSTGRES` (`.ci/run` starts a private one).

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lifeboat_store::{
    ClientKey, DatabaseLocation, Direction, Lease, ScratchDatabase, Store, TransferOutcome, TransferRecord,
};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgConnection, SqliteConnection, SqlitePool};

/// How long any single await of a test may take.
const WAIT: Duration = Duration::from_secs(30);

/// Await `future`, failing the test if it takes longer than [`WAIT`].
pub(crate) async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(WAIT, future).await.unwrap_or_else(|_| panic!("{what} took longer than {WAIT:?}"))
}

/// A temporary directory and the path of a database file inside it (not created yet).
pub(crate) fn db_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("lifeboat.db");
    (dir, path)
}

pub(crate) async fn open(path: &Path) -> Store {
    bounded("open", Store::open(path)).await.unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Lease number `n`: client key `01 n`, MAC `02 00 n`, address 10.1.x.y.
pub(crate) fn lease(n: u16) -> Lease {
    let [hi, lo] = n.to_be_bytes();
    Lease {
        key: ClientKey(vec![1, hi, lo]),
        mac: vec![2, 0, 0, 0, hi, lo],
        address: Ipv4Addr::new(10, 1, hi, lo),
        hostname: Some(format!("host-{n}")),
        expires: Some(1_700_000_000 + u64::from(n)),
    }
}

/// A connection of the test's own to the database file, beside the store's.
pub(crate) async fn side_connection(path: &Path) -> SqliteConnection {
    let options = SqliteConnectOptions::new().filename(path);
    bounded("side connection", SqliteConnection::connect_with(&options)).await.expect("side connection")
}

/// Run one statement on a side connection.
pub(crate) async fn execute(path: &Path, sql: &str) {
    let mut connection = side_connection(path).await;
    // Test-only SQL written in the tests themselves.
    bounded(sql, sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut connection))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    bounded("close side connection", connection.close()).await.expect("close side connection");
}

/// The store on the database `#[sqlx::test]` made for the test (already migrated).
pub(crate) async fn store_on(pool: SqlitePool) -> Store {
    bounded("store on the test pool", Store::from_pool(pool)).await.expect("store on the test pool")
}

/// Transfer number `n`: a read of `file-{n % 5}.efi` (served from `images/`) by one of seven
/// MACs, ending at `n` seconds; every fourth one not found.
pub(crate) fn transfer(n: u32) -> TransferRecord {
    let not_found = n % 4 == 3;
    TransferRecord {
        protocol: lifeboat_store::TransferProtocol::Tftp,
        started_at: i64::from(n) * 1000 - 400,
        ended_at: i64::from(n) * 1000,
        client: SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1 + (n % 7) as u8), 1024 + (n % 1000) as u16)),
        mac: Some(format!("52:54:00:00:00:{:02x}", n % 7)),
        requested: format!("file-{}.efi", n % 5),
        file: (!not_found).then(|| format!("images/file-{}.efi", n % 5)),
        direction: Direction::Read,
        bytes: if not_found { 0 } else { 1_000_000 + u64::from(n) },
        size: (!not_found).then_some(1_000_000 + u64::from(n)),
        blksize: 1468,
        windowsize: 4,
        retransmits: u64::from(n % 3),
        outcome: if not_found { TransferOutcome::NotFound } else { TransferOutcome::Complete },
        error: not_found.then(|| "file not found".to_owned()),
    }
}

/// A database on the tests' PostgreSQL server made for one test, dropped by [`TestDatabase::drop`]
/// (a failed test leaves it behind, in a server that lives as long as the CI run).
pub(crate) struct TestDatabase {
    scratch: ScratchDatabase,
}

impl TestDatabase {
    /// A new, empty database (the server is `LIFEBOAT_TEST_POSTGRES`).
    pub(crate) async fn create() -> TestDatabase {
        TestDatabase { scratch: bounded("create a database", ScratchDatabase::for_test()).await }
    }

    /// Where it is.
    pub(crate) fn location(&self) -> DatabaseLocation {
        self.scratch.location()
    }

    /// A store on this database, migrated.
    pub(crate) async fn store(&self) -> Store {
        let location = self.scratch.location();
        bounded("connect", Store::connect(&location)).await.unwrap_or_else(|e| panic!("connect to {location}: {e}"))
    }

    /// A connection of the test's own to this database, beside the store's.
    pub(crate) async fn side_connection(&self) -> PgConnection {
        let DatabaseLocation::Postgres(url) = self.scratch.location() else { unreachable!("a PostgreSQL database") };
        bounded("side connection", PgConnection::connect(url.as_str())).await.expect("side connection")
    }

    /// Drop the database, closing whatever is still connected to it.
    pub(crate) async fn drop(self) {
        bounded("drop the database", self.scratch.drop()).await.expect("drop the database");
    }
}

/// For each `async fn name(store: Store)` named, a module `name` with two tests: `sqlite` runs it
/// on a new database file, `postgres` on a new database of the tests' PostgreSQL server. The
/// second is ignored by a plain `cargo test` (it needs the server); CI runs it.
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let (_dir, path) = $crate::support::db_path();
                super::$name($crate::support::open(&path).await).await;
            }

            #[tokio::test]
            #[ignore = "needs PostgreSQL: set LIFEBOAT_TEST_POSTGRES (.ci/run starts a private server)"]
            async fn postgres() {
                let database = $crate::support::TestDatabase::create().await;
                super::$name(database.store().await).await;
                database.drop().await;
            }
        }
    )*};
}
pub(crate) use on_both_engines;
