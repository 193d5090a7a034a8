//! Sending DHCP replies where the core said: relay, unicast, broadcast out of one interface, or
//! straight to a hardware address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lifeboat_dhcp::destination::{CLIENT_PORT, PXE_PORT, SERVER_PORT};
use lifeboat_dhcp::{Arrival, Destination, Reply};
use lifeboat_net::{FrameSender, PktInfoSocket};

/// The sockets replies leave from.
#[derive(Debug)]
pub(crate) struct ReplySender {
    /// Port 67.
    pub(crate) dhcp: PktInfoSocket,
    /// Port 4011, when a proxyDHCP range is configured.
    pub(crate) pxe: Option<PktInfoSocket>,
    /// For replies to clients without an address; `None` without `CAP_NET_RAW`, and then those
    /// replies are broadcast instead.
    pub(crate) frames: Option<FrameSender>,
    /// Replies sent so far.
    pub(crate) sent: Arc<AtomicU64>,
}

impl ReplySender {
    /// Send `reply` to the request that arrived as `arrival`. Failures are logged: a lost reply
    /// is retransmitted by the client.
    pub(crate) async fn send(&self, reply: &Reply, arrival: &Arrival) {
        let local = Some(IpAddr::V4(arrival.local_address));
        let socket = match (&self.pxe, arrival.local_port) {
            (Some(pxe), PXE_PORT) => pxe,
            _ => &self.dhcp,
        };
        let broadcast = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT));
        let result = match reply.to {
            Destination::Relay(to) | Destination::Unicast(to) => {
                socket.send_from(&reply.bytes, to.into(), local, 0).await
            }
            Destination::Broadcast { interface } => socket.send_from(&reply.bytes, broadcast, local, interface).await,
            Destination::Hardware { interface, mac, address } => {
                let source = SocketAddrV4::new(arrival.local_address, SERVER_PORT);
                let direct = SocketAddrV4::new(address, CLIENT_PORT);
                match self.frames.as_ref().map(|f| f.send_udp(interface, mac, source, direct, &reply.bytes)) {
                    Some(Ok(())) => Ok(reply.bytes.len()),
                    Some(Err(e)) => {
                        tracing::debug!("direct reply to {address} failed ({e}); broadcasting it instead");
                        socket.send_from(&reply.bytes, broadcast, local, interface).await
                    }
                    None => socket.send_from(&reply.bytes, broadcast, local, interface).await,
                }
            }
        };
        match result {
            Ok(_) => {
                self.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!("DHCP reply to {:?} could not be sent: {e}", reply.to),
        }
    }
}
