//! The group-commit lease writer: many submits, few transactions; errors reach every waiter of a
//! failed transaction; queued changes are committed on drop and on shutdown.

use std::sync::Arc;

use lifeboat_store::{LeaseChange, LeaseWriter, MAX_BATCH, WriteError};

use crate::support::{bounded, db_path, execute, lease, open};

const SUBMITS: u16 = 1000;
const TASKS: u16 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_submits_from_many_tasks_commit_in_few_transactions() {
    let (_dir, path) = db_path();
    let store = open(&path).await;
    let writer = LeaseWriter::spawn(store.clone());
    // All tasks start submitting together, as a burst of DHCP requests would.
    let start = Arc::new(tokio::sync::Barrier::new(usize::from(TASKS)));

    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let writer = writer.clone();
        let start = Arc::clone(&start);
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let per_task = SUBMITS / TASKS;
            let pending: Vec<_> =
                (0..per_task).map(|i| writer.submit(LeaseChange::Upsert(lease(task * per_task + i)))).collect();
            for committed in pending {
                committed.await.expect("change committed");
            }
        }));
    }
    for task in tasks {
        bounded("submitting task", task).await.expect("task panicked");
    }

    let stats = writer.stats();
    assert_eq!(stats.submitted, u64::from(SUBMITS), "{stats:?}");
    assert_eq!(stats.committed, u64::from(SUBMITS), "{stats:?}");
    assert_eq!(stats.failed, 0, "{stats:?}");
    // Here they usually take 3 transactions; one per submit would be 1000.
    assert!(stats.transactions * 10 <= u64::from(SUBMITS), "too many transactions: {stats:?}");
    assert!(stats.largest_batch <= MAX_BATCH as u64, "batch over the limit: {stats:?}");
    let leases = bounded("load", store.load_leases()).await.expect("load");
    assert_eq!(leases.len(), usize::from(SUBMITS));
    assert_eq!(leases, (0..SUBMITS).map(lease).collect::<Vec<_>>());
}

#[tokio::test]
async fn changes_queued_together_share_one_transaction_and_its_failure() {
    let (_dir, path) = db_path();
    let store = open(&path).await;
    let writer = LeaseWriter::spawn(store.clone());
    execute(
        &path,
        "CREATE TRIGGER refuse BEFORE INSERT ON leases WHEN NEW.hostname = 'refuse' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END",
    )
    .await;
    let mut refused = lease(3);
    refused.hostname = Some("refuse".into());

    // On this single-threaded runtime the writer cannot run before the test awaits, so the three
    // changes are queued together and land in one transaction.
    let first = writer.submit(LeaseChange::Upsert(lease(1)));
    let second = writer.submit(LeaseChange::Upsert(lease(2)));
    let third = writer.submit(LeaseChange::Upsert(refused));

    for committed in [first, second, third] {
        match bounded("commit", committed).await {
            Err(WriteError::Commit(error)) => {
                assert!(error.to_string().contains("refused by the test trigger"), "{error}");
            }
            other => panic!("expected the transaction's error, got {other:?}"),
        }
    }
    let stats = writer.stats();
    assert_eq!((stats.failed_transactions, stats.failed, stats.transactions), (1, 3, 0), "{stats:?}");
    assert_eq!(bounded("load", store.load_leases()).await.expect("load"), vec![]);

    // The writer carries on with the next transaction.
    bounded("commit", writer.submit(LeaseChange::Upsert(lease(4)))).await.expect("commit after a failure");
    assert_eq!(bounded("load", store.load_leases()).await.expect("load"), vec![lease(4)]);
}

#[tokio::test]
async fn dropping_every_handle_still_commits_the_queued_changes() {
    let (_dir, path) = db_path();
    let store = open(&path).await;
    let writer = LeaseWriter::spawn(store.clone());
    let pending: Vec<_> = (0..100).map(|n| writer.submit(LeaseChange::Upsert(lease(n)))).collect();

    drop(writer);

    for committed in pending {
        bounded("commit", committed).await.expect("queued change committed after the handles were dropped");
    }
    assert_eq!(bounded("load", store.load_leases()).await.expect("load").len(), 100);
}

#[tokio::test]
async fn shutdown_commits_the_queue_and_stops_every_handle() {
    let (_dir, path) = db_path();
    let store = open(&path).await;
    let writer = LeaseWriter::spawn(store.clone());
    let other_handle = writer.clone();
    let pending: Vec<_> = (0..100).map(|n| other_handle.submit(LeaseChange::Upsert(lease(n)))).collect();

    bounded("shutdown", writer.shutdown()).await;

    // Read before awaiting any change: shutdown itself waited for the commit.
    assert_eq!(bounded("load", store.load_leases()).await.expect("load").len(), 100);
    for committed in pending {
        bounded("commit", committed).await.expect("queued change committed by shutdown");
    }
    let late = other_handle.submit(LeaseChange::Upsert(lease(500)));
    assert!(matches!(bounded("late commit", late).await, Err(WriteError::Stopped)));
    assert_eq!(other_handle.stats().submitted, 100);
}

/// On PostgreSQL, a client renewed in consecutive batches ends with its later lease, as its
/// ACKs said (a guard for any writer that overlaps batches: one that wrote the next batch on a
/// second connection while the last committed was tried, and was slower here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LIFEBOAT_TEST_POSTGRES (.ci/run starts a private server)"]
async fn on_postgres_consecutive_batches_keep_the_order_of_submits() {
    let database = crate::support::TestDatabase::create().await;
    let store = database.store().await.for_instance("a");
    let writer = LeaseWriter::spawn(store.clone());
    const CLIENTS: u16 = 20;
    const RENEWALS: u64 = 50;
    // Every client renewed again and again, interleaved, without waiting: consecutive batches
    // hold the same rows.
    let mut pending = Vec::new();
    for renewal in 0..RENEWALS {
        for n in 0..CLIENTS {
            let mut renewed = lease(n);
            renewed.expires = Some(4_000_000_000 + renewal);
            pending.push(writer.submit(LeaseChange::Upsert(renewed)));
        }
        tokio::task::yield_now().await;
    }
    for committed in pending {
        bounded("commit", committed).await.expect("change committed");
    }
    let stats = writer.stats();
    assert!(stats.transactions > 1, "one transaction only: nothing overlapped ({stats:?})");
    let leases = bounded("load", store.load_leases()).await.expect("load");
    assert_eq!(leases.len(), usize::from(CLIENTS));
    assert!(leases.iter().all(|l| l.expires == Some(4_000_000_000 + RENEWALS - 1)), "an older renewal won: {leases:?}");
    writer.shutdown().await;
    database.drop().await;
}
