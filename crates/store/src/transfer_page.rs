//! Reading the transfer history a page at a time, newest first, with filters.
//!
//! **Invariant:** a page is read in the order `ended_at DESC, id DESC` from index ranges that are
//! already in that order, so it costs about `limit` index entries whatever the table's size, and
//! never a sort or a scan of the table. Each index is named with `INDEXED BY`: if a schema change
//! ever makes a plan impossible, the query fails instead of silently turning into a scan. The SQL
//! text depends only on which filters are set; every value is a bound parameter.
//!
//! Each index starts with its key column (none, `mac`, `requested` or `file`), then `outcome`,
//! then `ended_at`. A filter picks one key (the MAC if given, else the file, matched against
//! both `requested` and `file`), and reads one ordered range per outcome (the one asked for, or
//! all five); SQLite merges the ranges in order (`MERGE (UNION ALL)`, or `MERGE (UNION)` when a
//! row can be in two ranges). A file filter next to a MAC is checked inside the MAC's index.

use sqlx::{Database, Encode, QueryBuilder, Type};

use crate::error::StoreError;
use crate::page::{Page, into_page, page_rows};
use crate::store::{Pool, Store, with_pool};
use crate::transfers::{StoredTransfer, TRANSFER_COLUMNS, TransferOutcome, TransferRow};

/// Which transfers a page shows. Every field that is set must match; the default shows all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferFilter {
    /// The client's MAC, compared in lowercase.
    pub mac: Option<String>,
    /// Matches the requested name or the served file, exactly.
    pub file: Option<String>,
    pub outcome: Option<TransferOutcome>,
    /// Only transfers that ended at or after this time (Unix ms).
    pub since: Option<i64>,
    /// Only transfers that ended before this time (Unix ms).
    pub until: Option<i64>,
    /// Only transfers served by this lifeboat (a fleet's instance name).
    pub instance: Option<String>,
}

impl Store {
    /// The transfers that match `filter`, newest first (by end time, then id), at most `limit`
    /// of them (clamped to `1..=MAX_PAGE`), starting after the transfer with id `before` (from the
    /// previous page's `next_before`), or with the newest when `before` is `None`. A `before` that
    /// is not a stored id gives an empty page.
    pub async fn transfers_page(
        &self,
        filter: &TransferFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<StoredTransfer>, StoreError> {
        let rows = page_rows(limit);
        let cursor = match before {
            None => None,
            Some(id) => match self.transfer_cursor(id).await? {
                Some(cursor) => Some(cursor),
                None => return Ok(Page { items: Vec::new(), next_before: None }),
            },
        };
        let indexes = Indexes::of(self.pool());
        let found: Vec<TransferRow> = with_pool!(self, pool => {
            page_query(indexes, "", filter, cursor, rows + 1).build_query_as().fetch_all(pool).await
        })
        .map_err(|e| self.error("read the transfer history", e))?;
        let items = found.into_iter().map(|row| self.transfer_from_row(row)).collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(items, rows, |transfer| transfer.id))
    }

    /// Where the page after transfer `id` starts; `None` if there is no such transfer.
    async fn transfer_cursor(&self, id: i64) -> Result<Option<Cursor>, StoreError> {
        let ended_at: Option<i64> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT ended_at FROM transfers WHERE id = $1").bind(id).fetch_optional(pool).await
        })
        .map_err(|e| self.error("read the transfer history", e))?;
        Ok(ended_at.map(|ended_at| Cursor { ended_at, id }))
    }
}

/// The sort key of the last row of the previous page: the next page holds what sorts after it.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    ended_at: i64,
    id: i64,
}

/// An ordered index range family: the index, and the key column fixed to a value (if any).
struct Key {
    index: &'static str,
    column: Option<(&'static str, String)>,
}

/// The keys a filter reads through: the MAC's index, else the two indexes of the file, else the
/// outcome index alone.
fn keys(filter: &TransferFilter) -> Vec<Key> {
    match (&filter.mac, &filter.file) {
        (Some(mac), _) => vec![Key { index: "transfers_by_mac", column: Some(("mac", mac.to_ascii_lowercase())) }],
        (None, Some(file)) => vec![
            Key { index: "transfers_by_requested", column: Some(("requested", file.clone())) },
            Key { index: "transfers_by_file", column: Some(("file", file.clone())) },
        ],
        (None, None) => vec![Key { index: "transfers_by_outcome", column: None }],
    }
}

/// The query for one page of `rows` rows, after `prefix` (empty, or `EXPLAIN QUERY PLAN `).
/// Whether the query names its indexes: SQLite's `INDEXED BY` makes a lost plan an error;
/// PostgreSQL has no such clause and picks the same indexes by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Indexes {
    Named,
    Chosen,
}

