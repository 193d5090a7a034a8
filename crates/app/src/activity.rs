//! What TFTP and HTTP boot are doing, for the dashboard and the history: the observer of both
//! servers. It keeps the live transfers (and those that ended a moment ago), counts outcomes and
//! bytes, knows the MAC of each client (DHCP lease, else the kernel's neighbour table), picks a
//! host's image for the names the host asks for and its boot profile's iPXE script, and hands
//! every record to the store's log writer.
//!
//! **Invariant:** nothing here waits: the observer runs on transfer threads, so it only takes
//! short locks and queues records ([`LogWriter`] drops and counts when its queue is full).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use lifeboat_clock::{Clock, unix_ms};
use lifeboat_dhcp::Mac;
use lifeboat_ipxe::{BootServer, Machine, Profile};
use lifeboat_server::{
    CountReason, CountedRequests, HttpBootObserver, HttpOutcome, HttpReport, RefusedRequest, RunningTransfer,
    ScriptRequest, TftpObserver, TransferReport,
};
use lifeboat_store::{Direction, Event, EventKind, LogWriter, TransferOutcome, TransferProtocol, TransferRecord};
use lifeboat_tftp::Outcome;
use lifeboat_web::{LiveTransfer, Metrics};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::armed_image::ArmedImage;
use crate::host_directory::{BootChoice, HostDirectory};
use crate::lease_book::LeaseBook;

/// How long a finished transfer stays in the live list, so a watcher sees it reach its end.
const LINGER: Duration = Duration::from_secs(10);

/// The rate shown is measured over at least this long.
const RATE_WINDOW: Duration = Duration::from_secs(1);

pub(crate) struct Activity {
    root: PathBuf,
    log: LogWriter,
    leases: Arc<LeaseBook>,
    directory: Arc<HostDirectory>,
    clock: Arc<dyn Clock>,
    /// By the address of the server's [`RunningTransfer`] (unique while the entry holds it: the
    /// two servers number their transfers each from 1).
    live: Mutex<HashMap<usize, Entry>>,
    /// The id of the next live transfer, for the dashboard.
    next_id: AtomicU64,
    counters: Counters,
    /// When a client last asked for anything (for stopping an idle server).
    last_request: Mutex<Instant>,
    /// The latest complete download (for `--once` and a recovery).
    downloads: watch::Sender<Option<CompletedDownload>>,
    /// The image a device asking for a missing file gets.
    pub(crate) armed: ArmedImage,
}

/// A download that completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedDownload {
    /// The file served, relative to the TFTP root.
    pub file: String,
    /// What was served to whom, in a line: `served a.bin (1000 bytes) to 10.0.0.2:2000 (MAC) in 0.1 s`.
    pub line: String,
}

struct Entry {
    id: u64,
    protocol: TransferProtocol,
    transfer: Arc<RunningTransfer>,
    mac: Option<String>,
    /// The last rate sample: when, and the bytes moved by then.
    sample: (Instant, u64),
    rate: u64,
    /// Set when it ended: when, and how.
    ended: Option<(Instant, TransferOutcome)>,
}

#[derive(Default)]
struct Counters {
    complete: AtomicU64,
    failed: AtomicU64,
    refused: AtomicU64,
    not_found: AtomicU64,
    options_declined: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    dropped_strangers: AtomicU64,
    unrecorded: AtomicU64,
}

impl Activity {
    pub(crate) fn new(
        root: PathBuf,
        log: LogWriter,
        leases: Arc<LeaseBook>,
        directory: Arc<HostDirectory>,
        clock: Arc<dyn Clock>,
        armed: ArmedImage,
    ) -> Activity {
        Activity {
            armed,
            root,
            log,
            leases,
            directory,
            clock,
            live: Mutex::default(),
            next_id: AtomicU64::new(1),
            counters: Counters::default(),
            last_request: Mutex::new(Instant::now()),
            downloads: watch::Sender::new(None),
        }
    }

    /// The latest complete download; `None` until the first.
    pub(crate) fn downloads(&self) -> watch::Receiver<Option<CompletedDownload>> {
        self.downloads.subscribe()
    }

