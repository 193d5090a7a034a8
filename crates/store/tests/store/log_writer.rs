//! The log writer: records are committed in the order they were handed over; `flush` and
//! `shutdown` wait for what was queued; a full queue drops and counts instead of waiting; a
//! failed batch is counted; and a locked database never stalls the callers.
//!
//! `#[sqlx::test]` runs each test on a current-thread runtime: the writer task only runs when the
//! test awaits, so "queued before the task ran" is exact.

use std::time::{Duration, Instant};

use lifeboat_store::{Event, EventKind, LogStats, LogWriter, Store, TransferFilter};
use sqlx::SqlitePool;

use crate::support::{bounded, store_on, transfer};

fn event(n: u32) -> Event {
    Event { at: i64::from(n), kind: EventKind::Refused, origin: "tftp".to_owned(), detail: format!("event {n}") }
}

/// The requested names of the stored transfers, in id order.
async fn stored_names(pool: &SqlitePool) -> Vec<String> {
    sqlx::query_scalar("SELECT requested FROM transfers ORDER BY id").fetch_all(pool).await.expect("read transfers")
}

async fn stored_event_details(pool: &SqlitePool) -> Vec<String> {
    sqlx::query_scalar("SELECT detail FROM events ORDER BY id").fetch_all(pool).await.expect("read events")
}

fn numbered(n: u32) -> lifeboat_store::TransferRecord {
    let mut record = transfer(n);
    record.requested = format!("n{n:05}");
    record
}

#[sqlx::test(migrations = "../../migrations/sqlite")]
async fn records_are_committed_in_the_order_they_were_handed_over(pool: SqlitePool) {
    let store = store_on(pool.clone()).await;
    let log = LogWriter::spawn(store);

    for n in 0..5000 {
        log.transfer(numbered(n));
        if n % 2 == 0 {
            log.event(event(n));
        }
        if n % 700 == 0 {
            // Let the writer take what is queued so far: the records span several batches.
            tokio::task::yield_now().await;
        }
    }
    bounded("flush", log.flush()).await;

    assert_eq!(stored_names(&pool).await, (0..5000).map(|n| format!("n{n:05}")).collect::<Vec<_>>());
    assert_eq!(
        stored_event_details(&pool).await,
        (0..5000).step_by(2).map(|n| format!("event {n}")).collect::<Vec<_>>()
    );
    assert_eq!(log.stats(), LogStats { written: 7500, dropped: 0, failed: 0 });
}

#[sqlx::test(migrations = "../../migrations/sqlite")]
async fn flush_returns_once_everything_handed_over_before_it_is_visible(pool: SqlitePool) {
    let store = store_on(pool.clone()).await;
    let log = LogWriter::spawn(store.clone());
    let other_handle = log.clone();

    log.transfer(numbered(1));
    other_handle.event(event(2));
    assert_eq!(log.stats().written, 0, "nothing ran yet");
    bounded("flush", log.flush()).await;

    assert_eq!(log.stats(), LogStats { written: 2, dropped: 0, failed: 0 });
    let page = bounded("page", store.transfers_page(&TransferFilter::default(), None, 10)).await.expect("page");
    assert_eq!(page.items.len(), 1);
    assert_eq!(stored_event_details(&pool).await, ["event 2"]);
}

#[sqlx::test(migrations = "../../migrations/sqlite")]
async fn shutdown_commits_the_queue_and_later_records_are_dropped_and_counted(pool: SqlitePool) {
    let store = store_on(pool.clone()).await;
    let log = LogWriter::spawn(store);
    let survivor = log.clone();
    for n in 0..100 {
        log.transfer(numbered(n));
    }

    bounded("shutdown", log.shutdown()).await;
    survivor.transfer(numbered(100));
    survivor.event(event(101));
    bounded("flush after shutdown", survivor.flush()).await;

    assert_eq!(stored_names(&pool).await.len(), 100);
    assert_eq!(survivor.stats(), LogStats { written: 100, dropped: 2, failed: 0 });
}

#[sqlx::test(migrations = "../../migrations/sqlite")]
async fn dropping_every_handle_still_commits_the_queue(pool: SqlitePool) {
    let store = store_on(pool.clone()).await;
    let log = LogWriter::spawn(store);
    for n in 0..10 {
        log.transfer(numbered(n));
    }
    drop(log);

    for _ in 0..1000 {
        if stored_names(&pool).await.len() == 10 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the queued records were not committed after the last handle was dropped");
}

#[sqlx::test(migrations = "../../migrations/sqlite")]
async fn a_full_queue_drops_and_counts_instead_of_waiting(pool: SqlitePool) {
    let store = store_on(pool.clone()).await;
    let log = LogWriter::spawn_with_capacity(store, 10);

    // The writer task cannot run before the first await: the queue fills up.
    for n in 0..25 {
        log.transfer(numbered(n));
    }
    assert_eq!(log.stats().dropped, 15);
    bounded("flush", log.flush()).await;

    assert_eq!(log.stats(), LogStats { written: 10, dropped: 15, failed: 0 });
    assert_eq!(stored_names(&pool).await, (0..10).map(|n| format!("n{n:05}")).collect::<Vec<_>>());
}

#[sqlx::test(migrations = "../../migrations/sqlite")]
async fn a_failed_batch_is_counted_and_the_next_batch_is_written(pool: SqlitePool) {
    let store = store_on(pool.clone()).await;
    sqlx::query(
        "CREATE TRIGGER refuse BEFORE INSERT ON transfers WHEN NEW.requested = 'refuse' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END",
    )
    .execute(&pool)
    .await
    .expect("trigger");
    let log = LogWriter::spawn(store);
    let mut refused = numbered(1);
    refused.requested = "refuse".to_owned();

    // Queued together, so one batch: it fails as a whole.
    log.transfer(numbered(0));
    log.transfer(refused);
    log.event(event(2));
    bounded("flush", log.flush()).await;
    log.transfer(numbered(3));
    bounded("flush", log.flush()).await;

    assert_eq!(log.stats(), LogStats { written: 1, dropped: 0, failed: 3 });
    assert_eq!(stored_names(&pool).await, ["n00003"]);
    assert_eq!(stored_event_details(&pool).await, Vec::<String>::new());
}

#[sqlx::test(migrations = "../../migrations/sqlite")]
async fn a_locked_database_never_stalls_the_callers(pool: SqlitePool) {
    let store: Store = store_on(pool.clone()).await;
    let log = LogWriter::spawn_with_capacity(store, 1000);
    // Another connection holds the write lock, as another process could.
    let mut locker = pool.acquire().await.expect("connection");
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *locker).await.expect("lock");

    log.transfer(numbered(0));
    // The writer task starts its transaction and waits for the lock (busy timeout).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    for n in 1..=2000 {
        log.transfer(numbered(n));
    }
    let handing_over = started.elapsed();

    sqlx::query("COMMIT").execute(&mut *locker).await.expect("unlock");
    locker.close().await.expect("close");
    bounded("flush", log.flush()).await;

    assert!(handing_over < Duration::from_millis(500), "2000 hand-overs took {handing_over:?}");
    let stats = log.stats();
    // The queue held 1000 while the writer waited; the rest were dropped, none failed.
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_eq!(stats.written + stats.dropped, 2001, "{stats:?}");
    assert!(stats.dropped >= 1000 - 1, "{stats:?}");
    assert_eq!(stored_names(&pool).await.len() as u64, stats.written);
}
