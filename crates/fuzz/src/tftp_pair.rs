//! `tftp_pair`: a [`Sender`] and a [`Receiver`] over a fake link whose loss, duplication and
//! delay the input chooses packet by packet, in the manner of `crates/tftp/tests/sim`.
//!
//! Checked: every chunk the receiver hands out is the next piece of the file, byte for byte;
//! a receiver that completes holds exactly the file; a sender that completes has a receiver
//! that completed; while a side has no outcome, it has a timer armed; and the pair reaches an
//! outcome on both sides (once the input runs out, the link delivers everything).

use std::collections::BTreeMap;
use std::time::Duration;

use arbitrary::{Result, Unstructured};
use lifeboat_tftp::wire::data_header;
use lifeboat_tftp::{Outcome, Packet, Receiver, Sender, TftpOption, Timing, TransferParams, Transmit};

use crate::clock::Clock;
use crate::encoding::{put_sized_u64, sized_u64};

/// Most blocks in the file, and most events (packets delivered, timers fired) in one run.
const MAX_BLOCKS: u64 = 600;
const MAX_EVENTS: usize = 40_000;
const LINK_DELAY: Duration = Duration::from_micros(50);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    pub blksize: u16,
    pub windowsize: u16,
    pub timeout: u8,
    pub len: u64,
    /// 0: a read with an OACK (the client ACKs 0), 1: a read without options (the client got
    /// DATA 1 straight away), 2: a write with an OACK, 3: a write answered with ACK 0; plus 4:
    /// a write announced its size (`tsize`) and the receiver holds it to that.
    pub mode: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub setup: Setup,
    /// The fate of each packet put on the link, in order: see [`Fate`]. Once they run out,
    /// every packet is delivered.
    pub fates: Vec<u8>,
}

/// What happens to one packet.
enum Fate {
    Deliver,
    Drop,
    Duplicate,
    /// Delivered after an extra delay of this many 50 µs steps, so later packets overtake it.
    Delay(u32),
}

