//! The HTTP boot server: the boot root, read-only, over HTTP/1.1, for iPXE and UEFI HTTP boot
//! (kernels and initrds of tens to hundreds of MB, an order of magnitude faster than TFTP), and
//! `/ipxe`, the iPXE script of the asking machine's boot profile.
//!
//! Files are served by tower-http's `ServeFile`: `Range` (one range), `HEAD`, `ETag` and
//! `Last-Modified` with their conditional requests, and the exact `Content-Length`. A requested
//! path is resolved like a TFTP name ([`Root`]: inside the root only, symlinks checked, aliases,
//! case-insensitive fallback). There is no login (firmware cannot log in) and nothing else on
//! this port: the dashboard is separate.
//!
//! Connections are bounded in number, in all and per client, and a request head must come
//! within seconds (`http_connections.rs`): a client that opens many and says nothing holds no
//! more than its share.
//!
//! **Invariant:** a source outside the allow-list gets `403` and nothing else, and is logged at
//! most once a minute; every `GET` that streams a body (`200`, `206`) is a transfer the observer
//! sees start and end (complete, or failed when the client went away first), and every path that
//! does not exist is reported as a missing file. Nothing here waits on the observer.
//!
//! Files go from the page cache to the socket with `sendfile(2)` (`http_file.rs`), which is why
//! the connections are this server's own (`http_connections.rs`, `http_wire.rs`) and not hyper's:
//! hyper writes bodies from buffers, and through user space the copies cost 3–5× nginx's CPU.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lifeboat_tftp::text::peer_text;
use lifeboat_tftp::{Direction, ErrorCode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;
use tower_http::services::ServeFile;

use crate::access::AllowList;
use crate::http_body::{CountedBody, Download, HttpOutcome};
use crate::http_connections::{self, Connections, Endpoints};
use crate::http_file::AttachedFile;
use crate::observer::{RefusedRequest, RunningTransfer};
use crate::root::{LookupError, Root, RootError};
use crate::tally::{Asked, Budget, CountReason, Tally, Verdict};

/// Bytes read from a file per chunk of a body `ServeFile` sends itself (a file `sendfile` cannot
/// take). Each read is a hop to tokio's blocking pool: 256 KiB costs a quarter of the CPU of
/// tower-http's 64 KiB per GiB sent (measured with tests/bench/http-bench.sh).
const BODY_CHUNK: usize = 256 * 1024;

/// What the HTTP boot server needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpBootConfig {
    /// The boot root: the TFTP root.
    pub root: PathBuf,
    pub listen: Vec<SocketAddr>,
    /// The TFTP server's source allow-list.
    pub allow: AllowList,
    /// The TFTP server's aliases: a name → a file.
    pub aliases: std::collections::BTreeMap<String, PathBuf>,
}

/// Why the HTTP boot server could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpStartError {
    #[error(transparent)]
    Root(#[from] RootError),
    #[error(
        "cannot listen on {addr} for HTTP boot: {source}; choose another address with --http-boot-listen \
         (`ss -tlpn 'sport = :{}'` shows who holds the port)",
        addr.port()
    )]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A request for `/ipxe`: the machine's iPXE script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptRequest {
    pub client: SocketAddr,
    /// The address the machine reached this server on (where its script points it).
    pub server: SocketAddr,
    /// `?mac=`, as the machine sent it (iPXE fills in `${netX/mac}`).
    pub mac: Option<String>,
    /// `?profile=`: a profile chosen from the menu.
    pub profile: Option<String>,
}

/// A finished HTTP download.
#[derive(Debug, Clone)]
pub struct HttpReport {
    pub peer: SocketAddr,
    /// The path the client asked for.
    pub requested: String,
    pub file: PathBuf,
    pub started: SystemTime,
    /// The length of the answer (of the range, for a partial one).
    pub size: u64,
    pub bytes: u64,
    pub duration: Duration,
    pub outcome: HttpOutcome,
}

