//! `tftp_receiver`: a [`Receiver`] fed arbitrary DATA, ERROR and stray packets and timeouts,
//! checked against a model of the rules in `crates/tftp/src/receiver.rs`.
//!
//! The model predicts every chunk handed out and the one packet waiting to leave; when a timer
//! fires is read from `stats().timeouts` and `outcome()`.

use std::time::Duration;

use arbitrary::{Result, Unstructured};
use lifeboat_tftp::{
    ErrorCode, Outcome, Packet, Receiver, TftpOption, Timing, TransferError, TransferParams, Transmit,
};

use crate::clock::Clock;
use crate::encoding::{put, put_sized_u64, sized_u64};

const MAX_STEPS: usize = 300;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    pub blksize: u16,
    pub windowsize: u16,
    /// Negotiated `timeout` in seconds; 0 is none.
    pub timeout: u8,
    /// 0: no opening packet (the client got DATA 1 straight away), 1: ACK 0, 2: an OACK.
    pub opening: u8,
    pub max_len: Option<u64>,
    /// The size the sender announced (`tsize` of a write request), held to with `expect_len`.
    pub expect_len: Option<u64>,
    pub max_retries: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Advance {
        micros: u32,
    },
    /// DATA: `block` picks the number (0 the next, 1 a repeat of the last, 2 `skip` blocks
    /// ahead, 3 `raw`), `size` the length (0 full, 1 `raw % blksize`, 2 over blksize, 3 `raw`).
    Data {
        block: u8,
        skip: u8,
        size: u8,
        raw: u16,
    },
    Error {
        code: u16,
    },
    /// ACK, OACK, RRQ or WRQ: ignored.
    Stray {
        kind: u8,
    },
    Drain,
    Timeout {
        jump: bool,
        extra_micros: u16,
    },
    /// The driver gives up (writing failed).
    Abort,
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
        harness.step(step);
    }
}

/// What the model expects to leave next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Opening,
    Ack(u16),
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Complete,
    Failed,
}

struct Harness {
    receiver: Receiver,
    clock: Clock,
    blksize: usize,
    window: u64,
    opening: Option<Packet<'static>>,
    max_len: Option<u64>,
    expect_len: Option<u64>,
    received: u64,
    bytes: u64,
    since_ack: u64,
    gap_reported: Option<u64>,
    pending: Option<Pending>,
    state: State,
    retransmits: u64,
    /// Packets that left after a failure (at most the one ERROR of an abort may).
    after_failure: u32,
}

impl Harness {
    fn new(setup: &Setup) -> Harness {
        let params = TransferParams {
            blksize: setup.blksize,
            windowsize: setup.windowsize,
            timeout: (setup.timeout > 0).then(|| Duration::from_secs(setup.timeout.into())),
        };
        let timing = Timing { max_retries: setup.max_retries.into(), ..Timing::default() };
        let opening = match setup.opening % 3 {
            0 => None,
            1 => Some(Packet::Ack { block: 0 }),
            _ => Some(Packet::OptionAck(vec![TftpOption::new("blksize", setup.blksize.to_string())])),
        };
        let receiver = Receiver::new(params, opening.clone(), setup.max_len, &timing);
        Harness {
            receiver: match setup.expect_len {
                Some(len) => receiver.expect_len(len),
                None => receiver,
            },
            clock: Clock::new(),
            blksize: usize::from(setup.blksize),
            window: u64::from(setup.windowsize),
            pending: opening.as_ref().map(|_| Pending::Opening),
            opening,
            max_len: setup.max_len,
            expect_len: setup.expect_len,
            received: 0,
            bytes: 0,
            since_ack: 0,
            gap_reported: None,
            state: State::Running,
            retransmits: 0,
            after_failure: 0,
        }
    }

