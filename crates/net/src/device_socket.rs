//! A UDP socket tied to one interface, for talking to a segment before anything there has an
//! address (the DHCP server probe).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// A broadcast-capable IPv4 UDP socket on `port` that sends and receives on interface `device`
/// only. `SO_REUSEADDR` lets it share the port with another program's socket for the short
/// time it is open (a DHCP client of the machine on port 68, say).
///
/// # Panics
/// Outside a tokio runtime with I/O enabled.
pub fn device_socket(device: &str, port: u16) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_cloexec(true)?;
    socket.set_reuse_address(true)?;
    socket.set_broadcast(true)?;
    socket.set_nonblocking(true)?;
    socket.bind_device(Some(device.as_bytes()))?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    UdpSocket::from_std(socket.into())
}
