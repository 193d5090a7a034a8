//! How long the history is kept: transfers, events, missing files and a fleet's commands older
//! than [`Retention::days`], or beyond the newest [`Retention::max_rows`] of their table, are
//! deleted by [`Store::prune`], which the [`Pruner`] task runs now and then. So are the
//! instances of a fleet that have not been seen for as many days, with their image listings.
//!
//! **Invariant:** pruning never holds the database's write lock for long: it deletes at most
//! [`PRUNE_BATCH`] rows per transaction and pauses between transactions, so the log and lease
//! writers wait for one small batch at most. The work of one batch is bounded too: each looks at
//! the oldest rows by id only (rows are inserted as transfers end, so ids follow time closely),
//! never scans a table.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::StoreError;
use crate::store::{BeginWrite as _, Pool, Store, with_pool};
use lifeboat_clock::{Clock as _, SystemClock};

/// Rows deleted per transaction.
pub const PRUNE_BATCH: u32 = 1000;

/// The pause between two transactions of one prune.
const PAUSE: Duration = Duration::from_millis(20);

/// How often the [`Pruner`] prunes.
pub const PRUNE_EVERY: Duration = Duration::from_secs(600);

const DAY_MS: i64 = 24 * 3600 * 1000;

/// What the history keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Rows older than this many days are deleted.
    pub days: u32,
    /// Each table keeps at most this many rows, the newest.
    pub max_rows: u64,
}

impl Retention {
    /// A year, and half a million rows per table: a lab that boots a hundred machines a day,
    /// each asking for a dozen files, keeps about 440,000 transfers a year. With the store's
    /// `seed_transfers` mix a transfer takes about 330 bytes with its indexes, so a full table
    /// is about 160 MB.
    pub const DEFAULT: Retention = Retention { days: 365, max_rows: 500_000 };
}

impl Default for Retention {
    fn default() -> Retention {
        Retention::DEFAULT
    }
}

/// Rows deleted by one [`Store::prune`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pruned {
    pub transfers: u64,
    pub events: u64,
    pub missing_files: u64,
    /// Commands of a fleet's dashboards to its instances.
    pub commands: u64,
    /// Instances of a fleet not seen for the days kept.
    pub instances: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.transfers + self.events + self.missing_files + self.commands + self.instances
    }
}

/// One table pruned by id: its name, its time column and its id column.
struct ById {
    table: &'static str,
    time: &'static str,
}

const TRANSFERS: ById = ById { table: "transfers", time: "ended_at" };
const EVENTS: ById = ById { table: "events", time: "at" };
const COMMANDS: ById = ById { table: "instance_commands", time: "issued_at" };

impl Store {
    /// Delete what `retention` no longer keeps, as of `now_ms` (Unix ms), in small batches.
    pub async fn prune_at(&self, retention: Retention, now_ms: i64) -> Result<Pruned, StoreError> {
        let cutoff = now_ms.saturating_sub(i64::from(retention.days).saturating_mul(DAY_MS));
        let max_rows = i64::try_from(retention.max_rows).unwrap_or(i64::MAX);
        Ok(Pruned {
            transfers: self.prune_by_id(&TRANSFERS, cutoff, max_rows).await?,
            events: self.prune_by_id(&EVENTS, cutoff, max_rows).await?,
            missing_files: self.prune_missing(cutoff, max_rows).await?,
            commands: self.prune_by_id(&COMMANDS, cutoff, max_rows).await?,
            instances: self.prune_instances(cutoff).await?,
        })
    }

    /// [`Store::prune_at`] as of now.
    pub async fn prune(&self, retention: Retention) -> Result<Pruned, StoreError> {
        self.prune_at(retention, SystemClock.unix_ms()).await
    }

