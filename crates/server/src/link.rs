//! How a transfer reaches its peer: its own socket on a fresh port (the normal case, RFC 1350
//! transfer IDs), or the listening socket shared with every other transfer (single-port mode,
//! for NAT and container bridges), whose datagrams the listener routes to the transfer's event
//! loop.
//!
//! The client uses its own socket with blocking, bounded calls ([`Link::recv`]); the server's
//! event loops use non-blocking ones ([`Link::try_recv`]), where a send into a full buffer
//! fails at once instead of waiting.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use lifeboat_net::{PktInfoSocket, TransferSocket};
use lifeboat_tftp::{ErrorCode, Packet};

/// Largest datagram a transfer expects: a DATA packet at the largest block size.
pub(crate) const MAX_DATAGRAM: usize = 65_536;

#[derive(Debug)]
pub(crate) enum Link {
    /// A socket of this transfer alone, on a port of its own.
    Own { socket: TransferSocket, peer: SocketAddr },
    /// The listening socket; the listener routes this peer's datagrams to the transfer's loop.
    Shared { socket: Arc<PktInfoSocket>, peer: SocketAddr, local: IpAddr, ifindex: u32 },
}

impl Link {
    pub(crate) fn peer(&self) -> SocketAddr {
        match self {
            Link::Own { peer, .. } | Link::Shared { peer, .. } => *peer,
        }
    }

    pub(crate) fn send(&self, datagram: &[u8]) -> io::Result<()> {
        match self {
            Link::Own { socket, peer } => socket.send_to(datagram, *peer),
            Link::Shared { socket, peer, local, ifindex, .. } => {
                socket.try_send_from(datagram, *peer, Some(*local), *ifindex).map(drop)
            }
        }
    }

    /// Sends the datagrams laid back to back in `datagrams`, each `segment` bytes long but the
    /// last: in one system call on a socket of its own (segmentation offload).
    pub(crate) fn send_segments(&mut self, datagrams: &[u8], segment: usize) -> io::Result<()> {
        match self {
            Link::Own { socket, peer } => socket.send_segments(datagrams, segment, *peer),
            Link::Shared { .. } => datagrams.chunks(segment.max(1)).try_for_each(|datagram| self.send(datagram)),
        }
    }

    /// Waits up to `timeout` for the next datagram from the peer, into `buf` (at most `capacity`
    /// bytes; the rest of a longer one is cut off); false when none came. `spin` is how long to
    /// poll before sleeping. Datagrams from other addresses are dealt with as
    /// [`Link::try_recv`] says. Blocking; a link of its own only (the client's).
    pub(crate) fn recv(
        &mut self,
        buf: &mut Vec<u8>,
        capacity: usize,
        spin: Duration,
        timeout: Duration,
    ) -> io::Result<bool> {
        let Link::Own { socket, peer } = self else {
            return Err(io::Error::other("a shared link receives through its event loop"));
        };
        buf.resize(capacity, 0);
        let Some((len, from)) = socket.recv_from(buf, spin, timeout)? else {
            buf.clear();
            return Ok(false);
        };
        buf.truncate(len);
        if from_peer(socket, *peer, from, buf) {
            return Ok(true);
        }
        buf.clear();
        Ok(false)
    }

    /// Takes the next datagram queued on a link of its own, without waiting: its length in
    /// `buf` (cut to `buf`'s length), or `None` when nothing from the peer was there. DATA or an
    /// ACK from any other address is answered with ERROR 5 (anything else from there is
    /// ignored: answering an ERROR can start a loop) and does not disturb the transfer. A
    /// shared link has nothing to take here: its loop is handed its datagrams.
    pub(crate) fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let Link::Own { socket, peer } = self else { return Ok(None) };
        match socket.try_recv_from(buf) {
            Ok((len, from)) => Ok(from_peer(socket, *peer, from, &buf[..len]).then_some(len)),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Whether `datagram` came from the transfer's peer; a stranger's DATA or ACK is answered with
/// ERROR 5.
fn from_peer(socket: &TransferSocket, peer: SocketAddr, from: SocketAddr, datagram: &[u8]) -> bool {
    if from == peer {
        return true;
    }
    tracing::debug!(%from, expected = %peer, "datagram from an unknown transfer ID");
    if matches!(Packet::parse(datagram), Ok(Packet::Data { .. } | Packet::Ack { .. })) {
        let error = Packet::error(ErrorCode::UnknownTransferId, "unknown transfer ID").to_bytes();
        // Best effort: a stranger that cannot be answered is no reason to stop.
        let _ = socket.send_to(&error, from);
    }
    false
}
