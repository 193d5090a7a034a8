//! The sending side of a transfer: DATA out, ACK in. The server runs it for a read request and
//! the client for `put`.
//!
//! Blocks are counted with a 64-bit index from 1; the wire number is the index modulo 65536, so
//! files of any size roll over cleanly. A window of `windowsize` blocks is in flight at once
//! (RFC 7440; 1 is RFC 1350 lock-step).
//!
//! Retransmission rules:
//! - On timeout, everything after the last acknowledged block is sent again.
//! - An ACK inside the window that is not its last block means the receiver missed the next
//!   block: sending resumes right after it, without waiting for the timeout.
//! - A duplicate ACK never causes a send in lock-step (the Sorcerer's Apprentice bug of
//!   RFC 1350). With a window it rewinds at most once per acknowledged block, since RFC 7440
//!   receivers repeat the last ACK when the first block of a window went missing.
//! - A window whose last block is lost gets no ACK at all: the receiver waits for that block.
//!   So when no ACK has come two round trips after a window's last block, that block alone is
//!   sent once more (a tail-loss probe, as TCP does in RFC 8985). A receiver that missed only
//!   that block completes the window; one that missed more acknowledges the gap, and sending
//!   resumes there. Without it, each such loss cost a full retransmission timeout (200 ms or
//!   more): atftp, whose receive buffer holds only 15 blocks of 8192 bytes, lost the last
//!   block of about one window in ten and fell from 300 to 9 MB/s. When the ACK was only
//!   late, the receiver acknowledges the probed block a second time; that one repeated ACK
//!   is the probe's answer, not a lost first block of the next window, and rewinds nothing.
//! - Whatever the timers say, the transfer fails when no first ACK came within
//!   [`Timing::first_answer`], or no progress within [`Timing::max_silence`].

use std::time::{Duration, Instant};

use crate::options::TransferParams;
use crate::timing::{RetransmitTimer, Silence, Timing};
use crate::transfer::{Outcome, Stats, TransferError, Transmit, wire_block};
use crate::wire::{ErrorCode, Packet};

#[derive(Debug)]
enum Phase {
    /// Our OACK is out; waiting for ACK 0.
    AwaitingOackAck(Packet<'static>),
    Sending,
    Done(Outcome),
}

/// The sending state machine. See the module documentation.
#[derive(Debug)]
pub struct Sender {
    params: TransferParams,
    len: u64,
    /// Index of the final block, which holds fewer than `blksize` bytes (possibly none).
    last_block: u64,
    /// Highest block index acknowledged; 0 before any.
    acked: u64,
    /// Next block index to transmit.
    next: u64,
    phase: Phase,
    /// A control packet waiting to go out (OACK or ERROR).
    control: Option<Packet<'static>>,
    timer: RetransmitTimer,
    max_retries: u32,
    deadline: Option<Instant>,
    retries: u32,
    silence: Silence,
    /// The `acked` value at which a duplicate ACK already triggered a rewind.
    rewound_at: Option<u64>,
    /// A block sent once whose ACK gives a round-trip sample: (index, sent at).
    timed: Option<(u64, Instant)>,
    /// When to resend the last block of a window that got no ACK (see the module docs).
    tail_probe_at: Option<Instant>,
    /// The tail-loss probe is to go out with the next transmission.
    tail_probe_due: bool,
    /// Blocks sent as tail-loss probes and not yet passed by the acknowledged block. A
    /// receiver that already had one acknowledges it twice; the second ACK, whichever comes
    /// last, answers the probe and must not rewind the next window.
    probed: Vec<u64>,
    stats: Stats,
}

impl Sender {
    /// Starts sending `len` bytes. With an `oack`, it is sent first and data waits for ACK 0;
    /// without, block 1 goes out at once.
    pub fn new(params: TransferParams, len: u64, oack: Option<Packet<'static>>, timing: &Timing) -> Sender {
        let blksize = u64::from(params.blksize.max(1));
        let phase = match &oack {
            Some(oack) => Phase::AwaitingOackAck(oack.clone()),
            None => Phase::Sending,
        };
        Sender {
            params,
            len,
            last_block: len / blksize + 1,
            acked: 0,
            next: 1,
            phase,
            control: oack,
            timer: RetransmitTimer::new(timing, params.timeout),
            max_retries: timing.max_retries,
            deadline: None,
            retries: 0,
            silence: Silence::new(timing),
            rewound_at: None,
            timed: None,
            tail_probe_at: None,
            tail_probe_due: false,
            probed: Vec::new(),
            stats: Stats::default(),
        }
    }

