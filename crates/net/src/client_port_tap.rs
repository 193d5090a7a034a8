//! Seeing the DHCP replies on one interface, with the MAC of whoever sent them: a packet socket
//! (`AF_PACKET`) behind a kernel filter that lets through only UDP datagrams to port 68.
//!
//! Another DHCP server on a segment answers clients by broadcast to port 68, or to their MAC;
//! lifeboat's own UDP sockets never see those frames, and would not learn the sender's MAC if
//! they did. The person who has to find and switch off the other server needs both its address
//! and its MAC. The filter runs in the kernel, so the socket costs nothing while TFTP moves
//! hundreds of megabytes a second over the same interface.
//!
//! **Invariant:** receive only, on one interface; frames this machine sends are skipped; a
//! fragment or anything but an intact IPv4/UDP datagram to port 68 never comes out.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use lifeboat_dhcp::Mac;
use nix::sys::socket::{LinkAddr, recvfrom};
use socket2::{Domain, Protocol, SockFilter, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::link_addr::{ETH_P_IP, link_addr};

/// The DHCP client port.
const CLIENT_PORT: u16 = 68;

/// `sll_pkttype` of frames this machine sends.
const PACKET_OUTGOING: u8 = 4;

/// Classic BPF over the IPv4 header (a `SOCK_DGRAM` packet socket's frames start there): UDP,
/// not a fragment, destination port 68; everything else is cut to nothing.
const FILTER: [SockFilter; 9] = [
    // A = the protocol byte.
    SockFilter::new(0x30, 0, 0, 9),
    // UDP (17)? else drop.
    SockFilter::new(0x15, 0, 6, 17),
    // A = flags and fragment offset.
    SockFilter::new(0x28, 0, 0, 6),
    // A fragment (offset bits set)? drop.
    SockFilter::new(0x45, 4, 0, 0x1fff),
    // X = the IPv4 header's length.
    SockFilter::new(0xb1, 0, 0, 0),
    // A = the UDP destination port.
    SockFilter::new(0x48, 0, 0, 2),
    // Port 68? keep, else drop.
    SockFilter::new(0x15, 0, 1, CLIENT_PORT as u32),
    SockFilter::new(0x06, 0, 0, 0xffff),
    SockFilter::new(0x06, 0, 0, 0),
];

/// A datagram to port 68 seen on the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tapped {
    pub source: SocketAddrV4,
    pub destination: Ipv4Addr,
    /// The Ethernet source of the frame.
    pub mac: Mac,
    pub payload: Vec<u8>,
}

/// The tap on one interface. Opening it needs `CAP_NET_RAW`.
#[derive(Debug)]
pub struct ClientPortTap {
    fd: AsyncFd<OwnedFd>,
}

impl ClientPortTap {
    /// Opens the tap on the interface with index `ifindex`.
    ///
    /// # Panics
    /// Outside a tokio runtime with I/O enabled.
    pub fn open(ifindex: u32) -> io::Result<ClientPortTap> {
        let protocol = Protocol::from(i32::from(ETH_P_IP.to_be()));
        let socket = Socket::new(Domain::PACKET, Type::DGRAM, Some(protocol))?;
        socket.set_cloexec(true)?;
        socket.set_nonblocking(true)?;
        // The filter first, then the interface: frames queued before either are drained below.
        socket.attach_filter(&FILTER)?;
        let fd = OwnedFd::from(socket);
        nix::sys::socket::bind(fd.as_raw_fd(), &link_addr(ifindex, [0; 6])?)?;
        let mut scratch = [0u8; 64];
        while recvfrom::<LinkAddr>(fd.as_raw_fd(), &mut scratch).is_ok() {}
        // SAFETY: the `AsyncFd` takes ownership of the `OwnedFd`, so the descriptor stays open
        // and refers to this socket until the `AsyncFd` drops it, and `as_raw_fd` of an
        // `OwnedFd` always returns that same descriptor.
        #[allow(unsafe_code)]
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) };
        Ok(ClientPortTap { fd: fd.map_err(|e| e.into_parts().1)? })
    }

    /// The next datagram to port 68 that arrived on the interface.
    pub async fn recv(&self) -> io::Result<Tapped> {
        let mut buf = vec![0u8; 65_536];
        loop {
            let mut ready = self.fd.readable().await?;
            let received = ready.try_io(|fd| recvfrom::<LinkAddr>(fd.as_raw_fd(), &mut buf).map_err(io::Error::from));
            let Ok(received) = received else { continue };
            let (len, from) = received?;
            let Some(from) = from.filter(|f| f.pkttype() != PACKET_OUTGOING) else { continue };
            if let Some(tapped) = from.addr().and_then(|mac| parse(&buf[..len], Mac(mac))) {
                return Ok(tapped);
            }
        }
    }
}

/// The UDP datagram in an IPv4 packet, if it is one to port 68.
fn parse(packet: &[u8], mac: Mac) -> Option<Tapped> {
    let sliced = SlicedPacket::from_ip(packet).ok()?;
    let Some(NetSlice::Ipv4(ip)) = sliced.net else { return None };
    let Some(TransportSlice::Udp(udp)) = sliced.transport else { return None };
    if udp.destination_port() != CLIENT_PORT {
        return None;
    }
    let header = ip.header();
    Some(Tapped {
        source: SocketAddrV4::new(header.source_addr(), udp.source_port()),
        destination: header.destination_addr(),
        mac,
        payload: udp.payload().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn udp(to_port: u16, payload: &[u8]) -> Vec<u8> {
        let builder = PacketBuilder::ipv4([10, 0, 0, 2], [255, 255, 255, 255], 64).udp(67, to_port);
        let mut packet = Vec::new();
        builder.write(&mut packet, payload).unwrap();
        packet
    }

    #[test]
    fn a_datagram_to_port_68_comes_out_with_its_source_and_mac() {
        let mac = Mac([2, 0, 0, 0, 0, 7]);
        let tapped = parse(&udp(68, b"offer"), mac).unwrap();
        assert_eq!(tapped.source, SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 67));
        assert_eq!((tapped.destination, tapped.mac), (Ipv4Addr::BROADCAST, mac));
        assert_eq!(tapped.payload, b"offer");
    }

    #[test]
    fn other_ports_and_garbage_do_not() {
        assert_eq!(parse(&udp(69, b"x"), Mac([0; 6])), None);
        assert_eq!(parse(b"\x45\x00", Mac([0; 6])), None);
        assert_eq!(parse(&[], Mac([0; 6])), None);
    }
}