    fn step(&mut self, step: &Step) {
        match *step {
            Step::Advance { micros } => self.clock.advance(Duration::from_micros(micros.into())),
            Step::Data { block, skip, size, raw } => {
                let number = match block % 4 {
                    0 => wire(self.received + 1),
                    1 => wire(self.received),
                    2 => wire(self.received + 2 + u64::from(skip)),
                    _ => raw,
                };
                let len = match size % 4 {
                    0 => self.blksize,
                    1 => usize::from(raw) % self.blksize,
                    2 => self.blksize + 1 + usize::from(skip % 4),
                    _ => usize::from(raw),
                };
                let payload = vec![skip; len];
                self.data(number, &payload);
            }
            Step::Error { code } => {
                let packet = Packet::error(ErrorCode::from_u16(code), "peer");
                assert_eq!(self.receiver.handle(self.clock.now(), &packet), None, "an ERROR carries no data");
                if self.state == State::Running {
                    let outcome = self.receiver.outcome();
                    assert!(matches!(outcome, Some(Outcome::Failed(TransferError::Peer { .. }))), "{outcome:?}");
                    self.state = State::Failed;
                    // The peer ended it: nothing queued before leaves any more.
                    self.pending = None;
                }
            }
            Step::Stray { kind } => {
                let packet = match kind % 4 {
                    0 => Packet::Ack { block: u16::from(kind) },
                    1 => Packet::OptionAck(vec![TftpOption::new("tsize", "1")]),
                    2 => Packet::ReadRequest(crate::encoding::request("again.bin")),
                    _ => Packet::WriteRequest(crate::encoding::request("again.bin")),
                };
                assert_eq!(self.receiver.handle(self.clock.now(), &packet), None, "{packet:?} carries no data");
            }
            Step::Drain => self.drain(),
            Step::Timeout { jump, extra_micros } => self.timeout(jump, extra_micros),
            Step::Abort => {
                if self.state != State::Failed {
                    self.receiver.abort(ErrorCode::DiskFull, "write failed");
                    self.pending = Some(Pending::Error);
                    self.state = State::Failed;
                }
            }
        }
        self.check_state();
    }

    fn data(&mut self, block: u16, payload: &[u8]) {
        let packet = Packet::Data { block, data: payload.into() };
        let chunk = self.receiver.handle(self.clock.now(), &packet).map(|c| (c.offset, c.data.to_vec()));
        let mut expected = None;
        let was_running = self.state == State::Running;
        match self.state {
            State::Failed => {}
            State::Complete => {
                if block == wire(self.received) {
                    self.pending = Some(Pending::Ack(block));
                    self.retransmits += 1;
                }
            }
            State::Running if block != wire(self.received + 1) => {
                let repeat = block == wire(self.received);
                if repeat || self.gap_reported != Some(self.received) {
                    self.gap_reported = Some(self.received);
                    self.acknowledge();
                    self.retransmits += 1;
                }
            }
            State::Running => {
                let end = self.bytes + payload.len() as u64;
                let last = payload.len() < self.blksize;
                let off_size = self.expect_len.is_some_and(|len| end > len || (last && end < len));
                if payload.len() > self.blksize || self.max_len.is_some_and(|max| end > max) || off_size {
                    let outcome = self.receiver.outcome();
                    assert!(matches!(outcome, Some(Outcome::Failed(TransferError::Aborted { .. }))), "{outcome:?}");
                    self.pending = Some(Pending::Error);
                    self.state = State::Failed;
                } else {
                    expected = Some((self.bytes, payload.to_vec()));
                    self.received += 1;
                    self.bytes = end;
                    self.since_ack += 1;
                    if last {
                        self.state = State::Complete;
                        self.acknowledge();
                    } else if self.since_ack >= self.window {
                        self.acknowledge();
                    }
                }
            }
        }
        if let Some((offset, data)) = &chunk {
            let end = offset + data.len() as u64;
            assert!(data.len() <= self.blksize, "a chunk of {} bytes with blksize {}", data.len(), self.blksize);
            assert!(self.max_len.is_none_or(|max| end <= max), "a chunk past max_len");
            assert!(self.expect_len.is_none_or(|len| end <= len), "a chunk past the announced size");
        }
        if was_running && self.receiver.outcome() == Some(&Outcome::Complete) {
            assert!(self.expect_len.is_none_or(|len| self.bytes == len), "complete short of the announced size");
        }
        assert_eq!(chunk, expected, "chunk for DATA {block} of {} bytes", payload.len());
        if was_running && self.receiver.outcome() == Some(&Outcome::Complete) {
            assert!(payload.len() < self.blksize, "complete without a short block");
        }
    }

