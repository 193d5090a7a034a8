//! A boot storm in process: hundreds of downloads at once through the real server on loopback,
//! driven as tasks of a two-thread runtime (`common::swarm`), so the process's thread count
//! shows what the server spends on them: a fixed set of event loops, never a thread per client.
//! Every file's sha256 is checked; a few lock-step `client::get` downloads run beside the
//! crowd; a shutdown in the middle of the storm must end every transfer and tell every client.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::swarm::{Fetched, download, sha256, threads};
use common::{content, settings, start_observed};
use lifeboat_server::client;
use lifeboat_server::{Progress, RunningTransfer, TftpConfig, TftpObserver, TransferReport};
use lifeboat_tftp::ErrorCode;
use tokio_util::sync::CancellationToken;

/// Most threads the process may have while the storm runs: the test harness, the runtimes and
/// servers of the tests of this file that run at the same time, and the blocking threads of
/// the lock-step clients. A thread per transfer would be hundreds.
const THREAD_BOUND: usize = 64;

/// How long a storm may take before the test fails.
const STORM_DEADLINE: Duration = Duration::from_secs(120);

/// Counts the transfers the server records one by one (a client beyond its budget of records
/// is only counted, so not every transfer of a storm is among them).
#[derive(Default)]
struct Census {
    running: AtomicUsize,
    started: AtomicUsize,
    finished: AtomicUsize,
}

