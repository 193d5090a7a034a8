//! The receiving side of a transfer: DATA in, ACK out. The server runs it for a write request
//! and the client for `get`.
//!
//! ACK rules (RFC 1350, RFC 7440):
//! - After `windowsize` blocks in order, or after the final (short) block, acknowledge.
//! - A block from beyond a gap is dropped and the last block received in order is acknowledged
//!   once, so the sender resumes right after it.
//! - A repeat of the last block received means the sender missed our ACK: acknowledge again.
//! - With no data for a timeout, the opening packet (before any data) or, with a window, the
//!   last ACK is repeated; in lock-step the sender's retransmission is awaited. After too many
//!   timeouts, or once a budget of silence of [`Timing`] is spent, the transfer fails.
//! - A sender that announced its size (`tsize` of a write request, [`Receiver::expect_len`])
//!   is held to it: more bytes, or a last block before that many, fail the transfer rather
//!   than complete it, and no final ACK tells the sender otherwise.
//!
//! After the final block the receiver still answers a repeat of it (the peer lost the last ACK)
//! for its dally time ([`Receiver::dally`], [`SERVER_DALLY`] for a server; none for a client
//! that exits): [`Receiver::is_done`] says when the driver may drop it.

use std::time::{Duration, Instant};

use crate::options::TransferParams;
use crate::timing::{RetransmitTimer, Silence, Timing};
use crate::transfer::{Outcome, Stats, TransferError, Transmit, wire_block};
use crate::wire::{ErrorCode, Packet};

/// Payload to store: `data` belongs at byte `offset` of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk<'a> {
    pub offset: u64,
    pub data: &'a [u8],
}

/// How long a server's finished receiver keeps answering a repeated final block (its ACK may be
/// lost). Longer than the retransmission timeout of the usual clients: tftp-hpa and atftp send a
/// block again only after 5 s of silence, and one that finds the transfer gone never learns that
/// its upload arrived (a second of dally failed about one tftp-hpa upload in twenty on a link
/// that loses 5 % of packets).
pub const SERVER_DALLY: Duration = Duration::from_secs(6);

/// The receiving state machine. See the module documentation.
#[derive(Debug)]
pub struct Receiver {
    params: TransferParams,
    /// Blocks received in order.
    received: u64,
    /// The packet that acknowledges "nothing yet": OACK or ACK 0 (server), ACK 0 after an OACK
    /// (client), or none when the first DATA came straight after the request.
    opening: Option<Packet<'static>>,
    /// Largest stream accepted, for upload limits.
    max_len: Option<u64>,
    /// The exact length the sender announced, when it is held to it.
    expected_len: Option<u64>,
    outcome: Option<Outcome>,
    pending: Option<Packet<'static>>,
    /// Blocks received since the last ACK.
    since_ack: u16,
    /// The `received` value for which a gap was already reported.
    gap_reported: Option<u64>,
    timer: RetransmitTimer,
    max_retries: u32,
    deadline: Option<Instant>,
    retries: u32,
    silence: Silence,
    stats: Stats,
    /// How long to answer a repeated final block after completing.
    dally: Duration,
    /// Until when it does, once complete.
    dally_until: Option<Instant>,
}

impl Receiver {
    /// Starts receiving. `opening`, if any, is sent at once and repeated until data arrives.
    pub fn new(
        params: TransferParams,
        opening: Option<Packet<'static>>,
        max_len: Option<u64>,
        timing: &Timing,
    ) -> Receiver {
        Receiver {
            params,
            received: 0,
            pending: opening.clone(),
            opening,
            max_len,
            expected_len: None,
            outcome: None,
            since_ack: 0,
            gap_reported: None,
            timer: RetransmitTimer::for_receiver(timing, params.timeout),
            max_retries: timing.max_retries,
            deadline: None,
            retries: 0,
            silence: Silence::new(timing),
            stats: Stats::default(),
            dally: Duration::ZERO,
            dally_until: None,
        }
    }

    /// After completing, keep answering a repeat of the final block for `time`: the peer may
    /// not have heard the last ACK. A server dallies ([`SERVER_DALLY`]); a client that exits
    /// right after its download does not.
    pub fn dally(mut self, time: Duration) -> Receiver {
        self.dally = time;
        self
    }

    /// Whether the driver may drop the receiver: it has its outcome and, after a complete
    /// transfer, its dally time is over.
    pub fn is_done(&self, now: Instant) -> bool {
        self.outcome.is_some() && self.dally_until.is_none_or(|until| now >= until)
    }

    /// Holds the sender to the `len` bytes it announced: a stream that ends shorter or runs
    /// longer fails (ERROR 4) instead of completing.
    pub fn expect_len(mut self, len: u64) -> Receiver {
        self.expected_len = Some(len);
        self
    }

    pub fn params(&self) -> TransferParams {
        self.params
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.outcome.is_some() {
            // Nothing to retransmit; the end of the dally is the only time left.
            return self.dally_until;
        }
        [self.deadline, self.silence.deadline()].into_iter().flatten().min()
    }

