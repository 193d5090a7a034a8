//! The TFTP server: listening sockets, admission of requests, and one task per transfer.
//!
//! A request passes, in order: the source allow-list (outside it: dropped without an answer,
//! and only counted, see `tally.rs`), the duplicate and busy checks (a share of the places is
//! kept for known clients), the filename policy and lookup (ERROR 1/2), then option negotiation
//! in the core. Each transfer answers from a fresh port bound to the address the client talked
//! to, or in single-port mode from the listening socket itself.
//!
//! Nothing that arrives on the listening port can start a loop: an ERROR or OACK there is never
//! answered (RFC 1350: an ERROR is not acknowledged), stray DATA and ACKs of single-port mode
//! are answered at most [`STRAY_ANSWERS_PER_SECOND`] times a second and never to one of this
//! machine's own addresses, and a request from the listening socket's own address and port is
//! dropped.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime};

use lifeboat_net::{BindError, Datagram, PktInfoSocket, TransferSocket};
use lifeboat_tftp::text::peer_text;
use lifeboat_tftp::{
    Direction, ErrorCode, Mode, Outcome, Packet, Receiver, Refusal, Request, SERVER_DALLY, Sender, negotiate, policy,
    refuse_mode, refuse_upload_size,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admission::{Admission, NoAdmission, Ticket};
use crate::config::TftpConfig;
use crate::link::{Link, MAX_DATAGRAM};
use crate::observer::{RefusedRequest, RunningTransfer, TftpObserver, Unobserved};
use crate::open_files::OpenFiles;
use crate::pump::{Machine, Progress, SPIN, pump};
use crate::report::TransferReport;
use crate::root::{LookupError, Root, RootError};
use crate::source::{NetasciiSource, Source};
use crate::tally::{Asked, Budget, CountReason, CountedRequests, Tally, Verdict};
use crate::upload::{self, Upload, UploadError};

/// Answers to stray DATA or ACKs on the shared port (single-port mode) allowed per second, for
/// all clients together: enough to tell a client whose transfer ended, too few to reflect a
/// flood.
pub(crate) const STRAY_ANSWERS_PER_SECOND: u32 = 10;

/// How often the listener reports the requests that were only counted.
const TALLY_CHECK: Duration = Duration::from_secs(1);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Root(#[from] RootError),
    /// Which flag sets the address is the server's to say; the socket crate does not know.
    #[error("{0}; the TFTP server's address and port are set with --tftp-listen")]
    Bind(#[from] BindError),
    #[error("the upload directory {} is not usable: {source} — create it or choose another with --tftp-upload-dir", dir.display())]
    UploadDir { dir: PathBuf, source: std::io::Error },
    #[error("no address to listen on: every address in --tftp-listen failed")]
    NothingToListenOn,
}

/// A bound TFTP server, ready to [`run`](TftpServer::run).
#[derive(Debug)]
pub struct TftpServer {
    sockets: Vec<Arc<PktInfoSocket>>,
    shared: Arc<Shared>,
}

/// Channels of single-port transfers, by client address.
type Routes = Mutex<HashMap<SocketAddr, mpsc::SyncSender<Vec<u8>>>>;

#[derive(Debug)]
struct Shared {
    config: TftpConfig,
    root: Root,
    files: OpenFiles,
    admission: Arc<Admission>,
    routes: Routes,
    cores: usize,
    observer: Arc<dyn TftpObserver>,
    /// The id of the next transfer.
    next_id: AtomicU64,
    /// Requests from outside the allow-list, counted per source.
    strangers: Tally,
    /// Budgets of records of the clients in the allow-list.
    records: Tally,
    /// Answers to stray packets on the shared port in the current second: (second, count).
    strays: Mutex<(Option<Instant>, u32)>,
    /// Set when the server is to stop once its transfers end: new requests are refused.
    closing: Closing,
}

/// Closes a running TFTP server to new requests (each is answered with an error that says
/// so), while the transfers it runs go on: for "stop after the running transfers".
#[derive(Debug, Clone, Default)]
pub struct Closing(Arc<AtomicBool>);

impl Closing {
    pub fn close(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn is_closed(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Shared {
    /// Ends a transfer's claim on its client address: the single-port route first, then the
    /// admission ticket, so a new request from the same port is neither misrouted nor dropped.
    fn release(&self, link: &Link, ticket: Ticket) {
        if let Link::Shared { peer, .. } = link {
            self.routes.lock().unwrap_or_else(|p| p.into_inner()).remove(peer);
        }
        drop(ticket);
    }

    /// Spin only while every transfer can have a core to itself.
    fn spin(&self) -> Duration {
        if self.admission.running() < self.cores { SPIN } else { Duration::ZERO }
    }

    /// Logs and hands on the requests that were only counted, once their interval is over (all
    /// of them with `flush`).
    fn report_counted(&self, now: Instant, flush: bool) {
        let wall_now = self.observer.now();
        let strangers = self.strangers.due(now, wall_now, flush);
        for counted in strangers.into_iter().chain(self.records.due(now, wall_now, flush)) {
            self.report(&counted);
        }
    }

    fn report(&self, counted: &CountedRequests) {
        let source = counted.source.map_or_else(|| "further sources".to_owned(), |ip| ip.to_string());
        let last = &counted.last;
        let what = if last.direction == Direction::Read { "read" } else { "write" };
        match counted.reason {
            CountReason::OutsideAllowList => tracing::warn!(
                "{} request(s) from {source} dropped without an answer: not in the allow-list (--tftp-allow); the last was a {what} of {:?}",
                counted.count,
                last.name
            ),
            CountReason::OverBudget => tracing::warn!(
                "{} request(s) from {source} answered but not logged one by one (more than {} a second); the last was a {what} of {:?}",
                counted.count,
                1000 / Budget::ALLOWED.refill.as_millis().max(1),
                last.name
            ),
        }
        self.observer.counted(counted);
    }

    /// Whether a stray packet on the shared port may be answered now.
    fn may_answer_stray(&self, now: Instant) -> bool {
        let mut strays = self.strays.lock().unwrap_or_else(|p| p.into_inner());
        let (second, count) = &mut *strays;
        if second.is_none_or(|start| now.saturating_duration_since(start) >= Duration::from_secs(1)) {
            *second = Some(now);
            *count = 0;
        }
        *count += 1;
        *count <= STRAY_ANSWERS_PER_SECOND
    }
}

impl TftpServer {
    /// Checks the root, clears left-over uploads and binds every listening address. An IPv6
    /// wildcard is skipped with a warning on a machine without IPv6.
    pub fn bind(config: TftpConfig) -> Result<TftpServer, StartError> {
        TftpServer::bind_observed(config, Arc::new(Unobserved))
    }

    /// [`TftpServer::bind`], with an observer that sees every transfer and refusal and may
    /// choose the file a known device gets.
    pub fn bind_observed(config: TftpConfig, observer: Arc<dyn TftpObserver>) -> Result<TftpServer, StartError> {
        let root = Root::new(&config.root, &config.aliases)?;
        for (name, file) in root.aliases_without_file() {
            tracing::warn!(
                "alias {name:?} points to {}, which is not a file there: a device asking for {name:?} will get \"file not found\"",
                file.display()
            );
        }
        if let Some(upload) = &config.upload {
            let removed = upload::remove_leftovers(&upload.dir)
                .map_err(|source| StartError::UploadDir { dir: upload.dir.clone(), source })?;
            if removed > 0 {
                tracing::info!(removed, dir = %upload.dir.display(), "removed unfinished uploads of an earlier run");
            }
        }
        let mut sockets = Vec::new();
        for addr in &config.listen {
            match PktInfoSocket::bind(*addr) {
                Ok(socket) => sockets.push(Arc::new(socket)),
                Err(BindError::Unsupported { .. }) if addr.ip().is_unspecified() && addr.is_ipv6() => {
                    tracing::warn!(%addr, "IPv6 is not available on this machine; serving IPv4 only");
                }
                Err(error) => return Err(error.into()),
            }
        }
        if sockets.is_empty() {
            return Err(StartError::NothingToListenOn);
        }
        let admission = Admission::new(config.max_transfers, config.max_transfers_per_client);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let shared = Shared {
            config,
            root,
            files: OpenFiles::default(),
            admission,
            routes: Mutex::default(),
            cores,
            observer,
            next_id: AtomicU64::new(1),
            strangers: Tally::new(Budget::STRANGER, CountReason::OutsideAllowList),
            records: Tally::new(Budget::ALLOWED, CountReason::OverBudget),
            strays: Mutex::default(),
            closing: Closing::default(),
        };
        Ok(TftpServer { sockets, shared: Arc::new(shared) })
    }

    /// The switch that closes this server to new requests while it runs.
    pub fn closing(&self) -> Closing {
        self.shared.closing.clone()
    }

    /// The addresses actually bound (with the port the system chose for port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets.iter().filter_map(|s| s.local_addr().ok()).collect()
    }

    /// Serves until `shutdown` fires, then stops every transfer (each tells its client) and
    /// returns once they have ended.
    pub async fn run(self, shutdown: CancellationToken) {
        let transfers = TaskTracker::new();
        let listeners = TaskTracker::new();
        for socket in &self.sockets {
            let (socket, shared, transfers, shutdown) =
                (Arc::clone(socket), Arc::clone(&self.shared), transfers.clone(), shutdown.clone());
            listeners.spawn(listen(socket, shared, transfers, shutdown));
        }
        for addr in self.local_addrs() {
            tracing::info!(%addr, root = %self.shared.root.dir().display(), "TFTP listening");
        }
        listeners.close();
        listeners.wait().await;
        transfers.close();
        transfers.wait().await;
        self.shared.report_counted(Instant::now(), true);
        tracing::info!("TFTP stopped");
    }
}

async fn listen(socket: Arc<PktInfoSocket>, shared: Arc<Shared>, transfers: TaskTracker, shutdown: CancellationToken) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut tally_check = tokio::time::interval(TALLY_CHECK);
    tally_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let port = socket.local_addr().map_or(0, |a| a.port());
    loop {
        let datagram = tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tally_check.tick() => {
                shared.report_counted(Instant::now(), false);
                continue;
            }
            received = socket.recv(&mut buf) => match received {
                Ok(datagram) => datagram,
                Err(error) => {
                    tracing::warn!(%error, "receive failed on the TFTP socket");
                    continue;
                }
            },
        };
        let bytes = &buf[..datagram.len];
        // Only a spoofed source says it is this very socket: answering it would talk to itself.
        if datagram.peer == SocketAddr::new(datagram.local, port) {
            tracing::debug!(peer = %datagram.peer, "ignored a datagram from this socket's own address and port");
            continue;
        }
        if shared.config.single_port && route(&shared.routes, datagram.peer, bytes) {
            continue;
        }
        match Packet::parse(bytes) {
            Ok(Packet::ReadRequest(request)) => {
                accept(&socket, &shared, &transfers, &shutdown, datagram, Direction::Read, request.into_owned()).await
            }
            Ok(Packet::WriteRequest(request)) => {
                accept(&socket, &shared, &transfers, &shutdown, datagram, Direction::Write, request.into_owned()).await
            }
            // A transfer that ended (or never was) on the shared port: tell the client, sparingly.
            Ok(Packet::Data { .. } | Packet::Ack { .. })
                if shared.config.single_port
                    && shared.config.allow.permits(datagram.peer.ip())
                    && shared.may_answer_stray(Instant::now())
                    && !is_own_address(datagram.peer.ip(), datagram.local) =>
            {
                reply_error(&socket, &datagram, ErrorCode::UnknownTransferId, "unknown transfer ID").await;
            }
            // ERROR and OACK are never answered: that is how two servers start a ping-pong.
            Ok(_) => tracing::debug!(peer = %datagram.peer, "ignored a non-request packet on the listening port"),
            Err(error) => tracing::debug!(peer = %datagram.peer, %error, "ignored a malformed datagram"),
        }
    }
}

/// Whether `peer` is an address of this machine (`local` is the one the datagram came to).
fn is_own_address(peer: IpAddr, local: IpAddr) -> bool {
    if peer == local || peer.is_loopback() || peer.is_unspecified() {
        return true;
    }
    let IpAddr::V4(peer) = peer else { return false };
    // Only reached for the few strays a second that may be answered.
    lifeboat_net::interfaces().is_ok_and(|all| all.iter().any(|i| i.ipv4.iter().any(|(a, _)| *a == peer)))
}

/// Hands a datagram to the single-port transfer of its sender, if there is one.
fn route(routes: &Routes, peer: SocketAddr, bytes: &[u8]) -> bool {
    let routes = routes.lock().unwrap_or_else(|p| p.into_inner());
    match routes.get(&peer) {
        Some(inbox) => {
            // A full inbox means the transfer is far behind; dropping is what the network
            // would have done, and the protocol recovers.
            let _ = inbox.try_send(bytes.to_vec());
            true
        }
        None => false,
    }
}

async fn reply_error(socket: &PktInfoSocket, datagram: &Datagram, code: ErrorCode, message: &str) {
    send_error(socket, datagram, &Packet::error(code, message).to_bytes()).await;
}

async fn send_error(socket: &PktInfoSocket, datagram: &Datagram, bytes: &[u8]) {
    if let Err(error) = socket.send_from(bytes, datagram.peer, Some(datagram.local), datagram.ifindex).await {
        tracing::debug!(peer = %datagram.peer, %error, "could not send an error reply");
    }
}

async fn accept(
    socket: &Arc<PktInfoSocket>,
    shared: &Arc<Shared>,
    transfers: &TaskTracker,
    shutdown: &CancellationToken,
    datagram: Datagram,
    direction: Direction,
    request: Request<'static>,
) {
    let peer = datagram.peer;
    let now = Instant::now();
    let asked = Asked { direction, name: peer_text(&request.filename) };
    if !shared.config.allow.permits(peer.ip()) {
        // No answer: the source may be spoofed, and an ERROR would be a reflection. The first
        // request of a quiet source is reported at once, the rest counted per interval.
        shared.observer.counting(CountReason::OutsideAllowList);
        if shared.strangers.note(peer.ip(), asked.clone(), now) == Verdict::Record {
            let since = shared.observer.now();
            let counted = CountedRequests {
                source: Some(peer.ip()),
                reason: CountReason::OutsideAllowList,
                count: 1,
                since,
                last: asked,
            };
            shared.report(&counted);
        }
        return;
    }
    let ticket = shared.admission.admit(peer, shared.observer.is_known(peer.ip()));
    if matches!(ticket, Err(NoAdmission::Duplicate)) {
        return;
    }
    let recorded = shared.records.note(peer.ip(), asked.clone(), now) == Verdict::Record;
    if !recorded {
        shared.observer.counting(CountReason::OverBudget);
    }
    let ticket = match ticket {
        _ if shared.closing.is_closed() => Err("server stopping: it takes no new transfers".to_owned()),
        Ok(ticket) => Ok(ticket),
        Err(refusal) => Err(match refusal {
            NoAdmission::ServerBusy { limit } => format!("server busy: {limit} transfers running, try again"),
            NoAdmission::ClientBusy { limit } => format!("too many transfers from your address (limit {limit})"),
            NoAdmission::Duplicate => unreachable!("handled above"),
        }),
    };
    let ticket = match ticket {
        Ok(ticket) => ticket,
        Err(message) => {
            let error = Packet::error(ErrorCode::NotDefined, &message).to_bytes();
            if recorded {
                tracing::warn!(%peer, requested = ?asked.name, "refused: {message}");
                // Recorded before the client hears it, here and below: whoever sees the error
                // finds the record.
                shared.observer.refused(&refused_request(
                    shared.observer.now(),
                    peer,
                    direction,
                    asked.name,
                    ErrorCode::NotDefined,
                    message,
                ));
            }
            send_error(socket, &datagram, &error).await;
            return;
        }
    };
    let link = match open_link(socket, shared, &datagram) {
        Ok(link) => link,
        Err(error) => {
            tracing::error!(%peer, %error, "cannot open a socket for the transfer");
            reply_error(socket, &datagram, ErrorCode::NotDefined, "server error: no socket for the transfer").await;
            return;
        }
    };
    let (shared, shutdown) = (Arc::clone(shared), shutdown.clone());
    let admitted = Admitted { direction, request, shown: asked.name, recorded, ticket };
    // Each transfer runs on a thread of its own: see `lifeboat_net::TransferSocket` for why.
    transfers.spawn_blocking(move || {
        let mut link = link;
        serve(&shared, &mut link, &shutdown, admitted);
    });
}

/// A request that got a place.
struct Admitted {
    direction: Direction,
    request: Request<'static>,
    /// The requested name as logs and records show it (cut to a bounded length).
    shown: String,
    /// Whether it is recorded one by one (log line, history) or only counted.
    recorded: bool,
    ticket: Ticket,
}

fn open_link(socket: &Arc<PktInfoSocket>, shared: &Shared, datagram: &Datagram) -> Result<Link, BindError> {
    if shared.config.single_port {
        let (sender, inbox) = mpsc::sync_channel(256);
        shared.routes.lock().unwrap_or_else(|p| p.into_inner()).insert(datagram.peer, sender);
        return Ok(Link::Shared {
            socket: Arc::clone(socket),
            inbox,
            peer: datagram.peer,
            local: datagram.local,
            ifindex: datagram.ifindex,
        });
    }
    let socket = TransferSocket::bind_local(datagram.local, datagram.ifindex)?;
    Ok(Link::Own { socket, peer: datagram.peer })
}

/// Runs one request to its end, logs it and tells the observer (unless it is only counted).
/// Blocking.
fn serve(shared: &Arc<Shared>, link: &mut Link, shutdown: &CancellationToken, admitted: Admitted) {
    let Admitted { direction, request, shown, recorded, ticket } = admitted;
    let peer = link.peer();
    let started = shared.observer.now();
    let Prepared { machine, file, size } = match prepare(shared, direction, peer, &request) {
        Ok(prepared) => prepared,
        Err(refused) => {
            // Free the client's place first: a client may ask again from the same port at once.
            shared.release(link, ticket);
            let error = Packet::error(refused.refusal.code(), refused.refusal.message()).to_bytes();
            if recorded {
                refused.log(peer, &shown, direction);
                shared.observer.refused(&refused_request(
                    shared.observer.now(),
                    peer,
                    direction,
                    shown,
                    refused.refusal.code(),
                    refused.detail,
                ));
            }
            let _ = link.send(&error);
            return;
        }
    };
    let live = Arc::new(RunningTransfer {
        id: shared.next_id.fetch_add(1, Ordering::Relaxed),
        peer,
        direction,
        requested: shown,
        file,
        started,
        progress: Progress::default(),
    });
    if let Some(size) = size {
        live.progress.set_total(size);
    }
    if recorded {
        shared.observer.started(&live);
    }
    // Reported when the outcome is known: a finished upload then dallies for seconds.
    pump(machine, link, shutdown, &live.progress, &|| shared.spin(), &mut |pumped| {
        if pumped.outcome == Outcome::Complete {
            shared.admission.completed(peer.ip());
        }
        if !recorded {
            return;
        }
        let report = TransferReport {
            peer,
            direction,
            requested: live.requested.clone(),
            file: live.file.clone(),
            started,
            size,
            bytes: pumped.stats.bytes,
            params: pumped.params,
            retransmits: pumped.stats.retransmits,
            timeouts: pumped.stats.timeouts,
            duration: pumped.duration,
            outcome: pumped.outcome.clone(),
        };
        report.log();
        shared.observer.finished(&live, &report);
    });
    shared.release(link, ticket);
}

fn refused_request(
    at: SystemTime,
    peer: SocketAddr,
    direction: Direction,
    requested: String,
    code: ErrorCode,
    reason: String,
) -> RefusedRequest {
    RefusedRequest { at, peer, direction, requested, code, reason }
}

/// A request ready to run: its state machine, the file, and the size when known.
struct Prepared {
    machine: Machine,
    file: PathBuf,
    size: Option<u64>,
}

/// A request answered with an error before any data moved: what the core says to the client,
/// and what the log says.
#[derive(Debug)]
struct Refused {
    refusal: Refusal,
    /// What the log says (the client only hears the refusal's message, without server paths).
    detail: String,
}

impl Refused {
    fn new(refusal: Refusal, detail: impl Into<String>) -> Refused {
        Refused { refusal, detail: detail.into() }
    }

    /// A refusal whose log line is its message.
    fn plain(refusal: Refusal) -> Refused {
        let detail = refusal.message();
        Refused { refusal, detail }
    }

    fn log(&self, peer: SocketAddr, requested: &str, direction: Direction) {
        let what = direction;
        if matches!(self.refusal, Refusal::NotFound(_)) {
            tracing::warn!(%peer, "{what} of {requested:?}: file not found ({})", self.detail);
        } else {
            tracing::warn!(%peer, "{what} of {requested:?} refused: {}", self.detail);
        }
    }
}

/// Finds or creates the file and sets up the state machine. Blocking.
fn prepare(
    shared: &Shared,
    direction: Direction,
    peer: SocketAddr,
    request: &Request<'_>,
) -> Result<Prepared, Refused> {
    if let Some(refusal) = refuse_mode(request.mode) {
        return Err(Refused::plain(refusal));
    }
    let netascii = request.mode == Mode::Netascii;
    let config = &shared.config;
    match direction {
        Direction::Read => {
            let requested = String::from_utf8_lossy(&request.filename);
            let resolve = |path: &std::path::Path| shared.root.resolve(path.as_os_str().as_encoded_bytes());
            let path = match shared.observer.substitute(peer.ip(), &requested) {
                // Resolved like a requested name, so a substitute cannot leave the root either.
                Some(substitute) => resolve(&substitute),
                None => match shared.root.resolve(&request.filename) {
                    Err(LookupError::NotFound) if shared.root.may_stand_in(&request.filename) => {
                        match shared.observer.instead_of_missing(peer.ip(), &requested) {
                            Some(instead) => resolve(&instead),
                            None => Err(LookupError::NotFound),
                        }
                    }
                    found => found,
                },
            }
            .map_err(lookup_refusal)?;
            let unreadable = |e: std::io::Error| {
                Refused::new(Refusal::Denied("cannot read the file".into()), format!("{}: {e}", path.display()))
            };
            let file = shared.files.open(&path).map_err(unreadable)?;
            let source = if netascii {
                let window = config.limits.max_windowsize;
                Source::Netascii(NetasciiSource::new(file, window).map_err(unreadable)?)
            } else {
                Source::octet(file)
            };
            let negotiation = negotiate(&request.options, &config.limits, Direction::Read, Some(source.len()));
            let size = source.len();
            let sender = Sender::new(negotiation.params, size, negotiation.oack(), &config.timing);
            Ok(Prepared { machine: Machine::Send { sender, source }, file: path, size: Some(size) })
        }
        Direction::Write => {
            let Some(uploads) = &config.upload else {
                return Err(Refused::new(
                    Refusal::Denied("uploads are disabled".into()),
                    "uploads are disabled (start with --tftp-upload --tftp-upload-dir DIR)",
                ));
            };
            let relative =
                policy::normalize(&request.filename).map_err(|e| Refused::plain(Refusal::Denied(e.to_string())))?;
            if relative.components().iter().any(|part| upload::is_temp_name(part)) {
                let message = "names starting with .lifeboat-partial- are reserved for unfinished uploads";
                return Err(Refused::plain(Refusal::Denied(message.into())));
            }
            let negotiation = negotiate(&request.options, &config.limits, Direction::Write, None);
            if let Some(refusal) = refuse_upload_size(&negotiation, uploads.max_size) {
                return Err(Refused::plain(refusal));
            }
            let upload = Upload::begin(&uploads.dir, &relative, uploads.overwrite, netascii).map_err(|e| {
                let detail = e.to_string();
                match e {
                    UploadError::Exists => Refused::new(Refusal::Exists("a file of that name exists".into()), detail),
                    // I/O errors may name the path (tempfile's do): the log has them.
                    UploadError::Io(_) => Refused::new(Refusal::Denied("cannot write the file".into()), detail),
                    UploadError::NoSuchFolder | UploadError::OutsideDir => Refused::plain(Refusal::Denied(detail)),
                }
            })?;
            let target = upload.target().to_owned();
            let opening = negotiation.oack().unwrap_or(Packet::Ack { block: 0 });
            let receiver = Receiver::new(negotiation.params, Some(opening), Some(uploads.max_size), &config.timing)
                .dally(SERVER_DALLY);
            // An upload that announced its size must deliver exactly that (netascii sizes are
            // not exact: line ends change on the way).
            let receiver = match negotiation.announced_size {
                Some(size) if !netascii => receiver.expect_len(size),
                _ => receiver,
            };
            let size = negotiation.announced_size;
            Ok(Prepared { machine: Machine::Receive { receiver, sink: Some(upload) }, file: target, size })
        }
    }
}

fn lookup_refusal(error: LookupError) -> Refused {
    // The client hears the reason without any server path (dnsmasq leaks full paths here).
    let why = error.to_string();
    Refused::plain(match error {
        LookupError::NotFound | LookupError::NotAFile => Refusal::NotFound(why),
        _ => Refusal::Denied(why),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux's errno values (the crate does not depend on libc).
    const EADDRINUSE: i32 = 98;

    #[test]
    fn a_bind_error_names_the_flag_that_sets_the_address() {
        let error = BindError::new("0.0.0.0:69".parse().unwrap(), std::io::Error::from_raw_os_error(EADDRINUSE));
        let text = StartError::Bind(error).to_string();
        assert!(text.contains("ss -ulpn 'sport = :69'") && text.ends_with("set with --tftp-listen"), "{text}");
    }
}
