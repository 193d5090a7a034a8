//! The socket of one transfer, driven by a thread of its own with plain blocking calls.
//!
//! Lock-step TFTP is a ping-pong: its speed is one block per round trip, and every microsecond
//! the server adds to a round trip is lost throughput. Waking an async task through epoll and
//! a scheduler costs more than the veth round trip itself, so a transfer runs on its own
//! thread, and may spin briefly on a non-blocking receive before it sleeps in `poll(2)`: an
//! answer that arrives within the spin is taken without any wake-up at all.

use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::BindError;
use crate::sockets::configured_socket;

/// A non-blocking UDP socket with bounded blocking helpers; no async runtime needed.
#[derive(Debug)]
pub struct TransferSocket {
    socket: UdpSocket,
}

impl TransferSocket {
    /// Binds to `addr` (IPv6 sockets are `IPV6_V6ONLY`) with large buffers.
    pub fn bind(addr: SocketAddr) -> Result<TransferSocket, BindError> {
        let socket = configured_socket(addr).map_err(|e| BindError::new(addr, e))?;
        socket.bind(&addr.into()).map_err(|e| BindError::new(addr, e))?;
        Ok(TransferSocket { socket: socket.into() })
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

    /// Sends one datagram, waiting up to 100 ms for room in a full send buffer.
    pub fn send_to(&self, buf: &[u8], peer: SocketAddr) -> io::Result<()> {
        loop {
            match self.socket.send_to(buf, peer) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.wait(PollFlags::POLLOUT, Duration::from_millis(100))? {
                        return Err(e);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Receives one datagram into `buf`: spins up to `spin` on a non-blocking receive, then
    /// sleeps until one arrives or `timeout` (counted from the call) has passed (`Ok(None)`).
    pub fn recv_from(
        &self,
        buf: &mut [u8],
        spin: Duration,
        timeout: Duration,
    ) -> io::Result<Option<(usize, SocketAddr)>> {
        let start = Instant::now();
        loop {
            match self.socket.recv_from(buf) {
                Ok(received) => return Ok(Some(received)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let elapsed = start.elapsed();
            if elapsed < spin.min(timeout) {
                // Yield rather than just spin: when the peer is a process on this machine that
                // waits for this very CPU (a client, or ksoftirqd carrying its packet), a plain
                // spin would hold it off for the whole spin time on every round trip.
                std::thread::yield_now();
                continue;
            }
            if elapsed >= timeout || !self.wait(PollFlags::POLLIN, timeout - elapsed)? {
                return Ok(None);
            }
        }
    }

    /// Waits until the socket is ready for `events`; false on timeout.
    fn wait(&self, events: PollFlags, timeout: Duration) -> io::Result<bool> {
        let mut fds = [PollFd::new(self.socket.as_fd(), events)];
        // Round up so a sub-millisecond wait does not become a busy loop of zero-timeout polls.
        let millis = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        match poll(&mut fds, PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX)) {
            Ok(ready) => Ok(ready > 0),
            Err(nix::errno::Errno::EINTR) => Ok(true),
            Err(errno) => Err(errno.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_socket_times_out_after_the_given_time() {
        let socket = TransferSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let start = Instant::now();
        let got = socket.recv_from(&mut [0u8; 16], Duration::from_micros(50), Duration::from_millis(30)).unwrap();
        assert_eq!(got, None);
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(30) && waited < Duration::from_secs(2), "{waited:?}");
    }

    #[test]
    fn datagrams_arrive_both_while_spinning_and_after_sleeping() {
        let a = TransferSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let b = TransferSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
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
}
