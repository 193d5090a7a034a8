//! The I/O loop of one transfer: it moves datagrams between a [`Link`] and a core state
//! machine, reads and writes the file, and sleeps until the core's next deadline. Server and
//! client share it; nothing in here decides anything about the protocol.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lifeboat_tftp::wire::{DATA_HEADER_LEN, data_header};
use lifeboat_tftp::{ErrorCode, Outcome, Packet, Receiver, Sender, Stats, TransferError, TransferParams, Transmit};
use tokio_util::sync::CancellationToken;

use crate::batch::Batch;
use crate::link::Link;
use crate::source::Source;
use crate::upload::Upload;

/// The longest a transfer polls for the peer's next packet before it sleeps (see
/// `lifeboat_net::TransferSocket`). A lock-step answer on a LAN comes within tens of
/// microseconds, but the ACK of a window comes only after the peer has taken in the whole
/// window: 150–250 µs for 16 blocks of 1468 bytes here. Spinning that long spares the
/// wake-up of a sleeping thread, which costs tens of microseconds on a virtual machine, once
/// per window. Measured with atftp, window 16, 1468: about 140 MB/s with a 100 µs spin,
/// 150–230 MB/s with 1 ms, no better with 2 ms. The [`Spinner`] stops spinning for a peer that
/// answers later than this, so a slow device costs no CPU.
pub(crate) const SPIN: Duration = Duration::from_millis(1);

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
    /// Requests sent so far by a client that waits for its server to answer.
    attempts: AtomicU64,
}

