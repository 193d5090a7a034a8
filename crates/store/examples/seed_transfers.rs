//! Fill a lifeboat database with synthetic TFTP transfers, for benchmarks of the history pages.
//!
//! ```text
//! cargo run --release -p lifeboat-store --example seed_transfers -- DB_FILE ROWS
//! ```
//!
//! The mix imitates a lab of 200 machines network-booting over 90 days, ending now: legacy BIOS
//! clients walk the pxelinux chain (and probe their per-MAC and per-address configuration files,
//! which are not found), UEFI clients fetch iPXE and a kernel and initrd, a few transfers fail,
//! are refused or decline options, a few clients upload logs, and some come from clients whose
//! MAC is unknown. The sequence is the same for every run (fixed seed). Rows are appended to
//! whatever the database holds.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use lifeboat_store::{Direction, Store, TransferOutcome, TransferRecord};

/// Records per call of `insert_transfers`, i.e. per transaction.
const BATCH: usize = 50_000;
const MACHINES: u32 = 200;
const DAYS: i64 = 90;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, rows) = match args.as_slice() {
        [path, rows] => match rows.parse::<u64>() {
            Ok(rows) => (PathBuf::from(path), rows),
            Err(_) => return usage(&format!("ROWS must be a whole number, not {rows:?}")),
        },
        _ => return usage("expected two arguments"),
    };
    match seed(path, rows).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("seed_transfers: {error}");
            ExitCode::FAILURE
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("seed_transfers: {problem}\nusage: seed_transfers DB_FILE ROWS");
    ExitCode::from(2)
}

async fn seed(path: PathBuf, rows: u64) -> Result<(), lifeboat_store::StoreError> {
    let store = Store::open(&path).await?;
    let started = Instant::now();
    let mut mix = Mix::new(rows);
    let mut batch = Vec::with_capacity(BATCH);
    let mut written = 0u64;
    while written < rows {
        batch.clear();
        while batch.len() < BATCH && written + (batch.len() as u64) < rows {
            batch.push(mix.next_record());
        }
        store.insert_transfers(&batch).await?;
        written += batch.len() as u64;
        eprint!("\r{written} / {rows} rows");
    }
    store.close().await;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("\r{written} rows in {seconds:.1} s ({:.0} rows/s) into {}", written as f64 / seconds, path.display());
    Ok(())
}

/// A deterministic stream of plausible transfers, oldest first.
struct Mix {
    random: XorShift,
    /// When the next transfer starts (Unix ms).
    clock: i64,
    /// Mean gap between transfers, so that `rows` of them span [`DAYS`].
    mean_gap_ms: i64,
}

/// What a request looks like before the per-record details.
struct Request {
    requested: String,
    file: Option<String>,
    size: Option<u64>,
    outcome: TransferOutcome,
    direction: Direction,
}

impl Mix {
    fn new(rows: u64) -> Mix {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let span = DAYS * 24 * 3600 * 1000;
        Mix {
            random: XorShift(0x9e37_79b9_7f4a_7c15),
            clock: now - span,
            mean_gap_ms: (span / rows.max(1) as i64).max(1),
        }
    }

    fn next_record(&mut self) -> TransferRecord {
        let machine = self.random.below(u64::from(MACHINES)) as u32;
        let known_mac = self.random.below(100) >= 5;
        let request = self.request(machine);
        self.clock += self.random.below(2 * self.mean_gap_ms as u64) as i64;
        let started_at = self.clock;
        let (bytes, duration_ms, retransmits, error) = match request.outcome {
            TransferOutcome::Complete => {
                let size = request.size.unwrap_or(0);
                let retransmits = if self.random.below(10) == 0 { self.random.below(20) } else { 0 };
                (size, 5 + size / 40_000 + self.random.below(50), retransmits, None)
            }
            TransferOutcome::Failed => {
                let size = request.size.unwrap_or(1);
                let sent = self.random.below(size.max(1));
                (sent, 5_000 + sent / 40_000, 5, Some("timed out waiting for an acknowledgement".to_owned()))
            }
            TransferOutcome::Refused => (0, 1, 0, Some("the name leaves the TFTP root".to_owned())),
            TransferOutcome::NotFound => (0, 1, 0, Some("file not found".to_owned())),
            TransferOutcome::OptionsDeclined => (0, 3, 0, Some("the client declined the options".to_owned())),
        };
        let blksize = if self.random.below(3) == 0 { 512 } else { 1468 };
        TransferRecord {
            protocol: lifeboat_store::TransferProtocol::Tftp,
            started_at,
            ended_at: started_at + duration_ms as i64,
            client: SocketAddr::from((machine_address(machine), 1024 + self.random.below(60_000) as u16)),
            mac: known_mac.then(|| machine_mac(machine)),
            requested: request.requested,
            file: request.file,
            direction: request.direction,
            bytes,
            size: request.size,
            blksize,
            windowsize: if blksize == 512 { 1 } else { 4 },
            retransmits,
            outcome: request.outcome,
            error,
        }
    }

