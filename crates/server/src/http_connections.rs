//! The connections of the HTTP boot server: how many may be open at once, in all and per client
//! address, the accept loop that keeps to it, and each connection's requests and answers.
//!
//! A boot storm opens one or two connections per machine (iPXE keeps its connection for the
//! kernel and the initrd); a client that opens hundreds and sends nothing (slowloris) would
//! otherwise hold sockets and buffers until the kernel runs out. So a connection beyond the
//! limits is closed at once, a request head must arrive within [`HEADER_WAIT`], a client that
//! takes nothing of an answer for [`STALL`] loses its connection, and each open connection
//! costs a bounded amount of memory (a head of at most 16 KiB; files go by `sendfile`).
//!
//! Each connection reads request heads (`http_wire.rs`), hands each request to the router, and
//! writes the answer: the head, then the attached file with `sendfile` (`http_file.rs`) or the
//! body the router made.
//!
//! **Invariant:** every accepted connection holds a [`Place`] until its task ends, and the
//! counts never exceed [`MAX_CONNECTIONS`] and [`MAX_PER_CLIENT`]; on shutdown a connection
//! finishes the answer it is sending and closes, an idle one closes at once, and those still
//! open after the grace time are dropped.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Method;
use axum::response::Response;
use futures_util::StreamExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::http_file::AttachedFile;
use crate::http_wire::{self, Framing};

/// Open connections at most, from all clients: a boot storm of several hundred machines.
pub(crate) const MAX_CONNECTIONS: usize = 1024;

/// Open connections at most from one address: a machine needs one or two; a lab router doing
/// NAT for a rack needs more.
pub(crate) const MAX_PER_CLIENT: usize = 64;

/// How long a client may take to send a request head.
pub(crate) const HEADER_WAIT: Duration = Duration::from_secs(10);

/// How long a client may take nothing of an answer before its connection is closed.
pub(crate) const STALL: Duration = Duration::from_secs(30);

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
        let router = router.clone();
        let stop = shutdown.clone();
        running.spawn(async move {
            let _place = place;
            serve_connection(stream, router, endpoints, stop).await;
        });
    }
    let open = running.len();
    if tokio::time::timeout(STOP_GRACE, async { while running.join_next().await.is_some() {} }).await.is_err() {
        tracing::warn!("HTTP boot downloads still running {STOP_GRACE:?} after the stop were cut off");
    } else if open > 0 {
        tracing::debug!(open, "HTTP boot connections finished after the stop");
    }
}

/// One connection: requests in, answers out, until the client closes it, a request or answer
/// ends it, or the server stops.
async fn serve_connection(mut stream: TcpStream, router: Router, endpoints: Endpoints, stop: CancellationToken) {
    // An answer's head and body are separate writes: with Nagle's algorithm the body of a small
    // answer (a script) would wait for the client's delayed acknowledgement of the head.
    let _ = stream.set_nodelay(true);
    let mut buffer = Vec::with_capacity(1024);
    loop {
        let head = tokio::select! {
            () = stop.cancelled() => return,
            head = tokio::time::timeout(HEADER_WAIT, read_head(&mut stream, &mut buffer)) => head,
        };
        let head = match head {
            // A client that says nothing, or too slowly: closed, as hyper did.
            Err(_) | Ok(Ok(None)) => return,
            Ok(Err(HeadRead::Refused(error))) => {
                let answer = http_wire::error_response(error.status(), &now_date());
                let _ = tokio::time::timeout(STALL, stream.write_all(&answer)).await;
                return;
            }
            Ok(Err(HeadRead::Io)) => return,
            Ok(Ok(Some(head))) => head,
        };
        buffer.drain(..head.length);
        let mut request = head.request;
        request.extensions_mut().insert(ConnectInfo(endpoints));
        let head_request = request.method() == Method::HEAD;
        let response = match router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let keep_alive = head.keep_alive && !stop.is_cancelled();
        match answer(&mut stream, response, head_request, keep_alive).await {
            Ok(true) => {}
            Ok(false) | Err(_) => {
                let _ = tokio::time::timeout(STALL, stream.shutdown()).await;
                return;
            }
        }
    }
}

/// Why no request head came.
enum HeadRead {
    /// Answered with a status, then closed.
    Refused(http_wire::HeadError),
    /// The connection failed.
    Io,
}

/// Reads until `buffer` starts with a whole request head; `None` when the client closed the
/// connection between requests.
async fn read_head(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<Option<http_wire::RequestHead>, HeadRead> {
    loop {
        if !buffer.is_empty()
            && let Some(head) = http_wire::parse_head(buffer).map_err(HeadRead::Refused)?
        {
            return Ok(Some(head));
        }
        // Bounded: a buffer of `http_wire::MAX_HEAD` bytes without a whole head is refused above.
        buffer.reserve(4096);
        match stream.read_buf(buffer).await {
            Ok(0) if buffer.is_empty() => return Ok(None),
            Ok(0) => return Err(HeadRead::Io),
            Ok(_) => {}
            Err(_) => return Err(HeadRead::Io),
        }
    }
}

/// Writes `response`; `Ok(true)` when the connection may carry another request.
async fn answer(
    stream: &mut TcpStream,
    mut response: Response,
    head_request: bool,
    keep_alive: bool,
) -> std::io::Result<bool> {
    let attached = AttachedFile::take(&mut response);
    let (parts, body) = response.into_parts();
    let body_length = http_body::Body::size_hint(&body).exact();
    let framing = http_wire::framing(&parts, body_length, head_request);
    let keep_alive = keep_alive && framing != Framing::UntilClose;
    let head = http_wire::response_head(&parts, framing, keep_alive, &now_date());
    within_stall(stream.write_all(&head)).await?;
    if framing == Framing::None {
        // Files are attached to answers to `GET` only, which have a body: nothing to send.
        return Ok(keep_alive);
    }
    match attached {
        Some(file) => file.send(stream, STALL).await?,
        None => {
            let written = write_body(stream, body).await?;
            // A body of another length than its head stated (a file that changed while it was
            // read) leaves the client unable to find the next answer: the connection ends.
            if framing != Framing::Length(written) {
                return Ok(false);
            }
        }
    }
    Ok(keep_alive)
}

/// Writes a body the router made (a script, an error, a file `sendfile` cannot take) as it
/// comes; returns its length.
async fn write_body(stream: &mut TcpStream, body: Body) -> std::io::Result<u64> {
    let mut chunks = body.into_data_stream();
    let mut written = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(std::io::Error::other)?;
        within_stall(stream.write_all(&chunk)).await?;
        written += chunk.len() as u64;
    }
    Ok(written)
}

/// `writing`, unless the client takes nothing for [`STALL`].
async fn within_stall(writing: impl Future<Output = std::io::Result<()>>) -> std::io::Result<()> {
    tokio::time::timeout(STALL, writing)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the client took nothing")))
}

/// The `Date` of a response.
fn now_date() -> String {
    httpdate::fmt_http_date(std::time::SystemTime::now())
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
