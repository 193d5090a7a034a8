//! The connections of the HTTP boot server: how many may be open at once, in all and per client
//! address, and the accept loop that keeps to it.
//!
//! A boot storm opens one or two connections per machine (iPXE keeps its connection for the
//! kernel and the initrd); a client that opens hundreds and sends nothing (slowloris) would
//! otherwise hold sockets and buffers until the kernel runs out. So a connection beyond the
//! limits is closed at once, a request head must arrive within [`HEADER_WAIT`], and each open
//! connection costs a bounded amount of memory (hyper's buffers and one file chunk in flight).
//!
//! **Invariant:** every accepted connection holds a [`Place`] until its task ends, and the
//! counts never exceed [`MAX_CONNECTIONS`] and [`MAX_PER_CLIENT`]; on shutdown every
//! connection is asked to finish its response, and those still open after the grace time are
//! dropped.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Open connections at most, from all clients: a boot storm of several hundred machines.
pub(crate) const MAX_CONNECTIONS: usize = 1024;

/// Open connections at most from one address: a machine needs one or two; a lab router doing
/// NAT for a rack needs more.
pub(crate) const MAX_PER_CLIENT: usize = 64;

/// How long a client may take to send a request head.
pub(crate) const HEADER_WAIT: Duration = Duration::from_secs(10);

/// How long a stopping server lets running downloads go on before it drops their connections.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How long the accept loop pauses after a failed accept (out of descriptors, say).
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Both ends of a connection: who asks, and the address it reached.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Endpoints {
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
}

/// The open connections, in all and by client address.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
    /// When a refused connection was last logged (one line a minute at most).
    refused_logged: Mutex<Option<Instant>>,
}

/// A connection's place; given back when dropped.
#[derive(Debug)]
pub(crate) struct Place {
    connections: Arc<Connections>,
    client: IpAddr,
}

impl Connections {
    /// A place for a connection from `client`, unless the limits are reached.
    pub(crate) fn admit(self: &Arc<Self>, client: IpAddr) -> Option<Place> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let (total, by_client) = &mut *open;
        let theirs = by_client.entry(client).or_default();
        if *total >= MAX_CONNECTIONS || *theirs >= MAX_PER_CLIENT {
            if *theirs == 0 {
                by_client.remove(&client);
            }
            return None;
        }
        *total += 1;
        *theirs += 1;
        Some(Place { connections: Arc::clone(self), client })
    }

    /// Open connections now, in all.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    fn log_refusal(&self, client: IpAddr) {
        let mut logged = self.refused_logged.lock().unwrap_or_else(|p| p.into_inner());
        if logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
            *logged = Some(Instant::now());
            tracing::warn!(
                %client,
                "HTTP boot connection closed at once: {MAX_CONNECTIONS} connections in all or {MAX_PER_CLIENT} from \
                 this address are open; more of these are not logged for a minute"
            );
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self.connections.open.lock().unwrap_or_else(|p| p.into_inner());
        let (total, by_client) = &mut *open;
        *total = total.saturating_sub(1);
        if let Some(theirs) = by_client.get_mut(&self.client) {
            *theirs = theirs.saturating_sub(1);
            if *theirs == 0 {
                by_client.remove(&self.client);
            }
        }
    }
}

/// Accepts connections on `listener` and serves each with `router` until `shutdown`; then lets
/// them finish for a grace time and drops the rest.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    connections: Arc<Connections>,
    shutdown: CancellationToken,
) {
    let mut running = JoinSet::new();
    loop {
        // Finished connections are reaped as we go, so the set holds only open ones.
        while running.try_join_next().is_some() {}
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "the HTTP boot server cannot accept a connection");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let Some(place) = connections.admit(peer.ip()) else {
            connections.log_refusal(peer.ip());
            continue;
        };
        let Ok(local) = stream.local_addr() else { continue };
        let endpoints = Endpoints { peer, local: SocketAddr::new(local.ip().to_canonical(), local.port()) };
        let service = TowerToHyperService::new(router.clone().layer(Extension(ConnectInfo(endpoints))));
        let stop = shutdown.clone();
        running.spawn(async move {
            let _place = place;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(HEADER_WAIT);
            let connection = http.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    let open = running.len();
    if tokio::time::timeout(STOP_GRACE, async { while running.join_next().await.is_some() {} }).await.is_err() {
        tracing::warn!("HTTP boot downloads still running {STOP_GRACE:?} after the stop were cut off");
    } else if open > 0 {
        tracing::debug!(open, "HTTP boot connections finished after the stop");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_bounded_per_client_and_given_back() {
        let connections = Arc::new(Connections::default());
        let a = IpAddr::from([10, 0, 0, 1]);
        let b = IpAddr::from([10, 0, 0, 2]);
        let held: Vec<Place> = (0..MAX_PER_CLIENT).map(|_| connections.admit(a).expect("a place")).collect();
        assert!(connections.admit(a).is_none(), "one address holds at most {MAX_PER_CLIENT}");
        let other = connections.admit(b).expect("another address still gets one");
        assert_eq!(connections.open(), MAX_PER_CLIENT + 1);
        drop(held);
        drop(other);
        assert_eq!(connections.open(), 0);
        assert!(connections.admit(a).is_some(), "places come back");
    }

    #[test]
    fn places_are_bounded_in_all() {
        let connections = Arc::new(Connections::default());
        let held: Vec<Place> = (0..MAX_CONNECTIONS)
            .map(|n| connections.admit(IpAddr::from([10, 1, (n / 256) as u8, (n % 256) as u8])).expect("a place"))
            .collect();
        assert!(connections.admit(IpAddr::from([10, 2, 0, 1])).is_none());
        drop(held);
        assert_eq!(connections.open(), 0);
    }
}
