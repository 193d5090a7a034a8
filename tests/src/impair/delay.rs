//! Delay and reordering in user space through an nfnetlink queue (`NFQUEUE`).
//!
//! A thread enters the namespace (`setns`, which only affects that thread), binds a netlink
//! socket to the queue in metadata-only copy mode, and answers each queued packet with an ACCEPT
//! verdict once its send time has come. Verdicts may be given in any order, which is how packets
//! overtake each other. On stop every held packet is accepted.
//!
//! Protocol reference: `linux/netfilter/nfnetlink_queue.h` (message and attribute numbers below).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, send, setsockopt, socket,
    sockopt,
};

use crate::files::TestRng;

const NFNL_SUBSYS_QUEUE: u16 = 3;
const NFQNL_MSG_PACKET: u16 = 0;
const NFQNL_MSG_VERDICT: u16 = 1;
const NFQNL_MSG_CONFIG: u16 = 2;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NFQA_PACKET_HDR: u16 = 1;
const NFQA_VERDICT_HDR: u16 = 2;
const NFQA_CFG_CMD: u16 = 1;
const NFQA_CFG_PARAMS: u16 = 2;
const NFQA_CFG_QUEUE_MAXLEN: u16 = 3;
const NFQNL_CFG_CMD_BIND: u8 = 1;
const NFQNL_COPY_META: u8 = 1;
const NF_ACCEPT: u32 = 1;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// Longest the thread sleeps before looking at its stop flag again.
const TICK: Duration = Duration::from_millis(20);

/// A running delay thread; [`Delayer::stop`] releases everything it holds.
pub(crate) struct Delayer {
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Counters {
    delayed: AtomicU64,
    immediate: AtomicU64,
}

impl Delayer {
    /// Starts the thread for `queue` in namespace `ns` and returns once the queue is bound.
    pub(crate) fn start(ns: &str, queue: u16, delay: Duration, jitter: Duration, reorder: f64) -> Delayer {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let (ready_tx, ready_rx) = mpsc::channel();
        let ns_path = format!("/run/netns/{ns}");
        let thread = {
            let stop = Arc::clone(&stop);
            let counters = Arc::clone(&counters);
            std::thread::Builder::new()
                .name(format!("delay-{ns}-{queue}"))
                .spawn(move || {
                    let socket = match open_queue(&ns_path, queue) {
                        Ok(socket) => {
                            let _ = ready_tx.send(Ok(()));
                            socket
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let shaper = Shaper { delay, jitter, reorder, rng: TestRng::from_entropy() };
                    if let Err(e) = run(&socket, queue, shaper, &stop, &counters) {
                        eprintln!("delay thread for queue {queue} in {ns_path} failed: {e}");
                    }
                })
                .expect("spawn the delay thread")
        };
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("cannot bind NFQUEUE {queue} in {ns}: {e}"),
            Err(_) => panic!("the delay thread for {ns} did not start in 10 s"),
        }
        Delayer { stop, counters, thread: Some(thread) }
    }

    /// (packets delayed, packets sent at once because of `reorder`)
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.counters.delayed.load(Ordering::Relaxed), self.counters.immediate.load(Ordering::Relaxed))
    }

    pub(crate) fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Delayer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

struct Shaper {
    delay: Duration,
    jitter: Duration,
    reorder: f64,
    rng: TestRng,
}

impl Shaper {
    /// When a packet queued now may leave; `None` for at once.
    fn release_at(&mut self, now: Instant) -> Option<Instant> {
        if self.reorder > 0.0 && self.rng.next_f64() < self.reorder {
            return None;
        }
        let mut delay = self.delay;
        if !self.jitter.is_zero() {
            // Uniform in [delay - jitter, delay + jitter].
            let span = self.jitter.as_secs_f64() * (2.0 * self.rng.next_f64() - 1.0);
            delay = Duration::from_secs_f64((delay.as_secs_f64() + span).max(0.0));
        }
        Some(now + delay)
    }
}

fn open_queue(ns_path: &str, queue: u16) -> Result<OwnedFd, String> {
    let ns = File::open(ns_path).map_err(|e| format!("open {ns_path}: {e}"))?;
    setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns {ns_path}: {e}"))?;
    let fd = socket(AddressFamily::Netlink, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::NetlinkNetFilter)
        .map_err(|e| format!("netlink socket: {e}"))?;
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &NetlinkAddr::new(0, 0)).map_err(|e| format!("bind netlink: {e}"))?;
    // A lost notification would leave a packet queued for ever: make the buffer roomy.
    let _ = setsockopt(&fd, sockopt::RcvBufForce, &(8 << 20));

