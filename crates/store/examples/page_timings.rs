//! Time `Store::transfers_page` for each kind of filter on a database filled by `seed_transfers`.
//!
//! ```text
//! cargo run --release -p lifeboat-store --example seed_transfers -- /tmp/bench.db 1000000
//! cargo run --release -p lifeboat-store --example page_timings -- /tmp/bench.db
//! ```
//!
//! For each filter it reads the first page and a page starting in the middle of the history (50
//! rows each), several times, and prints the median and the slowest time. The values are ones
//! that `seed_transfers` produces.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use lifeboat_store::{Store, StoreError, TransferFilter, TransferOutcome};

const RUNS: usize = 15;
const LIMIT: u32 = 50;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: page_timings DB_FILE");
        return ExitCode::from(2);
    };
    match run(path).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("page_timings: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(path: PathBuf) -> Result<(), StoreError> {
    let store = Store::open(&path).await?;
    let newest = store.transfers_page(&TransferFilter::default(), None, 1).await?;
    let Some(last) = newest.items.first() else {
        eprintln!("page_timings: {} holds no transfers", path.display());
        return Ok(());
    };
    let (middle_id, now) = (last.id / 2, last.record.ended_at);
    let day = 24 * 3600 * 1000;
    let mac = || Some("52:54:00:5e:00:2a".to_owned());
    let filters = [
        ("no filter", TransferFilter::default()),
        ("mac", TransferFilter { mac: mac(), ..Default::default() }),
        ("file (requested)", TransferFilter { file: Some("grubx64.efi".to_owned()), ..Default::default() }),
        (
            "file (served)",
            TransferFilter { file: Some("images/ubuntu-24.04/grubx64.efi".to_owned()), ..Default::default() },
        ),
        ("file (rare)", TransferFilter { file: Some("images/old-7.img".to_owned()), ..Default::default() }),
        ("outcome failed", TransferFilter { outcome: Some(TransferOutcome::Failed), ..Default::default() }),
        ("outcome refused", TransferFilter { outcome: Some(TransferOutcome::Refused), ..Default::default() }),
        (
            "since+until (1 day)",
            TransferFilter { since: Some(now - 31 * day), until: Some(now - 30 * day), ..Default::default() },
        ),
        ("mac+outcome", TransferFilter { mac: mac(), outcome: Some(TransferOutcome::Failed), ..Default::default() }),
        (
            "file+outcome",
            TransferFilter {
                file: Some("ipxe.efi".to_owned()),
                outcome: Some(TransferOutcome::Failed),
                ..Default::default()
            },
        ),
        ("mac+file", TransferFilter { mac: mac(), file: Some("ipxe.efi".to_owned()), ..Default::default() }),
        (
            "mac+file (no match)",
            TransferFilter { mac: mac(), file: Some("no-such-file".to_owned()), ..Default::default() },
        ),
        (
            "all five",
            TransferFilter {
                mac: mac(),
                file: Some("ipxe.efi".to_owned()),
                outcome: Some(TransferOutcome::Complete),
                since: Some(now - 60 * day),
                until: Some(now - 10 * day),
                instance: None,
            },
        ),
    ];
    println!(
        "{:<22} {:>6} {:>12} {:>12} {:>6} {:>12} {:>12}",
        "filter", "rows", "first med", "first max", "rows", "middle med", "middle max"
    );
    for (name, filter) in &filters {
        let (first_rows, first) = time(&store, filter, None).await?;
        let (middle_rows, middle) = time(&store, filter, Some(middle_id)).await?;
        println!(
            "{name:<22} {first_rows:>6} {:>12?} {:>12?} {middle_rows:>6} {:>12?} {:>12?}",
            first[RUNS / 2],
            first[RUNS - 1],
            middle[RUNS / 2],
            middle[RUNS - 1]
        );
    }
    let started = Instant::now();
    let missing = store.missing_files(50).await?;
    println!("missing_files(50): {} names in {:?}", missing.len(), started.elapsed());
    Ok(())
}

/// The rows of one page and the sorted times of [`RUNS`] reads of it.
async fn time(
    store: &Store,
    filter: &TransferFilter,
    before: Option<i64>,
) -> Result<(usize, Vec<Duration>), StoreError> {
    let mut times = Vec::with_capacity(RUNS);
    let mut rows = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        rows = store.transfers_page(filter, before, LIMIT).await?.items.len();
        times.push(started.elapsed());
    }
    times.sort();
    Ok((rows, times))
}
