//! The blocking driver of one transfer, for the client (`lifeboat get` and `put`): it moves
//! datagrams between a [`Link`] and a core state machine on the caller's thread, spins briefly
//! for the peer's answer and sleeps until the core's next deadline. The server's transfers run
//! in event loops instead (`event_loop.rs`). Nothing in here decides anything about the
//! protocol.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lifeboat_tftp::ErrorCode;
use lifeboat_tftp::wire::DATA_HEADER_LEN;
use tokio_util::sync::CancellationToken;

use crate::batch::Batch;
use crate::link::Link;
use crate::machine::{Machine, Pumped, pumped, transmit};
use crate::spinner::{SPIN, Spinner};

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

    pub(crate) fn set_bytes(&self, bytes: u64) {
        self.bytes.store(bytes, Ordering::Relaxed);
    }

    pub(crate) fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// `bytes` more moved (the HTTP boot server, which counts as it streams).
    pub(crate) fn add_bytes(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// How long a transfer sleeps at most before it looks at the shutdown signal again.
const SLICE: Duration = Duration::from_millis(100);

/// Runs `machine` over `link` until it ends, the peer vanishes, or `cancel` fires. Blocking:
/// call it on a thread of its own. It always spins before it sleeps ([`SPIN`]): it is one
/// transfer, so a CPU for it is always there.
///
/// `progress` follows the bytes moved, for progress bars. Returns how the transfer ended, as
/// soon as that is known (a receiver that dallies is not waited for: the client does not).
pub(crate) fn pump(mut machine: Machine, link: &mut Link, cancel: &CancellationToken, progress: &Progress) -> Pumped {
    let started = Instant::now();
    // Buffers sized to the negotiated block, so memory per transfer stays small: a DATA
    // packet plus one byte to notice an oversized block, and room for an ERROR message.
    let datagram = (usize::from(machine.summary().1.blksize) + DATA_HEADER_LEN + 1).max(600);
    let mut out = Batch::with_capacity(datagram);
    let mut input = Vec::with_capacity(datagram);
    let mut spinner = Spinner::default();
    loop {
        let now = Instant::now();
        transmit(&mut machine, now, &mut out, &mut |datagrams, segment| link.send_segments(datagrams, segment));
        progress.set_bytes(machine.summary().0.bytes);
        if machine.outcome().is_some() && machine.is_done(now) {
            break;
        }
        if cancel.is_cancelled() {
            if machine.outcome().is_some() {
                break;
            }
            machine.abort(ErrorCode::NotDefined, "the server is shutting down".to_owned());
            continue;
        }
        let deadline = machine.poll_timeout();
        let wait = deadline.map_or(SLICE, |at| at.saturating_duration_since(now).min(SLICE));
        let waited = Instant::now();
        let received = link.recv(&mut input, datagram, spinner.next(SPIN), wait);
        spinner.observe(waited.elapsed(), matches!(received, Ok(true)));
        match received {
            Ok(true) => machine.handle(Instant::now(), &input),
            Ok(false) => machine.handle_timeout(Instant::now()),
            Err(error) => machine.abort(ErrorCode::NotDefined, format!("network error: {error}")),
        }
    }
    pumped(&machine, started)
}