impl Indexes {
    fn of(pool: &Pool) -> Indexes {
        match pool {
            Pool::Sqlite(_) => Indexes::Named,
            Pool::Postgres(_) => Indexes::Chosen,
        }
    }
}

fn page_query<DB>(
    indexes: Indexes,
    prefix: &str,
    filter: &TransferFilter,
    cursor: Option<Cursor>,
    rows: usize,
) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> &'static str: Encode<'t, DB> + Type<DB>,
{
    let keys = keys(filter);
    let outcomes = filter.outcome.map_or_else(|| TransferOutcome::ALL.to_vec(), |outcome| vec![outcome]);
    // A row can be in a range of `requested` and in one of `file`: UNION keeps it once. The other
    // ranges are disjoint, and UNION ALL spares the comparison.
    let compound = if keys.len() > 1 { " UNION " } else { " UNION ALL " };
    let mut query = QueryBuilder::new(prefix);
    let mut first = true;
    for key in &keys {
        for outcome in &outcomes {
            if !first {
                query.push(compound);
            }
            first = false;
            push_range(&mut query, indexes, filter, key, *outcome, cursor);
        }
    }
    query.push(" ORDER BY ended_at DESC, id DESC LIMIT ");
    query.push_bind(i64::try_from(rows).unwrap_or(i64::MAX));
    query
}

/// One `SELECT` of the compound: the rows of `key` and `outcome` that pass the filter.
fn push_range<DB>(
    query: &mut QueryBuilder<DB>,
    indexes: Indexes,
    filter: &TransferFilter,
    key: &Key,
    outcome: TransferOutcome,
    cursor: Option<Cursor>,
) where
    DB: Database,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> &'static str: Encode<'t, DB> + Type<DB>,
{
    // Only constants of this module are pushed as SQL text; every value is bound.
    query.push("SELECT ").push(TRANSFER_COLUMNS).push(" FROM transfers");
    if indexes == Indexes::Named {
        query.push(" INDEXED BY ").push(key.index);
    }
    query.push(" WHERE outcome = ").push_bind(outcome.as_str());
    if let Some(instance) = &filter.instance {
        // Not in the indexes: on SQLite every row has the one instance that writes the file.
        query.push(" AND instance = ").push_bind(instance.clone());
    }
    if let Some((column, value)) = &key.column {
        query.push(" AND ").push(column).push(" = ").push_bind(value.clone());
    }
    if let (Some(_), Some(file)) = (&filter.mac, &filter.file) {
        // Checked on the entries of the MAC's index, which carry both columns.
        query.push(" AND (requested = ").push_bind(file.clone()).push(" OR file = ").push_bind(file.clone()).push(")");
    }
    if let Some(since) = filter.since {
        query.push(" AND ended_at >= ").push_bind(since);
    }
    if let Some(until) = filter.until {
        query.push(" AND ended_at < ").push_bind(until);
    }
    // Every range gets an upper bound on ended_at, even when nothing limits it (`<= i64::MAX`).
    // With only equality terms and a filter on other columns, SQLite 3.46 sorts instead of
    // reading the index in order when its statistics (ANALYZE) say the range is nearly empty;
    // stale statistics would then sort a large range. With a range term it keeps the order.
    query.push(" AND ended_at <= ").push_bind(cursor.map_or(i64::MAX, |cursor| cursor.ended_at));
    if let Some(cursor) = cursor {
        // (ended_at, id) < cursor: the range above, then the few rows that end in the same
        // millisecond as the cursor are told apart by id.
        query.push(" AND (ended_at < ").push_bind(cursor.ended_at).push(" OR id < ").push_bind(cursor.id).push(")");
    }
}

#[cfg(test)]
mod tests;