impl Fate {
    fn of(byte: u8) -> Fate {
        match byte {
            0..=127 => Fate::Deliver,
            128..=175 => Fate::Drop,
            176..=199 => Fate::Duplicate,
            _ => Fate::Delay(u32::from(byte - 199) * 4),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    ToReceiver,
    ToSender,
}

pub fn run(data: &[u8]) {
    let Ok(input) = Input::decode(&mut Unstructured::new(data)) else { return };
    Pair::new(&input).run();
}

struct Pair<'a> {
    sender: Sender,
    receiver: Receiver,
    file: Vec<u8>,
    received: Vec<u8>,
    clock: Clock,
    fates: std::slice::Iter<'a, u8>,
    /// (delivery time, sequence) -> (direction, datagram)
    link: BTreeMap<(std::time::Instant, u64), (Way, Vec<u8>)>,
    sequence: u64,
    /// The sender's first DATA goes straight to the receiver (no opening packet).
    direct_first: bool,
}

impl<'a> Pair<'a> {
    fn new(input: &'a Input) -> Pair<'a> {
        let s = &input.setup;
        let params = TransferParams {
            blksize: s.blksize,
            windowsize: s.windowsize,
            timeout: (s.timeout > 0).then(|| Duration::from_secs(s.timeout.into())),
        };
        let timing = Timing::default();
        let oack = || Packet::OptionAck(vec![TftpOption::new("blksize", s.blksize.to_string())]);
        let (sender_oack, opening) = match s.mode % 4 {
            0 => (Some(oack()), Some(Packet::Ack { block: 0 })),
            1 => (None, None),
            2 => (None, Some(oack())),
            _ => (None, Some(Packet::Ack { block: 0 })),
        };
        let file: Vec<u8> = (0..s.len).map(|i| (i.wrapping_mul(131) >> 3) as u8 ^ (i >> 11) as u8).collect();
        Pair {
            sender: Sender::new(params, s.len, sender_oack, &timing),
            receiver: match (s.mode % 8, Receiver::new(params, opening, None, &timing)) {
                (6 | 7, receiver) => receiver.expect_len(s.len),
                (_, receiver) => receiver,
            },
            file,
            received: Vec::new(),
            clock: Clock::new(),
            fates: input.fates.iter(),
            link: BTreeMap::new(),
            sequence: 0,
            direct_first: s.mode % 4 == 1,
        }
    }

    fn run(mut self) {
        // Without an opening packet the client already holds DATA 1 (its opening exchange read
        // it) and feeds it in first, as the driver does.
        let mut first_data_direct = self.direct_first;
        for _ in 0..MAX_EVENTS {
            while let Some(transmit) = self.sender.poll_transmit(self.clock.now()) {
                let bytes = match transmit {
                    Transmit::Data { block, offset, len } => {
                        let start = usize::try_from(offset).unwrap();
                        [&data_header(block)[..], &self.file[start..start + len]].concat()
                    }
                    Transmit::Packet(packet) => packet.to_bytes(),
                };
                if std::mem::take(&mut first_data_direct) {
                    self.deliver(Way::ToReceiver, &bytes);
                } else {
                    self.send(Way::ToReceiver, bytes);
                }
            }
            while let Some(transmit) = self.receiver.poll_transmit(self.clock.now()) {
                let Transmit::Packet(packet) = transmit else { panic!("a receiver sent DATA") };
                self.send(Way::ToSender, packet.to_bytes());
            }
            for (side, done, timer) in [
                ("sender", self.sender.outcome().is_some(), self.sender.poll_timeout()),
                ("receiver", self.receiver.outcome().is_some(), self.receiver.poll_timeout()),
            ] {
                assert!(done || timer.is_some(), "the {side} runs without a timer");
            }
            if self.sender.outcome().is_some() && self.receiver.outcome().is_some() {
                return self.check_end();
            }
            let timer = [self.sender.poll_timeout(), self.receiver.poll_timeout()].into_iter().flatten().min();
            let packet = self.link.keys().next().map(|(at, _)| *at);
            let Some(next) = [timer, packet].into_iter().flatten().min() else { unreachable!("checked above") };
            self.clock.advance_to(next);
            if packet == Some(next) {
                let ((_, _), (way, bytes)) = self.link.pop_first().unwrap();
                self.deliver(way, &bytes);
            } else {
                self.sender.handle_timeout(self.clock.now());
                self.receiver.handle_timeout(self.clock.now());
            }
        }
        // Out of events: nothing more can be concluded than what was checked on the way.
    }

    /// Puts a datagram on the link, travelling `way`.
    fn send(&mut self, way: Way, bytes: Vec<u8>) {
        let fate = self.fates.next().map_or(Fate::Deliver, |b| Fate::of(*b));
        let now = self.clock.now();
        let mut put = |extra: Duration, bytes: Vec<u8>| {
            self.sequence += 1;
            self.link.insert((now + LINK_DELAY + extra, self.sequence), (way, bytes));
        };
        match fate {
            Fate::Deliver => put(Duration::ZERO, bytes),
            Fate::Drop => {}
            Fate::Duplicate => {
                put(Duration::ZERO, bytes.clone());
                put(Duration::from_micros(1), bytes);
            }
            Fate::Delay(steps) => put(LINK_DELAY * steps, bytes),
        }
    }

    fn deliver(&mut self, way: Way, bytes: &[u8]) {
        let packet = Packet::parse(bytes).expect("the core emitted an unparsable packet");
        let now = self.clock.now();
        match way {
            Way::ToSender => self.sender.handle(now, &packet),
            Way::ToReceiver => {
                if let Some(chunk) = self.receiver.handle(now, &packet) {
                    assert_eq!(chunk.offset, self.received.len() as u64, "chunk out of order");
                    let start = self.received.len();
                    let expected = self.file.get(start..start + chunk.data.len());
                    assert_eq!(Some(chunk.data), expected, "chunk at {start} is not the file's bytes");
                    self.received.extend_from_slice(chunk.data);
                }
            }
        }
    }

    fn check_end(&self) {
        let (sent, got) = (self.sender.outcome().unwrap(), self.receiver.outcome().unwrap());
        if *got == Outcome::Complete {
            assert!(
                self.received == self.file,
                "the receiver completed with {} of {} bytes",
                self.received.len(),
                self.file.len()
            );
        }
        if *sent == Outcome::Complete {
            assert_eq!(*got, Outcome::Complete, "the sender completed, the receiver did not");
        }
        assert_ne!(*sent, Outcome::OptionsDeclined, "nobody declined the options");
    }
}

impl Input {
    /// Layout: blksize (u16, 8 + v % 1461: up to 1468), windowsize (u8, 1 + v % 32), timeout (u8),
    /// length (sized u64, cut to 600 blocks), mode (u8, % 8), then one fate byte per packet.
    pub fn decode(u: &mut Unstructured<'_>) -> Result<Input> {
        let blksize = 8 + u.arbitrary::<u16>()? % 1461;
        let windowsize = 1 + u16::from(u.arbitrary::<u8>()? % 32);
        let timeout = u.arbitrary()?;
        let len = sized_u64(u)? % (MAX_BLOCKS * u64::from(blksize));
        let mode = u.arbitrary::<u8>()? % 8;
        let fates = u.bytes(u.len())?.to_vec();
        Ok(Input { setup: Setup { blksize, windowsize, timeout, len, mode }, fates })
    }

    pub fn encode(&self) -> Vec<u8> {
        let s = &self.setup;
        let mut out = Vec::new();
        out.extend((s.blksize - 8).to_le_bytes());
        out.push((s.windowsize - 1) as u8);
        out.push(s.timeout);
        put_sized_u64(&mut out, s.len);
        out.push(s.mode);
        out.extend(&self.fates);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_reads_back() {
        let input = Input {
            setup: Setup { blksize: 1468, windowsize: 4, timeout: 0, len: 10_000, mode: 0 },
            fates: vec![0, 130, 180, 250],
        };
        assert_eq!(Input::decode(&mut Unstructured::new(&input.encode())).unwrap(), input);
    }

    #[test]
    fn every_mode_completes_over_a_clean_link() {
        for mode in 0..8 {
            let input =
                Input { setup: Setup { blksize: 512, windowsize: 3, timeout: 0, len: 5000, mode }, fates: vec![] };
            run(&input.encode());
        }
    }
}
