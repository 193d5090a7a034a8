//! Looking for another DHCP server on a segment: before lifeboat hands out addresses there
//! ([`probe`]), and all the time while it does ([`watch`]).
//!
//! Two DHCP servers on one segment hand out conflicting addresses, and the user only notices
//! when devices misbehave. So lifeboat first acts as a client: a DISCOVER out of the interface,
//! repeated, then it listens on port 68. Servers that ping an address before they offer it
//! (dnsmasq by default, ISC dhcpd, Windows) answer about three seconds late, so the probe
//! listens for [`PROBE_WAIT`] (five seconds) and sends again every [`PROBE_RESEND`].
//!
//! While serving, a [`ClientPortTap`] on each served interface sees every reply to port 68 on
//! the segment, with its sender's MAC, and a probe goes out every [`WATCH_PROBE_EVERY`], so a
//! server that only answers its own clients is heard as well. Without `CAP_NET_RAW` the probe's
//! own socket listens instead, and the MAC comes from the neighbour table if it knows it.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lifeboat_clock::Clock;
use lifeboat_dhcp::Mac;
use lifeboat_dhcp::probe::{ForeignServer, foreign_reply, probe_answer, probe_discover};
use lifeboat_net::{ClientPortTap, Interface, device_socket, neighbour_mac};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;

/// How long the start-up probe listens.
pub const PROBE_WAIT: Duration = Duration::from_secs(5);

/// How often the start-up probe sends its DISCOVER again while it listens.
const PROBE_RESEND: Duration = Duration::from_millis(1500);

/// How often a serving lifeboat probes each of its segments.
pub const WATCH_PROBE_EVERY: Duration = Duration::from_secs(5);

/// A locally administered MAC for interfaces without one.
const FALLBACK_MAC: Mac = Mac([0x02, 0x6c, 0x62, 0, 0, 1]);

/// Who answered the probe on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProbeAnswer {
    pub(crate) from: SocketAddr,
    pub(crate) server: ForeignServer,
}

/// Another DHCP server seen on a segment lifeboat serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherServer {
    /// The interface it was seen on, and its index.
    pub interface: String,
    pub index: u32,
    /// The address its reply came from.
    pub address: Ipv4Addr,
    /// Its MAC, when known.
    pub mac: Option<Mac>,
    /// The server identifier it named, if any.
    pub server_id: Option<Ipv4Addr>,
    /// The address it offered or acknowledged.
    pub offered: Ipv4Addr,
    pub seen_at: SystemTime,
    /// Whether lifeboat stopped handing out new addresses on that segment because of it.
    pub held_back: bool,
}

impl std::fmt::Display for OtherServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "another DHCP server answers on {}: {}", self.interface, self.address)?;
        if let Some(mac) = self.mac {
            write!(f, " (MAC {mac})")?;
        }
        write!(f, " offered {}", self.offered)?;
        if self.held_back {
            f.write_str(". lifeboat hands out no new addresses there: stop the other server, then restart DHCP")
        } else {
            f.write_str(". lifeboat goes on serving there (--dhcp-skip-probe): devices may get conflicting addresses")
        }
    }
}

/// Send DISCOVERs out of `interface` for `wait`, and return the first OFFER that answers them.
pub(crate) async fn probe(interface: &Interface, wait: Duration) -> io::Result<Option<ProbeAnswer>> {
    probe_excluding(interface, wait, &[]).await
}

/// Another DHCP server answering on `interface` within `wait`: a server at one of `own` (this
/// machine's addresses, where lifeboat itself may answer) does not count. For `lifeboat doctor`.
pub async fn find_other_dhcp_server(
    interface: &Interface,
    wait: Duration,
    own: &[Ipv4Addr],
) -> io::Result<Option<OtherServer>> {
    let Some(answer) = probe_excluding(interface, wait, own).await? else { return Ok(None) };
    let address = match answer.from.ip() {
        std::net::IpAddr::V4(v4) => v4,
        std::net::IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    };
    Ok(Some(OtherServer {
        interface: interface.name.clone(),
        index: interface.index,
        address,
        mac: neighbour_mac(address),
        server_id: answer.server.server_id,
        offered: answer.server.offered,
        seen_at: SystemTime::now(),
        held_back: false,
    }))
}

