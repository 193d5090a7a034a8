//! The `missing_files` table: names clients asked for that did not exist, one row per name.
//!
//! **Invariant:** the table is a summary of the `transfers` rows with outcome `not_found` (a
//! trigger of the schema updates it with every insert): `count` is how many there are for the
//! name, and `last_*` describe the one that ended last. Reading it never touches `transfers`.

use std::net::IpAddr;

use sqlx::FromRow;

use crate::error::StoreError;
use crate::page::page_rows;
use crate::store::{Pool, Store};

/// A name clients asked for that did not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingFile {
    pub requested: String,
    /// How many transfers ended with `not_found` for this name.
    pub count: u64,
    /// When the last of them ended (Unix ms).
    pub last_at: i64,
    pub last_client: IpAddr,
    pub last_mac: Option<String>,
}

/// Newest first; names that have an alias now are served, so they are left out.
pub(crate) const MISSING_FILES_QUERY: &str = "SELECT requested, count, last_at, last_client, last_mac \
     FROM missing_files INDEXED BY missing_files_by_last \
     WHERE requested NOT IN (SELECT name FROM aliases) \
     ORDER BY last_at DESC, requested DESC LIMIT $1";

/// [`MISSING_FILES_QUERY`] on PostgreSQL, which has no `INDEXED BY` (its index on
/// `(last_at, requested)` gives the order).
const MISSING_FILES_QUERY_POSTGRES: &str = "SELECT requested, count, last_at, last_client, last_mac \
     FROM missing_files WHERE requested NOT IN (SELECT name FROM aliases) \
     ORDER BY last_at DESC, requested DESC LIMIT $1";

#[derive(FromRow)]
struct MissingRow {
    requested: String,
    count: i64,
    last_at: i64,
    last_client: String,
    last_mac: Option<String>,
}

impl Store {
    /// The names that were not found, the most recently asked for first, at most `limit`
    /// (clamped to `1..=MAX_PAGE`). Names that now have an alias are left out.
    pub async fn missing_files(&self, limit: u32) -> Result<Vec<MissingFile>, StoreError> {
        let limit = i64::try_from(page_rows(limit)).unwrap_or(i64::MAX);
        let rows: Vec<MissingRow> = match self.pool() {
            Pool::Sqlite(pool) => sqlx::query_as(MISSING_FILES_QUERY).bind(limit).fetch_all(pool).await,
            Pool::Postgres(pool) => sqlx::query_as(MISSING_FILES_QUERY_POSTGRES).bind(limit).fetch_all(pool).await,
        }
        .map_err(|e| self.error("read the missing files", e))?;
        rows.into_iter().map(|row| self.missing_from_row(row)).collect()
    }

    fn missing_from_row(&self, row: MissingRow) -> Result<MissingFile, StoreError> {
        let last_client = row
            .last_client
            .parse::<IpAddr>()
            .map_err(|_| self.invalid_row(TABLE, format!("last_client {:?} is not an IP address", row.last_client)))?;
        Ok(MissingFile {
            count: self.unsigned(TABLE, "count", row.count)?,
            requested: row.requested,
            last_at: row.last_at,
            last_client,
            last_mac: row.last_mac,
        })
    }
}

const TABLE: &str = "missing_files";
