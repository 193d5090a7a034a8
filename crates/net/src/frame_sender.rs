//! Sending a UDP datagram straight to a hardware address through a packet socket (`AF_PACKET`).
//!
//! A DHCP server must unicast an OFFER or ACK to a client that has no IP address yet and so
//! cannot answer ARP (RFC 2131 §4.1). dnsmasq does it by writing an entry into the kernel's ARP
//! table, which holds at most `gc_thresh3` (1,024 by default) entries, so replies get lost
//! past that many clients. Here the link-layer destination is given with each datagram instead
//! and no kernel table is touched.
//!
//! **Invariant:** the socket only sends (protocol 0: it receives nothing), and every frame is a
//! complete IPv4/UDP datagram with correct checksums, addressed to one interface and one MAC.

use std::io;
use std::mem::size_of;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, OwnedFd};

use etherparse::PacketBuilder;
use nix::sys::socket::{AddressFamily, LinkAddr, MsgFlags, SockFlag, SockType, SockaddrLike, sendto, socket};

/// Time to live of the frames sent.
const TTL: u8 = 64;
/// EtherType of IPv4.
const ETH_P_IP: u16 = 0x0800;

/// A send-only packet socket. Opening it needs `CAP_NET_RAW`.
#[derive(Debug)]
pub struct FrameSender {
    fd: OwnedFd,
}

impl FrameSender {
    pub fn open() -> io::Result<FrameSender> {
        let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
        // SOCK_DGRAM: the kernel writes the Ethernet header from the address given to sendto.
        let fd = socket(AddressFamily::Packet, SockType::Datagram, flags, None)?;
        Ok(FrameSender { fd })
    }

    /// Send `payload` from `source` to `destination` (UDP over IPv4), delivered to `mac` on the
    /// interface with index `ifindex`. Never blocks: a full queue is `WouldBlock`.
    pub fn send_udp(
        &self,
        ifindex: u32,
        mac: [u8; 6],
        source: SocketAddrV4,
        destination: SocketAddrV4,
        payload: &[u8],
    ) -> io::Result<()> {
        let builder = PacketBuilder::ipv4(source.ip().octets(), destination.ip().octets(), TTL)
            .udp(source.port(), destination.port());
        let mut datagram = Vec::with_capacity(builder.size(payload.len()));
        builder
            .write(&mut datagram, payload)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let link = link_addr(ifindex, mac)?;
        sendto(self.fd.as_raw_fd(), &datagram, &link, MsgFlags::empty())?;
        Ok(())
    }
}

/// The `sockaddr_ll` of (`ifindex`, `mac`) for IPv4 frames.
fn link_addr(ifindex: u32, mac: [u8; 6]) -> io::Result<LinkAddr> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidInput, format!("no link address for interface #{ifindex}"));
    let mut addr = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as libc::c_ushort,
        sll_protocol: ETH_P_IP.to_be(),
        sll_ifindex: libc::c_int::try_from(ifindex).map_err(|_| invalid())?,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 6,
        sll_addr: [0; 8],
    };
    addr.sll_addr[..6].copy_from_slice(&mac);
    let len = libc::socklen_t::try_from(size_of::<libc::sockaddr_ll>()).map_err(|_| invalid())?;
    // SAFETY: `addr` is a fully initialised `sockaddr_ll` that outlives the call, and `len` is
    // its exact size; `from_raw` copies it. nix offers no safe constructor for `LinkAddr`.
    #[allow(unsafe_code)]
    let link = unsafe { LinkAddr::from_raw((&raw const addr).cast::<libc::sockaddr>(), Some(len)) };
    link.ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_address_carries_interface_and_mac() {
        let link = link_addr(7, [2, 0, 0, 0, 0, 9]).unwrap();
        assert_eq!(link.ifindex(), 7);
        assert_eq!(link.addr(), Some([2, 0, 0, 0, 0, 9]));
        assert_eq!(link.protocol(), ETH_P_IP.to_be());
    }
}