    /// The receiver's `acknowledge_received`: the opening before any data, else ACK of the last
    /// block in order.
    fn acknowledge(&mut self) {
        self.since_ack = 0;
        self.pending = match (&self.opening, self.received) {
            (Some(_), 0) => Some(Pending::Opening),
            (None, 0) => None,
            (_, received) => Some(Pending::Ack(wire(received))),
        };
    }

    fn drain(&mut self) {
        let now = self.clock.now();
        let expected = self.pending.take();
        let sent = self.receiver.poll_transmit(now);
        let Some(Transmit::Packet(packet)) = sent else {
            assert!(sent.is_none() && expected.is_none(), "sent {sent:?}, expected {expected:?}");
            return self.check_timer();
        };
        match (expected, &packet) {
            (Some(Pending::Opening), p) => assert_eq!(Some(p), self.opening.as_ref(), "the opening packet"),
            (Some(Pending::Ack(want)), Packet::Ack { block }) => assert_eq!(*block, want, "ACK block"),
            (Some(Pending::Error), Packet::Error { .. }) => {}
            _ => panic!("sent {packet:?}, expected {expected:?}"),
        }
        if self.state == State::Failed {
            self.after_failure += 1;
            assert!(
                matches!(packet, Packet::Error { .. }) && self.after_failure == 1,
                "{packet:?} left after the transfer failed ({:?})",
                self.receiver.outcome()
            );
        }
        assert_eq!(self.receiver.poll_transmit(now), None, "one packet waits at most");
        self.check_timer();
    }

    /// A running receiver that has something to wait for has a timer.
    fn check_timer(&self) {
        if self.state == State::Running && (self.opening.is_some() || self.received > 0) {
            assert!(self.receiver.poll_timeout().is_some(), "no timer armed while the transfer runs");
        }
    }

    fn timeout(&mut self, jump: bool, extra_micros: u16) {
        let due = self.receiver.poll_timeout();
        if let (true, Some(at)) = (jump, due) {
            self.clock.advance_to(at + Duration::from_micros(extra_micros.into()));
        }
        let now = self.clock.now();
        let before = self.receiver.stats();
        self.receiver.handle_timeout(now);
        let after = self.receiver.stats();
        if due.is_none_or(|at| now < at) || self.state != State::Running {
            assert_eq!(after, before, "handle_timeout changed something when nothing was due");
            return;
        }
        assert!(after.timeouts - before.timeouts <= 1, "one call, at most one timeout");
        if let Some(outcome) = self.receiver.outcome() {
            assert!(crate::ended_by_timer(outcome), "a timer ended the transfer with {outcome:?}");
            self.state = State::Failed;
            self.pending = None;
        } else if after.timeouts > before.timeouts {
            if self.received == 0 || self.window > 1 {
                self.acknowledge();
            }
            self.gap_reported = None;
        }
    }

    fn check_state(&self) {
        let outcome = self.receiver.outcome();
        match self.state {
            State::Running => assert_eq!(outcome, None),
            State::Complete => assert_eq!(outcome, Some(&Outcome::Complete)),
            State::Failed => assert!(matches!(outcome, Some(Outcome::Failed(_))), "{outcome:?}"),
        }
        let stats = self.receiver.stats();
        assert_eq!(stats.bytes, self.bytes, "bytes received in order");
        assert_eq!(stats.retransmits, self.retransmits, "repeated ACKs");
    }
}

fn wire(index: u64) -> u16 {
    (index & 0xffff) as u16
}