impl TftpObserver for Census {
    fn started(&self, _: &Arc<RunningTransfer>) {
        self.started.fetch_add(1, Ordering::SeqCst);
        self.running.fetch_add(1, Ordering::SeqCst);
    }
    fn finished(&self, _: &Arc<RunningTransfer>, _: &TransferReport) {
        self.finished.fetch_add(1, Ordering::SeqCst);
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The clients' side of a storm: downloads that received a block, those still running, and
/// the most running at once.
#[derive(Default)]
struct Crowd {
    begun: AtomicUsize,
    running: AtomicUsize,
    peak: AtomicUsize,
}

fn room_for(clients: usize) -> impl FnOnce(&mut TftpConfig) {
    move |config| {
        // A quarter of the places is kept for known clients, which these are not.
        config.max_transfers = clients * 2;
        config.max_transfers_per_client = clients + 10;
        config.limits.max_blksize = 8192;
    }
}

/// Samples the process's thread count until `done` is set; returns the most seen.
fn watch_threads(done: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut most = threads();
        while !done.load(Ordering::SeqCst) {
            most = most.max(threads());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        most
    })
}

/// Starts `count` downloads of `name` at once; returns their tasks and what they do.
fn swarm(
    server: std::net::SocketAddr,
    name: &str,
    count: usize,
) -> (Vec<tokio::task::JoinHandle<Fetched>>, Arc<Crowd>) {
    let crowd = Arc::new(Crowd::default());
    let tasks = (0..count)
        .map(|i| {
            let (name, crowd) = (name.to_owned(), Arc::clone(&crowd));
            // Two block sizes, so both buffer sizes run side by side.
            let blksize = if i % 2 == 0 { 1468 } else { 512 };
            tokio::spawn(async move {
                let first = Arc::clone(&crowd);
                let fetched = download(server, &name, blksize, move || {
                    first.begun.fetch_add(1, Ordering::SeqCst);
                    let now = first.running.fetch_add(1, Ordering::SeqCst) + 1;
                    first.peak.fetch_max(now, Ordering::SeqCst);
                })
                .await;
                crowd.running.fetch_sub(1, Ordering::SeqCst);
                fetched
            })
        })
        .collect();
    (tasks, crowd)
}

async fn outcomes(tasks: Vec<tokio::task::JoinHandle<Fetched>>) -> Vec<Fetched> {
    let all = futures_util::future::join_all(tasks);
    let finished = tokio::time::timeout(STORM_DEADLINE, all).await.expect("the storm did not end in time");
    finished.into_iter().map(|task| task.expect("a download task")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_downloads_at_once_arrive_intact_on_a_few_threads() {
    const CLIENTS: usize = 500;
    let census = Arc::new(Census::default());
    let server = start_observed(room_for(CLIENTS), census.clone());
    let image = content(256 << 10);
    std::fs::write(server.root().join("boot.img"), &image).unwrap();
    let expected = Fetched::Whole { len: image.len() as u64, sha256: sha256(&image) };

    let done = Arc::new(AtomicBool::new(false));
    let most_threads = watch_threads(done.clone());
    let began = Instant::now();
    let (tasks, crowd) = swarm(server.addr, "boot.img", CLIENTS);
    let fetched = outcomes(tasks).await;
    done.store(true, Ordering::SeqCst);
    let most_threads = most_threads.await.unwrap();

    let bad: Vec<_> = fetched.iter().enumerate().filter(|(_, f)| **f != expected).collect();
    assert!(
        bad.is_empty(),
        "{} of {CLIENTS} downloads were not intact, e.g. {:?}",
        bad.len(),
        &bad[..bad.len().min(3)]
    );
    let peak = crowd.peak.load(Ordering::SeqCst);
    assert!(peak >= CLIENTS * 4 / 5, "only {peak} transfers ran at once: not a storm");
    assert!(
        most_threads <= THREAD_BOUND,
        "{most_threads} threads while {peak} transfers ran at once: the server spends a thread per transfer"
    );
    eprintln!("{CLIENTS} downloads in {:?}, {peak} at once, at most {most_threads} threads", began.elapsed());
    server.stop().await;
    let recorded = census.started.load(Ordering::SeqCst);
    assert!(recorded > 0 && census.finished.load(Ordering::SeqCst) == recorded, "every recorded transfer was reported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_few_lock_step_downloads_beside_a_crowd_arrive_intact() {
    const CROWD: usize = 200;
    let server = start_observed(room_for(CROWD + 2), Arc::new(Census::default()));
    let crowd_file = content(384 << 10);
    std::fs::write(server.root().join("crowd.img"), &crowd_file).unwrap();
    let big: Vec<u8> = content(3 << 20).iter().map(|b| b.wrapping_mul(31)).collect();
    std::fs::write(server.root().join("big.img"), &big).unwrap();

    let (tasks, _) = swarm(server.addr, "crowd.img", CROWD);
    let few: Vec<_> = (0..2)
        .map(|i| {
            let (addr, local) = (server.addr, server.dir.path().join(format!("big-{i}")));
            tokio::task::spawn_blocking(move || {
                let got = client::get(
                    addr,
                    "big.img",
                    &local,
                    &settings(Some(1468), None),
                    &Progress::default(),
                    &CancellationToken::new(),
                );
                got.map(|report| (report.sha256, std::fs::read(local).unwrap().len()))
            })
        })
        .collect();
    let crowd = outcomes(tasks).await;
    let expected = Fetched::Whole { len: crowd_file.len() as u64, sha256: sha256(&crowd_file) };
    assert!(crowd.iter().all(|f| *f == expected), "a download of the crowd was not intact");
    for lock_step in few {
        let result = tokio::time::timeout(STORM_DEADLINE, lock_step).await.expect("in time").unwrap();
        assert_eq!(result.expect("the lock-step download"), (sha256(&big), big.len()));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_in_the_middle_of_a_storm_ends_every_transfer_and_tells_every_client() {
    const CLIENTS: usize = 300;
    let census = Arc::new(Census::default());
    let server = start_observed(room_for(CLIENTS), census.clone());
    // Large enough that no download can finish before the shutdown.
    std::fs::write(server.root().join("huge.img"), content(16 << 20)).unwrap();

    let (tasks, crowd) = swarm(server.addr, "huge.img", CLIENTS);
    let deadline = Instant::now() + STORM_DEADLINE;
    while crowd.begun.load(Ordering::SeqCst) < CLIENTS {
        assert!(Instant::now() < deadline, "only {} of {CLIENTS} downloads began", crowd.begun.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stopping = Instant::now();
    server.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server.task).await.expect("the server did not stop").unwrap();
    let stopped_after = stopping.elapsed();

    let fetched = outcomes(tasks).await;
    let told = fetched
        .iter()
        .filter(|f| matches!(f, Fetched::ServerError { code: ErrorCode::NotDefined, message, .. } if message.contains("shutting down")))
        .count();
    assert_eq!(
        told,
        CLIENTS,
        "clients not told of the shutdown: {:?}",
        fetched.iter().find(|f| !matches!(f, Fetched::ServerError { .. }))
    );
    let recorded = census.started.load(Ordering::SeqCst);
    assert!(recorded > 0 && census.finished.load(Ordering::SeqCst) == recorded, "every recorded transfer was reported");
    assert_eq!(census.running.load(Ordering::SeqCst), 0);
    assert!(stopped_after < Duration::from_secs(5), "stopping took {stopped_after:?}");
}
