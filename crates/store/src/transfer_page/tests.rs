//! The plans SQLite makes of every combination of filters and cursor: each range is a search of
//! the intended index, nothing is scanned and nothing is sorted. Checked on an empty table and on
//! one with statistics (`ANALYZE`), since statistics change the planner's choices. The other pages
//! of the store (missing files, events) are checked here too.

use std::net::{Ipv4Addr, SocketAddr};

use super::*;
use crate::transfers::{Direction, TransferRecord};

/// Every combination of the five filters and a cursor, with values that are frequent, rare and
/// absent in the rows of [`record`]: with statistics, SQLite's plans depend on the values.
fn combinations() -> Vec<(TransferFilter, Option<Cursor>)> {
    let macs = [None, Some("52:54:00:00:00:07"), Some("52:54:00:00:00:01"), Some("52:54:00:00:00:ff")];
    let files = [None, Some("file-1.efi"), Some("images/file-2.efi"), Some("ipxe.efi")];
    let outcomes = [None, Some(TransferOutcome::Complete), Some(TransferOutcome::Failed)];
    let mut all = Vec::new();
    for mac in macs {
        for file in files {
            for outcome in outcomes {
                for bits in 0..8u32 {
                    let set = |bit: u32| bits & (1 << bit) != 0;
                    let filter = TransferFilter {
                        mac: mac.map(str::to_owned),
                        file: file.map(str::to_owned),
                        outcome,
                        since: set(0).then_some(1_000),
                        until: set(1).then_some(400_000),
                        instance: None,
                    };
                    all.push((filter, set(2).then_some(Cursor { ended_at: 300_050, id: 3_000 })));
                }
            }
        }
    }
    all
}

async fn plan(store: &Store, filter: &TransferFilter, cursor: Option<Cursor>) -> Vec<String> {
    let pool = sqlite(store);
    let mut query = page_query(Indexes::Named, "EXPLAIN QUERY PLAN ", filter, cursor, 51);
    let rows: Vec<(i64, i64, i64, String)> =
        query.build_query_as().fetch_all(pool).await.unwrap_or_else(|e| panic!("explain {filter:?}: {e}"));
    rows.into_iter().map(|(_, _, _, detail)| detail).collect()
}

fn sqlite(store: &Store) -> &sqlx::SqlitePool {
    match store.pool() {
        Pool::Sqlite(pool) => pool,
        Pool::Postgres(_) => panic!("query plans are SQLite's"),
    }
}

fn expected_index(filter: &TransferFilter) -> Vec<&'static str> {
    keys(filter).iter().map(|key| key.index).collect()
}

async fn check_every_combination(store: &Store) {
    for (filter, cursor) in combinations() {
        let plan = plan(store, &filter, cursor).await;
        let shown = plan.join("\n");
        let searches: Vec<&String> = plan.iter().filter(|line| line.starts_with("SEARCH")).collect();
        let ranges = keys(&filter).len() * if filter.outcome.is_some() { 1 } else { TransferOutcome::ALL.len() };
        assert_eq!(searches.len(), ranges, "{filter:?} {cursor:?}:\n{shown}");
        for line in &plan {
            assert!(!line.contains("TEMP B-TREE"), "{filter:?} {cursor:?} sorts:\n{shown}");
            assert!(!line.starts_with("SCAN"), "{filter:?} {cursor:?} scans:\n{shown}");
        }
        for search in searches {
            assert!(
                expected_index(&filter).iter().any(|index| search.contains(&format!("INDEX {index} ("))),
                "{filter:?} {cursor:?}: unexpected index in {search:?}:\n{shown}"
            );
            assert!(search.contains("outcome=?"), "{filter:?}: the outcome is not part of the search:\n{shown}");
        }
        // The statement also runs.
        let mut query = page_query(Indexes::Named, "", &filter, cursor, 51);
        query.build().fetch_all(sqlite(store)).await.unwrap_or_else(|e| panic!("run {filter:?}: {e}"));
    }
}

fn record(n: u32) -> TransferRecord {
    let outcome = match n % 10 {
        0..=5 => TransferOutcome::Complete,
        6 => TransferOutcome::Failed,
        7 | 8 => TransferOutcome::NotFound,
        _ => TransferOutcome::Refused,
    };
    TransferRecord {
        protocol: crate::transfers::TransferProtocol::Tftp,
        started_at: i64::from(n) * 100,
        ended_at: i64::from(n) * 100 + 50,
        client: SocketAddr::from((Ipv4Addr::new(10, 0, 0, (n % 200) as u8), 2000)),
        mac: (!n.is_multiple_of(13)).then(|| format!("52:54:00:00:00:{:02x}", n % 20)),
        requested: format!("file-{}.efi", n % 7),
        file: (outcome != TransferOutcome::NotFound).then(|| format!("images/file-{}.efi", n % 7)),
        direction: Direction::Read,
        bytes: 1000,
        size: Some(1000),
        blksize: 1468,
        windowsize: 1,
        retransmits: 0,
        outcome,
        error: None,
    }
}

#[tokio::test]
async fn every_filter_combination_searches_an_ordered_index_on_an_empty_table() {
    let store = Store::open_memory().await.expect("open");
    check_every_combination(&store).await;
}

#[tokio::test]
async fn every_filter_combination_searches_an_ordered_index_with_statistics() {
    let store = Store::open_memory().await.expect("open");
    let records: Vec<TransferRecord> = (0..5000).map(record).collect();
    store.insert_transfers(&records).await.expect("insert");
    sqlx::query("ANALYZE").execute(sqlite(&store)).await.expect("analyze");
    check_every_combination(&store).await;
}

#[tokio::test]
async fn missing_files_and_events_pages_use_their_indexes() {
    let store = Store::open_memory().await.expect("open");
    let queries = [
        (crate::missing_files::MISSING_FILES_QUERY, 1),
        (crate::events::EVENTS_PAGE_QUERY, 2),
        (crate::events::INSTANCE_EVENTS_PAGE_QUERY, 3),
    ];
    for (sql, parameters) in queries {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
        for value in 0..parameters {
            query = query.bind(value);
        }
        let rows: Vec<(i64, i64, i64, String)> = query.fetch_all(sqlite(&store)).await.expect("explain");
        let shown: Vec<String> = rows.into_iter().map(|(_, _, _, detail)| detail).collect();
        let shown = shown.join("\n");
        assert!(!shown.contains("TEMP B-TREE"), "{sql}:\n{shown}");
        assert!(!shown.lines().any(|line| line.starts_with("SCAN") && !line.contains("INDEX")), "{sql}:\n{shown}");
        if sql == crate::events::INSTANCE_EVENTS_PAGE_QUERY {
            assert!(shown.contains("events_by_instance"), "{sql}:\n{shown}");
        }
        println!("{sql}:\n{shown}");
    }
}