    /// Deletes the rows of `table` older than `cutoff` or beyond the newest `max_rows`. Ids grow
    /// with insertion and only the oldest rows are ever deleted, so the rows with an id above
    /// `max(id) - max_rows` are at most `max_rows`.
    async fn prune_by_id(&self, table: &ById, cutoff: i64, max_rows: i64) -> Result<u64, StoreError> {
        let ById { table, time } = table;
        let newest: Option<i64> = with_pool!(self, pool => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT max(id) FROM {table}"))).fetch_one(pool).await
        })
        .map_err(|e| self.error("find the newest history row", e))?;
        let Some(newest) = newest else { return Ok(0) };
        let keep_from = newest.saturating_sub(max_rows);
        // Among the oldest rows: those beyond the row limit, and those too old.
        let sql = format!(
            "DELETE FROM {table} WHERE id IN \
             (SELECT id FROM {table} ORDER BY id LIMIT {PRUNE_BATCH}) AND (id <= $1 OR {time} < $2)"
        );
        self.delete_in_batches(&sql, &[keep_from, cutoff]).await
    }

    /// Deletes the missing-file names last asked for before `cutoff`, then the oldest beyond
    /// the newest `max_rows`, both through the index on `last_at`.
    async fn prune_missing(&self, cutoff: i64, max_rows: i64) -> Result<u64, StoreError> {
        let by_last = match self.pool() {
            Pool::Sqlite(_) => "INDEXED BY missing_files_by_last",
            // PostgreSQL has no INDEXED BY; its index on (last_at, requested) serves the order.
            Pool::Postgres(_) => "",
        };
        let old = format!(
            "DELETE FROM missing_files WHERE requested IN (SELECT requested FROM missing_files \
             {by_last} WHERE last_at < $1 ORDER BY last_at LIMIT {PRUNE_BATCH})"
        );
        let mut deleted = self.delete_in_batches(&old, &[cutoff]).await?;
        let count: i64 =
            with_pool!(self, pool => sqlx::query_scalar("SELECT count(*) FROM missing_files").fetch_one(pool).await)
                .map_err(|e| self.error("count the missing files", e))?;
        let mut over = count.saturating_sub(max_rows);
        let oldest = format!(
            "DELETE FROM missing_files WHERE requested IN (SELECT requested FROM missing_files \
             {by_last} ORDER BY last_at LIMIT $1)"
        );
        while over > 0 {
            let done = self.delete_batch(&oldest, &[over.min(i64::from(PRUNE_BATCH))]).await?;
            if done == 0 {
                break;
            }
            deleted += done;
            over -= i64::try_from(done).unwrap_or(i64::MAX);
            tokio::time::sleep(PAUSE).await;
        }
        Ok(deleted)
    }

    /// Deletes the instances last seen before `cutoff` (never this one), and their images first:
    /// the fleet's inventory then no longer lists copies on a machine that is long gone. A
    /// fleet has a handful of instances: one transaction does it.
    async fn prune_instances(&self, cutoff: i64) -> Result<u64, StoreError> {
        let gone = "SELECT name FROM instances WHERE seen_at < $1 AND name <> $2";
        with_pool!(self, pool => {
            let mut transaction = pool.begin_write().await.map_err(|e| self.error("start a transaction", e))?;
            let images = format!("DELETE FROM images WHERE instance IN ({gone})");
            sqlx::query(sqlx::AssertSqlSafe(images))
                .bind(cutoff)
                .bind(self.instance())
                .execute(&mut *transaction)
                .await
                .map_err(|e| self.error("delete the images of gone instances", e))?;
            let done = sqlx::query("DELETE FROM instances WHERE seen_at < $1 AND name <> $2")
                .bind(cutoff)
                .bind(self.instance())
                .execute(&mut *transaction)
                .await
                .map_err(|e| self.error("delete gone instances", e))?;
            transaction.commit().await.map_err(|e| self.error("commit a transaction", e))?;
            Ok(done.rows_affected())
        })
    }

    /// Runs `sql` with `params` until a run deletes less than a batch.
    async fn delete_in_batches(&self, sql: &str, params: &[i64]) -> Result<u64, StoreError> {
        let mut deleted = 0;
        loop {
            let done = self.delete_batch(sql, params).await?;
            deleted += done;
            if done < u64::from(PRUNE_BATCH) {
                return Ok(deleted);
            }
            tokio::time::sleep(PAUSE).await;
        }
    }

    /// One transaction: `sql` with `params`; the rows it deleted.
    async fn delete_batch(&self, sql: &str, params: &[i64]) -> Result<u64, StoreError> {
        with_pool!(self, pool => {
            let mut transaction = pool.begin_write().await.map_err(|e| self.error("start a transaction", e))?;
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
            for param in params {
                query = query.bind(*param);
            }
            let done = query.execute(&mut *transaction).await.map_err(|e| self.error("delete old history", e))?;
            transaction.commit().await.map_err(|e| self.error("commit a transaction", e))?;
            Ok(done.rows_affected())
        })
    }
}

/// The task that prunes the history at start and every [`PRUNE_EVERY`] until `shutdown`.
#[derive(Debug)]
pub struct Pruner;

impl Pruner {
    /// Start pruning `store` with `retention` on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime, like [`tokio::spawn`].
    pub fn spawn(store: Store, retention: Retention, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                match store.prune(retention).await {
                    Ok(pruned) if pruned.total() > 0 => tracing::info!(
                        transfers = pruned.transfers,
                        events = pruned.events,
                        missing_files = pruned.missing_files,
                        commands = pruned.commands,
                        instances = pruned.instances,
                        "old history deleted (kept: {} days, at most {} rows per table)",
                        retention.days,
                        retention.max_rows
                    ),
                    Ok(_) => {}
                    Err(error) => tracing::warn!("old history not deleted: {error}"),
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(PRUNE_EVERY) => {}
                }
            }
        })
    }
}
