//! The socket of one transfer: driven by a thread of its own with plain blocking calls (the
//! client), or non-blocking under a [`crate::Poller`] of an event loop that serves many
//! transfers (the server).
//!
//! Lock-step TFTP is a ping-pong: its speed is one block per round trip, and every microsecond
//! the server adds to a round trip is lost throughput. Waking an async task through epoll and
//! a scheduler costs more than the veth round trip itself, so a transfer runs on its own
//! thread, and may spin briefly on a non-blocking receive before it sleeps: an answer that
//! arrives within the spin is taken without any wake-up at all.
//!
//! The sleep is one blocking `recvfrom(2)` with the socket's receive timeout (`SO_RCVTIMEO`) as
//! the deadline, not `poll(2)` and a second receive: a block then costs two system calls, this
//! receive and the send of the next block. The timeout is set again only when a wait asks for
//! a different one, which in a running transfer is rare (the driver waits in equal slices).
//!
//! A window of blocks leaves in one `sendmsg(2)` with UDP segmentation offload (`UDP_SEGMENT`,
//! Linux 4.18): the kernel takes the window through the IP stack as one packet and cuts it into
//! datagrams at the end, which costs a fraction of one trip per block.
//!
//! An event loop makes the socket non-blocking ([`TransferSocket::set_nonblocking`]): a send
//! into a full buffer then fails with `WouldBlock` at once (for a datagram protocol, a lost
//! packet), and the loop takes datagrams with [`TransferSocket::try_recv_from`] when its
//! poller says there are some. The loop's spin for a few transfers is that same call, repeated.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, SocketAddr, SocketAddrV6, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::sys::socket::{ControlMessage, MsgFlags, SockaddrStorage, recvmsg, sendmsg};

use crate::BindError;
use crate::sockets::{configured_socket, to_socket_addr};

/// How long a send waits for room in a full send buffer before it fails.
const SEND_WAIT: Duration = Duration::from_millis(100);

/// Receive timeouts are set rounded up to this, so that waits of nearly the same length (a slice
/// less the microseconds since it was computed) reuse the timeout already set.
const TIMEOUT_GRAIN: Duration = Duration::from_millis(1);

/// A blocking UDP socket with bounded waits; no async runtime needed.
#[derive(Debug)]
pub struct TransferSocket {
    socket: UdpSocket,
    /// The receive timeout set on the socket now, a whole number of [`TIMEOUT_GRAIN`]s.
    read_timeout: Option<Duration>,
    /// False once the kernel refused segmentation offload: batches then go one by one.
    segmentation: bool,
}

/// Most datagrams one segmented send may carry (the kernel's `UDP_MAX_SEGMENTS`).
pub const MAX_SEGMENTS: usize = 64;

/// Most bytes one segmented send may carry: the payload of one IPv4 UDP datagram.
pub const MAX_SEGMENTED_BYTES: usize = 65_507;

impl TransferSocket {
    /// Binds to `addr` (IPv6 sockets are `IPV6_V6ONLY`) with large buffers.
    pub fn bind(addr: SocketAddr) -> Result<TransferSocket, BindError> {
        let socket = configured_socket(addr).map_err(|e| BindError::new(addr, e))?;
        socket.bind(&addr.into()).map_err(|e| BindError::new(addr, e))?;
        socket.set_nonblocking(false).map_err(|e| BindError::new(addr, e))?;
        socket.set_write_timeout(Some(SEND_WAIT)).map_err(|e| BindError::new(addr, e))?;
        Ok(TransferSocket { socket: socket.into(), read_timeout: None, segmentation: true })
    }

    /// Binds a fresh port on `local`, the address a client's request was sent to. `ifindex` is
    /// needed for IPv6 link-local addresses only; pass [`crate::Datagram::ifindex`].
    pub fn bind_local(local: IpAddr, ifindex: u32) -> Result<TransferSocket, BindError> {
        let addr = match local {
            IpAddr::V6(ip) if ip.is_unicast_link_local() => SocketAddr::V6(SocketAddrV6::new(ip, 0, 0, ifindex)),
            ip => SocketAddr::new(ip, 0),
        };
        TransferSocket::bind(addr)
    }

