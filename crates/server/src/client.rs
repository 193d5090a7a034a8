//! The TFTP client behind `lifeboat get` and `lifeboat put`, on the same core and pump as the
//! server.
//!
//! The client runs its transfer on the caller's thread with the blocking pump (`pump.rs`), which
//! always spins before it sleeps: it is one transfer, so a CPU for it is always there.
//!
//! With a wait (`ClientSettings::wait`), `get` and `put` keep asking until the device answers,
//! and give up at the deadline, not later: routers in recovery mode often open their TFTP
//! server for a few seconds only, and nobody can time the button press. Cancelling stops a
//! transfer at once; an unfinished download leaves no file.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lifeboat_net::{BindError, TransferSocket};
use lifeboat_tftp::client::{ClientRequest, Opening, OpeningFailed, Started};
use lifeboat_tftp::{ClientOptions, Mode, Outcome, Packet, Timing, TransferError, TransferParams};
use tokio_util::sync::CancellationToken;

use crate::digest::{WrittenDigest, hash_file_beside};
use crate::link::{Link, MAX_DATAGRAM};
use crate::machine::{Machine, Pumped};
use crate::open_files::OpenFiles;
use crate::pump::{Progress, pump};
use crate::source::{NetasciiSource, Source};
use crate::upload::{Upload, UploadError};

/// How the client talks.
#[derive(Debug, Clone, Copy)]
pub struct ClientSettings {
    pub options: ClientOptions,
    pub mode: Mode,
    pub timing: Timing,
    /// Keep asking until the server answers, for this long; `None`: the request's own retries.
    pub wait: Option<Duration>,
    /// While waiting, how often to send the request afresh.
    pub retry_every: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            options: ClientOptions { blksize: Some(1468), tsize: Some(0), ..ClientOptions::default() },
            mode: Mode::Octet,
            timing: Timing::default(),
            wait: None,
            retry_every: Duration::from_secs(1),
        }
    }
}

/// How often a waiting client looks whether it was cancelled.
const CANCEL_CHECK: Duration = Duration::from_millis(100);

/// A finished client transfer.
#[derive(Debug, Clone)]
pub struct ClientReport {
    pub bytes: u64,
    pub duration: Duration,
    pub params: TransferParams,
    pub retransmits: u64,
    /// The local file written (get) or read (put).
    pub local: PathBuf,
    /// The local file's sha256, in hex.
    pub sha256: String,
}

/// Why a client transfer failed, phrased for the person at the keyboard.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("cannot read {}: {source}", path.display())]
    ReadLocal { path: PathBuf, source: std::io::Error },
    #[error("cannot write {}: {source}", path.display())]
    WriteLocal { path: PathBuf, source: UploadError },
    #[error("network error talking to {server}: {source}")]
    Network { server: SocketAddr, source: std::io::Error },
    #[error(
        "no answer from {server} within {waited:.0?} — is the device's TFTP server up, and is {server} the right address?"
    )]
    NoAnswer { server: SocketAddr, waited: Duration },
    #[error("{server} refused: {error}")]
    Refused { server: SocketAddr, error: TransferError },
    #[error("the transfer with {server} failed after {bytes} bytes: {error}")]
    Failed { server: SocketAddr, bytes: u64, error: TransferError },
    #[error("interrupted")]
    Interrupted,
}

/// Downloads `remote` from `server` into `local`; the file appears only when complete.
/// Blocking: from async code, call it through `spawn_blocking`.
pub fn get(
    server: SocketAddr,
    remote: &str,
    local: &Path,
    settings: &ClientSettings,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<ClientReport, ClientError> {
    let write_error = |source| ClientError::WriteLocal { path: local.to_owned(), source };
    let mut upload = Upload::to_path(local.to_owned(), true, settings.mode == Mode::Netascii).map_err(write_error)?;
    let (digest, feed) = WrittenDigest::start();
    upload.hash_into(feed);
    let request = ClientRequest::Get { filename: remote.to_owned(), mode: settings.mode, options: settings.options };
    let (started, mut link, first) = open(server, request, settings, progress, cancel)?;
    let Started::Get { mut receiver, refeed_first_packet, size } = started else {
        unreachable!("a read request starts a receiver")
    };
    if let Some(size) = size {
        progress.set_total(size);
    }
    let mut upload = Some(upload);
    if refeed_first_packet
        && let Ok(packet) = Packet::parse(&first)
        && let Some(chunk) = receiver.handle(Instant::now(), &packet)
        && let Some(upload) = upload.as_mut()
    {
        upload.write(chunk.data).map_err(|e| write_error(UploadError::Io(e)))?;
    }
    if receiver.outcome() == Some(&Outcome::Complete)
        && let Some(upload) = upload.take()
    {
        upload.finish().map_err(write_error)?;
    }
    let machine = Machine::Receive { receiver, sink: upload };
    let pumped = pump(machine, &mut link, cancel, progress);
    // The pump has finished or dropped the upload, and with it the digest's feed.
    finish(server, local, pumped, cancel, || Ok(digest.finish()))
}

/// Uploads `local` to `server` as `remote`. Blocking: from async code, call it through
/// `spawn_blocking`.
pub fn put(
    server: SocketAddr,
    local: &Path,
    remote: &str,
    settings: &ClientSettings,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<ClientReport, ClientError> {
    let read_error = |source| ClientError::ReadLocal { path: local.to_owned(), source };
    let file = OpenFiles::default().open(local).map_err(read_error)?;
    let digest = hash_file_beside(local);
    let source = match settings.mode {
        Mode::Netascii => {
            Source::Netascii(NetasciiSource::new(file, settings.options.windowsize.unwrap_or(1)).map_err(read_error)?)
        }
        _ => Source::octet(file),
    };
    progress.set_total(source.len());
    let mut options = settings.options;
    options.tsize = options.tsize.map(|_| source.len());
    let request = ClientRequest::Put { filename: remote.to_owned(), mode: settings.mode, options, len: source.len() };
    let (started, mut link, _) = open(server, request, settings, progress, cancel)?;
    let Started::Put { sender } = started else { unreachable!("a write request starts a sender") };
    let machine = Machine::Send { sender, source };
    let pumped = pump(machine, &mut link, cancel, progress);
    finish(server, local, pumped, cancel, || {
        digest.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)).map_err(read_error)
    })
}