/// What the HTTP boot server tells the rest of lifeboat, and asks of it. Called from request
/// tasks: an observer never blocks.
pub trait HttpBootObserver: Send + Sync + 'static {
    /// The time of day reports are dated with.
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    /// The iPXE script for the machine behind `request`.
    fn script(&self, request: &ScriptRequest) -> String;

    fn started(&self, transfer: &Arc<RunningTransfer>) {
        let _ = transfer;
    }

    fn finished(&self, transfer: &Arc<RunningTransfer>, report: &HttpReport) {
        let _ = (transfer, report);
    }

    /// A path that is not there (`code` is [`ErrorCode::FileNotFound`]) or may not be served.
    fn refused(&self, refusal: &RefusedRequest) {
        let _ = refusal;
    }
}

/// A bound HTTP boot server, ready to [`run`](HttpBootServer::run).
pub struct HttpBootServer {
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for HttpBootServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpBootServer").field("listen", &self.local_addrs()).finish_non_exhaustive()
    }
}

struct Shared {
    root: Root,
    allow: AllowList,
    observer: Arc<dyn HttpBootObserver>,
    next_id: AtomicU64,
    strangers: Tally,
    connections: Arc<Connections>,
}

impl HttpBootServer {
    /// Checks the root and binds every listening address.
    pub async fn bind(
        config: HttpBootConfig,
        observer: Arc<dyn HttpBootObserver>,
    ) -> Result<HttpBootServer, HttpStartError> {
        let root = Root::new(&config.root, &config.aliases)?;
        let mut listeners = Vec::new();
        for addr in &config.listen {
            let listener =
                TcpListener::bind(addr).await.map_err(|source| HttpStartError::Bind { addr: *addr, source })?;
            listeners.push(listener);
        }
        let shared = Shared {
            root,
            allow: config.allow,
            observer,
            next_id: AtomicU64::new(1),
            strangers: Tally::new(Budget::STRANGER, CountReason::OutsideAllowList),
            connections: Arc::default(),
        };
        Ok(HttpBootServer { listeners, shared: Arc::new(shared) })
    }

    /// The addresses actually bound (with the port the system chose for port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter_map(|l| l.local_addr().ok()).collect()
    }

    /// Serves until `shutdown` fires; then takes no new connections, lets running downloads go
    /// on for a few seconds, and returns.
    pub async fn run(self, shutdown: CancellationToken) {
        let router = Router::new()
            .route("/ipxe", get(script))
            .fallback(file)
            .layer(axum::middleware::from_fn_with_state(Arc::clone(&self.shared), allowed))
            .with_state(Arc::clone(&self.shared));
        let mut servers = tokio::task::JoinSet::new();
        for listener in self.listeners {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, root = %self.shared.root.dir().display(), "HTTP boot listening");
            }
            let connections = Arc::clone(&self.shared.connections);
            servers.spawn(http_connections::serve(listener, router.clone(), connections, shutdown.clone()));
        }
        servers.join_all().await;
        tracing::info!("HTTP boot stopped");
    }
}

/// Lets only the allow-list in.
async fn allowed(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(endpoints): ConnectInfo<Endpoints>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let peer = endpoints.peer;
    if shared.allow.permits(peer.ip()) {
        return next.run(request).await;
    }
    let asked = Asked { direction: Direction::Read, name: peer_text(request.uri().path().as_bytes()) };
    if shared.strangers.note(peer.ip(), asked, Instant::now()) == Verdict::Record {
        tracing::warn!(
            %peer,
            path = request.uri().path(),
            "HTTP boot request refused: not in the allow-list (--tftp-allow); more from this source are not logged for a minute"
        );
    }
    (StatusCode::FORBIDDEN, "lifeboat: your address is not in this server's allow-list\n").into_response()
}

use script_query::ScriptQuery;

mod script_query {
    //! The query of `/ipxe`, read by hand: two optional keys (axum's `Query` would take serde
    //! and refuse a query with keys it does not know).

    /// `?mac=…&profile=…`; unknown keys are ignored.
    #[derive(Debug, Default)]
    pub(super) struct ScriptQuery {
        pub(super) mac: Option<String>,
        pub(super) profile: Option<String>,
    }

