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
        psql(&server, &format!("CREATE DATABASE {name}"), STATEMENT_LIMIT_MS).unwrap_or_else(|e| panic!("{e}"));
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
        let rows = psql(&self.url(), sql, STATEMENT_LIMIT_MS).unwrap_or_else(|e| panic!("{e}"));
        rows.lines().map(str::to_owned).filter(|line| !line.is_empty()).collect()
    }
}

impl Drop for PostgresDatabase {
    /// A database left behind is not the test's failure: it lives in a server that is removed
    /// with the CI run. `DROP DATABASE` waits for a checkpoint, which can take long on a busy
    /// disk, hence its longer limit.
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(error) = psql(&self.server, &sql, DROP_LIMIT_MS) {
            eprintln!("note: test database {} left behind: {error}", self.name);
        }
    }
}

/// Milliseconds a statement of a test may take.
const STATEMENT_LIMIT_MS: u32 = 30_000;

/// Milliseconds `DROP DATABASE` may take.
const DROP_LIMIT_MS: u32 = 120_000;

/// `psql -At -c SQL` on `url`: its output, or what went wrong. Bounded: 10 s to connect,
/// `limit_ms` for the statement.
fn psql(url: &str, sql: &str, limit_ms: u32) -> Result<String, String> {
    let output = Command::new("psql")
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PGOPTIONS", format!("-c statement_timeout={limit_ms}"))
        .output()
        .map_err(|e| format!("cannot run psql (install postgresql-client): {e}"))?;
    if !output.status.success() {
        return Err(format!("psql {sql:?}: {}", String::from_utf8_lossy(&output.stderr)));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A PostgreSQL server of a test's own (`tests/postgres/cluster.sh` in a temporary folder), which
/// the test may stop and start again; stopped when dropped. For tests of what happens while the
/// database is down, which must not stop the server other tests share.
pub struct PrivateServer {
    dir: tempfile::TempDir,
    url: String,
}

impl PrivateServer {
    /// Initialise and start a server; panics with its log when it cannot start.
    pub fn start() -> PrivateServer {
        let dir = tempfile::Builder::new().prefix("lbt-own-pg-").tempdir().expect("a folder for the server");
        // As root the server runs as the postgres user, which must reach the folder.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        let mut server = PrivateServer { dir, url: String::new() };
        server.url = server.cluster("start").trim().to_owned();
        server
    }

    /// The URL of its `postgres` database, as lifeboat's `--db` takes it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stop the server (a fast shutdown: connections are cut).
    pub fn stop(&self) {
        self.cluster("stop");
    }

    /// Start it again after [`PrivateServer::stop`], with the same data.
    pub fn start_again(&self) {
        self.cluster("start");
    }

    /// The rows of `sql` on its `postgres` database, one line each, columns separated by `|`.
    pub fn query(&self, sql: &str) -> Vec<String> {
        let rows = psql(&self.url, sql, STATEMENT_LIMIT_MS).unwrap_or_else(|e| panic!("{e}"));
        rows.lines().map(str::to_owned).filter(|line| !line.is_empty()).collect()
    }

    fn cluster(&self, action: &str) -> String {
        let script = crate::workspace_root().join("tests/postgres/cluster.sh");
        let output = Command::new(script)
            .args([action, &self.dir.path().display().to_string()])
            .output()
            .expect("run tests/postgres/cluster.sh");
        assert!(output.status.success(), "cluster.sh {action}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let script = crate::workspace_root().join("tests/postgres/cluster.sh");
        let _ = Command::new(script).args(["stop", &self.dir.path().display().to_string()]).output();
    }
}