async fn probe_excluding(interface: &Interface, wait: Duration, own: &[Ipv4Addr]) -> io::Result<Option<ProbeAnswer>> {
    let socket = device_socket(&interface.name, 68)?;
    let mac = interface.mac.unwrap_or(FALLBACK_MAC);
    let xid = getrandom::u32().map_err(io::Error::other)?;
    let deadline = Instant::now() + wait;
    let mut next_send = Instant::now();
    let mut buf = vec![0u8; 1500];
    loop {
        if Instant::now() >= next_send {
            send_probe(&socket, mac, xid).await?;
            next_send += PROBE_RESEND;
        }
        let until = next_send.min(deadline);
        match timeout_at(until, socket.recv_from(&mut buf)).await {
            Ok(received) => {
                let (len, from) = received?;
                let from_own = |a: Ipv4Addr| own.contains(&a);
                let ours = matches!(from.ip(), std::net::IpAddr::V4(a) if from_own(a));
                if let Some(server) = probe_answer(&buf[..len], mac, xid)
                    && !ours
                    && !server.server_id.is_some_and(from_own)
                {
                    return Ok(Some(ProbeAnswer { from, server }));
                }
            }
            Err(_) if until >= deadline => return Ok(None),
            Err(_) => {}
        }
    }
}

async fn send_probe(socket: &UdpSocket, mac: Mac, xid: u32) -> io::Result<()> {
    let broadcast = SocketAddrV4::new(Ipv4Addr::BROADCAST, 67);
    socket.send_to(&probe_discover(mac, xid), broadcast).await.map(drop)
}

/// Watch the segment of `interface` for other DHCP servers until `shutdown`, reporting each
/// reply of one to `found`. `own` are this machine's addresses (its own replies are not
/// another server's).
pub(crate) async fn watch(
    interface: Interface,
    own: Vec<Ipv4Addr>,
    found: mpsc::Sender<OtherServer>,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) {
    let name = interface.name.clone();
    let tap = match ClientPortTap::open(interface.index) {
        Ok(tap) => Some(tap),
        Err(error) => {
            tracing::warn!(
                "cannot watch {name} for other DHCP servers' replies ({error}): only answers to lifeboat's own probes are seen (give lifeboat CAP_NET_RAW)"
            );
            None
        }
    };
    let socket = match device_socket(&name, 68) {
        Ok(socket) => socket,
        Err(error) => {
            tracing::warn!("cannot probe {name} for other DHCP servers: {error}");
            return;
        }
    };
    let mac = interface.mac.unwrap_or(FALLBACK_MAC);
    let mut probes = tokio::time::interval(WATCH_PROBE_EVERY);
    let mut buf = vec![0u8; 1500];
    loop {
        let seen = tokio::select! {
            () = shutdown.cancelled() => return,
            _ = probes.tick() => {
                let xid = getrandom::u32().unwrap_or(0x6c62_7072);
                if let Err(error) = send_probe(&socket, mac, xid).await {
                    tracing::debug!("probe for other DHCP servers on {name} not sent: {error}");
                }
                continue;
            }
            tapped = recv_tapped(tap.as_ref()) => match tapped {
                Ok(t) => (*t.source.ip(), Some(t.mac), t.payload),
                Err(error) => {
                    tracing::debug!("watching {name} for other DHCP servers: {error}");
                    continue;
                }
            },
            received = socket.recv_from(&mut buf), if tap.is_none() => match received {
                Ok((len, SocketAddr::V4(from))) => (*from.ip(), neighbour_mac(*from.ip()), buf[..len].to_vec()),
                _ => continue,
            },
        };
        let (address, mac, payload) = seen;
        if own.contains(&address) {
            continue;
        }
        if let Some(server) = foreign_reply(&payload, &own) {
            let other = OtherServer {
                interface: name.clone(),
                index: interface.index,
                address,
                mac,
                server_id: server.server_id,
                offered: server.offered,
                seen_at: clock.now(),
                held_back: false,
            };
            // Never waits: a server that stops reading must not keep its watchers from stopping.
            if let Err(mpsc::error::TrySendError::Closed(_)) = found.try_send(other) {
                return;
            }
        }
    }
}

async fn recv_tapped(tap: Option<&ClientPortTap>) -> io::Result<lifeboat_net::Tapped> {
    match tap {
        Some(tap) => tap.recv().await,
        None => std::future::pending().await,
    }
}