    pub fn params(&self) -> TransferParams {
        self.params
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// How the transfer ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.phase {
            Phase::Done(outcome) => Some(outcome),
            _ => None,
        }
    }

    /// When [`Sender::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Done(_) => None,
            _ => [self.deadline, self.tail_probe_at, self.silence.deadline()].into_iter().flatten().min(),
        }
    }

    /// The next packet to send, if any. Call until it returns `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if let Some(packet) = self.control.take() {
            self.arm(now);
            return Some(Transmit::Packet(packet));
        }
        if !matches!(self.phase, Phase::Sending) {
            return None;
        }
        if self.tail_probe_due {
            self.tail_probe_due = false;
            let index = self.next - 1;
            self.probed.push(index);
            self.stats.retransmits += 1;
            // Karn's rule: an ACK after a block sent twice says nothing about the round trip.
            self.timed = None;
            return Some(self.data(index));
        }
        let window_end = self.acked + u64::from(self.params.windowsize.max(1));
        if self.next > self.last_block || self.next > window_end {
            return None;
        }
        let index = self.next;
        self.next += 1;
        if self.timed.is_none() {
            self.timed = Some((index, now));
        }
        self.arm(now);
        if self.params.windowsize > 1 && (index == window_end || index == self.last_block) {
            self.tail_probe_at = self.timer.tail_probe_timeout().map(|wait| now + wait);
        }
        Some(self.data(index))
    }

    fn data(&self, index: u64) -> Transmit {
        let blksize = u64::from(self.params.blksize);
        let offset = (index - 1) * blksize;
        let len = (self.len - offset).min(blksize) as usize;
        Transmit::Data { block: wire_block(index), offset, len }
    }

    /// Feeds a packet that arrived from the peer's transfer ID.
    pub fn handle(&mut self, now: Instant, packet: &Packet<'_>) {
        match (&self.phase, packet) {
            (Phase::Done(_), _) => {}
            (Phase::AwaitingOackAck(_), Packet::Ack { block: 0 }) => {
                // A repeat of the OACK still queued (after a timeout) is answered already.
                self.control = None;
                self.phase = Phase::Sending;
                self.progress(now);
            }
            (Phase::AwaitingOackAck(_), Packet::Error { code: ErrorCode::OptionsRefused, .. }) => {
                self.finish(Outcome::OptionsDeclined);
            }
            (Phase::Sending, Packet::Ack { block }) => self.on_ack(now, *block),
            (_, Packet::Error { code, message }) => {
                self.finish(Outcome::Failed(TransferError::from_peer(*code, message)));
            }
            // Stray requests, data or OACKs from the peer do not disturb the transfer.
            _ => {}
        }
    }

    /// Fires the tail-loss probe or the retransmission timer if its deadline has passed, and
    /// ends the transfer once a budget of silence is spent.
    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Done(_)) {
            return;
        }
        if let Some(spent) = self.silence.spent(now) {
            let error = match (spent.answered, self.next > self.last_block) {
                (false, _) => TransferError::NeverAnswered { waited: spent.waited },
                (true, true) => TransferError::LastAckMissing { retries: self.retries },
                (true, false) => TransferError::WentSilent { waited: spent.waited },
            };
            self.finish(Outcome::Failed(error));
            return;
        }
        if self.tail_probe_at.is_some_and(|at| now >= at) && matches!(self.phase, Phase::Sending) {
            self.tail_probe_at = None;
            self.tail_probe_due = true;
        }
        match self.deadline {
            Some(deadline) if now >= deadline && !matches!(self.phase, Phase::Done(_)) => {}
            _ => return,
        }
        self.deadline = None;
        self.retries += 1;
        self.stats.timeouts += 1;
        if self.retries > self.max_retries {
            let retries = self.max_retries;
            // Clients may exit right after their final ACK (RFC 1350 allows it); if that ACK
            // is lost, say so rather than call the peer dead.
            let error = if self.next > self.last_block {
                TransferError::LastAckMissing { retries }
            } else {
                TransferError::TimedOut { retries }
            };
            self.finish(Outcome::Failed(error));
            return;
        }
        self.timer.on_timeout();
        self.timed = None;
        match &self.phase {
            Phase::AwaitingOackAck(oack) => self.control = Some(oack.clone()),
            _ => self.rewind_to(self.acked + 1),
        }
    }

    /// Ends the transfer without a word to the peer: nothing queued leaves any more.
    fn finish(&mut self, outcome: Outcome) {
        self.control = None;
        self.phase = Phase::Done(outcome);
    }

    /// Stops the transfer with an ERROR to the peer (a local read failure, for example).
    pub fn abort(&mut self, code: ErrorCode, message: impl Into<String>) {
        let message = message.into();
        self.control = Some(Packet::error(code, message.clone()));
        self.phase = Phase::Done(Outcome::Failed(TransferError::Aborted { code, message }));
    }

    fn on_ack(&mut self, now: Instant, block: u16) {
        // Only indices from `acked` to the last one sent can be acknowledged; with at most
        // 65535 blocks in flight the wire number maps to exactly one of them.
        let distance = u64::from(block.wrapping_sub(wire_block(self.acked)));
        let highest_sent = self.next - 1;
        if distance > highest_sent - self.acked {
            return;
        }
        if distance == 0 {
            if let Some(echo) = self.probed.iter().position(|&probed| probed == self.acked) {
                self.probed.remove(echo);
                return;
            }
            let outstanding = highest_sent > self.acked;
            if self.params.windowsize > 1 && outstanding && self.rewound_at != Some(self.acked) {
                self.rewound_at = Some(self.acked);
                self.rewind_to(self.acked + 1);
            }
            return;
        }
        let index = self.acked + distance;
        let newly_acked = (self.acked + 1..=index).map(|i| self.block_len(i)).sum::<u64>();
        self.stats.bytes += newly_acked;
        self.acked = index;
        self.probed.retain(|&probed| probed >= index);
        self.rewound_at = None;
        if let Some((timed, sent)) = self.timed
            && timed <= index
        {
            self.timer.on_sample(now.saturating_duration_since(sent));
            self.timed = None;
        }
        self.progress(now);
        if self.acked == self.last_block {
            self.finish(Outcome::Complete);
        } else if index < highest_sent {
            // The receiver's ACK ends the window early: block `index + 1` went missing.
            self.rewound_at = Some(index);
            self.rewind_to(index + 1);
        }
    }

    fn block_len(&self, index: u64) -> u64 {
        let blksize = u64::from(self.params.blksize);
        (self.len - (index - 1) * blksize).min(blksize)
    }

    fn rewind_to(&mut self, index: u64) {
        self.stats.retransmits += self.next.saturating_sub(index);
        self.next = index;
        self.timed = None;
        self.cancel_tail_probe();
    }

    fn progress(&mut self, now: Instant) {
        self.silence.progress(now);
        self.retries = 0;
        self.timer.on_progress();
        self.deadline = None;
        self.cancel_tail_probe();
    }

    fn cancel_tail_probe(&mut self) {
        self.tail_probe_at = None;
        self.tail_probe_due = false;
    }

    fn arm(&mut self, now: Instant) {
        self.silence.start(now);
        if self.deadline.is_none() {
            self.deadline = Some(now + self.timer.timeout());
        }
    }

    /// The current retransmission timeout, for logs.
    pub fn current_timeout(&self) -> Duration {
        self.timer.timeout()
    }
}
