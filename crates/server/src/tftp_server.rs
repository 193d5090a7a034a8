//! The TFTP server: listening sockets, admission of requests, and the hand-over of each
//! admitted transfer to an event loop (`loops.rs`).
//!
//! A request passes, in order: the source allow-list (outside it: dropped without an answer,
//! and only counted, see `tally.rs`), the duplicate and busy checks (a share of the places is
//! kept for known clients), the filename policy and lookup (ERROR 1/2), then option negotiation
//! in the core. Each transfer answers from a fresh port bound to the address the client talked
//! to, or in single-port mode from the listening socket itself.
//!
//! Nothing that arrives on the listening port can start a packet loop: an ERROR or OACK there is never
//! answered (RFC 1350: an ERROR is not acknowledged), stray DATA and ACKs of single-port mode
//! are answered at most [`STRAY_ANSWERS_PER_SECOND`] times a second and never to one of this
//! machine's own addresses, and a request from the listening socket's own address and port is
//! dropped.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use lifeboat_net::{BindError, Datagram, PktInfoSocket, TransferSocket};
use lifeboat_tftp::text::peer_text;
use lifeboat_tftp::{Direction, ErrorCode, Packet, Request};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admission::{Admission, NoAdmission, Ticket};
use crate::config::TftpConfig;
use crate::link::{Link, MAX_DATAGRAM};
use crate::loops::Loops;
use crate::observer::{RefusedRequest, TftpObserver, Unobserved};
use crate::open_files::OpenFiles;
use crate::root::{Root, RootError};
use crate::served::Admitted;
use crate::tally::{Asked, Budget, CountReason, CountedRequests, Tally, Verdict};
use crate::upload;

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

/// The loops of single-port transfers, by client address.
type Routes = Mutex<HashMap<SocketAddr, usize>>;

/// What the listeners and the event loops share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: TftpConfig,
    pub(crate) root: Root,
    pub(crate) files: OpenFiles,
    pub(crate) admission: Arc<Admission>,
    routes: Routes,
    /// CPUs of this machine: as many event loops run, and transfers spin only while fewer run.
    pub(crate) cores: usize,
    pub(crate) observer: Arc<dyn TftpObserver>,
    /// The id of the next transfer.
    pub(crate) next_id: AtomicU64,
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
    pub(crate) fn release(&self, link: &Link, ticket: Ticket) {
        if let Link::Shared { peer, .. } = link {
            self.routes.lock().unwrap_or_else(|p| p.into_inner()).remove(peer);
        }
        drop(ticket);
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
    ///
    /// The transfers run in one event loop per CPU (`event_loop.rs`), threads that live as long
    /// as this call; the listeners run as tasks of the caller's runtime.
    pub async fn run(self, shutdown: CancellationToken) {
        let transfers = TaskTracker::new();
        let listeners = TaskTracker::new();
        let loops = match Loops::start(self.shared.cores, &self.shared, &shutdown, &transfers) {
            Ok(loops) => Arc::new(loops),
            Err(error) => {
                tracing::error!(%error, "TFTP not started: cannot start a thread to run transfers");
                return;
            }
        };
        // The loops sleep until something happens; shutting down is something.
        let woken = tokio::spawn({
            let (loops, shutdown) = (Arc::clone(&loops), shutdown.clone());
            async move {
                shutdown.cancelled().await;
                loops.wake_all();
            }
        });
        for socket in &self.sockets {
            let (socket, shared, loops, shutdown) =
                (Arc::clone(socket), Arc::clone(&self.shared), Arc::clone(&loops), shutdown.clone());
            listeners.spawn(listen(socket, shared, loops, shutdown));
        }
        for addr in self.local_addrs() {
            tracing::info!(%addr, root = %self.shared.root.dir().display(), "TFTP listening");
        }
        listeners.close();
        listeners.wait().await;
        let _ = woken.await;
        loops.close();
        transfers.close();
        transfers.wait().await;
        self.shared.report_counted(Instant::now(), true);
        tracing::info!("TFTP stopped");
    }
}

async fn listen(socket: Arc<PktInfoSocket>, shared: Arc<Shared>, loops: Arc<Loops>, shutdown: CancellationToken) {
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
        if shared.config.single_port && route(&shared.routes, &loops, datagram.peer, bytes) {
            continue;
        }
        match Packet::parse(bytes) {
            Ok(Packet::ReadRequest(request)) => {
                accept(&socket, &shared, &loops, datagram, Direction::Read, request.into_owned()).await
            }
            Ok(Packet::WriteRequest(request)) => {
                accept(&socket, &shared, &loops, datagram, Direction::Write, request.into_owned()).await
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

/// Hands a datagram to the loop of the single-port transfer of its sender, if there is one.
fn route(routes: &Routes, loops: &Loops, peer: SocketAddr, bytes: &[u8]) -> bool {
    let index = routes.lock().unwrap_or_else(|p| p.into_inner()).get(&peer).copied();
    match index {
        Some(index) => {
            loops.deliver(index, peer, bytes.to_vec());
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
    loops: &Loops,
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
    let single_port = matches!(link, Link::Shared { .. });
    let admitted = Admitted { direction, request, shown: asked.name, recorded, ticket, link };
    let index = loops.least_loaded();
    if single_port {
        // Routed before the loop has it: the client's next datagram then follows the request
        // into the same inbox, and a loop that refuses the request removes this route.
        shared.routes.lock().unwrap_or_else(|p| p.into_inner()).insert(peer, index);
    }
    loops.start_transfer(index, admitted);
}

/// The link of a new transfer: in single-port mode the listening socket, otherwise a fresh
/// non-blocking socket on the address the client talked to.
fn open_link(socket: &Arc<PktInfoSocket>, shared: &Shared, datagram: &Datagram) -> Result<Link, BindError> {
    if shared.config.single_port {
        return Ok(Link::Shared {
            socket: Arc::clone(socket),
            peer: datagram.peer,
            local: datagram.local,
            ifindex: datagram.ifindex,
        });
    }
    let socket = TransferSocket::bind_local(datagram.local, datagram.ifindex)?;
    let local = SocketAddr::new(datagram.local, 0);
    socket.set_nonblocking(true).map_err(|e| BindError::new(local, e))?;
    Ok(Link::Own { socket, peer: datagram.peer })
}

pub(crate) fn refused_request(
    at: SystemTime,
    peer: SocketAddr,
    direction: Direction,
    requested: String,
    code: ErrorCode,
    reason: String,
) -> RefusedRequest {
    RefusedRequest { at, peer, direction, requested, code, reason }
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
