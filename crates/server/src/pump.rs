//! The I/O loop of one transfer: it moves datagrams between a [`Link`] and a core state
//! machine, reads and writes the file, and sleeps until the core's next deadline. Server and
//! client share it; nothing in here decides anything about the protocol.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lifeboat_tftp::wire::data_header;
use lifeboat_tftp::{ErrorCode, Outcome, Packet, Receiver, Sender, Stats, TransferError, TransferParams, Transmit};
use tokio_util::sync::CancellationToken;

use crate::link::{Link, MAX_DATAGRAM};
use crate::source::Source;
use crate::upload::Upload;

/// A transfer's state machine with the file it reads or writes.
#[derive(Debug)]
pub(crate) enum Machine {
    Send { sender: Sender, source: Source },
    Receive { receiver: Receiver, sink: Option<Upload> },
}

/// Bytes moved so far and the size when known, readable while a transfer runs (progress bars,
/// the dashboard).
#[derive(Debug, Default)]
pub struct Progress {
    bytes: AtomicU64,
    /// 0 while unknown.
    total: AtomicU64,
}

impl Progress {
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn total(&self) -> Option<u64> {
        Some(self.total.load(Ordering::Relaxed)).filter(|&total| total > 0)
    }

    pub(crate) fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }
}

/// How a pumped transfer ended.
#[derive(Debug)]
pub(crate) struct Pumped {
    pub outcome: Outcome,
    pub stats: Stats,
    pub params: TransferParams,
    pub duration: Duration,
}

/// How long a finished receiver keeps answering a repeated final block (its ACK may be lost).
const DALLY: Duration = Duration::from_secs(1);

impl Machine {
    fn outcome(&self) -> Option<&Outcome> {
        match self {
            Machine::Send { sender, .. } => sender.outcome(),
            Machine::Receive { receiver, .. } => receiver.outcome(),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Machine::Send { sender, .. } => sender.poll_timeout(),
            Machine::Receive { receiver, .. } => receiver.poll_timeout(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Machine::Send { sender, .. } => sender.handle_timeout(now),
            Machine::Receive { receiver, .. } => receiver.handle_timeout(now),
        }
    }

    fn abort(&mut self, code: ErrorCode, message: String) {
        match self {
            Machine::Send { sender, .. } => sender.abort(code, message),
            Machine::Receive { receiver, .. } => receiver.abort(code, message),
        }
    }

    fn bytes(&self) -> u64 {
        match self {
            Machine::Send { sender, .. } => sender.acknowledged_bytes(),
            Machine::Receive { receiver, .. } => receiver.received_bytes(),
        }
    }

    /// Writes the next datagram to send into `out`; false when nothing is due.
    fn poll_datagram(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        out.clear();
        let transmit = match self {
            Machine::Send { sender, .. } => sender.poll_transmit(now),
            Machine::Receive { receiver, .. } => receiver.poll_transmit(now),
        };
        match transmit {
            None => false,
            Some(Transmit::Packet(packet)) => {
                packet.emit(out);
                true
            }
            Some(Transmit::Data { block, offset, len }) => {
                let Machine::Send { source, sender } = self else { unreachable!("only a sender emits data") };
                out.extend_from_slice(&data_header(block));
                if let Err(error) = source.read(offset, len, out) {
                    sender.abort(ErrorCode::NotDefined, format!("cannot read the file: {error}"));
                    return self.poll_datagram(now, out);
                }
                true
            }
        }
    }

    /// Feeds a datagram from the peer; payload goes to the sink.
    fn handle(&mut self, now: Instant, datagram: &[u8]) {
        let Ok(packet) = Packet::parse(datagram) else {
            tracing::debug!(len = datagram.len(), "malformed datagram from the peer ignored");
            return;
        };
        match self {
            Machine::Send { sender, .. } => sender.handle(now, &packet),
            Machine::Receive { receiver, sink } => {
                let written = match (receiver.handle(now, &packet), sink.as_mut()) {
                    (Some(chunk), Some(upload)) => upload.write(chunk.data),
                    _ => Ok(()),
                };
                if let Err(error) = written {
                    let (code, message) = storage_error(&error);
                    receiver.abort(code, message);
                    return;
                }
                // The final ACK leaves only once the file is safely on disk under its name.
                if receiver.outcome() == Some(&Outcome::Complete)
                    && let Some(upload) = sink.take()
                    && let Err(error) = upload.finish()
                {
                    receiver.abort(ErrorCode::NotDefined, format!("cannot store the file: {error}"));
                }
            }
        }
    }

    fn summary(&self) -> (Stats, TransferParams) {
        match self {
            Machine::Send { sender, .. } => (sender.stats(), sender.params()),
            Machine::Receive { receiver, .. } => (receiver.stats(), receiver.params()),
        }
    }
}

fn storage_error(error: &io::Error) -> (ErrorCode, String) {
    match error.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            (ErrorCode::DiskFull, "no space left on the receiving side".to_owned())
        }
        _ => (ErrorCode::NotDefined, format!("cannot write the file: {error}")),
    }
}

/// Runs `machine` over `link` until it ends, the peer vanishes, or `shutdown` fires.
/// `progress` follows the bytes moved, for progress bars and the dashboard. With `dally`, a
/// finished receiver lingers to repeat its final ACK (a server does; a command-line client
/// exits at once).
pub(crate) async fn pump(
    mut machine: Machine,
    link: &mut Link,
    shutdown: &CancellationToken,
    progress: &Progress,
    dally: bool,
) -> Pumped {
    let started = Instant::now();
    let mut out = Vec::with_capacity(MAX_DATAGRAM);
    let mut input = Vec::with_capacity(MAX_DATAGRAM);
    let mut dally_until = None;
    loop {
        let now = Instant::now();
        while machine.poll_datagram(now, &mut out) {
            if let Err(error) = link.send(&out).await {
                tracing::debug!(peer = %link.peer(), %error, "send failed");
                if machine.outcome().is_none() {
                    machine.abort(ErrorCode::NotDefined, format!("network error: {error}"));
                }
            }
        }
        progress.bytes.store(machine.bytes(), Ordering::Relaxed);
        match machine.outcome() {
            None => {}
            Some(Outcome::Complete) if dally && matches!(machine, Machine::Receive { .. }) => {
                let until = *dally_until.get_or_insert(now + DALLY);
                if now >= until {
                    break;
                }
            }
            Some(_) => break,
        }
        let deadline = dally_until.or(machine.poll_timeout());
        tokio::select! {
            biased;
            () = shutdown.cancelled() => {
                if machine.outcome().is_some() {
                    break;
                }
                machine.abort(ErrorCode::NotDefined, "the server is shutting down".to_owned());
            }
            received = link.recv(&mut input) => match received {
                Ok(()) => machine.handle(Instant::now(), &input),
                Err(error) => machine.abort(ErrorCode::NotDefined, format!("network error: {error}")),
            },
            () = sleep_until(deadline) => machine.handle_timeout(Instant::now()),
        }
    }
    let (stats, params) = machine.summary();
    let outcome = machine.outcome().cloned().unwrap_or(Outcome::Failed(TransferError::Aborted {
        code: ErrorCode::NotDefined,
        message: "stopped".to_owned(),
    }));
    Pumped { outcome, stats, params, duration: started.elapsed() }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}
