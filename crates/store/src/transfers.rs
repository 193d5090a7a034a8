//! The `transfers` table: one row per finished TFTP or HTTP transfer, for the history and the counters of
//! the dashboard. Rows are only ever inserted (by the [`LogWriter`](crate::LogWriter)); reading
//! them page by page is in [`transfer_page`](crate::transfer_page).
//!
//! **Invariant:** a stored record reads back equal to the [`TransferRecord`] that was inserted
//! (MACs lowercased; counts past `i64::MAX` saturate), and records inserted in one call get
//! increasing ids in the order given.

use std::net::{IpAddr, SocketAddr};

pub use lifeboat_tftp::Direction;
use sqlx::FromRow;

use crate::error::StoreError;
use crate::names::stored_names;
use crate::store::{BeginWrite as _, Store, with_pool};

stored_names! {
    /// How a transfer ended.
    pub enum TransferOutcome ("transfer outcome") {
        /// Every byte was sent and acknowledged, or received.
        Complete => "complete",
        /// It started and broke off: a timeout, an error packet from the client, an I/O error.
        Failed => "failed",
        /// The policy refused the request (a bad name, writes disabled, a client not allowed).
        Refused => "refused",
        /// The requested file does not exist.
        NotFound => "not_found",
        /// The client refused the options the server acknowledged.
        OptionsDeclined => "options_declined",
    }
}

stored_names! {
    /// The protocol that carried a transfer.
    pub enum TransferProtocol ("transfer protocol") {
        Tftp => "tftp",
        /// The HTTP boot server: block size, window size and retransmits are 0.
        Http => "http",
    }
}

/// A finished transfer, as the TFTP or HTTP boot server reports it. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRecord {
    pub protocol: TransferProtocol,
    pub started_at: i64,
    pub ended_at: i64,
    pub client: SocketAddr,
    /// The client's MAC (`aa:bb:cc:dd:ee:ff`) when known; stored in lowercase.
    pub mac: Option<String>,
    /// The name the client asked for, as it sent it.
    pub requested: String,
    /// The file served or written, relative to the TFTP root; `None` when none was opened.
    pub file: Option<String>,
    pub direction: Direction,
    /// Bytes of file data sent or received.
    pub bytes: u64,
    /// The file's size when known.
    pub size: Option<u64>,
    pub blksize: u32,
    pub windowsize: u32,
    pub retransmits: u64,
    pub outcome: TransferOutcome,
    /// Why it failed or was refused, for a person.
    pub error: Option<String>,
}

/// A record as it is stored, with its id (ids grow with insertion order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTransfer {
    pub id: i64,
    /// The lifeboat that served it ('' for transfers from before instances had names).
    pub instance: String,
    pub record: TransferRecord,
}

