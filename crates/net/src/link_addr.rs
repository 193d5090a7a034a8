//! The link-layer address (`sockaddr_ll`) of an interface and a MAC, for the packet sockets of
//! [`FrameSender`](crate::FrameSender) and [`ClientPortTap`](crate::ClientPortTap).

use std::io;
use std::mem::size_of;

use nix::sys::socket::{LinkAddr, SockaddrLike};

/// EtherType of IPv4.
pub(crate) const ETH_P_IP: u16 = 0x0800;

/// EtherType of ARP.
pub(crate) const ETH_P_ARP: u16 = 0x0806;

/// EtherType of IPv6.
pub(crate) const ETH_P_IPV6: u16 = 0x86dd;

/// The `sockaddr_ll` of (`ifindex`, `mac`) for IPv4 frames.
pub(crate) fn link_addr(ifindex: u32, mac: [u8; 6]) -> io::Result<LinkAddr> {
    link_addr_of(ifindex, mac, ETH_P_IP)
}

/// The `sockaddr_ll` of (`ifindex`, `mac`) for frames of EtherType `protocol`.
pub(crate) fn link_addr_of(ifindex: u32, mac: [u8; 6], protocol: u16) -> io::Result<LinkAddr> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidInput, format!("no link address for interface #{ifindex}"));
    let mut addr = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as libc::c_ushort,
        sll_protocol: protocol.to_be(),
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
