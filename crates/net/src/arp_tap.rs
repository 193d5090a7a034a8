//! Seeing the ARP traffic of one interface: a packet socket (`AF_PACKET`) bound to the ARP
//! EtherType, so the kernel hands it ARP frames only and TFTP's data never wakes it.
//!
//! A bootloader that wants a TFTP server at a fixed address asks "who has 192.168.0.66?" long
//! before it sends a TFTP packet; when no host has that address nothing else ever arrives. The
//! question is the first sign of the device, and it names the address it wants.
//!
//! It also sends the probes of RFC 5227 ("who has this address?" from no address), which ask
//! whether anyone holds an address before lifeboat takes it.
//!
//! **Invariant:** on one interface; frames this machine sends are skipped; only intact
//! IPv4-over-Ethernet ARP packets come out; the only frames that go out are probes.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

use etherparse::{ArpEthIpv4Packet, ArpHardwareId, ArpOperation, ArpPacketSlice, EtherType};
use lifeboat_dhcp::{ArpSeen, Mac};
use nix::sys::socket::{LinkAddr, MsgFlags, recvfrom, sendto};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::link_addr::{ETH_P_ARP, link_addr_of};

/// `sll_pkttype` of frames this machine sends.
const PACKET_OUTGOING: u8 = 4;

/// The tap on one interface. Opening it needs `CAP_NET_RAW`.
#[derive(Debug)]
pub struct ArpTap {
    fd: AsyncFd<OwnedFd>,
    ifindex: u32,
}

impl ArpTap {
    /// Opens the tap on the interface with index `ifindex`.
    ///
    /// # Panics
    /// Outside a tokio runtime with I/O enabled.
    pub fn open(ifindex: u32) -> io::Result<ArpTap> {
        let protocol = Protocol::from(i32::from(ETH_P_ARP.to_be()));
        let socket = Socket::new(Domain::PACKET, Type::DGRAM, Some(protocol))?;
        socket.set_cloexec(true)?;
        socket.set_nonblocking(true)?;
        let fd = OwnedFd::from(socket);
        nix::sys::socket::bind(fd.as_raw_fd(), &link_addr_of(ifindex, [0; 6], ETH_P_ARP)?)?;
        // Frames of every interface may have queued before the bind: drain them.
        let mut scratch = [0u8; 64];
        while recvfrom::<LinkAddr>(fd.as_raw_fd(), &mut scratch).is_ok() {}
        // SAFETY: the `AsyncFd` takes ownership of the `OwnedFd`, so the descriptor stays open
        // and refers to this socket until the `AsyncFd` drops it, and `as_raw_fd` of an
        // `OwnedFd` always returns that same descriptor.
        #[allow(unsafe_code)]
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) };
        Ok(ArpTap { fd: fd.map_err(|e| e.into_parts().1)?, ifindex })
    }

    /// Broadcasts an ARP probe for `address` from `own_mac` (RFC 5227: sender address 0.0.0.0,
    /// so no host's ARP cache learns anything from it).
    pub fn probe(&self, own_mac: Mac, address: Ipv4Addr) -> io::Result<()> {
        let probe = ArpEthIpv4Packet {
            operation: ArpOperation::REQUEST,
            sender_mac: own_mac.0,
            sender_ipv4: [0; 4],
            target_mac: [0; 6],
            target_ipv4: address.octets(),
        };
        let broadcast = link_addr_of(self.ifindex, [0xff; 6], ETH_P_ARP)?;
        sendto(self.fd.get_ref().as_raw_fd(), &probe.to_bytes(), &broadcast, MsgFlags::empty())?;
        Ok(())
    }

    /// The next ARP packet another host sent on the interface.
    pub async fn recv(&self) -> io::Result<ArpSeen> {
        let mut buf = [0u8; 128];
        loop {
            let mut ready = self.fd.readable().await?;
            let received = ready.try_io(|fd| recvfrom::<LinkAddr>(fd.as_raw_fd(), &mut buf).map_err(io::Error::from));
            let Ok(received) = received else { continue };
            let (len, from) = received?;
            if from.is_none_or(|f| f.pkttype() == PACKET_OUTGOING) {
                continue;
            }
            if let Some(seen) = parse(&buf[..len.min(buf.len())]) {
                return Ok(seen);
            }
        }
    }
}

/// An IPv4-over-Ethernet ARP request or reply, if `packet` is one.
fn parse(packet: &[u8]) -> Option<ArpSeen> {
    let arp = ArpPacketSlice::from_slice(packet).ok()?;
    if arp.hw_addr_type() != ArpHardwareId::ETHERNET || arp.proto_addr_type() != EtherType::IPV4 {
        return None;
    }
    let request = match arp.operation() {
        ArpOperation::REQUEST => true,
        ArpOperation::REPLY => false,
        _ => return None,
    };
    let ipv4 = |bytes: &[u8]| <[u8; 4]>::try_from(bytes).ok().map(Ipv4Addr::from);
    Some(ArpSeen {
        request,
        sender_mac: Mac(arp.sender_hw_addr().try_into().ok()?),
        sender: ipv4(arp.sender_protocol_addr())?,
        target: ipv4(arp.target_protocol_addr())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet/IPv4 ARP packet as it arrives on a `SOCK_DGRAM` packet socket.
    fn arp(operation: u16, sender_mac: [u8; 6], sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
        let mut packet = vec![0, 1, 8, 0, 6, 4];
        packet.extend(operation.to_be_bytes());
        packet.extend(sender_mac);
        packet.extend(sender);
        packet.extend([0; 6]);
        packet.extend(target);
        packet
    }

    #[test]
    fn a_request_names_who_asks_and_for_what() {
        let mac = [0x50, 0xc7, 0xbf, 0, 0, 0x86];
        let seen = parse(&arp(1, mac, [192, 168, 0, 86], [192, 168, 0, 66])).unwrap();
        assert_eq!(
            seen,
            ArpSeen {
                request: true,
                sender_mac: Mac(mac),
                sender: Ipv4Addr::new(192, 168, 0, 86),
                target: Ipv4Addr::new(192, 168, 0, 66),
            }
        );
        assert!(!seen.is_announcement());
        assert!(parse(&arp(1, mac, [192, 168, 0, 86], [192, 168, 0, 86])).unwrap().is_announcement());
        assert!(!parse(&arp(2, mac, [10, 0, 0, 1], [10, 0, 0, 2])).unwrap().request);
    }

    #[test]
    fn anything_but_ethernet_ipv4_arp_is_dropped() {
        let mut other_hardware = arp(1, [2; 6], [10, 0, 0, 1], [10, 0, 0, 2]);
        other_hardware[1] = 6;
        assert_eq!(parse(&other_hardware), None);
        assert_eq!(parse(&arp(3, [2; 6], [10, 0, 0, 1], [10, 0, 0, 2])), None, "RARP");
        assert_eq!(parse(&arp(1, [2; 6], [10, 0, 0, 1], [10, 0, 0, 2])[..20]), None, "cut short");
        assert_eq!(parse(&[]), None);
    }
}