    /// The address bound, with the port the system chose.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Non-blocking mode, for an event loop: sends never wait for room in the buffer (they fail
    /// with `WouldBlock`), and [`TransferSocket::recv_from`] only takes what is queued already.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.socket.set_nonblocking(on)
    }

    /// Sends one datagram, waiting up to 100 ms for room in a full send buffer.
    pub fn send_to(&self, buf: &[u8], peer: SocketAddr) -> io::Result<()> {
        loop {
            match self.socket.send_to(buf, peer) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends `datagrams`, back-to-back datagrams of `segment` bytes each (the last may be
    /// shorter; at most [`MAX_SEGMENTS`] of them and [`MAX_SEGMENTED_BYTES`] in all), to `peer`:
    /// in one system call with segmentation offload, else one by one. Where the kernel or the
    /// route refuses offload (an old kernel, a device without checksum offload, datagrams larger
    /// than the MTU), this batch and every later one go one by one.
    pub fn send_segments(&mut self, datagrams: &[u8], segment: usize, peer: SocketAddr) -> io::Result<()> {
        if segment == 0 || datagrams.len() <= segment {
            return self.send_to(datagrams, peer);
        }
        if !self.segmentation {
            return datagrams.chunks(segment).try_for_each(|datagram| self.send_to(datagram, peer));
        }
        let size = u16::try_from(segment).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let to = SockaddrStorage::from(peer);
        loop {
            let sent = sendmsg(
                self.socket.as_raw_fd(),
                &[IoSlice::new(datagrams)],
                &[ControlMessage::UdpGsoSegments(&size)],
                MsgFlags::empty(),
                Some(&to),
            );
            match sent {
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => {}
                // Offload impossible here: EIO (no checksum offload on the route's device),
                // EINVAL or ENOPROTOOPT (a kernel without UDP_SEGMENT), EMSGSIZE (datagrams
                // larger than the link's MTU: only IP fragmentation can carry those).
                Err(
                    nix::errno::Errno::EIO
                    | nix::errno::Errno::EINVAL
                    | nix::errno::Errno::ENOPROTOOPT
                    | nix::errno::Errno::EMSGSIZE,
                ) => {
                    self.segmentation = false;
                    return self.send_segments(datagrams, segment, peer);
                }
                Err(errno) => return Err(errno.into()),
            }
        }
    }

    /// Receives one datagram into `buf`: spins up to `spin` on a non-blocking receive, then
    /// sleeps until one arrives or `timeout` (counted from the call) has passed (`Ok(None)`).
    /// The sleep may last up to a millisecond (and a kernel tick) longer than asked.
    pub fn recv_from(
        &mut self,
        buf: &mut [u8],
        spin: Duration,
        timeout: Duration,
    ) -> io::Result<Option<(usize, SocketAddr)>> {
        let start = Instant::now();
        let spin = spin.min(timeout);
        // A zero timeout still takes a datagram that is already there.
        if !spin.is_zero() || timeout.is_zero() {
            loop {
                match self.recv_now(buf) {
                    Ok(received) => return Ok(Some(received)),
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
                    Err(e) => return Err(e),
                }
                if start.elapsed() >= spin {
                    break;
                }
                // Yield rather than just spin: when the peer is a process on this machine that
                // waits for this very CPU (a client, or ksoftirqd carrying its packet), a plain
                // spin would hold it off for the whole spin time on every round trip.
                std::thread::yield_now();
            }
        }
        loop {
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Ok(None);
            }
            self.set_read_timeout(left)?;
            match self.socket.recv_from(buf) {
                Ok(received) => return Ok(Some(received)),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Receives a datagram that is already queued, without waiting: `WouldBlock` when there is
    /// none. A longer datagram than `buf` is cut to its length.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_now(buf)
    }

    /// Receives a datagram that is already queued, without waiting.
    fn recv_now(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg::<SockaddrStorage>(self.socket.as_raw_fd(), &mut iov, None, MsgFlags::MSG_DONTWAIT)?;
        let from = msg
            .address
            .as_ref()
            .and_then(to_socket_addr)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "datagram without sender"))?;
        Ok((msg.bytes, from))
    }

    /// Makes a blocking receive wait at least `wait` and at most a grain longer.
    fn set_read_timeout(&mut self, wait: Duration) -> io::Result<()> {
        let grains = wait.as_nanos().div_ceil(TIMEOUT_GRAIN.as_nanos());
        let rounded = TIMEOUT_GRAIN.saturating_mul(u32::try_from(grains).unwrap_or(u32::MAX));
        if self.read_timeout != Some(rounded) {
            self.socket.set_read_timeout(Some(rounded))?;
            self.read_timeout = Some(rounded);
        }
        Ok(())
    }
}

impl AsFd for TransferSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_socket_times_out_after_the_given_time() {
        let mut socket = TransferSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let start = Instant::now();
        let got = socket.recv_from(&mut [0u8; 16], Duration::from_micros(50), Duration::from_millis(30)).unwrap();
        assert_eq!(got, None);
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(30) && waited < Duration::from_secs(2), "{waited:?}");
    }

    #[test]
    fn a_short_wait_after_a_long_one_is_short() {
        let mut socket = TransferSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(socket.recv_from(&mut buf, Duration::ZERO, Duration::from_millis(200)).unwrap(), None);
        let start = Instant::now();
        assert_eq!(socket.recv_from(&mut buf, Duration::ZERO, Duration::from_millis(20)).unwrap(), None);
        let waited = start.elapsed();
        // The 200 ms timeout set by the first wait must not carry over to the second.
        assert!(waited >= Duration::from_millis(20) && waited < Duration::from_millis(150), "{waited:?}");
    }

    #[test]
    fn segments_arrive_as_the_datagrams_they_were() {
        let mut a = TransferSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut b = TransferSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let to = b.local_addr().unwrap();
        // Two full datagrams and a shorter last one, as a window ending with the file's tail.
        let mut batch = vec![1u8; 600];
        batch.extend([2u8; 600]);
        batch.extend([3u8; 17]);
        a.send_segments(&batch, 600, to).unwrap();
        // A lone datagram is sent as it is.
        a.send_segments(&[4u8; 5], 600, to).unwrap();
        let mut received = Vec::new();
        let mut buf = [0u8; 2048];
        for _ in 0..4 {
            let (n, from) = b.recv_from(&mut buf, Duration::ZERO, Duration::from_secs(2)).unwrap().expect("a datagram");
            assert_eq!(from, a.local_addr().unwrap());
            received.push(buf[..n].to_vec());
        }
        assert_eq!(received, vec![vec![1u8; 600], vec![2u8; 600], vec![3u8; 17], vec![4u8; 5]]);
    }

    #[test]
    fn datagrams_arrive_both_while_spinning_and_after_sleeping() {
        let a = TransferSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut b = TransferSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut buf = [0u8; 16];
        a.send_to(b"one", b.local_addr().unwrap()).unwrap();
        let (n, from) = b.recv_from(&mut buf, Duration::from_millis(5), Duration::from_secs(2)).unwrap().unwrap();
        assert_eq!((&buf[..n], from), (&b"one"[..], a.local_addr().unwrap()));
        let sender = std::thread::spawn({
            let to = b.local_addr().unwrap();
            move || {
                std::thread::sleep(Duration::from_millis(50));
                a.send_to(b"two", to).unwrap();
            }
        });
        let (n, _) = b.recv_from(&mut buf, Duration::ZERO, Duration::from_secs(2)).unwrap().unwrap();
        assert_eq!(&buf[..n], b"two");
        sender.join().unwrap();
    }

    #[test]
    fn a_nonblocking_socket_neither_waits_to_receive_nor_to_send() {
        let a = TransferSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let b = TransferSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        b.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 4];
        let start = Instant::now();
        assert_eq!(b.try_recv_from(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        a.send_to(b"hello", b.local_addr().unwrap()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        let (n, from) = loop {
            match b.try_recv_from(&mut buf) {
                Ok(received) => break received,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {}
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!((&buf[..n], from), (&b"hell"[..], a.local_addr().unwrap()), "cut to the buffer");
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
