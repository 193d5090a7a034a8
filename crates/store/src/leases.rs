//! The `leases` table: bound DHCP/BOOTP leases, one row per client.
//!
//! Rows are the DHCP core's [`Lease`]s: the client key, the hardware address, the address, the
//! hostname and the end in Unix seconds (`NULL` never ends).
//!
//! **Invariant:** an address is held by at most one client key (a unique constraint on both
//! engines). On SQLite, one lifeboat owns the file: an upsert for an address that another key
//! holds deletes that holder in the same transaction (the DHCP core decided the address moved,
//! and the table follows it). On PostgreSQL, several lifeboats may write the table: an upsert
//! takes an address from another key only if that key's lease has ended or this instance wrote
//! it; an address held by a live lease of another instance is refused with
//! [`StoreError::Conflict`], so the database, not a lock, decides which of two instances gets it.

use std::net::Ipv4Addr;

use lifeboat_clock::{Clock as _, SystemClock};
pub use lifeboat_dhcp::{ClientKey, Lease, LeaseChange};
use sqlx::{Connection as _, FromRow, PgConnection, QueryBuilder, Sqlite, SqliteConnection};

use crate::error::StoreError;
use crate::store::{Pool, Store, with_pool};

/// A row as SQLite returns it, before the address is parsed.
#[derive(FromRow)]
struct LeaseRow {
    client_key: Vec<u8>,
    mac: Vec<u8>,
    address: String,
    hostname: Option<String>,
    expires_at: Option<i64>,
}

/// A saved lease and the lifeboat of the fleet that granted or last renewed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedLease {
    pub lease: Lease,
    /// The instance's name ('' for leases saved before instances had names).
    pub instance: String,
}

/// A row with the instance that wrote it.
#[derive(FromRow)]
struct SavedLeaseRow {
    #[sqlx(flatten)]
    lease: LeaseRow,
    instance: String,
}

impl Store {
    /// Every stored lease, expired ones included, ordered by client key.
    pub async fn load_leases(&self) -> Result<Vec<Lease>, StoreError> {
        let rows: Vec<LeaseRow> = with_pool!(self, pool => {
            sqlx::query_as("SELECT client_key, mac, address, hostname, expires_at FROM leases ORDER BY client_key")
                .fetch_all(pool)
                .await
        })
        .map_err(|e| self.error("read the leases", e))?;
        rows.into_iter().map(|row| self.lease_from_row(row)).collect()
    }

