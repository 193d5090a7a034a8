//! Sending a UDP datagram straight to a hardware address through a packet socket (`AF_PACKET`).
//!
//! A DHCP server must unicast an OFFER or ACK to a client that has no IP address yet and so
//! cannot answer ARP (RFC 2131 §4.1). dnsmasq does it by writing an entry into the kernel's ARP
//! table, which holds at most `gc_thresh3` (1,024 by default) entries, so replies get lost
//! past that many clients. Here the link-layer destination is given with each datagram instead
//! and no kernel table is touched.
//!
//! **Invariant:** the socket only sends (protocol 0: it receives nothing), and every frame is a
//! complete IPv4/UDP datagram with correct checksums, addressed to one interface and one MAC, or
//! an address announcement built by `announce.rs`.

use std::io;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, OwnedFd};

use etherparse::PacketBuilder;
use lifeboat_dhcp::Mac;
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, sendto, socket};

use crate::announce::Announcement;
use crate::link_addr::{link_addr, link_addr_of};

/// Time to live of the frames sent.
const TTL: u8 = 64;

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
        mac: Mac,
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
        let link = link_addr(ifindex, mac.0)?;
        sendto(self.fd.as_raw_fd(), &datagram, &link, MsgFlags::empty())?;
        Ok(())
    }

    /// Send `announcement` (an ARP Announcement or an unsolicited Neighbor Advertisement) out of
    /// the interface with index `ifindex`. Never blocks: a full queue is `WouldBlock`.
    pub fn announce(&self, ifindex: u32, announcement: &Announcement) -> io::Result<()> {
        let link = link_addr_of(ifindex, announcement.destination, announcement.ethertype)?;
        sendto(self.fd.as_raw_fd(), &announcement.payload, &link, MsgFlags::empty())?;
        Ok(())
    }
}
