//! A simulated network between a sending and a receiving state machine, with a fake clock and
//! scripted or pseudo-random loss, duplication and delay. No sleeps: time jumps to the next
//! event.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lifeboat_tftp::wire::data_header;
use lifeboat_tftp::{Packet, Receiver, Sender, Transmit};

/// Which way a packet travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    ToReceiver,
    ToSender,
}

/// What happens to a packet on the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Deliver,
    Drop,
    Duplicate,
    /// Delivered after this extra delay, so later packets may overtake it.
    Delay(Duration),
}

/// Decides each packet's fate from its direction and its sequence number in that direction.
pub(crate) type Policy = Box<dyn FnMut(Way, u64, &Packet<'_>) -> Fate>;

/// Everything observed in one run.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    /// Wire block numbers of every DATA packet the sender emitted, in order.
    pub data_sent: Vec<u16>,
    /// Every ACK block number the receiver emitted, in order.
    pub acks_sent: Vec<u16>,
    pub elapsed: Duration,
    /// When the sender reached its outcome.
    pub sender_finished: Option<Duration>,
    pub received: Vec<u8>,
}

pub(crate) const LINK_DELAY: Duration = Duration::from_micros(50);

/// A tiny deterministic generator so random scenarios can be replayed by seed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// True with probability `percent` / 100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A policy dropping `loss`%, duplicating `dup`% and delaying `reorder`% of packets.
pub(crate) fn random_policy(seed: u64, loss: u64, dup: u64, reorder: u64) -> Policy {
    let mut rng = Rng::new(seed);
    Box::new(move |_, _, _| {
        if rng.chance(loss) {
            Fate::Drop
        } else if rng.chance(dup) {
            Fate::Duplicate
        } else if rng.chance(reorder) {
            Fate::Delay(Duration::from_micros(50 + rng.next() % 2000))
        } else {
            Fate::Deliver
        }
    })
}

pub(crate) fn deliver_all() -> Policy {
    Box::new(|_, _, _| Fate::Deliver)
}

/// Runs `sender` against `receiver` until both finish, or panics after `limit` of fake time.
/// `data` is the stream the sender reads from.
pub(crate) fn run(
    sender: Sender,
    receiver: Receiver,
    data: &[u8],
    policy: Policy,
    limit: Duration,
) -> (Trace, Sender, Receiver) {
    run_after(sender, receiver, data, Vec::new(), policy, limit)
}

/// [`run`] for a receiver that already holds `received` (the client got DATA 1 directly).
pub(crate) fn run_after(
    mut sender: Sender,
    mut receiver: Receiver,
    data: &[u8],
    received: Vec<u8>,
    mut policy: Policy,
    limit: Duration,
) -> (Trace, Sender, Receiver) {
    let start = Instant::now();
    let mut now = start;
    let mut trace = Trace { received, ..Trace::default() };
    // (delivery time, tie-breaker) -> (direction, bytes)
    let mut queue: BTreeMap<(Instant, u64), (Way, Vec<u8>)> = BTreeMap::new();
    let mut seq = 0u64;
    let mut counts = [0u64; 2];
    let mut send = |queue: &mut BTreeMap<(Instant, u64), (Way, Vec<u8>)>, now: Instant, way: Way, bytes: Vec<u8>| {
        let packet = Packet::parse(&bytes).expect("the core emitted an unparsable packet");
        let n = &mut counts[way as usize];
        *n += 1;
        let fate = policy(way, *n - 1, &packet);
        let mut put = |delay: Duration, bytes: Vec<u8>| {
            seq += 1;
            queue.insert((now + LINK_DELAY + delay, seq), (way, bytes));
        };
        match fate {
            Fate::Deliver => put(Duration::ZERO, bytes),
            Fate::Drop => {}
            Fate::Duplicate => {
                put(Duration::ZERO, bytes.clone());
                put(Duration::from_micros(1), bytes);
            }
            Fate::Delay(extra) => put(extra, bytes),
        }
    };
    loop {
        while let Some(transmit) = sender.poll_transmit(now) {
            let bytes = match transmit {
                Transmit::Data { block, offset, len } => {
                    trace.data_sent.push(block);
                    let mut bytes = data_header(block).to_vec();
                    bytes.extend_from_slice(&data[offset as usize..offset as usize + len]);
                    bytes
                }
                Transmit::Packet(packet) => packet.to_bytes(),
            };
            send(&mut queue, now, Way::ToReceiver, bytes);
        }
        while let Some(transmit) = receiver.poll_transmit(now) {
            let Transmit::Packet(packet) = transmit else { panic!("a receiver never sends data") };
            if let Packet::Ack { block } = packet {
                trace.acks_sent.push(block);
            }
            send(&mut queue, now, Way::ToSender, packet.to_bytes());
        }
        if sender.outcome().is_some() && trace.sender_finished.is_none() {
            trace.sender_finished = Some(now - start);
        }
        if sender.outcome().is_some() && receiver.outcome().is_some() {
            break;
        }
        let next_timer = [sender.poll_timeout(), receiver.poll_timeout()].into_iter().flatten().min();
        let next_packet = queue.keys().next().map(|(at, _)| *at);
        let Some(next) = [next_timer, next_packet].into_iter().flatten().min() else {
            break;
        };
        now = now.max(next);
        assert!(now - start < limit, "simulation ran past {limit:?} of fake time");
        if next_packet == Some(next) {
            let (_, (way, bytes)) = queue.pop_first().unwrap();
            let packet = Packet::parse(&bytes).unwrap();
            match way {
                // A receiver its core calls done is dropped by the driver: what arrives for it
                // then is lost, as on a real server.
                Way::ToReceiver if receiver.is_done(now) => {}
                Way::ToReceiver => {
                    if let Some(chunk) = receiver.handle(now, &packet) {
                        assert_eq!(chunk.offset, trace.received.len() as u64, "chunk delivered out of order");
                        trace.received.extend_from_slice(chunk.data);
                    }
                }
                Way::ToSender => sender.handle(now, &packet),
            }
        } else {
            sender.handle_timeout(now);
            receiver.handle_timeout(now);
        }
    }
    trace.elapsed = now - start;
    (trace, sender, receiver)
}

/// Deterministic test content.
pub(crate) fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next() as u8).collect()
}
