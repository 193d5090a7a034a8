//! The tests' PostgreSQL server (`LIFEBOAT_TEST_POSTGRES`, started by `.ci/run` with
//! `tests/postgres/cluster.sh`), driven with its own client, `psql`: a database per test, and
//! queries that check what lifeboat wrote.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The variable naming the server (a URL of a database on it a superuser may connect to).
pub const SERVER_VARIABLE: &str = "LIFEBOAT_TEST_POSTGRES";

/// A database of its own on the tests' server, dropped when this is dropped.
pub struct PostgresDatabase {
    server: String,
    name: String,
}

impl PostgresDatabase {
    /// A new, empty database. Panics with what to do when there is no server.
    pub fn create() -> PostgresDatabase {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let server = std::env::var(SERVER_VARIABLE).unwrap_or_else(|_| {
            panic!("{SERVER_VARIABLE} is not set: point it at a PostgreSQL server (.ci/run starts a private one)")
        });
        let name = format!("lifeboat_e2e_{}_{}", std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed));
        psql(&server, &format!("CREATE DATABASE {name}"));
        PostgresDatabase { server, name }
    }

    /// Its URL, as lifeboat's `--db` takes it.
    pub fn url(&self) -> String {
        // The server's URL names a database in its path: swap it for this one.
        let (before, after) = self.server.split_once("://").expect("a URL");
        let (authority, rest) = after.split_once('/').unwrap_or((after, ""));
        let query = rest.split_once('?').map(|(_, query)| format!("?{query}")).unwrap_or_default();
        format!("{before}://{authority}/{}{query}", self.name)
    }

    /// The rows of `sql`, one line each, columns separated by `|`.
    pub fn query(&self, sql: &str) -> Vec<String> {
        psql(&self.url(), sql).lines().map(str::to_owned).filter(|line| !line.is_empty()).collect()
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        psql(&self.server, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

/// `psql -At -c SQL` on `url`: its output; panics with its error when it fails. Bounded: 10 s to
/// connect, 30 s per statement.
fn psql(url: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PGOPTIONS", "-c statement_timeout=30000")
        .output()
        .unwrap_or_else(|e| panic!("cannot run psql (install postgresql-client): {e}"));
    assert!(output.status.success(), "psql {sql:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}