    impl ScriptQuery {
        pub(super) fn parse(query: &str) -> ScriptQuery {
            let mut parsed = ScriptQuery::default();
            for pair in query.split('&') {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                let value =
                    percent_encoding::percent_decode_str(&value.replace('+', " ")).decode_utf8_lossy().into_owned();
                match key {
                    "mac" if !value.is_empty() => parsed.mac = Some(value),
                    "profile" if !value.is_empty() => parsed.profile = Some(value),
                    _ => {}
                }
            }
            parsed
        }
    }
}

/// `GET /ipxe`: the machine's iPXE script.
async fn script(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(endpoints): ConnectInfo<Endpoints>,
    request: Request,
) -> Response {
    let query = ScriptQuery::parse(request.uri().query().unwrap_or(""));
    let asked =
        ScriptRequest { client: endpoints.peer, server: endpoints.local, mac: query.mac, profile: query.profile };
    let observer = Arc::clone(&shared.observer);
    // The observer may look at the neighbour table and render a template: off the async threads.
    let text = match tokio::task::spawn_blocking(move || observer.script(&asked)).await {
        Ok(text) => text,
        Err(error) => {
            tracing::error!(%error, "the iPXE script could not be made");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut response = text.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Any other path: a file under the boot root.
async fn file(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(endpoints): ConnectInfo<Endpoints>,
    request: Request,
) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let mut response = (StatusCode::METHOD_NOT_ALLOWED, "lifeboat serves boot files read-only\n").into_response();
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let raw_path = request.uri().path().to_owned();
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(&raw_path).collect();
    // The name as a TFTP client would ask for it (without the URL's leading slash), so that a
    // file missing over both protocols is one name in the history.
    let requested = peer_text(decoded.strip_prefix(b"/").unwrap_or(&decoded));
    let get = request.method() == Method::GET;
    let lookup = {
        let shared = Arc::clone(&shared);
        // A case-insensitive lookup reads directories, and an open may wait on the disk: off the
        // async threads. The file is opened for a `GET` only (its body), and a file that cannot
        // be opened is left to `ServeFile`, which answers for it.
        tokio::task::spawn_blocking(move || {
            let path = shared.root.resolve(&decoded)?;
            let opened = if get { std::fs::File::open(&path).ok() } else { None };
            Ok::<_, LookupError>((path, opened))
        })
        .await
    };
    let (path, opened) = match lookup {
        Ok(Ok(found)) => found,
        Ok(Err(error)) => return refuse(&shared, endpoints.peer, requested, &error),
        Err(error) => {
            tracing::error!(%error, "the lookup of {requested:?} failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let request = drop_stale_range(&path, drop_multipart_range(request)).await;
    let response = match ServeFile::new(&path).with_buf_chunk_size(BODY_CHUNK).oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    };
    let status = response.status();
    if !get || !(status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT) {
        return response;
    }
    let response = match opened {
        Some(file) => AttachedFile::attach(response, file),
        None => response,
    };
    let length = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    counted(&shared, endpoints.peer, requested, path, length, response)
}

/// `request` without its `Range` when its `If-Range` no longer names the file as it is now.
///
/// RFC 9110 §13.1.5: a client resuming a download sends the validator of the copy it has; if
/// the file was replaced since, the server must ignore the range and send the whole new file
/// (`200`), or the client glues the new file's tail to the old file's head and boots a broken
/// image. tower-http's `ServeFile` honours `Range` but not `If-Range`, so the check is made here,
/// against the validators `ServeFile` itself states for the file (a `HEAD` of its own): the
/// `ETag` compared strongly (a weak one never matches), a date only when it is exactly the
/// `Last-Modified`.
async fn drop_stale_range(path: &std::path::Path, mut request: Request) -> Request {
    let Some(validator) = request.headers().get(header::IF_RANGE).cloned() else { return request };
    if !request.headers().contains_key(header::RANGE) {
        return request;
    }
    let mut probe = Request::new(Body::empty());
    *probe.method_mut() = Method::HEAD;
    let current = match ServeFile::new(path).oneshot(probe).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    if !if_range_matches(validator.as_bytes(), current.headers()) {
        request.headers_mut().remove(header::RANGE);
    }
    request
}

/// A `Range` of several ranges is ignored, as RFC 9110 §14.2 allows: the whole file comes with
/// `200` (`ServeFile` would refuse it with `416`, which says the file has none of the bytes).
fn drop_multipart_range(mut request: Request) -> Request {
    if request.headers().get(header::RANGE).is_some_and(|range| range.as_bytes().contains(&b',')) {
        request.headers_mut().remove(header::RANGE);
    }
    request
}

/// Whether an `If-Range` validator names the file whose response headers are `current`.
fn if_range_matches(validator: &[u8], current: &axum::http::HeaderMap) -> bool {
    let validator = validator.trim_ascii();
    let (wanted, name) = match validator.first() {
        Some(b'"') => (validator, header::ETAG),
        // A weak entity tag (`W/"…"`) or anything else that is not a date never matches.
        Some(b'W') if validator.starts_with(b"W/") => return false,
        Some(_) => (validator, header::LAST_MODIFIED),
        None => return false,
    };
    current.get(name).is_some_and(|value| value.as_bytes() == wanted)
}

/// The answer to a path that cannot be served, reported to the observer.
fn refuse(shared: &Shared, peer: SocketAddr, requested: String, error: &LookupError) -> Response {
    let (status, code) = match error {
        LookupError::NotFound | LookupError::NotAFile => (StatusCode::NOT_FOUND, ErrorCode::FileNotFound),
        _ => (StatusCode::FORBIDDEN, ErrorCode::AccessViolation),
    };
    let reason = error.to_string();
    if status == StatusCode::NOT_FOUND {
        tracing::warn!(%peer, "HTTP boot: {requested:?} not found ({reason})");
    } else {
        tracing::warn!(%peer, "HTTP boot: {requested:?} refused: {reason}");
    }
    let at = shared.observer.now();
    let direction = Direction::Read;
    shared.observer.refused(&RefusedRequest { at, peer, direction, requested, code, reason: reason.clone() });
    (status, format!("lifeboat: {reason}\n")).into_response()
}

/// `response` with its body counted into a new transfer, which the observer sees start now and
/// end with the body.
fn counted(
    shared: &Arc<Shared>,
    peer: SocketAddr,
    requested: String,
    file: PathBuf,
    length: u64,
    response: Response,
) -> Response {
    let transfer = Arc::new(RunningTransfer {
        id: shared.next_id.fetch_add(1, Ordering::Relaxed),
        peer,
        direction: Direction::Read,
        requested,
        file,
        started: shared.observer.now(),
        progress: crate::pump::Progress::default(),
    });
    transfer.progress.set_total(length);
    shared.observer.started(&transfer);
    let observer = Arc::clone(&shared.observer);
    let ended = Box::new(move |transfer: &Arc<RunningTransfer>, outcome: HttpOutcome, duration: Duration| {
        let report = HttpReport {
            peer: transfer.peer,
            requested: transfer.requested.clone(),
            file: transfer.file.clone(),
            started: transfer.started,
            size: length,
            bytes: transfer.progress.bytes(),
            duration,
            outcome,
        };
        match &report.outcome {
            HttpOutcome::Complete => tracing::info!(
                peer = %report.peer,
                "HTTP boot: sent {:?} ({} bytes) in {:.2} s",
                report.requested,
                report.bytes,
                duration.as_secs_f64()
            ),
            HttpOutcome::Failed(why) => {
                tracing::warn!(peer = %report.peer, "HTTP boot: {:?} failed: {why}", report.requested)
            }
        }
        observer.finished(transfer, &report);
    });
    let download = Download::new(transfer, length, ended);
    match AttachedFile::count_into(&response, download) {
        None => response,
        Some(download) => response.map(|body| Body::new(CountedBody::new(body, download))),
    }
}
