//! Databases made for one test or one benchmark run on a PostgreSQL server, and dropped after:
//! the fleet's tests in other crates make theirs here, since this is the crate with the SQL.
//!
//! **Invariant:** a scratch database's name is new on its server (process id, a counter and the
//! time), so tests running side by side never share one.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection as _, PgConnection};

use crate::location::DatabaseLocation;

/// The variable that names the tests' PostgreSQL server: a URL of a database on it that a user
/// allowed to create databases may connect to, e.g.
/// `postgres://postgres@localhost/postgres?host=/tmp/lifeboat-pg/socket` (`.ci/run` starts one
/// with `tests/postgres/cluster.sh` and sets it).
pub const TEST_SERVER_VARIABLE: &str = "LIFEBOAT_TEST_POSTGRES";

/// A database of its own on a PostgreSQL server.
#[derive(Debug)]
pub struct ScratchDatabase {
    server: url::Url,
    name: String,
}

impl ScratchDatabase {
    /// A new, empty database on the server of [`TEST_SERVER_VARIABLE`]. Panics with what to do
    /// when the variable is not set or the server cannot make one: for tests.
    pub async fn for_test() -> ScratchDatabase {
        let text = std::env::var(TEST_SERVER_VARIABLE).unwrap_or_else(|_| {
            panic!("{TEST_SERVER_VARIABLE} is not set: point it at a PostgreSQL server (.ci/run starts a private one)")
        });
        let server = url::Url::parse(&text).unwrap_or_else(|e| panic!("{TEST_SERVER_VARIABLE}={text:?}: {e}"));
        ScratchDatabase::create(server).await.unwrap_or_else(|e| panic!("cannot make a test database: {e}"))
    }

    /// A new, empty database on `server` (a URL of an existing database there).
    pub async fn create(server: url::Url) -> Result<ScratchDatabase, sqlx::Error> {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let count = COUNT.fetch_add(1, Ordering::Relaxed);
        let name = format!("lifeboat_scratch_{}_{count}_{nanos}", std::process::id());
        let scratch = ScratchDatabase { server, name };
        scratch.on_server(&format!("CREATE DATABASE {}", scratch.name)).await?;
        Ok(scratch)
    }

    /// Where it is, as lifeboat is given it.
    pub fn location(&self) -> DatabaseLocation {
        let mut url = self.server.clone();
        url.set_path(&self.name);
        DatabaseLocation::Postgres(url)
    }

    /// Drop it, closing whatever is still connected to it.
    pub async fn drop(self) -> Result<(), sqlx::Error> {
        self.on_server(&format!("DROP DATABASE {} WITH (FORCE)", self.name)).await
    }

    async fn on_server(&self, sql: &str) -> Result<(), sqlx::Error> {
        let mut connection = PgConnection::connect(self.server.as_str()).await?;
        // Made of a generated name, never of input.
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut connection).await?;
        connection.close().await
    }
}