    /// The leases other instances wrote at or after `since` (Unix seconds, as `updated_at`), for
    /// the partner of an HA pair to learn them, and the time to pass as `since` next: this
    /// machine's system clock before the query, as each writer stamps `updated_at` with its own
    /// (the caller's overlap covers clocks that differ by a few seconds). Removals are not seen:
    /// a lease another instance released stays known until it ends, which only keeps its address
    /// unused a while longer.
    pub async fn leases_written_by_others_since(&self, since: i64) -> Result<(Vec<Lease>, i64), StoreError> {
        let next = unix_now();
        let rows: Vec<LeaseRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT client_key, mac, address, hostname, expires_at FROM leases \
                 WHERE updated_at >= $1 AND instance <> $2 ORDER BY client_key",
            )
            .bind(since)
            .bind(self.instance())
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.error("read the leases", e))?;
        let leases = rows.into_iter().map(|row| self.lease_from_row(row)).collect::<Result<_, _>>()?;
        Ok((leases, next))
    }

    /// The saved leases active at `now` (Unix seconds: without an end, or ending after it), of
    /// the instance named `instance` only when given, each with its instance, ordered by client
    /// key: what the dashboard lists for a fleet.
    pub async fn saved_leases(&self, instance: Option<&str>, now: u64) -> Result<Vec<SavedLease>, StoreError> {
        let rows: Vec<SavedLeaseRow> = with_pool!(self, pool => {
            // `$1` goes to PostgreSQL typed as text, so `$1 IS NULL` needs no cast.
            sqlx::query_as(
                "SELECT client_key, mac, address, hostname, expires_at, instance FROM leases \
                 WHERE ($1 IS NULL OR instance = $1) AND (expires_at IS NULL OR expires_at > $2) \
                 ORDER BY client_key",
            )
            .bind(instance)
            .bind(stored_end(now))
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.error("read the leases", e))?;
        rows.into_iter()
            .map(|row| Ok(SavedLease { lease: self.lease_from_row(row.lease)?, instance: row.instance }))
            .collect()
    }

    /// Apply `changes` in order, in one transaction: all of them are durable when this returns
    /// `Ok`, none of them when it returns an error.
    ///
    /// Consecutive changes of one kind go to SQLite as one statement (a multi-row insert, or one
    /// delete): each statement is a round trip to sqlx's SQLite thread, and a batch of hundreds
    /// of leases then costs a handful of them instead of two per lease.
    pub async fn apply(&self, changes: &[LeaseChange]) -> Result<(), StoreError> {
        match self.pool() {
            Pool::Sqlite(pool) => {
                let mut connection = pool.acquire().await.map_err(|e| self.error("save a lease", e))?;
                self.apply_on(&mut connection, changes).await
            }
            Pool::Postgres(pool) => {
                let mut connection = pool.acquire().await.map_err(|e| self.error("save a lease", e))?;
                self.apply_on_postgres(&mut connection, changes).await
            }
        }
    }

    /// [`Store::apply`] on a SQLite connection the caller holds (the lease writer keeps one for
    /// its lifetime: the same SQLite thread and page cache for every batch).
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
            return apply_run(connection, changes, updated_at, self.instance())
                .await
                .map_err(|e| self.error("save a lease", e));
        }
        // IMMEDIATE takes the write lock at once, so another writer (a second process on the
        // same file) is waited for instead of failing halfway through the transaction.
        let mut transaction =
            connection.begin_with("BEGIN IMMEDIATE").await.map_err(|e| self.error("start a transaction", e))?;
        for run in changes.chunk_by(same_kind) {
            for chunk in run.chunks(ROWS_PER_STATEMENT) {
                apply_run(&mut transaction, chunk, updated_at, self.instance())
                    .await
                    .map_err(|e| self.error("save a lease", e))?;
            }
        }
        transaction.commit().await.map_err(|e| self.error("commit a transaction", e))
    }

    /// [`Store::apply`] on a PostgreSQL connection the caller holds, in one transaction.
    ///
    /// A run of upserts is two statements whatever its length: arrays of the new rows go to
    /// the server as parameters (`unnest`), so a batch of hundreds of leases costs a handful of
    /// round trips.
    pub(crate) async fn apply_on_postgres(
        &self,
        connection: &mut PgConnection,
        changes: &[LeaseChange],
    ) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let updated_at = unix_now();
        let mut transaction = connection.begin().await.map_err(|e| self.error("start a transaction", e))?;
        for run in changes.chunk_by(same_kind) {
            let outcome = match run.first() {
                Some(LeaseChange::Upsert(_)) => {
                    upsert_postgres(&mut transaction, run, updated_at, self.instance()).await
                }
                _ => remove_postgres(&mut transaction, run).await,
            };
            outcome.map_err(|e| self.lease_write_error(e))?;
        }
        transaction.commit().await.map_err(|e| self.error("commit a transaction", e))
    }

    /// A failed lease write: a unique violation on PostgreSQL means another instance holds the
    /// address with a live lease.
    fn lease_write_error(&self, error: sqlx::Error) -> StoreError {
        match error.as_database_error() {
            Some(database) if database.is_unique_violation() => StoreError::Conflict {
                what: "the address is held by a live lease that another lifeboat granted".to_owned(),
            },
            _ => self.error("save a lease", error),
        }
    }

    fn lease_from_row(&self, row: LeaseRow) -> Result<Lease, StoreError> {
        let address = row.address.parse::<Ipv4Addr>().map_err(|_| {
            self.invalid_row("leases", format!("address {:?} is not a dotted IPv4 address", row.address))
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
async fn apply_run(
    connection: &mut SqliteConnection,
    run: &[LeaseChange],
    updated_at: i64,
    instance: &str,
) -> Result<(), sqlx::Error> {
    let mut query: QueryBuilder<Sqlite> = match run.first() {
        None => return Ok(()),
        Some(LeaseChange::Upsert(_)) => {
            // OR REPLACE deletes every row the new one conflicts with, on the client key and on
            // the address: the client's old lease and whoever held the address before. Rows of
            // one statement are inserted in order, so a later change of the run wins.
            let mut query = QueryBuilder::new(
                "INSERT OR REPLACE INTO leases (client_key, mac, address, hostname, expires_at, updated_at, instance) ",
            );
            query.push_values(run, |mut row, change| {
                if let LeaseChange::Upsert(lease) = change {
                    row.push_bind(lease.key.0.clone())
                        .push_bind(lease.mac.clone())
                        .push_bind(lease.address.to_string())
                        .push_bind(lease.hostname.clone())
                        .push_bind(lease.expires.map(stored_end))
                        .push_bind(updated_at)
                        .push_bind(instance.to_owned());
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

/// Upsert a run of leases on PostgreSQL, in order: what the run leaves is what SQLite's
/// `INSERT OR REPLACE` of the same rows one by one would leave, except that an address held by
/// another instance's live lease is refused (a unique violation) instead of taken.
async fn upsert_postgres(
    connection: &mut PgConnection,
    run: &[LeaseChange],
    updated_at: i64,
    instance: &str,
) -> Result<(), sqlx::Error> {
    let (leases, displaced) = final_rows(run);
    if !displaced.is_empty() {
        // Keys whose address went to another key later in the run: like OR REPLACE, they end
        // with no lease.
        sqlx::query("DELETE FROM leases WHERE client_key = ANY($1)").bind(displaced).execute(&mut *connection).await?;
    }
    let keys: Vec<Vec<u8>> = leases.iter().map(|lease| lease.key.0.clone()).collect();
    let addresses: Vec<String> = leases.iter().map(|lease| lease.address.to_string()).collect();
    // Addresses this instance moved, or whose lease has ended, are taken from their holders.
    sqlx::query(
        "DELETE FROM leases AS held USING unnest($1::bytea[], $2::text[]) AS new (client_key, address) \
         WHERE held.address = new.address AND held.client_key <> new.client_key \
         AND (held.instance = $3 OR held.expires_at < $4)",
    )
    .bind(&keys)
    .bind(&addresses)
    .bind(instance)
    .bind(unix_now())
    .execute(&mut *connection)
    .await?;
    sqlx::query(
        "INSERT INTO leases (client_key, mac, address, hostname, expires_at, updated_at, instance) \
         SELECT client_key, mac, address, hostname, expires_at, $6, $7 \
         FROM unnest($1::bytea[], $2::bytea[], $3::text[], $4::text[], $5::int8[]) \
         AS new (client_key, mac, address, hostname, expires_at) \
         ON CONFLICT (client_key) DO UPDATE SET mac = excluded.mac, address = excluded.address, \
         hostname = excluded.hostname, expires_at = excluded.expires_at, updated_at = excluded.updated_at, \
         instance = excluded.instance",
    )
    .bind(keys)
    .bind(leases.iter().map(|lease| lease.mac.clone()).collect::<Vec<_>>())
    .bind(addresses)
    .bind(leases.iter().map(|lease| lease.hostname.clone()).collect::<Vec<_>>())
    .bind(leases.iter().map(|lease| lease.expires.map(stored_end)).collect::<Vec<_>>())
    .bind(updated_at)
    .bind(instance)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Remove a run of leases on PostgreSQL.
async fn remove_postgres(connection: &mut PgConnection, run: &[LeaseChange]) -> Result<(), sqlx::Error> {
    let keys: Vec<Vec<u8>> = run
        .iter()
        .filter_map(|change| match change {
            LeaseChange::Remove { key, .. } => Some(key.0.clone()),
            LeaseChange::Upsert(_) => None,
        })
        .collect();
    sqlx::query("DELETE FROM leases WHERE client_key = ANY($1)").bind(keys).execute(connection).await?;
    Ok(())
}

/// The rows a run of upserts leaves, applied in order: the last lease of each key, unless a
/// later lease of another key took its address (even one that moved on again); and the keys that
/// lost their address that way. One statement may touch a row once, so the run is reduced
/// before it is sent.
fn final_rows(run: &[LeaseChange]) -> (Vec<&Lease>, Vec<Vec<u8>>) {
    let mut keys = std::collections::HashSet::new();
    // Addresses of the upserts after the one looked at, whether they were kept or not.
    let mut used_later = std::collections::HashSet::new();
    let mut kept = Vec::new();
    let mut displaced = Vec::new();
    for change in run.iter().rev() {
        let LeaseChange::Upsert(lease) = change else { continue };
        // The first upsert of a key seen from the end is its last: every later use of its
        // address was by another key.
        if keys.insert(&lease.key.0) {
            if used_later.contains(&lease.address) {
                displaced.push(lease.key.0.clone());
            } else {
                kept.push(lease);
            }
        }
        used_later.insert(lease.address);
    }
    kept.reverse();
    (kept, displaced)
}

/// A lease's end as stored: Unix seconds, saturating.
fn stored_end(at: u64) -> i64 {
    i64::try_from(at).unwrap_or(i64::MAX)
}

fn unix_now() -> i64 {
    i64::try_from(SystemClock.unix_seconds()).unwrap_or(i64::MAX)
}