impl Progress {
    /// How many times a waiting client has asked so far.
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    pub(crate) fn note_attempt(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn total(&self) -> Option<u64> {
        Some(self.total.load(Ordering::Relaxed)).filter(|&total| total > 0)
    }

    pub(crate) fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// `bytes` more moved (the HTTP boot server, which counts as it streams).
    pub(crate) fn add_bytes(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
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

impl Machine {
    fn outcome(&self) -> Option<&Outcome> {
        match self {
            Machine::Send { sender, .. } => sender.outcome(),
            Machine::Receive { receiver, .. } => receiver.outcome(),
        }
    }

    /// The core says the transfer may be dropped (a receiver may dally first).
    fn is_done(&self, now: Instant) -> bool {
        match self {
            Machine::Send { sender, .. } => sender.outcome().is_some(),
            Machine::Receive { receiver, .. } => receiver.is_done(now),
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
            Machine::Receive { receiver, sink } => {
                // Gone before the peer hears of the failure: nothing of it is left to see.
                *sink = None;
                receiver.abort(code, message);
            }
        }
    }

    /// Appends the next datagram to send to `out`; false when nothing is due.
    fn poll_datagram(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        let start = out.len();
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
                    out.truncate(start);
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
                    *sink = None;
                    receiver.abort(code, message);
                    return;
                }
                if matches!(receiver.outcome(), Some(Outcome::Failed(_))) {
                    // Refused by the core (too large, say): drop the temporary file before the
                    // ERROR leaves, so a client that sees the error sees nothing left behind.
                    *sink = None;
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

/// How long a transfer sleeps at most before it looks at the shutdown signal again.
const SLICE: Duration = Duration::from_millis(100);

/// Runs `machine` over `link` until it ends, the peer vanishes, or `shutdown` fires. Blocking:
/// call it on a thread of its own.
///
/// `progress` follows the bytes moved, for progress bars and the dashboard. `ended` hears the
/// outcome as soon as it is known; a receiver the core keeps dallying (to repeat its final ACK)
/// runs on after that, but the outcome, duration and rate do not wait for it. `spin` says,
/// before each wait, how long to poll before sleeping. Returns what `ended` heard.
pub(crate) fn pump(
    mut machine: Machine,
    link: &mut Link,
    shutdown: &CancellationToken,
    progress: &Progress,
    spin: &dyn Fn() -> Duration,
    ended: &mut dyn FnMut(&Pumped),
) -> Pumped {
    let started = Instant::now();
    // Buffers sized to the negotiated block, so memory per transfer stays small: a DATA
    // packet plus one byte to notice an oversized block, and room for an ERROR message.
    let datagram = (usize::from(machine.summary().1.blksize) + DATA_HEADER_LEN + 1).max(600);
    let mut out = Batch::with_capacity(datagram);
    let mut input = Vec::with_capacity(datagram);
    let mut spinner = Spinner::default();
    let mut heard = None;
    loop {
        let now = Instant::now();
        // A window's blocks are gathered and leave together.
        loop {
            let start = out.len();
            if !machine.poll_datagram(now, out.buffer()) {
                break;
            }
            if !out.admit(start) {
                send(link, &mut machine, &out.bytes()[..start], out.segment());
                out.restart(start);
            }
        }
        if !out.is_empty() {
            send(link, &mut machine, out.bytes(), out.segment());
            out.clear();
        }
        progress.bytes.store(machine.summary().0.bytes, Ordering::Relaxed);
        if heard.is_none() && machine.outcome().is_some() {
            ended(heard.insert(pumped(&machine, started)));
        }
        if machine.is_done(now) {
            break;
        }
        if shutdown.is_cancelled() {
            if machine.outcome().is_some() {
                break;
            }
            machine.abort(ErrorCode::NotDefined, "the server is shutting down".to_owned());
            continue;
        }
        let deadline = machine.poll_timeout();
        let wait = deadline.map_or(SLICE, |at| at.saturating_duration_since(now).min(SLICE));
        let waited = Instant::now();
        let received = link.recv(&mut input, datagram, spinner.next(spin()), wait);
        spinner.observe(waited.elapsed(), matches!(received, Ok(true)));
        match received {
            Ok(true) => machine.handle(Instant::now(), &input),
            Ok(false) => machine.handle_timeout(Instant::now()),
            Err(error) => machine.abort(ErrorCode::NotDefined, format!("network error: {error}")),
        }
    }
    heard.unwrap_or_else(|| {
        let pumped = pumped(&machine, started);
        ended(&pumped);
        pumped
    })
}

/// Where `machine` stands, for the report.
fn pumped(machine: &Machine, started: Instant) -> Pumped {
    let (stats, params) = machine.summary();
    let outcome = machine.outcome().cloned().unwrap_or(Outcome::Failed(TransferError::Aborted {
        code: ErrorCode::NotDefined,
        message: "stopped".to_owned(),
    }));
    Pumped { outcome, stats, params, duration: started.elapsed() }
}

/// Sends datagrams gathered in a [`Batch`]; a failure ends the transfer.
fn send(link: &mut Link, machine: &mut Machine, datagrams: &[u8], segment: usize) {
    if let Err(error) = link.send_segments(datagrams, segment) {
        tracing::debug!(peer = %link.peer(), %error, "send failed");
        if machine.outcome().is_none() {
            machine.abort(ErrorCode::NotDefined, format!("network error: {error}"));
        }
    }
}

/// Decides how long to spin before sleeping: only while answers have been arriving within the
/// spin budget, so a slow peer or a busy machine costs no CPU. Every 64th wait probes again.
#[derive(Debug, Default)]
struct Spinner {
    /// The last answer came within the budget.
    paying_off: bool,
    waits: u32,
    budget: Duration,
}

impl Spinner {
    fn next(&mut self, budget: Duration) -> Duration {
        self.budget = budget;
        self.waits = self.waits.wrapping_add(1);
        if self.paying_off || self.waits.is_multiple_of(64) { budget } else { Duration::ZERO }
    }

    fn observe(&mut self, waited: Duration, answered: bool) {
        self.paying_off = answered && waited <= self.budget;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    #[test]
    fn spins_while_answers_come_within_the_budget() {
        let mut spinner = Spinner { paying_off: true, ..Spinner::default() };
        assert_eq!(spinner.next(SPIN), SPIN);
        spinner.observe(200 * US, true);
        assert_eq!(spinner.next(SPIN), SPIN, "a window's ACK after 200 µs is worth the spin");
    }

    #[test]
    fn a_late_answer_or_none_stops_the_spin_until_the_next_probe() {
        for (waited, answered) in [(SPIN + US, true), (SPIN / 2, false)] {
            let mut spinner = Spinner { paying_off: true, ..Spinner::default() };
            spinner.next(SPIN);
            spinner.observe(waited, answered);
            let spins: Vec<usize> = (1..=128).filter(|_| !spinner.next(SPIN).is_zero()).collect();
            assert_eq!(spins.len(), 2, "only the probes spin after waiting {waited:?} (answered: {answered})");
        }
    }

    #[test]
    fn a_probe_that_pays_off_resumes_spinning() {
        let mut spinner = Spinner::default();
        while spinner.next(SPIN).is_zero() {
            spinner.observe(5 * SPIN, true);
        }
        spinner.observe(30 * US, true);
        assert_eq!(spinner.next(SPIN), SPIN);
    }

    #[test]
    fn a_busy_server_never_spins() {
        let mut spinner = Spinner { paying_off: true, ..Spinner::default() };
        for _ in 0..128 {
            assert!(spinner.next(Duration::ZERO).is_zero());
            spinner.observe(Duration::ZERO, true);
        }
    }
}
