//! How a transfer reaches its peer: its own socket on a fresh port (the normal case, RFC 1350
//! transfer IDs), or the listening socket shared with every other transfer (single-port mode,
//! for NAT and container bridges), fed by the listener through a channel.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use lifeboat_net::PktInfoSocket;
use lifeboat_tftp::{ErrorCode, Packet};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Largest datagram a transfer expects: a DATA packet at the largest block size.
pub(crate) const MAX_DATAGRAM: usize = 65_536;

#[derive(Debug)]
pub(crate) enum Link {
    /// A socket of this transfer alone, on a port of its own.
    Own { socket: UdpSocket, peer: SocketAddr },
    /// The listening socket; the listener routes this peer's datagrams into `inbox`.
    Shared { socket: Arc<PktInfoSocket>, inbox: mpsc::Receiver<Vec<u8>>, peer: SocketAddr, local: IpAddr, ifindex: u32 },
}

impl Link {
    pub(crate) fn peer(&self) -> SocketAddr {
        match self {
            Link::Own { peer, .. } | Link::Shared { peer, .. } => *peer,
        }
    }

    pub(crate) async fn send(&self, datagram: &[u8]) -> io::Result<()> {
        match self {
            Link::Own { socket, peer } => socket.send_to(datagram, *peer).await.map(drop),
            Link::Shared { socket, peer, local, ifindex, .. } => {
                socket.send_from(datagram, *peer, Some(*local), *ifindex).await.map(drop)
            }
        }
    }

    /// Waits for the next datagram from the peer into `buf`. A datagram from any other address
    /// is answered with ERROR 5 and does not disturb the transfer.
    pub(crate) async fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Link::Own { socket, peer } => loop {
                buf.resize(MAX_DATAGRAM, 0);
                let (len, from) = socket.recv_from(buf).await?;
                buf.truncate(len);
                if from == *peer {
                    return Ok(());
                }
                tracing::debug!(%from, expected = %peer, "datagram from an unknown transfer ID");
                let error = Packet::error(ErrorCode::UnknownTransferId, "unknown transfer ID").to_bytes();
                // Best effort: a stranger that cannot be answered is no reason to stop.
                let _ = socket.try_send_to(&error, from);
            },
            Link::Shared { inbox, .. } => {
                *buf = inbox.recv().await.ok_or_else(|| io::Error::other("the listener stopped"))?;
                Ok(())
            }
        }
    }
}
