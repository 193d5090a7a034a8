//! Helpers shared by the store tests: lease fixtures, a side connection to the database file, and
//! bounded waits.

use std::future::Future;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lifeboat_store::{Lease, Store};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

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
        client_key: vec![1, hi, lo],
        mac: vec![2, 0, 0, 0, hi, lo],
        address: Ipv4Addr::new(10, 1, hi, lo),
        hostname: Some(format!("host-{n}")),
        expires_at: Some(1_700_000_000 + i64::from(n)),
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