    /// Transfers running now and those that ended in the last seconds, oldest first.
    pub(crate) fn live_transfers(&self) -> Vec<LiveTransfer> {
        let now = Instant::now();
        let mut live = self.lock();
        forget_ended(&mut live, now);
        let mut views: Vec<LiveTransfer> = live
            .values_mut()
            .map(|entry| {
                let bytes = entry.transfer.progress.bytes();
                let (then, bytes_then) = entry.sample;
                let elapsed = now.duration_since(then);
                if entry.ended.is_none() && elapsed >= RATE_WINDOW {
                    entry.rate = per_second(bytes.saturating_sub(bytes_then), elapsed);
                    entry.sample = (now, bytes);
                }
                self.view(entry, bytes)
            })
            .collect();
        views.sort_by_key(|v| v.id);
        views
    }

    /// How long ago a client last asked for anything; zero while a transfer runs.
    pub(crate) fn idle_for(&self) -> Duration {
        if self.lock().values().any(|e| e.ended.is_none()) {
            return Duration::ZERO;
        }
        self.last_request.lock().unwrap_or_else(|p| p.into_inner()).elapsed()
    }

    /// Start counting idle time from now (the server just started).
    pub(crate) fn reset_idle(&self) {
        *self.last_request.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// Whether a running transfer reads or writes `file` (relative to the TFTP root).
    pub(crate) fn file_in_use(&self, file: &Path) -> bool {
        let wanted = self.root.join(file);
        self.lock().values().any(|e| e.ended.is_none() && e.transfer.file == wanted)
    }

    /// Counters since start; the DHCP fields are the caller's.
    pub(crate) fn metrics(&self) -> Metrics {
        let c = &self.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Metrics {
            transfers_complete: load(&c.complete),
            transfers_failed: load(&c.failed),
            transfers_refused: load(&c.refused),
            transfers_not_found: load(&c.not_found),
            transfers_options_declined: load(&c.options_declined),
            bytes_sent: load(&c.bytes_sent),
            bytes_received: load(&c.bytes_received),
            refusals: load(&c.refused),
            tftp_dropped_strangers: load(&c.dropped_strangers),
            tftp_unrecorded: load(&c.unrecorded),
            active_transfers: self.lock().values().filter(|e| e.ended.is_none()).count() as u64,
            ..Metrics::default()
        }
    }

    fn view(&self, entry: &Entry, bytes: u64) -> LiveTransfer {
        let t = &entry.transfer;
        LiveTransfer {
            id: entry.id,
            protocol: entry.protocol,
            client: t.peer,
            mac: entry.mac.clone(),
            requested: t.requested.clone(),
            file: Some(self.relative(&t.file)),
            direction: t.direction,
            bytes,
            size: t.progress.total(),
            started_at: unix_ms(t.started),
            rate: entry.rate,
            outcome: entry.ended.map(|(_, outcome)| outcome),
        }
    }

    /// A transfer began: it joins the live list.
    fn start_live(&self, protocol: TransferProtocol, transfer: &Arc<RunningTransfer>) {
        self.reset_idle();
        let mac = self.mac_of(transfer.peer.ip()).map(|m| m.to_string());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            id,
            protocol,
            transfer: Arc::clone(transfer),
            mac,
            sample: (Instant::now(), 0),
            rate: 0,
            ended: None,
        };
        let mut live = self.lock();
        // Also here, not only when someone looks: without a dashboard nobody reads the list.
        forget_ended(&mut live, Instant::now());
        live.insert(live_key(transfer), entry);
    }

    /// A live transfer ended: it shows its outcome for a moment.
    fn end_live(&self, transfer: &Arc<RunningTransfer>, bytes: u64, duration: Duration, outcome: TransferOutcome) {
        if let Some(entry) = self.lock().get_mut(&live_key(transfer)) {
            entry.rate = per_second(bytes, duration);
            entry.ended = Some((Instant::now(), outcome));
        }
    }