/// The report of a transfer that completed, with the local file's sha256 from `sha256`.
fn finish(
    server: SocketAddr,
    local: &Path,
    pumped: Pumped,
    cancel: &CancellationToken,
    sha256: impl FnOnce() -> Result<String, ClientError>,
) -> Result<ClientReport, ClientError> {
    match pumped.outcome {
        Outcome::Failed(_) if cancel.is_cancelled() => Err(ClientError::Interrupted),
        Outcome::Complete => Ok(ClientReport {
            bytes: pumped.stats.bytes,
            duration: pumped.duration,
            params: pumped.params,
            retransmits: pumped.stats.retransmits,
            local: local.to_owned(),
            sha256: sha256()?,
        }),
        Outcome::OptionsDeclined => unreachable!("only a server sends an OACK"),
        Outcome::Failed(error) => Err(ClientError::Failed { server, bytes: pumped.stats.bytes, error }),
    }
}

/// Sends the request until the server answers (with a wait: asking again until then, and not
/// a moment longer), and locks onto the server's transfer ID. Returns the started transfer, its
/// link, and the first datagram (which a receiver may need).
fn open(
    server: SocketAddr,
    request: ClientRequest,
    settings: &ClientSettings,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<(Started, Link, Vec<u8>), ClientError> {
    let unspecified = match server.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let mut socket = TransferSocket::bind(SocketAddr::new(unspecified, 0))?;
    let network = |source| ClientError::Network { server, source };
    let begun = Instant::now();
    let give_up = settings.wait.map(|wait| begun + wait);
    let no_answer = || ClientError::NoAnswer { server, waited: begun.elapsed() };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    'attempts: loop {
        progress.note_attempt();
        let mut opening = Opening::new(request.clone(), &settings.timing);
        // While waiting, the request goes out afresh every `retry_every`: a device that opens
        // its server for a moment hears one soon after.
        let ask_again = give_up.map(|_| Instant::now() + settings.retry_every);
        loop {
            while let Some(packet) = opening.poll_transmit(Instant::now()) {
                match socket.send_to(&packet.to_bytes(), server) {
                    Ok(_) => {}
                    // Nobody listens yet (ICMP unreachable); while waiting, that is expected.
                    Err(_) if give_up.is_some() => {}
                    Err(error) => return Err(network(error)),
                }
            }
            if cancel.is_cancelled() {
                return Err(ClientError::Interrupted);
            }
            let now = Instant::now();
            if give_up.is_some_and(|at| now >= at) {
                return Err(no_answer());
            }
            if ask_again.is_some_and(|at| now >= at) {
                continue 'attempts;
            }
            let retransmit_at = opening.poll_timeout();
            let until = [retransmit_at, give_up, ask_again, Some(now + CANCEL_CHECK)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(now);
            let (len, from) = match socket.recv_from(&mut buf, Duration::ZERO, until.saturating_duration_since(now)) {
                Ok(Some(received)) => received,
                // Nobody listens yet: ask again soon, within the deadline.
                Err(_) if give_up.is_some() => {
                    let left = give_up.map_or(Duration::ZERO, |at| at.saturating_duration_since(Instant::now()));
                    sleep_unless_cancelled(settings.retry_every.min(left), cancel);
                    continue 'attempts;
                }
                Err(error) => return Err(network(error)),
                Ok(None) => {
                    if retransmit_at.is_some_and(|at| Instant::now() >= at) {
                        match opening.handle_timeout(Instant::now()) {
                            Ok(()) => {}
                            Err(_) if give_up.is_some() => continue 'attempts,
                            Err(_) => return Err(no_answer()),
                        }
                    }
                    continue;
                }
            };
            if from.ip() != server.ip() {
                continue;
            }
            let Ok(packet) = Packet::parse(&buf[..len]) else { continue };
            match opening.handle(&packet) {
                Ok(Some(started)) => {
                    let first = buf[..len].to_vec();
                    return Ok((started, Link::Own { socket, peer: from }, first));
                }
                Ok(None) => {}
                Err(OpeningFailed { error, reply }) => {
                    if let Some(reply) = reply {
                        let _ = socket.send_to(&reply.to_bytes(), from);
                    }
                    return Err(ClientError::Refused { server, error });
                }
            }
        }
    }
}

/// Sleeps for `duration`, in short steps, unless `cancel` fires first.
fn sleep_unless_cancelled(duration: Duration, cancel: &CancellationToken) {
    let until = Instant::now() + duration;
    while !cancel.is_cancelled() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(CANCEL_CHECK));
    }
}