    let mut attrs = Vec::new();
    // struct nfqnl_msg_config_cmd { u8 command; u8 pad; be16 pf; }
    push_attr(&mut attrs, NFQA_CFG_CMD, &[NFQNL_CFG_CMD_BIND, 0, 0, 0]);
    // struct nfqnl_msg_config_params { be32 copy_range; u8 copy_mode; } (packed)
    push_attr(&mut attrs, NFQA_CFG_PARAMS, &[0, 0, 0, 0, NFQNL_COPY_META]);
    push_attr(&mut attrs, NFQA_CFG_QUEUE_MAXLEN, &16_384u32.to_be_bytes());
    let msg = message(NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, queue, &attrs);
    send(std::os::fd::AsRawFd::as_raw_fd(&fd), &msg, MsgFlags::empty())
        .map_err(|e| format!("send queue config: {e}"))?;

    let mut buf = vec![0u8; 8192];
    let n = recv(std::os::fd::AsRawFd::as_raw_fd(&fd), &mut buf, MsgFlags::empty())
        .map_err(|e| format!("receive queue config answer: {e}"))?;
    let mut result = Err("no answer to the queue config".to_owned());
    for (kind, payload) in messages(&buf[..n]) {
        if kind == NLMSG_ERROR && payload.len() >= 4 {
            let code = i32::from_ne_bytes(payload[..4].try_into().expect("4 bytes"));
            result = if code == 0 {
                Ok(())
            } else {
                Err(format!("kernel refused the queue config: {}", Errno::from_raw(-code)))
            };
        }
    }
    result.map(|()| fd)
}

fn run(fd: &OwnedFd, queue: u16, mut shaper: Shaper, stop: &AtomicBool, counters: &Counters) -> Result<(), String> {
    let raw = std::os::fd::AsRawFd::as_raw_fd(fd);
    // (release time, arrival sequence, packet id); the sequence keeps equal times in order.
    let mut held: BinaryHeap<Reverse<(Instant, u64, u32)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let now = Instant::now();
        while let Some(Reverse((at, _, id))) = held.peek().copied() {
            if at > now {
                break;
            }
            held.pop();
            verdict(raw, queue, id)?;
        }
        if stop.load(Ordering::Relaxed) {
            while let Some(Reverse((_, _, id))) = held.pop() {
                verdict(raw, queue, id)?;
            }
            return Ok(());
        }
        let wait = held.peek().map(|Reverse((at, _, _))| at.saturating_duration_since(now)).unwrap_or(TICK).min(TICK);
        // Round up to whole milliseconds so a short wait does not spin.
        let millis = u16::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(millis)) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        loop {
            let n = match recv(raw, &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(n) => n,
                Err(Errno::EAGAIN) => break,
                // The receive buffer overflowed; queued packets we missed stay held by the
                // kernel until the queue goes away. Keep going.
                Err(Errno::ENOBUFS) => continue,
                Err(e) => return Err(format!("recv: {e}")),
            };
            let now = Instant::now();
            for (kind, payload) in messages(&buf[..n]) {
                if kind != (NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET) {
                    continue;
                }
                let Some(id) = packet_id(payload) else {
                    continue;
                };
                match shaper.release_at(now) {
                    None => {
                        counters.immediate.fetch_add(1, Ordering::Relaxed);
                        verdict(raw, queue, id)?;
                    }
                    Some(at) => {
                        counters.delayed.fetch_add(1, Ordering::Relaxed);
                        held.push(Reverse((at, seq, id)));
                        seq += 1;
                    }
                }
            }
        }
    }
}

fn verdict(fd: i32, queue: u16, id: u32) -> Result<(), String> {
    let mut body = Vec::with_capacity(8);
    body.extend_from_slice(&NF_ACCEPT.to_be_bytes());
    body.extend_from_slice(&id.to_be_bytes());
    let mut attrs = Vec::new();
    push_attr(&mut attrs, NFQA_VERDICT_HDR, &body);
    let msg = message(NFQNL_MSG_VERDICT, NLM_F_REQUEST, queue, &attrs);
    send(fd, &msg, MsgFlags::empty()).map(drop).map_err(|e| format!("send verdict: {e}"))
}

/// nlmsghdr + nfgenmsg + attributes.
fn message(kind: u16, flags: u16, queue: u16, attrs: &[u8]) -> Vec<u8> {
    let len = u32::try_from(16 + 4 + attrs.len()).expect("small message");
    let mut msg = Vec::with_capacity(len as usize);
    msg.extend_from_slice(&len.to_ne_bytes());
    msg.extend_from_slice(&(NFNL_SUBSYS_QUEUE << 8 | kind).to_ne_bytes());
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes()); // sequence
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
    msg.push(0); // nfgen_family: AF_UNSPEC
    msg.push(0); // version: NFNETLINK_V0
    msg.extend_from_slice(&queue.to_be_bytes()); // res_id
    msg.extend_from_slice(attrs);
    msg
}