    /// The next packet to send, if any.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        let packet = self.pending.take()?;
        if self.outcome.is_none() {
            self.deadline = Some(now + self.timer.timeout());
            self.silence.start(now);
        }
        Some(Transmit::Packet(packet))
    }

    /// Feeds a packet from the peer's transfer ID. Returns the payload to store, if the packet
    /// carried the next block in order.
    pub fn handle<'a>(&mut self, now: Instant, packet: &'a Packet<'a>) -> Option<Chunk<'a>> {
        match packet {
            Packet::Data { block, data } => self.on_data(now, *block, data),
            Packet::Error { code, message } if self.outcome.is_none() => {
                self.fail(TransferError::from_peer(*code, message));
                None
            }
            _ => None,
        }
    }

    fn on_data<'a>(&mut self, now: Instant, block: u16, data: &'a [u8]) -> Option<Chunk<'a>> {
        if let Some(outcome) = &self.outcome {
            // Dallying: the peer repeats the final block because our last ACK was lost.
            if *outcome == Outcome::Complete && block == wire_block(self.received) {
                self.pending = Some(Packet::Ack { block });
                self.stats.retransmits += 1;
            }
            return None;
        }
        if block != wire_block(self.received + 1) {
            let repeat_of_last = block == wire_block(self.received);
            let gap = !repeat_of_last && self.gap_reported != Some(self.received);
            if repeat_of_last || gap {
                self.gap_reported = Some(self.received);
                self.acknowledge_received();
                self.stats.retransmits += 1;
            }
            return None;
        }
        if data.len() > usize::from(self.params.blksize) {
            self.abort(
                ErrorCode::IllegalOperation,
                format!("block {block} is larger than the negotiated {} bytes", self.params.blksize),
            );
            return None;
        }
        let offset = self.stats.bytes;
        let end = offset + data.len() as u64;
        if let Some(max) = self.max_len
            && end > max
        {
            self.abort(ErrorCode::DiskFull, format!("the file is larger than the limit of {max} bytes"));
            return None;
        }
        let last = data.len() < usize::from(self.params.blksize);
        if let Some(expected) = self.expected_len
            && (end > expected || (last && end < expected))
        {
            let message = if end > expected {
                format!("more data than the {expected} bytes announced (tsize)")
            } else {
                format!("the data ended after {end} bytes, but {expected} were announced (tsize)")
            };
            self.abort(ErrorCode::IllegalOperation, message);
            return None;
        }
        self.received += 1;
        self.stats.bytes = end;
        self.since_ack += 1;
        self.retries = 0;
        self.timer.on_progress();
        self.silence.progress(now);
        self.deadline = Some(now + self.timer.timeout());
        if last {
            self.outcome = Some(Outcome::Complete);
            self.dally_until = (!self.dally.is_zero()).then(|| now + self.dally);
            self.acknowledge_received();
        } else if self.since_ack >= self.params.windowsize.max(1) {
            self.acknowledge_received();
        }
        Some(Chunk { offset, data })
    }

    /// Fires the timer: repeat the last ACK, or give up.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.outcome.is_some() {
            // The dally is over: done, and no more timers.
            if self.dally_until.is_some_and(|until| now >= until) {
                self.dally_until = None;
            }
            return;
        }
        if let Some(spent) = self.silence.spent(now) {
            let waited = spent.waited;
            let error = if spent.answered {
                TransferError::WentSilent { waited }
            } else {
                TransferError::NeverAnswered { waited }
            };
            self.fail(error);
            return;
        }
        match self.deadline {
            Some(deadline) if now >= deadline => {}
            _ => return,
        }
        self.deadline = None;
        self.retries += 1;
        self.stats.timeouts += 1;
        if self.retries > self.max_retries {
            self.fail(TransferError::TimedOut { retries: self.max_retries });
            return;
        }
        self.timer.on_timeout();
        // In lock-step the sender's own timeout repeats the block, and our duplicate ACK answers
        // it; repeating ACKs unasked only restarts such a sender's wait (tftp-hpa's client
        // resends only after 5 s of silence). The opening packet and windowed ACKs are repeated.
        if self.received == 0 || self.params.windowsize > 1 {
            self.acknowledge_received();
        }
        self.deadline = Some(now + self.timer.timeout());
        // A timeout ends the wait for the rest of a window: report any gap afresh.
        self.gap_reported = None;
    }

    /// Ends the transfer without a word to the peer: nothing queued leaves any more.
    fn fail(&mut self, error: TransferError) {
        self.pending = None;
        self.outcome = Some(Outcome::Failed(error));
        self.dally_until = None;
    }

    /// Stops the transfer with an ERROR to the peer (disk full, for example).
    pub fn abort(&mut self, code: ErrorCode, message: impl Into<String>) {
        let message = message.into();
        self.pending = Some(Packet::error(code, message.clone()));
        self.outcome = Some(Outcome::Failed(TransferError::Aborted { code, message }));
        // Aborted after the last block (the file could not be stored): nothing to repeat.
        self.dally_until = None;
    }

    fn acknowledge_received(&mut self) {
        self.since_ack = 0;
        self.pending = match (&self.opening, self.received) {
            (Some(opening), 0) => Some(opening.clone()),
            (None, 0) => None,
            (_, received) => Some(Packet::Ack { block: wire_block(received) }),
        };
    }
}