    fn request(&mut self, machine: u32) -> Request {
        let served = |name: &str, file: &str, size: u64| Request {
            requested: name.to_owned(),
            file: Some(file.to_owned()),
            size: Some(size),
            outcome: TransferOutcome::Complete,
            direction: Direction::Read,
        };
        let missing = |name: String| Request {
            requested: name,
            file: None,
            size: None,
            outcome: TransferOutcome::NotFound,
            direction: Direction::Read,
        };
        let mut request = match self.random.below(100) {
            0..=11 => served("pxelinux.0", "pxelinux.0", 42_378),
            12..=21 => served("ldlinux.c32", "ldlinux.c32", 122_308),
            22..=31 => missing(format!("pxelinux.cfg/01-{}", machine_mac(machine).replace(':', "-"))),
            32..=37 => missing(format!("pxelinux.cfg/{:08X}", u32::from(machine_address(machine)))),
            38..=45 => served("pxelinux.cfg/default", "pxelinux.cfg/default", 912),
            46..=55 => served("ipxe.efi", "ipxe.efi", 1_031_168),
            56..=63 => served("boot.ipxe", "boot.ipxe", 411),
            // Served by MAC: a host's image under the name the firmware asks for.
            64..=69 => served("grubx64.efi", "images/ubuntu-24.04/grubx64.efi", 2_536_600),
            70..=79 => served("images/debian-12/linux", "images/debian-12/linux", 8_193_984),
            80..=89 => served("images/debian-12/initrd.gz", "images/debian-12/initrd.gz", 33_519_322),
            90..=93 => missing("autoexec.ipxe".to_owned()),
            94 => missing(format!("images/old-{}.img", self.random.below(20))),
            95 => Request {
                requested: format!("upload/{}.log", machine_mac(machine).replace(':', "")),
                file: Some(format!("upload/{}.log", machine_mac(machine).replace(':', ""))),
                size: None,
                outcome: TransferOutcome::Complete,
                direction: Direction::Write,
            },
            96 => Request {
                requested: "../etc/shadow".to_owned(),
                file: None,
                size: None,
                outcome: TransferOutcome::Refused,
                direction: Direction::Read,
            },
            _ => served("memtest86+.bin", "memtest86+.bin", 2_164_736),
        };
        if request.outcome == TransferOutcome::Complete && request.direction == Direction::Read {
            match self.random.below(1000) {
                0..=29 => request.outcome = TransferOutcome::Failed,
                30..=34 => request.outcome = TransferOutcome::OptionsDeclined,
                _ => {}
            }
        }
        if request.direction == Direction::Write {
            request.size = Some(10_000 + self.random.below(100_000));
        }
        request
    }
}

fn machine_mac(machine: u32) -> String {
    let [_, _, hi, lo] = machine.to_be_bytes();
    format!("52:54:00:5e:{hi:02x}:{lo:02x}")
}

fn machine_address(machine: u32) -> Ipv4Addr {
    let [_, _, hi, lo] = (machine + 10).to_be_bytes();
    Ipv4Addr::new(10, 20, hi, lo)
}

/// xorshift64: small, fast and reproducible; not for anything secret.
struct XorShift(u64);

impl XorShift {
    /// A number in `0..n` (`n` > 0), with a negligible bias.
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}
