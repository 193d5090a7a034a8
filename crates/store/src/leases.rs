//! The `leases` table: bound DHCP/BOOTP leases, one row per client.
//!
//! Rows are the DHCP core's [`Lease`]s: the client key, the hardware address, the address, the
//! hostname and the end in Unix seconds (`NULL` never ends).
//!
//! **Invariant:** an address is held by at most one client key. An upsert for an address that
//! another key holds deletes that holder in the same transaction: the DHCP core decided the address
//! moved, and the table follows it rather than refusing the write.

use std::net::Ipv4Addr;

use lifeboat_clock::{Clock as _, SystemClock};
pub use lifeboat_dhcp::{ClientKey, Lease, LeaseChange};
use sqlx::{Connection as _, FromRow, QueryBuilder, Sqlite, SqliteConnection};

use crate::error::StoreError;
use crate::store::Store;

/// A row as SQLite returns it, before the address is parsed.
#[derive(FromRow)]
struct LeaseRow {
    client_key: Vec<u8>,
    mac: Vec<u8>,
    address: String,
    hostname: Option<String>,
    expires_at: Option<i64>,
}

impl Store {
    /// Every stored lease, expired ones included, ordered by client key.
    pub async fn load_leases(&self) -> Result<Vec<Lease>, StoreError> {
        let rows: Vec<LeaseRow> =
            sqlx::query_as("SELECT client_key, mac, address, hostname, expires_at FROM leases ORDER BY client_key")
                .fetch_all(self.pool())
                .await
                .map_err(|e| self.error("read the leases", e))?;
        rows.into_iter().map(|row| self.lease_from_row(row)).collect()
    }

    /// Apply `changes` in order, in one transaction: all of them are durable when this returns
    /// `Ok`, none of them when it returns an error.
    ///
    /// Consecutive changes of one kind go to SQLite as one statement (a multi-row insert, or one
    /// delete): each statement is a round trip to sqlx's SQLite thread, and a batch of hundreds
    /// of leases then costs a handful of them instead of two per lease.
    pub async fn apply(&self, changes: &[LeaseChange]) -> Result<(), StoreError> {
        let mut connection = self.pool().acquire().await.map_err(|e| self.error("save a lease", e))?;
        self.apply_on(&mut connection, changes).await
    }

    /// [`Store::apply`] on a connection the caller holds (the lease writer keeps one for its
    /// lifetime: the same SQLite thread and page cache for every batch).
    pub(crate) async fn apply_on(
        &self,
        connection: &mut SqliteConnection,
        changes: &[LeaseChange],
    ) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let updated_at = unix_now();
        if changes.len() <= ROWS_PER_STATEMENT && changes.chunk_by(same_kind).nth(1).is_none() {
            // One statement is atomic and, in autocommit with `synchronous = FULL`, durable when
            // it returns: no BEGIN and COMMIT round trips. The common case under load, where a
            // batch is all upserts.
            return apply_run(connection, changes, updated_at).await.map_err(|e| self.error("save a lease", e));
        }
        // IMMEDIATE takes the write lock at once, so another writer (a second process on the
        // same file) is waited for instead of failing halfway through the transaction.
        let mut transaction =
            connection.begin_with("BEGIN IMMEDIATE").await.map_err(|e| self.error("start a transaction", e))?;
        for run in changes.chunk_by(same_kind) {
            for chunk in run.chunks(ROWS_PER_STATEMENT) {
                apply_run(&mut transaction, chunk, updated_at).await.map_err(|e| self.error("save a lease", e))?;
            }
        }
        transaction.commit().await.map_err(|e| self.error("commit a transaction", e))
    }

    fn lease_from_row(&self, row: LeaseRow) -> Result<Lease, StoreError> {
        let address = row.address.parse::<Ipv4Addr>().map_err(|_| StoreError::InvalidRow {
            path: self.path_buf(),
            table: "leases",
            detail: format!("address {:?} is not a dotted IPv4 address", row.address),
        })?;
        Ok(Lease {
            key: ClientKey(row.client_key),
            mac: row.mac,
            address,
            hostname: row.hostname,
            // A negative time in the file (hand-edited) counts as long expired.
            expires: row.expires_at.map(|at| u64::try_from(at).unwrap_or(0)),
        })
    }
}

/// Rows per statement: 6 parameters each stays far below SQLite's limit of 32,766.
const ROWS_PER_STATEMENT: usize = 256;

fn same_kind(a: &LeaseChange, b: &LeaseChange) -> bool {
    matches!(
        (a, b),
        (LeaseChange::Upsert(_), LeaseChange::Upsert(_)) | (LeaseChange::Remove { .. }, LeaseChange::Remove { .. })
    )
}

/// Write a run of changes of one kind, in order, inside the caller's transaction.
async fn apply_run(connection: &mut SqliteConnection, run: &[LeaseChange], updated_at: i64) -> Result<(), sqlx::Error> {
    let mut query: QueryBuilder<Sqlite> = match run.first() {
        None => return Ok(()),
        Some(LeaseChange::Upsert(_)) => {
            // OR REPLACE deletes every row the new one conflicts with, on the client key and on
            // the address: the client's old lease and whoever held the address before. Rows of
            // one statement are inserted in order, so a later change of the run wins.
            let mut query = QueryBuilder::new(
                "INSERT OR REPLACE INTO leases (client_key, mac, address, hostname, expires_at, updated_at) ",
            );
            query.push_values(run, |mut row, change| {
                if let LeaseChange::Upsert(lease) = change {
                    row.push_bind(lease.key.0.clone())
                        .push_bind(lease.mac.clone())
                        .push_bind(lease.address.to_string())
                        .push_bind(lease.hostname.clone())
                        .push_bind(lease.expires.map(|at| i64::try_from(at).unwrap_or(i64::MAX)))
                        .push_bind(updated_at);
                }
            });
            query
        }
        Some(LeaseChange::Remove { .. }) => {
            let mut query = QueryBuilder::new("DELETE FROM leases WHERE client_key IN (");
            let mut keys = query.separated(", ");
            for change in run {
                if let LeaseChange::Remove { key, .. } = change {
                    keys.push_bind(key.0.clone());
                }
            }
            keys.push_unseparated(")");
            query
        }
    };
    query.build().execute(connection).await?;
    Ok(())
}

fn unix_now() -> i64 {
    i64::try_from(SystemClock.unix_seconds()).unwrap_or(i64::MAX)
}
