//! `tftp_sender`: a [`Sender`] driven by an arbitrary sequence of steps, checked against a model
//! of the rules in `crates/tftp/src/sender.rs`.
//!
//! The model holds what the rules determine: the acknowledged block, the next block to send,
//! the rewind and tail-probe bookkeeping, the retransmission count. What depends on the
//! round-trip estimator (when a timer fires, whether a tail-loss probe is armed) is read from
//! the sender's observable counters instead: a call of `handle_timeout` that counted a timeout
//! rewinds to the block after the acknowledged one; one that did not may make a tail-loss probe
//! due, and the next transmission may then be that probe (the last block sent, again).

use std::collections::BTreeMap;
use std::time::Duration;

use arbitrary::{Result, Unstructured};
use lifeboat_tftp::{ErrorCode, Outcome, Packet, Sender, TftpOption, Timing, TransferError, TransferParams, Transmit};

use crate::clock::Clock;

/// Most steps of one input.
const MAX_STEPS: usize = 300;
/// Most DATA packets one input may make the sender emit. Rolling block numbers over would take
/// 65,536 and tens of milliseconds per input under the sanitizer; the core's own tests cover
/// rollover (`crates/tftp/tests/transfers.rs`).
const MAX_DATA: u64 = 20_000;

/// How the sender is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    pub blksize: u16,
    pub windowsize: u16,
    /// The negotiated `timeout` in seconds; 0 is none.
    pub timeout: u8,
    pub len: u64,
    /// Start with an OACK and wait for ACK 0.
    pub oack: bool,
    pub max_retries: u8,
}

/// What the peer or the driver does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The fake clock moves on.
    Advance {
        micros: u32,
    },
    /// ACK of the block `ahead` blocks past the acknowledged one (0 repeats it).
    AckAhead {
        ahead: u16,
    },
    /// ACK with any block number.
    AckRaw {
        block: u16,
    },
    Error {
        code: u16,
    },
    /// A packet the sender must ignore: DATA, OACK, RRQ or WRQ.
    Stray {
        kind: u8,
    },
    /// `poll_transmit` until `None`.
    Drain,
    /// `handle_timeout`, at the deadline plus `extra_micros` when `jump`, else now.
    Timeout {
        jump: bool,
        extra_micros: u16,
    },
    /// The driver gives up (a read failed).
    Abort,
    /// `windows` rounds of: drain, then ACK of everything sent.
    Cruise {
        windows: u16,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub setup: Setup,
    pub steps: Vec<Step>,
}