fn push_attr(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = u16::try_from(4 + payload.len()).expect("small attribute");
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// Splits a netlink datagram into (type, payload after nlmsghdr) pairs; stops at anything
/// malformed.
fn messages(mut buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while buf.len() >= 16 {
        let len = u32::from_ne_bytes(buf[..4].try_into().expect("4 bytes")) as usize;
        let kind = u16::from_ne_bytes(buf[4..6].try_into().expect("2 bytes"));
        if len < 16 || len > buf.len() {
            break;
        }
        out.push((kind, &buf[16..len]));
        let aligned = len.div_ceil(4) * 4;
        buf = &buf[aligned.min(buf.len())..];
    }
    out
}

/// The packet id from an NFQNL_MSG_PACKET payload (nfgenmsg + attributes).
fn packet_id(payload: &[u8]) -> Option<u32> {
    let mut attrs = payload.get(4..)?;
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes(attrs[..2].try_into().ok()?) as usize;
        let kind = u16::from_ne_bytes(attrs[2..4].try_into().ok()?) & NLA_TYPE_MASK;
        if len < 4 || len > attrs.len() {
            return None;
        }
        if kind == NFQA_PACKET_HDR && len >= 8 {
            return Some(u32::from_be_bytes(attrs[4..8].try_into().ok()?));
        }
        let aligned = len.div_ceil(4) * 4;
        attrs = &attrs[aligned.min(attrs.len())..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_verdict_message_like_libnetfilter_queue() {
        let mut attrs = Vec::new();
        let mut body = NF_ACCEPT.to_be_bytes().to_vec();
        body.extend_from_slice(&7u32.to_be_bytes());
        push_attr(&mut attrs, NFQA_VERDICT_HDR, &body);
        let msg = message(NFQNL_MSG_VERDICT, NLM_F_REQUEST, 5, &attrs);
        assert_eq!(msg.len(), 32);
        assert_eq!(u32::from_ne_bytes(msg[..4].try_into().unwrap()), 32);
        assert_eq!(u16::from_ne_bytes(msg[4..6].try_into().unwrap()), 0x0301);
        assert_eq!(&msg[18..20], &[0, 5], "queue number is big-endian");
        assert_eq!(&msg[20..22], &12u16.to_ne_bytes(), "attribute length");
        assert_eq!(&msg[22..24], &NFQA_VERDICT_HDR.to_ne_bytes(), "attribute type");
        assert_eq!(&msg[24..], &[0, 0, 0, 1, 0, 0, 0, 7]);
    }

    #[test]
    fn reads_the_packet_id_and_skips_other_attributes() {
        // nfgenmsg, then an unrelated 5-byte attribute (padded to 8), then the packet header.
        let mut payload = vec![2, 0, 0, 5];
        push_attr(&mut payload, 9, &[1, 2, 3, 4, 5]);
        push_attr(&mut payload, NFQA_PACKET_HDR, &[0, 0, 1, 2, 0x08, 0x00, 3]);
        assert_eq!(packet_id(&payload), Some(0x0102));
        assert_eq!(packet_id(&payload[..4]), None);
        // A truncated attribute is not read past the end.
        assert_eq!(packet_id(&payload[..payload.len() - 6]), None);
    }

    #[test]
    fn splits_a_datagram_into_messages() {
        let a = message(NFQNL_MSG_PACKET, 0, 1, &[]);
        let b = message(NFQNL_MSG_PACKET, 0, 2, &[0xaa; 4]);
        let mut datagram = a.clone();
        datagram.extend_from_slice(&b);
        let parsed = messages(&datagram);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1].1.len(), 8);
        assert!(messages(&datagram[..10]).is_empty());
    }

    #[test]
    fn reorder_sends_some_packets_at_once_and_delays_the_rest() {
        let mut shaper =
            Shaper { delay: Duration::from_millis(10), jitter: Duration::ZERO, reorder: 0.25, rng: TestRng::new(1) };
        let now = Instant::now();
        let results: Vec<_> = (0..4000).map(|_| shaper.release_at(now)).collect();
        let immediate = results.iter().filter(|r| r.is_none()).count();
        assert!((800..1200).contains(&immediate), "{immediate} of 4000 sent at once");
        assert!(results.iter().flatten().all(|at| *at == now + Duration::from_millis(10)));
    }
}
