//! Datagrams and connections made by hand from inside a namespace: a UDP socket that lives
//! there, a datagram with a forged source address (the spoofing an attacker on the segment can
//! do), and a TCP connection (an HTTP client that reads what it likes and then hangs up).
//!
//! A helper thread enters the namespace (`setns` affects only that thread), opens the socket
//! and hands it back; the socket stays in that namespace.

use std::fs::File;
use std::net::{SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, sendto, socket};

use crate::Netns;

/// Runs `f` on a thread inside `ns` and returns what it returns.
fn in_namespace<T: Send + 'static>(ns: &Netns, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns_path = PathBuf::from("/run/netns").join(ns.name());
    std::thread::spawn(move || {
        let file = File::open(&ns_path).unwrap_or_else(|e| panic!("open {}: {e}", ns_path.display()));
        setns(&file, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns {}: {e}", ns_path.display()));
        f()
    })
    .join()
    .expect("the namespace helper thread panicked")
}

impl Netns {
    /// A UDP socket bound to `addr` inside this namespace, with `timeout` for receiving.
    pub fn udp_socket(&self, addr: SocketAddr, timeout: Duration) -> UdpSocket {
        in_namespace(self, move || {
            let socket = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind {addr} in the namespace: {e}"));
            socket.set_read_timeout(Some(timeout)).expect("set a receive timeout");
            socket.set_broadcast(true).expect("allow broadcasts");
            socket
        })
    }

    /// A TCP connection from inside this namespace to `to`; `timeout` bounds connecting, and
    /// every read and write on it.
    pub fn tcp_connect(&self, to: SocketAddr, timeout: Duration) -> TcpStream {
        in_namespace(self, move || {
            let stream = TcpStream::connect_timeout(&to, timeout)
                .unwrap_or_else(|e| panic!("connect to {to} from the namespace: {e}"));
            stream.set_read_timeout(Some(timeout)).expect("set a read timeout");
            stream.set_write_timeout(Some(timeout)).expect("set a write timeout");
            stream
        })
    }

    /// Sends one UDP datagram from inside this namespace that claims to come from `from`
    /// (any address: it is written into the IPv4 header by hand, through a raw socket).
    pub fn send_spoofed(&self, from: SocketAddrV4, to: SocketAddrV4, payload: &[u8]) {
        let packet = ipv4_udp(from, to, payload);
        in_namespace(self, move || {
            let fd = socket(AddressFamily::Inet, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::Raw)
                .expect("a raw socket (needs root)");
            sendto(fd.as_raw_fd(), &packet, &SockaddrIn::from(to), MsgFlags::empty())
                .unwrap_or_else(|e| panic!("send a datagram claiming to come from {from} to {to}: {e}"));
        });
    }
}

/// An IPv4 packet carrying one UDP datagram. The kernel fills in the IP checksum; the UDP
/// checksum is left out (zero), which IPv4 allows.
fn ipv4_udp(from: SocketAddrV4, to: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let udp_len = u16::try_from(8 + payload.len()).expect("a small datagram");
    let total = udp_len + 20;
    let mut packet = Vec::with_capacity(usize::from(total));
    packet.extend_from_slice(&[0x45, 0]);
    packet.extend_from_slice(&total.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    packet.extend_from_slice(&from.ip().octets());
    packet.extend_from_slice(&to.ip().octets());
    packet.extend_from_slice(&from.port().to_be_bytes());
    packet.extend_from_slice(&to.port().to_be_bytes());
    packet.extend_from_slice(&udp_len.to_be_bytes());
    packet.extend_from_slice(&[0, 0]);
    packet.extend_from_slice(payload);
    packet
}

/// UDP datagrams this namespace has sent so far (`OutDatagrams` of its `/proc/net/snmp`).
pub fn udp_datagrams_sent(ns: &Netns) -> u64 {
    let out = ns.run(&["cat", "/proc/net/snmp"], Duration::from_secs(5));
    let mut udp = out.stdout.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next().unwrap_or(""), udp.next().unwrap_or(""));
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "OutDatagrams")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or_else(|| panic!("no UDP OutDatagrams in /proc/net/snmp:\n{}", out.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn the_packet_says_what_it_claims() {
        let from = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 9), 69);
        let to = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 69);
        let packet = ipv4_udp(from, to, b"\x00\x05\x00\x00x\x00");
        assert_eq!(packet.len(), 20 + 8 + 6);
        assert_eq!(&packet[12..16], &[10, 0, 0, 9]);
        assert_eq!(&packet[16..20], &[10, 0, 0, 1]);
        assert_eq!(u16::from_be_bytes([packet[20], packet[21]]), 69);
        assert_eq!(u16::from_be_bytes([packet[24], packet[25]]), 14, "UDP length");
    }
}
