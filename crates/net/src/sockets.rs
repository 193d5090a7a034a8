//! The listening socket, which reports the local address of every datagram (packet info).

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn, SockaddrIn6, SockaddrStorage, recvmsg, sendmsg,
    setsockopt, sockopt,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::BindError;

/// Receive and send buffer size asked for on every socket. Best effort: the kernel caps it at
/// `net.core.rmem_max` / `net.core.wmem_max`.
const BUFFER_BYTES: usize = 1 << 20;

/// One datagram received by a [`PktInfoSocket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    /// Bytes written into the caller's buffer.
    pub len: usize,
    /// The datagram was longer than the buffer; the rest was discarded.
    pub truncated: bool,
    /// Who sent it (for IPv6 link-local peers the scope id is set).
    pub peer: SocketAddr,
    /// The address to reply *from*: for IPv4 the kernel's preferred local address for this
    /// packet (`ipi_spec_dst`, which is the interface's unicast address when the request was
    /// sent to a broadcast address), for IPv6 the packet's destination address.
    pub local: IpAddr,
    /// Index of the interface the datagram arrived on (0 if the kernel did not say).
    pub ifindex: u32,
}

/// A UDP socket that reports, for each datagram, the local address it was sent to
/// (`IP_PKTINFO` / `IPV6_RECVPKTINFO`), and can choose the source address of replies.
///
/// IPv4 addresses get IPv4 sockets; IPv6 addresses get `IPV6_V6ONLY` sockets, so a server
/// listening on both `0.0.0.0` and `[::]` needs two of them.
#[derive(Debug)]
pub struct PktInfoSocket {
    inner: UdpSocket,
    bound: SocketAddr,
}