impl Input {
    /// Layout: blksize (u16, 8 + v % 65457), windowsize (u16, 1 + v % 65535), timeout (u8),
    /// opening (u8), a length (u8 role, then a sized u64 unless the role is 0: bit 1 clear,
    /// `max_len`; bit 1 set, the announced size, and with bit 2 also `max_len`), max_retries
    /// (u8, % 9), then steps.
    pub fn decode(u: &mut Unstructured<'_>) -> Result<Input> {
        let blksize = 8 + u.arbitrary::<u16>()? % 65457;
        let windowsize = 1 + u.arbitrary::<u16>()? % 65535;
        let timeout = u.arbitrary()?;
        let opening = u.arbitrary::<u8>()? % 3;
        let (max_len, expect_len) = match u.arbitrary::<u8>()? {
            0 => (None, None),
            role if role & 2 == 0 => (Some(sized_u64(u)?), None),
            role => {
                let len = sized_u64(u)?;
                ((role & 4 != 0).then_some(len), Some(len))
            }
        };
        let max_retries = u.arbitrary::<u8>()? % 9;
        let setup = Setup { blksize, windowsize, timeout, opening, max_len, expect_len, max_retries };
        let mut steps = Vec::new();
        while !u.is_empty() && steps.len() < MAX_STEPS {
            steps.push(match u.arbitrary::<u8>()? % 8 {
                0 => Step::Advance { micros: u.arbitrary()? },
                1 | 7 => Step::Data {
                    block: u.arbitrary()?,
                    skip: u.arbitrary()?,
                    size: u.arbitrary()?,
                    raw: u.arbitrary()?,
                },
                2 => Step::Error { code: u.arbitrary()? },
                3 => Step::Stray { kind: u.arbitrary()? },
                4 => Step::Drain,
                5 => Step::Timeout { jump: u.arbitrary::<u8>()? & 1 == 1, extra_micros: u.arbitrary()? },
                _ => Step::Abort,
            });
        }
        Ok(Input { setup, steps })
    }

    pub fn encode(&self) -> Vec<u8> {
        let s = &self.setup;
        let mut out = Vec::new();
        out.extend((s.blksize - 8).to_le_bytes());
        out.extend((s.windowsize - 1).to_le_bytes());
        out.extend([s.timeout, s.opening]);
        let (role, len) = match (s.max_len, s.expect_len) {
            (None, None) => (0, None),
            (Some(max), None) => (1, Some(max)),
            (None, Some(expected)) => (2, Some(expected)),
            (Some(max), Some(expected)) => {
                assert_eq!(max, expected, "the layout holds one length for both");
                (6, Some(max))
            }
        };
        out.push(role);
        if let Some(len) = len {
            put_sized_u64(&mut out, len);
        }
        out.push(s.max_retries);
        for step in &self.steps {
            match *step {
                Step::Advance { micros } => put(&mut out, 0, &micros.to_le_bytes()),
                Step::Data { block, skip, size, raw } => {
                    put(&mut out, 1, &[block, skip, size]);
                    out.extend(raw.to_le_bytes());
                }
                Step::Error { code } => put(&mut out, 2, &code.to_le_bytes()),
                Step::Stray { kind } => put(&mut out, 3, &[kind]),
                Step::Drain => out.push(4),
                Step::Timeout { jump, extra_micros } => {
                    put(&mut out, 5, &[u8::from(jump)]);
                    out.extend(extra_micros.to_le_bytes());
                }
                Step::Abort => out.push(6),
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
            setup: Setup {
                blksize: 512,
                windowsize: 1,
                timeout: 0,
                opening: 1,
                max_len: None,
                expect_len: Some(70_000),
                max_retries: 3,
            },
            steps: vec![
                Step::Drain,
                Step::Data { block: 0, skip: 7, size: 0, raw: 0 },
                Step::Drain,
                Step::Data { block: 2, skip: 1, size: 1, raw: 100 },
                Step::Timeout { jump: true, extra_micros: 1 },
                Step::Error { code: 3 },
                Step::Stray { kind: 1 },
                Step::Advance { micros: 5 },
                Step::Abort,
            ],
        };
        assert_eq!(Input::decode(&mut Unstructured::new(&input.encode())).unwrap(), input);
    }
}
