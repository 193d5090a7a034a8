//! Looking for another DHCP server on a segment before lifeboat hands out addresses there.
//!
//! Two DHCP servers on one segment hand out conflicting addresses, and the user only notices
//! when devices misbehave. So lifeboat first acts as a client: one DISCOVER out of the
//! interface, then it listens on port 68 for a bounded time.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use lifeboat_dhcp::probe::{ForeignServer, probe_answer, probe_discover};
use lifeboat_net::{Interface, device_socket};
use tokio::time::{Instant, timeout_at};

/// Who answered the probe on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProbeAnswer {
    pub(crate) from: SocketAddr,
    pub(crate) server: ForeignServer,
}

/// Send one DISCOVER out of `interface` and wait up to `wait` for an OFFER.
pub(crate) async fn probe(interface: &Interface, wait: Duration) -> io::Result<Option<ProbeAnswer>> {
    let socket = device_socket(&interface.name, 68)?;
    let mac = interface.mac.unwrap_or([0x02, 0x6c, 0x62, 0, 0, 1]); // locally administered
    let xid = getrandom::u32().map_err(io::Error::other)?;
    let broadcast = SocketAddrV4::new(Ipv4Addr::BROADCAST, 67);
    socket.send_to(&probe_discover(mac, xid), broadcast).await?;
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 1500];
    loop {
        let Ok(received) = timeout_at(deadline, socket.recv_from(&mut buf)).await else {
            return Ok(None);
        };
        let (len, from) = received?;
        if let Some(server) = probe_answer(&buf[..len], mac, xid) {
            return Ok(Some(ProbeAnswer { from, server }));
        }
    }
}