impl PktInfoSocket {
    /// Binds a non-blocking socket to `addr` with packet info enabled and registers it with the
    /// current tokio runtime.
    ///
    /// `SO_REUSEADDR` is deliberately *not* set: on Linux it lets a second UDP socket bind the
    /// same port silently, and then the two servers split the requests between them.
    ///
    /// # Panics
    /// Outside a tokio runtime with I/O enabled.
    pub fn bind(addr: SocketAddr) -> Result<Self, BindError> {
        let socket = configured_socket(addr).map_err(|e| BindError::new(addr, e))?;
        let pktinfo = match addr {
            SocketAddr::V4(_) => setsockopt(&socket, sockopt::Ipv4PacketInfo, &true),
            SocketAddr::V6(_) => setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true),
        };
        pktinfo.map_err(|e| BindError::new(addr, e.into()))?;
        socket.bind(&addr.into()).map_err(|e| BindError::new(addr, e))?;
        let inner = UdpSocket::from_std(socket.into()).map_err(|e| BindError::new(addr, e))?;
        let bound = inner.local_addr().map_err(|e| BindError::new(addr, e))?;
        Ok(Self { inner, bound })
    }

    /// Allow sending to broadcast addresses (`SO_BROADCAST`), as a DHCP server must.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.set_broadcast(on)
    }

    /// Receive only what arrives on interface `name` and send only out of it (`SO_BINDTODEVICE`).
    pub fn bind_device(&self, name: &str) -> io::Result<()> {
        socket2::SockRef::from(&self.inner).bind_device(Some(name.as_bytes()))
    }

    /// The address the socket is bound to (with the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Waits for one datagram, copies it into `buf` and says who sent it and to which address.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Datagram> {
        self.inner.async_io(Interest::READABLE, || self.recv_now(buf)).await
    }

    /// Sends `buf` to `peer` with source address `local` out of interface `ifindex`, using a
    /// packet-info control message. Pass [`Datagram::local`] and [`Datagram::ifindex`] to answer
    /// from the address the client talked to. `None`/unspecified and 0 leave the choice to the
    /// kernel.
    pub async fn send_from(
        &self,
        buf: &[u8],
        peer: SocketAddr,
        local: Option<IpAddr>,
        ifindex: u32,
    ) -> io::Result<usize> {
        let local = self.source_for(peer, local)?;
        if local.is_none() && ifindex == 0 {
            return self.inner.send_to(buf, peer).await;
        }
        self.inner.async_io(Interest::WRITABLE, || self.send_now(buf, peer, local, ifindex)).await
    }

    /// [`PktInfoSocket::send_from`] without waiting, callable from any thread: a full send
    /// buffer gives `WouldBlock`, which a datagram protocol treats as a lost packet.
    pub fn try_send_from(
        &self,
        buf: &[u8],
        peer: SocketAddr,
        local: Option<IpAddr>,
        ifindex: u32,
    ) -> io::Result<usize> {
        let local = self.source_for(peer, local)?;
        if local.is_none() && ifindex == 0 {
            return self.inner.try_send_to(buf, peer);
        }
        self.send_now(buf, peer, local, ifindex)
    }

    /// Checks that `peer` and `local` fit this socket; an unspecified `local` becomes `None`.
    fn source_for(&self, peer: SocketAddr, local: Option<IpAddr>) -> io::Result<Option<IpAddr>> {
        let local = local.filter(|ip| !ip.is_unspecified());
        if let Some(ip) = local
            && ip.is_ipv4() != peer.is_ipv4()
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot send to {peer} from {ip}: address families differ"),
            ));
        }
        if peer.is_ipv4() != self.bound.is_ipv4() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot send to {peer} from a socket bound to {}", self.bound),
            ));
        }
        Ok(local)
    }

    fn recv_now(&self, buf: &mut [u8]) -> io::Result<Datagram> {
        let mut iov = [IoSliceMut::new(buf)];
        // Large enough for either `in_pktinfo` or `in6_pktinfo`.
        let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo);
        let msg = recvmsg::<SockaddrStorage>(self.inner.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())?;
        let peer = msg
            .address
            .as_ref()
            .and_then(to_socket_addr)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "datagram without sender"))?;
        let mut local = self.bound.ip();
        let mut ifindex = 0;
        // A truncated control buffer (cannot happen with the size above) leaves the defaults.
        for cmsg in msg.cmsgs().into_iter().flatten() {
            match cmsg {
                ControlMessageOwned::Ipv4PacketInfo(info) => {
                    local = IpAddr::V4(Ipv4Addr::from(u32::from_be(info.ipi_spec_dst.s_addr)));
                    ifindex = u32::try_from(info.ipi_ifindex).unwrap_or(0);
                }
                ControlMessageOwned::Ipv6PacketInfo(info) => {
                    local = IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                    ifindex = info.ipi6_ifindex;
                }
                _ => {}
            }
        }
        Ok(Datagram { len: msg.bytes, truncated: msg.flags.contains(MsgFlags::MSG_TRUNC), peer, local, ifindex })
    }

    fn send_now(&self, buf: &[u8], peer: SocketAddr, local: Option<IpAddr>, ifindex: u32) -> io::Result<usize> {
        let fd = self.inner.as_raw_fd();
        let iov = [IoSlice::new(buf)];
        let sent = match peer {
            SocketAddr::V4(peer) => {
                let spec_dst = match local {
                    Some(IpAddr::V4(ip)) => ip,
                    _ => Ipv4Addr::UNSPECIFIED,
                };
                let info = libc::in_pktinfo {
                    ipi_ifindex: libc::c_int::try_from(ifindex)
                        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
                    ipi_spec_dst: libc::in_addr { s_addr: u32::from(spec_dst).to_be() },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                let cmsgs = [ControlMessage::Ipv4PacketInfo(&info)];
                sendmsg(fd, &iov, &cmsgs, MsgFlags::empty(), Some(&SockaddrIn::from(peer)))?
            }
            SocketAddr::V6(peer) => {
                let source = match local {
                    Some(IpAddr::V6(ip)) => ip,
                    _ => Ipv6Addr::UNSPECIFIED,
                };
                let info =
                    libc::in6_pktinfo { ipi6_addr: libc::in6_addr { s6_addr: source.octets() }, ipi6_ifindex: ifindex };
                let cmsgs = [ControlMessage::Ipv6PacketInfo(&info)];
                sendmsg(fd, &iov, &cmsgs, MsgFlags::empty(), Some(&SockaddrIn6::from(peer)))?
            }
        };
        Ok(sent)
    }
}

/// A non-blocking, close-on-exec UDP socket of `addr`'s family, not yet bound.
pub(crate) fn configured_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    // Best effort: a smaller buffer only costs throughput with large windows.
    let _ = socket.set_recv_buffer_size(BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(BUFFER_BYTES);
    Ok(socket)
}

pub(crate) fn to_socket_addr(storage: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = storage.as_sockaddr_in() {
        Some(SocketAddr::from(*v4))
    } else {
        storage.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6))
    }
}