pub fn run(data: &[u8]) {
    let Ok(input) = Input::decode(&mut Unstructured::new(data)) else { return };
    let mut harness = Harness::new(&input.setup);
    for step in &input.steps {
        if !harness.step(step) {
            break;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingOackAck { oack_pending: bool },
    Sending,
    Done,
}

struct Harness {
    sender: Sender,
    clock: Clock,
    blksize: u64,
    window: u64,
    len: u64,
    last_block: u64,
    phase: Phase,
    acked: u64,
    next: u64,
    rewound_at: Option<u64>,
    probed: Vec<u64>,
    /// A `handle_timeout` may have made a tail-loss probe due.
    probe_possible: bool,
    retransmits: u64,
    /// `stats().retransmits` when each unacknowledged block was last sent.
    sent: BTreeMap<u64, u64>,
    /// An ERROR is owed to the peer after `abort`.
    error_owed: bool,
    data_sent: u64,
}

impl Harness {
    fn new(setup: &Setup) -> Harness {
        let params = TransferParams {
            blksize: setup.blksize,
            windowsize: setup.windowsize,
            timeout: (setup.timeout > 0).then(|| Duration::from_secs(setup.timeout.into())),
        };
        let timing = Timing { max_retries: setup.max_retries.into(), ..Timing::default() };
        let oack = setup.oack.then(|| Packet::OptionAck(vec![TftpOption::new("blksize", setup.blksize.to_string())]));
        let blksize = u64::from(setup.blksize);
        Harness {
            sender: Sender::new(params, setup.len, oack, &timing),
            clock: Clock::new(),
            blksize,
            window: u64::from(setup.windowsize),
            len: setup.len,
            last_block: setup.len / blksize + 1,
            phase: if setup.oack { Phase::AwaitingOackAck { oack_pending: true } } else { Phase::Sending },
            acked: 0,
            next: 1,
            rewound_at: None,
            probed: Vec::new(),
            probe_possible: false,
            retransmits: 0,
            sent: BTreeMap::new(),
            error_owed: false,
            data_sent: 0,
        }
    }

    /// Runs one step; false when the input's budget is spent.
    fn step(&mut self, step: &Step) -> bool {
        match *step {
            Step::Advance { micros } => self.clock.advance(Duration::from_micros(micros.into())),
            Step::AckAhead { ahead } => {
                let block = wire(self.acked + u64::from(ahead));
                self.feed(&Packet::Ack { block });
            }
            Step::AckRaw { block } => self.feed(&Packet::Ack { block }),
            Step::Error { code } => self.feed(&Packet::error(ErrorCode::from_u16(code), "peer")),
            Step::Stray { kind } => {
                let packet = stray(kind, wire(self.acked + 1));
                self.feed(&packet);
            }
            Step::Drain => return self.drain(),
            Step::Timeout { jump, extra_micros } => self.timeout(jump, extra_micros),
            Step::Abort => {
                if self.phase != Phase::Done {
                    self.sender.abort(ErrorCode::NotDefined, "read failed");
                    self.phase = Phase::Done;
                    self.error_owed = true;
                    assert!(matches!(self.sender.outcome(), Some(Outcome::Failed(TransferError::Aborted { .. }))));
                }
            }
            Step::Cruise { windows } => {
                for _ in 0..windows {
                    if !self.drain() {
                        return false;
                    }
                    self.clock.advance(Duration::from_micros(100));
                    match self.phase {
                        Phase::Sending if self.next - 1 > self.acked => {
                            self.feed(&Packet::Ack { block: wire(self.next - 1) });
                        }
                        Phase::AwaitingOackAck { .. } => self.feed(&Packet::Ack { block: 0 }),
                        _ => break,
                    }
                }
            }
        }
        true
    }

    /// Feeds a packet from the peer and applies the rules to the model.
    fn feed(&mut self, packet: &Packet<'_>) {
        let before = self.sender.stats();
        self.sender.handle(self.clock.now(), packet);
        let mut expect_bytes = before.bytes;
        match (self.phase, packet) {
            (Phase::Done, _) => {}
            (Phase::AwaitingOackAck { .. }, Packet::Ack { block: 0 }) => {
                self.phase = Phase::Sending;
                self.probe_possible = false;
            }
            (Phase::AwaitingOackAck { .. }, Packet::Error { code: ErrorCode::OptionsRefused, .. }) => {
                assert_eq!(self.sender.outcome(), Some(&Outcome::OptionsDeclined), "ERROR 8 answers the OACK");
                self.phase = Phase::Done;
            }
            (_, Packet::Error { code, .. }) => {
                let outcome = self.sender.outcome();
                assert!(
                    matches!(outcome, Some(Outcome::Failed(TransferError::Peer { code: c, .. })) if c == code),
                    "a peer's ERROR ends the transfer: {outcome:?}"
                );
                self.phase = Phase::Done;
            }
            (Phase::Sending, Packet::Ack { block }) => {
                self.on_ack(*block);
                expect_bytes = acked_bytes(self.acked, self.blksize, self.len);
            }
            _ => {}
        }
        if self.phase != Phase::Done {
            assert_eq!(self.sender.outcome(), None, "outcome after {packet:?}");
        }
        let stats = self.sender.stats();
        assert_eq!(stats.bytes, expect_bytes, "acknowledged bytes after {packet:?} (acked block {})", self.acked);
        assert_eq!(stats.retransmits, self.retransmits, "retransmissions after {packet:?}");
    }

    fn on_ack(&mut self, block: u16) {
        let distance = u64::from(block.wrapping_sub(wire(self.acked)));
        let highest = self.next - 1;
        if distance > highest - self.acked {
            return;
        }
        if distance == 0 {
            if let Some(echo) = self.probed.iter().position(|&p| p == self.acked) {
                self.probed.remove(echo);
            } else if self.window > 1 && highest > self.acked && self.rewound_at != Some(self.acked) {
                self.rewound_at = Some(self.acked);
                self.rewind(self.acked + 1);
            }
            return;
        }
        let index = self.acked + distance;
        self.acked = index;
        self.sent = self.sent.split_off(&(index + 1));
        self.probed.retain(|&p| p >= index);
        self.rewound_at = None;
        self.probe_possible = false;
        if index == self.last_block {
            assert_eq!(self.sender.outcome(), Some(&Outcome::Complete), "the last block is acknowledged");
            self.phase = Phase::Done;
        } else if index < highest {
            self.rewound_at = Some(index);
            self.rewind(index + 1);
        }
    }

    fn rewind(&mut self, to: u64) {
        self.retransmits += self.next.saturating_sub(to);
        self.next = to;
        self.probe_possible = false;
    }

    /// `poll_transmit` until `None`, checking each transmission; false when the budget is spent.
    fn drain(&mut self) -> bool {
        while let Some(transmit) = self.sender.poll_transmit(self.clock.now()) {
            match transmit {
                Transmit::Data { block, offset, len } => {
                    self.on_data(block, offset, len);
                    self.data_sent += 1;
                    if self.data_sent > MAX_DATA {
                        return false;
                    }
                }
                Transmit::Packet(Packet::OptionAck(_)) => {
                    assert_eq!(
                        self.phase,
                        Phase::AwaitingOackAck { oack_pending: true },
                        "an OACK left when none was due (outcome {:?})",
                        self.sender.outcome()
                    );
                    self.phase = Phase::AwaitingOackAck { oack_pending: false };
                }
                Transmit::Packet(Packet::Error { .. }) => {
                    assert!(self.error_owed, "an ERROR left that nobody asked for");
                    self.error_owed = false;
                }
                Transmit::Packet(other) => panic!("a sender sent {other:?}"),
            }
            if self.phase == Phase::Sending {
                // poll_transmit looks at a due probe first: whatever it returned, none is due now.
                self.probe_possible = false;
            }
        }
        match self.phase {
            Phase::Sending => {
                self.probe_possible = false;
                let end = self.last_block.min(self.acked + self.window);
                assert_eq!(self.next - 1, end, "after a drain everything up to block {end} is sent");
            }
            Phase::AwaitingOackAck { oack_pending } => assert!(!oack_pending, "the OACK did not leave"),
            Phase::Done => assert!(!self.error_owed, "the ERROR of abort() did not leave"),
        }
        if self.phase != Phase::Done {
            assert!(self.sender.poll_timeout().is_some(), "no timer armed while the transfer runs");
        }
        true
    }

    fn on_data(&mut self, block: u16, offset: u64, len: usize) {
        assert_eq!(self.phase, Phase::Sending, "DATA {block} left outside the sending phase");
        assert_eq!(offset % self.blksize, 0, "offset {offset} is not at a block boundary");
        assert!(offset <= self.len, "offset {offset} past the end of the file ({})", self.len);
        let index = offset / self.blksize + 1;
        assert_eq!(block, wire(index), "block number of index {index}");
        assert_eq!(len as u64, (self.len - offset).min(self.blksize), "length of block {index}");
        if index == self.next {
            self.next += 1;
        } else if index + 1 == self.next && self.probe_possible {
            self.retransmits += 1;
            self.probed.push(index);
        } else {
            panic!(
                "block {index} sent; expected {} (acked {}, probe possible {})",
                self.next, self.acked, self.probe_possible
            );
        }
        assert!(
            index > self.acked && index <= self.acked + self.window && index <= self.last_block,
            "block {index} outside the window {}..={} of a {}-block file",
            self.acked + 1,
            self.acked + self.window,
            self.last_block
        );
        let retransmits = self.sender.stats().retransmits;
        assert_eq!(retransmits, self.retransmits, "retransmission count after block {index}");
        if let Some(previous) = self.sent.insert(index, retransmits) {
            assert!(retransmits > previous, "block {index} sent twice without counting a retransmission");
        }
    }

    fn timeout(&mut self, jump: bool, extra_micros: u16) {
        let due = self.sender.poll_timeout();
        if let (true, Some(at)) = (jump, due) {
            self.clock.advance_to(at + Duration::from_micros(extra_micros.into()));
        }
        let now = self.clock.now();
        let before = self.sender.stats();
        self.sender.handle_timeout(now);
        let after = self.sender.stats();
        if due.is_none_or(|at| now < at) {
            assert_eq!(after, before, "handle_timeout before its deadline changed something");
            assert_eq!(
                self.sender.outcome().is_some(),
                self.phase == Phase::Done,
                "handle_timeout before the deadline"
            );
            return;
        }
        assert!(after.timeouts - before.timeouts <= 1, "one call, at most one timeout");
        if self.phase == Phase::Done {
            assert_eq!(after, before, "handle_timeout after the outcome changed something");
            return;
        }
        if let Some(outcome) = self.sender.outcome() {
            assert!(crate::ended_by_timer(outcome), "a timer ended the transfer with {outcome:?}");
            self.phase = Phase::Done;
            return;
        }
        match (after.timeouts > before.timeouts, self.phase) {
            (true, Phase::AwaitingOackAck { .. }) => self.phase = Phase::AwaitingOackAck { oack_pending: true },
            (true, _) => self.rewind(self.acked + 1),
            (false, Phase::Sending) => self.probe_possible = self.window > 1,
            (false, _) => {}
        }
        assert_eq!(after.retransmits, self.retransmits, "retransmissions after a timeout");
    }
}

/// A packet a sender ignores: DATA, OACK, RRQ or WRQ.
fn stray(kind: u8, block: u16) -> Packet<'static> {
    match kind % 4 {
        0 => Packet::Data { block, data: vec![kind; usize::from(kind)].into() },
        1 => Packet::OptionAck(vec![TftpOption::new("blksize", "512")]),
        2 => Packet::ReadRequest(crate::encoding::request("again.bin")),
        _ => Packet::WriteRequest(crate::encoding::request("again.bin")),
    }
}

fn wire(index: u64) -> u16 {
    (index & 0xffff) as u16
}

/// Bytes in blocks 1..=acked.
fn acked_bytes(acked: u64, blksize: u64, len: u64) -> u64 {
    acked.saturating_mul(blksize).min(len)
}

impl Input {
    /// Layout: blksize (u16, 8 + v % 65457), windowsize (u16, 1 + v % 65535), timeout (u8),
    /// length (u8 width selector 0..=3, then a u8/u16/u32/u64), flags (u8: bit 0 OACK, bits
    /// 1..=4 max_retries), then steps (a u8 tag and its fields) until the bytes run out.
    pub fn decode(u: &mut Unstructured<'_>) -> Result<Input> {
        let blksize = 8 + u.arbitrary::<u16>()? % 65457;
        let windowsize = 1 + u.arbitrary::<u16>()? % 65535;
        let timeout = u.arbitrary()?;
        let len = crate::encoding::sized_u64(u)?;
        let flags = u.arbitrary::<u8>()?;
        let setup = Setup { blksize, windowsize, timeout, len, oack: flags & 1 == 1, max_retries: (flags >> 1) % 9 };
        let mut steps = Vec::new();
        while !u.is_empty() && steps.len() < MAX_STEPS {
            steps.push(match u.arbitrary::<u8>()? % 10 {
                0 => Step::Advance { micros: u.arbitrary()? },
                1 => Step::AckAhead { ahead: u.arbitrary()? },
                2 => Step::AckRaw { block: u.arbitrary()? },
                3 => Step::Error { code: u.arbitrary()? },
                4 => Step::Stray { kind: u.arbitrary()? },
                5 => Step::Drain,
                6 => Step::Timeout { jump: u.arbitrary::<u8>()? & 1 == 1, extra_micros: u.arbitrary()? },
                7 => Step::Abort,
                8 => Step::Cruise { windows: u.arbitrary()? },
                _ => Step::AckAhead { ahead: u16::from(u.arbitrary::<u8>()? % 4) },
            });
        }
        Ok(Input { setup, steps })
    }

    pub fn encode(&self) -> Vec<u8> {
        let s = &self.setup;
        let mut out = Vec::new();
        out.extend((s.blksize - 8).to_le_bytes());
        out.extend((s.windowsize - 1).to_le_bytes());
        out.push(s.timeout);
        crate::encoding::put_sized_u64(&mut out, s.len);
        out.push(u8::from(s.oack) | s.max_retries << 1);
        for step in &self.steps {
            match *step {
                Step::Advance { micros } => crate::encoding::put(&mut out, 0, &micros.to_le_bytes()),
                Step::AckAhead { ahead } => crate::encoding::put(&mut out, 1, &ahead.to_le_bytes()),
                Step::AckRaw { block } => crate::encoding::put(&mut out, 2, &block.to_le_bytes()),
                Step::Error { code } => crate::encoding::put(&mut out, 3, &code.to_le_bytes()),
                Step::Stray { kind } => crate::encoding::put(&mut out, 4, &[kind]),
                Step::Drain => out.push(5),
                Step::Timeout { jump, extra_micros } => {
                    crate::encoding::put(&mut out, 6, &[u8::from(jump)]);
                    out.extend(extra_micros.to_le_bytes());
                }
                Step::Abort => out.push(7),
                Step::Cruise { windows } => crate::encoding::put(&mut out, 8, &windows.to_le_bytes()),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_reads_back() {
        let input = Input {
            setup: Setup { blksize: 1468, windowsize: 4, timeout: 5, len: 100_000, oack: true, max_retries: 8 },
            steps: vec![
                Step::Drain,
                Step::AckAhead { ahead: 0 },
                Step::Drain,
                Step::Advance { micros: 300 },
                Step::AckRaw { block: 3 },
                Step::Timeout { jump: true, extra_micros: 7 },
                Step::Cruise { windows: 40 },
                Step::Stray { kind: 2 },
                Step::Error { code: 8 },
                Step::Abort,
            ],
        };
        assert_eq!(Input::decode(&mut Unstructured::new(&input.encode())).unwrap(), input);
    }

    #[test]
    fn a_clean_lock_step_transfer_passes_the_model() {
        let input = Input {
            setup: Setup { blksize: 512, windowsize: 1, timeout: 0, len: 2000, oack: false, max_retries: 8 },
            steps: vec![Step::Cruise { windows: 10 }],
        };
        run(&input.encode());
    }
}