impl Store {
    /// Insert `records` in one transaction, in order. The [`LogWriter`](crate::LogWriter) is the
    /// usual way in; this is for callers that batch themselves (imports, benchmarks, tests).
    pub async fn insert_transfers(&self, records: &[TransferRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let instance = self.instance();
        with_pool!(self, pool => {
            let mut transaction = pool.begin_write().await.map_err(|e| self.error("start a transaction", e))?;
            insert_transfer_rows!(transaction, records, instance).map_err(|e| self.error("save transfers", e))?;
            transaction.commit().await.map_err(|e| self.error("commit a transaction", e))
        })
    }

    pub(crate) fn transfer_from_row(&self, row: TransferRow) -> Result<StoredTransfer, StoreError> {
        let id = row.id;
        let bad = |detail: String| self.invalid_row(TABLE, format!("id {id}: {detail}"));
        let ip = row
            .client_ip
            .parse::<IpAddr>()
            .map_err(|_| bad(format!("client_ip {:?} is not an IP address", row.client_ip)))?;
        let port = u16::try_from(row.client_port).map_err(|_| bad(format!("client_port {}", row.client_port)))?;
        let direction = row.direction.parse::<Direction>().map_err(|e| bad(e.to_string()))?;
        let outcome = row.outcome.parse::<TransferOutcome>().map_err(|e| bad(e.to_string()))?;
        let protocol = row.protocol.parse::<TransferProtocol>().map_err(|e| bad(e.to_string()))?;
        let size = row.size.map(|size| self.unsigned(TABLE, "size", size)).transpose()?;
        let record = TransferRecord {
            protocol,
            started_at: row.started_at,
            ended_at: row.ended_at,
            client: SocketAddr::new(ip, port),
            mac: row.mac,
            requested: row.requested,
            file: row.file,
            direction,
            bytes: self.unsigned(TABLE, "bytes", row.bytes)?,
            size,
            blksize: self.unsigned(TABLE, "blksize", row.blksize)?,
            windowsize: self.unsigned(TABLE, "windowsize", row.windowsize)?,
            retransmits: self.unsigned(TABLE, "retransmits", row.retransmits)?,
            outcome,
            error: row.error,
        };
        Ok(StoredTransfer { id, instance: row.instance, record })
    }
}

const TABLE: &str = "transfers";

/// The columns of a transfer row, in the order of [`TransferRow`].
pub(crate) const TRANSFER_COLUMNS: &str = "id, started_at, ended_at, client_ip, client_port, mac, requested, file, \
                                           direction, bytes, size, blksize, windowsize, retransmits, outcome, error, \
                                           protocol, instance";

/// A row as SQLite returns it, before its text and numbers are checked.
#[derive(FromRow)]
pub(crate) struct TransferRow {
    id: i64,
    started_at: i64,
    ended_at: i64,
    client_ip: String,
    client_port: i64,
    mac: Option<String>,
    requested: String,
    file: Option<String>,
    direction: String,
    bytes: i64,
    size: Option<i64>,
    blksize: i64,
    windowsize: i64,
    retransmits: i64,
    outcome: String,
    error: Option<String>,
    protocol: String,
    instance: String,
}

/// Rows per statement: 17 parameters each stays far below SQLite's limit of 32,766 and
/// PostgreSQL's of 65,535.
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

/// Insert `$records` (a `&[TransferRecord]`) in order inside `$transaction`, as multi-row
/// statements, with the instance name `$instance`. A macro rather than a function: it runs on
/// either engine's transaction, inside [`with_pool!`]. Evaluates to `Result<(), sqlx::Error>`.
macro_rules! insert_transfer_rows {
    ($transaction:ident, $records:expr, $instance:expr) => {
        async {
            use $crate::convert::to_sql;
            let records: &[$crate::transfers::TransferRecord] = $records;
            let instance: &str = $instance;
            for chunk in records.chunks($crate::transfers::ROWS_PER_STATEMENT) {
                let mut query = sqlx::QueryBuilder::new(
                    "INSERT INTO transfers (started_at, ended_at, client_ip, client_port, mac, requested, file, \
                     direction, bytes, size, blksize, windowsize, retransmits, outcome, error, protocol, instance) ",
                );
                query.push_values(chunk, |mut row, record| {
                    row.push_bind(record.started_at)
                        .push_bind(record.ended_at)
                        .push_bind(record.client.ip().to_string())
                        .push_bind(i64::from(record.client.port()))
                        .push_bind(record.mac.as_deref().map(str::to_ascii_lowercase))
                        .push_bind(record.requested.clone())
                        .push_bind(record.file.clone())
                        .push_bind(record.direction.as_str())
                        .push_bind(to_sql(record.bytes))
                        .push_bind(record.size.map(to_sql))
                        .push_bind(i64::from(record.blksize))
                        .push_bind(i64::from(record.windowsize))
                        .push_bind(to_sql(record.retransmits))
                        .push_bind(record.outcome.as_str())
                        .push_bind(record.error.clone())
                        .push_bind(record.protocol.as_str())
                        .push_bind(instance.to_owned());
                });
                query.build().execute(&mut *$transaction).await?;
            }
            Ok::<(), sqlx::Error>(())
        }
        .await
    };
}
pub(crate) use insert_transfer_rows;