    fn count_end(&self, outcome: TransferOutcome, direction: Direction, bytes: u64) {
        let c = &self.counters;
        match outcome {
            TransferOutcome::Complete => c.complete.fetch_add(1, Ordering::Relaxed),
            TransferOutcome::OptionsDeclined => c.options_declined.fetch_add(1, Ordering::Relaxed),
            _ => c.failed.fetch_add(1, Ordering::Relaxed),
        };
        let moved = if direction == Direction::Read { &c.bytes_sent } else { &c.bytes_received };
        moved.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A request answered without data: a missing file (also an event for the missing-files
    /// list) or a refusal.
    fn record_refusal(&self, protocol: TransferProtocol, refusal: &RefusedRequest) {
        self.reset_idle();
        let mac = self.mac_of(refusal.peer.ip()).map(|m| m.to_string());
        let (outcome, kind, counter) = if refusal.is_missing_file() {
            (TransferOutcome::NotFound, EventKind::MissingFile, &self.counters.not_found)
        } else {
            (TransferOutcome::Refused, EventKind::Refused, &self.counters.refused)
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let at = unix_ms(refusal.at);
        self.log.transfer(TransferRecord {
            protocol,
            started_at: at,
            ended_at: at,
            client: refusal.peer,
            mac: mac.clone(),
            requested: refusal.requested.clone(),
            file: None,
            direction: refusal.direction,
            bytes: 0,
            size: None,
            blksize: if protocol == TransferProtocol::Tftp { 512 } else { 0 },
            windowsize: if protocol == TransferProtocol::Tftp { 1 } else { 0 },
            retransmits: 0,
            outcome,
            error: Some(refusal.reason.clone()),
        });
        self.log.event(Event {
            at,
            kind,
            origin: origin(protocol, refusal.peer, mac.as_deref()),
            detail: format!("{:?}: {}", refusal.requested, refusal.reason),
        });
    }

    /// The iPXE script for the machine behind `request`: its boot profile's, a menu, or one
    /// that says why there is nothing to boot.
    fn boot_script(&self, request: &ScriptRequest) -> String {
        let client = request.client.ip().to_canonical();
        let (mac, known_by) = match script_mac(request.mac.as_deref()) {
            Ok(Some(mac)) => (Some(mac), KnownBy::Request),
            Ok(None) => (self.mac_of(client), KnownBy::Address),
            Err(raw) => {
                tracing::warn!(
                    "HTTP boot: {client} asked for its script with mac={raw:?}, which is not a MAC (an iPXE that \
                     cannot expand ${{netX/mac}} sends it as it is): it is known by its address instead"
                );
                (self.mac_of(client), KnownBy::Address)
            }
        };
        let (choice, hostname) = self.directory.boot_choice(mac, request.profile.as_deref());
        let machine = Machine { mac: mac.map(|m| m.to_string()), ip: Some(client), hostname };
        let server = BootServer { address: request.server.ip().to_canonical(), port: request.server.port() };
        let who = describe_machine(mac, known_by, client);
        match choice {
            BootChoice::Profile(profile) => {
                let view = Profile {
                    name: &profile.name,
                    kernel: profile.kernel.as_deref(),
                    initrds: &profile.initrds,
                    cmdline: &profile.cmdline,
                    script: profile.script.as_deref(),
                };
                match lifeboat_ipxe::render(&view, &machine, &server) {
                    Ok(script) => {
                        tracing::info!("HTTP boot: {who} boots profile {:?}", profile.name);
                        script
                    }
                    Err(error) => {
                        tracing::warn!(
                            "HTTP boot: the script of boot profile {:?} for {who} failed: {error}",
                            profile.name
                        );
                        lifeboat_ipxe::nothing_to_boot(&machine, &format!("boot profile {}: {error}", profile.name))
                    }
                }
            }
            BootChoice::Menu(names) => {
                tracing::info!("HTTP boot: {who} has no boot profile and there is no default: it gets the menu");
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                lifeboat_ipxe::menu(&names, &machine, &server)
            }
            BootChoice::Nothing(why) => {
                tracing::warn!("HTTP boot: nothing to boot for {who}: {why}");
                lifeboat_ipxe::nothing_to_boot(&machine, &why)
            }
        }
    }

    /// The client's MAC: from the kernel's neighbour table (who answers for the address now),
    /// else from an unexpired DHCP lease. Not the other way round: a lease can outlive its
    /// holder's use of the address (a router in recovery mode takes a fixed address that a lab
    /// host once leased), and the MAC picks the image a device gets.
    fn mac_of(&self, client: IpAddr) -> Option<Mac> {
        let IpAddr::V4(address) = client else { return None };
        lifeboat_net::neighbour_mac(address).or_else(|| self.leases.active_mac_of(address, self.clock.unix_seconds()))
    }

    /// A path under the root as the store keeps it: relative, `/`-separated.
    fn relative(&self, file: &Path) -> String {
        let relative = file.strip_prefix(&self.root).unwrap_or(file);
        relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<usize, Entry>> {
        self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn record_end(&self, report: &TransferReport, mac: Option<String>) -> TransferOutcome {
        let (outcome, error) = match &report.outcome {
            Outcome::Complete => (TransferOutcome::Complete, None),
            Outcome::OptionsDeclined => (TransferOutcome::OptionsDeclined, None),
            Outcome::Failed(error) => (TransferOutcome::Failed, Some(error.to_string())),
        };
        self.count_end(outcome, report.direction, report.bytes);
        let started_at = unix_ms(report.started);
        self.log.transfer(TransferRecord {
            protocol: TransferProtocol::Tftp,
            started_at,
            ended_at: started_at.saturating_add(i64::try_from(report.duration.as_millis()).unwrap_or(i64::MAX)),
            client: report.peer,
            mac,
            requested: report.requested.clone(),
            file: Some(self.relative(&report.file)),
            direction: report.direction,
            bytes: report.bytes,
            size: report.size,
            blksize: u32::from(report.params.blksize),
            windowsize: u32::from(report.params.windowsize),
            retransmits: report.retransmits,
            outcome,
            error,
        });
        outcome
    }
}

impl TftpObserver for Activity {
    fn now(&self) -> std::time::SystemTime {
        self.clock.now()
    }

    fn substitute(&self, client: IpAddr, requested: &str) -> Option<PathBuf> {
        self.directory.substitute(self.mac_of(client), requested)
    }

    fn instead_of_missing(&self, client: IpAddr, requested: &str) -> Option<PathBuf> {
        let device = self.mac_of(client).map_or_else(|| client.to_string(), |mac| format!("{client} ({mac})"));
        self.armed.instead_of(requested, device).map(PathBuf::from)
    }

    fn started(&self, transfer: &Arc<RunningTransfer>) {
        self.start_live(TransferProtocol::Tftp, transfer);
    }

    fn finished(&self, transfer: &Arc<RunningTransfer>, report: &TransferReport) {
        self.reset_idle();
        let mac = self.lock().get(&live_key(transfer)).and_then(|e| e.mac.clone());
        let outcome = self.record_end(report, mac.clone());
        if outcome == TransferOutcome::Complete && report.direction == Direction::Read {
            let device = mac.map_or_else(|| report.peer.to_string(), |mac| format!("{} ({mac})", report.peer));
            let file = self.relative(&report.file);
            let line =
                format!("served {file} ({} bytes) to {device} in {:.1} s", report.bytes, report.duration.as_secs_f64());
            self.downloads.send_replace(Some(CompletedDownload { file, line }));
        }
        self.end_live(transfer, report.bytes, report.duration, outcome);
    }

    fn refused(&self, refusal: &RefusedRequest) {
        self.record_refusal(TransferProtocol::Tftp, refusal);
    }
    fn counting(&self, reason: CountReason) {
        let counter = match reason {
            CountReason::OutsideAllowList => &self.counters.dropped_strangers,
            CountReason::OverBudget => &self.counters.unrecorded,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn counted(&self, requests: &CountedRequests) {
        // A stranger outside the allow-list neither keeps an idle server alive nor costs a look
        // in the neighbour table.
        let source = requests.source.map_or_else(|| "further sources".to_owned(), |ip| ip.to_string());
        let what = requests.last.direction;
        let (kind, why) = match requests.reason {
            CountReason::OutsideAllowList => {
                (EventKind::Refused, "dropped without an answer: not in the allow-list (--tftp-allow)")
            }
            CountReason::OverBudget => {
                self.reset_idle();
                (EventKind::Throttled, "answered, but too many to record one by one")
            }
        };
        self.log.event(Event {
            at: unix_ms(requests.since),
            kind,
            origin: format!("tftp {source}"),
            detail: format!("{} request(s) {why}; the last was a {what} of {:?}", requests.count, requests.last.name),
        });
    }

    fn is_known(&self, client: IpAddr) -> bool {
        let IpAddr::V4(address) = client else { return false };
        self.leases.active_mac_of(address, self.clock.unix_seconds()).is_some() || self.directory.has_address(address)
    }
}

impl HttpBootObserver for Activity {
    fn now(&self) -> std::time::SystemTime {
        self.clock.now()
    }

    fn script(&self, request: &ScriptRequest) -> String {
        self.reset_idle();
        self.boot_script(request)
    }

    fn started(&self, transfer: &Arc<RunningTransfer>) {
        self.start_live(TransferProtocol::Http, transfer);
    }

    fn finished(&self, transfer: &Arc<RunningTransfer>, report: &HttpReport) {
        self.reset_idle();
        let mac = self.lock().get(&live_key(transfer)).and_then(|e| e.mac.clone());
        let (outcome, error) = match &report.outcome {
            HttpOutcome::Complete => (TransferOutcome::Complete, None),
            HttpOutcome::Failed(why) => (TransferOutcome::Failed, Some(why.clone())),
        };
        self.count_end(outcome, Direction::Read, report.bytes);
        let started_at = unix_ms(report.started);
        self.log.transfer(TransferRecord {
            protocol: TransferProtocol::Http,
            started_at,
            ended_at: started_at.saturating_add(i64::try_from(report.duration.as_millis()).unwrap_or(i64::MAX)),
            client: report.peer,
            mac,
            requested: report.requested.clone(),
            file: Some(self.relative(&report.file)),
            direction: Direction::Read,
            bytes: report.bytes,
            size: Some(report.size),
            blksize: 0,
            windowsize: 0,
            retransmits: 0,
            outcome,
            error,
        });
        self.end_live(transfer, report.bytes, report.duration, outcome);
    }

    fn refused(&self, refusal: &RefusedRequest) {
        self.record_refusal(TransferProtocol::Http, refusal);
    }
}

/// How a machine asking for its script was told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KnownBy {
    /// By the `?mac=` of its request (iPXE filled in `${netX/mac}`).
    Request,
    /// By its address (the neighbour table, else its lease).
    Address,
}

/// The MAC a script request names: `Ok(None)` without `?mac=`, `Err` with the text as sent when
/// it is not a MAC (an iPXE that left `${netX/mac}` unexpanded sends it literally).
fn script_mac(asked: Option<&str>) -> Result<Option<Mac>, &str> {
    asked.map(|raw| raw.parse::<Mac>().map_err(|_| raw)).transpose()
}

/// The machine in a log line, with how it was known: `52:54:00:12:34:56 (by ?mac=)`,
/// `52:54:00:12:34:56 (by its address 10.0.0.5)`, or the bare address.
fn describe_machine(mac: Option<Mac>, known_by: KnownBy, client: IpAddr) -> String {
    match (mac, known_by) {
        (Some(mac), KnownBy::Request) => format!("{mac} (by ?mac=)"),
        (Some(mac), KnownBy::Address) => format!("{mac} (by its address {client})"),
        (None, _) => client.to_string(),
    }
}

/// Drop the transfers that ended more than [`LINGER`] ago.
fn forget_ended(live: &mut HashMap<usize, Entry>, now: Instant) {
    live.retain(|_, e| e.ended.is_none_or(|(at, _)| now.duration_since(at) < LINGER));
}

/// `tftp 10.0.0.5:1234 (aa:bb:…)`: who caused an event.
fn origin(protocol: TransferProtocol, peer: SocketAddr, mac: Option<&str>) -> String {
    match mac {
        Some(mac) => format!("{protocol} {peer} ({mac})"),
        None => format!("{protocol} {peer}"),
    }
}

/// The key of a running transfer in the live list.
fn live_key(transfer: &Arc<RunningTransfer>) -> usize {
    Arc::as_ptr(transfer) as usize
}

fn per_second(bytes: u64, elapsed: Duration) -> u64 {
    (bytes as f64 / elapsed.as_secs_f64().max(1e-3)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_request_names_its_mac_or_says_what_it_sent_instead() {
        let mac: Mac = "52:54:00:12:34:56".parse().unwrap();
        assert_eq!(script_mac(Some("52:54:00:12:34:56")), Ok(Some(mac)));
        assert_eq!(script_mac(None), Ok(None));
        assert_eq!(script_mac(Some("${netX/mac}")), Err("${netX/mac}"));
    }

    #[test]
    fn the_log_says_how_the_machine_was_known() {
        let mac: Mac = "52:54:00:12:34:56".parse().unwrap();
        let client = IpAddr::from([10, 0, 0, 5]);
        assert_eq!(describe_machine(Some(mac), KnownBy::Request, client), "52:54:00:12:34:56 (by ?mac=)");
        assert_eq!(
            describe_machine(Some(mac), KnownBy::Address, client),
            "52:54:00:12:34:56 (by its address 10.0.0.5)"
        );
        assert_eq!(describe_machine(None, KnownBy::Address, client), "10.0.0.5");
    }
}
