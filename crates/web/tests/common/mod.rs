//! The test harness of the dashboard: a fake [`Control`], an in-memory store, and an [`App`]
//! that sends requests through the router with `oneshot`, like a browser with a cookie jar.
#![allow(dead_code, unreachable_pub)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::ConnectInfo;
use axum::http::header::{CONTENT_TYPE, COOKIE, HOST, SET_COOKIE};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use lifeboat_store::{Direction, LogWriter, Store, TransferOutcome, TransferRecord};
use lifeboat_web::{
    AddressClaim, Auth, BoxFuture, ClaimError, ClaimedAddressView, ConfiguredAlias, ConfiguredReservation, Control,
    ControlError, DhcpExchange, FleetError, InstanceView, InterfaceInfo, LeaseView, LiveTransfer, Metrics, Service,
    ServiceStatus, SettingsError, SettingsInput, SettingsView, WantedAddressView, WebConfig, WebState, router,
};
use lifeboat_web::{
    DoctorCheck, DoctorRequest, ProfileChoice, RecoveryError, RecoveryPhase, RecoveryRequest, RecoveryStep,
    RecoveryView,
};
use tempfile::TempDir;
use tower::ServiceExt;

/// What the fake services remember.
#[derive(Debug, Default)]
pub struct FakeState {
    pub tftp: bool,
    pub dhcp: bool,
    /// The HTTP boot server (not in the status list: the fake serves TFTP and DHCP only).
    pub http: bool,
    /// DHCP was not configured at start-up (no range): it cannot be started.
    pub dhcp_unconfigured: bool,
    /// `(start|stop, service, origin)` of every call.
    pub calls: Vec<(&'static str, Service, String)>,
    pub reloads: usize,
    pub live: Vec<LiveTransfer>,
    pub leases: Vec<LeaseView>,
    pub in_use: Vec<String>,
    pub metrics: Metrics,
    pub alerts: Vec<String>,
    /// Starting TFTP fails with this message (and the overview shows it).
    pub tftp_fails: Option<String>,
    /// The settings the dashboard shows; `None`: settings cannot be changed (the default).
    pub settings: Option<SettingsView>,
    /// Applying settings is refused with this.
    pub settings_refusal: Option<SettingsError>,
    /// Every settings input applied, with its origin.
    pub applied: Vec<(SettingsInput, String)>,
    pub configured_aliases: Vec<ConfiguredAlias>,
    pub configured_reservations: Vec<ConfiguredReservation>,
    /// What `reservation_conflicts` answers.
    pub conflicts: Vec<(&'static str, String)>,
    /// TFTP stops itself when idle after this long (`stops_when_idle_in`).
    pub tftp_idle_left: Option<std::time::Duration>,
    pub dhcp_exchanges: Vec<DhcpExchange>,
    /// Every lease release asked for, with its origin.
    pub released: Vec<(Ipv4Addr, String)>,
    pub wanted: Vec<WantedAddressView>,
    /// The addresses "held", and what claiming answers instead when set.
    pub claims: Vec<ClaimedAddressView>,
    pub claim_refusal: Option<ClaimError>,
    pub armed: Option<String>,
    /// What the doctor answers, and what it was asked.
    pub doctor: Vec<DoctorCheck>,
    pub doctor_asked: Vec<DoctorRequest>,
    /// The recovery, and the recoveries started.
    pub recovery: RecoveryView,
    pub recoveries: Vec<RecoveryRequest>,
    /// The lifeboats of the fleet, as `instances` lists them.
    pub instances: Vec<InstanceView>,
}

/// A [`Control`] that only remembers.
#[derive(Debug, Default)]
pub struct FakeControl {
    pub state: Mutex<FakeState>,
}

impl FakeControl {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }
}

impl Control for FakeControl {
    fn services(&self) -> Vec<ServiceStatus> {
        let state = self.lock();
        vec![
            ServiceStatus {
                service: Service::Tftp,
                running: state.tftp,
                failed: !state.tftp && state.tftp_fails.is_some(),
                configured: true,
                listening: if state.tftp { vec!["0.0.0.0:69".into(), "[::]:69".into()] } else { vec![] },
                detail: state.tftp_fails.clone(),
                stops_when_idle_in: state.tftp_idle_left,
            },
            ServiceStatus {
                service: Service::Dhcp,
                running: state.dhcp,
                failed: false,
                configured: !state.dhcp_unconfigured,
                listening: if state.dhcp { vec!["eth1 (10.9.0.1:67)".into()] } else { vec![] },
                detail: Some("range 10.9.0.100 – 10.9.0.200".into()),
                stops_when_idle_in: None,
            },
        ]
    }

    fn start(&self, service: Service, origin: String) -> BoxFuture<'_, Result<(), ControlError>> {
        Box::pin(async move {
            let mut state = self.lock();
            state.calls.push(("start", service, origin));
            if let (Service::Tftp, Some(message)) = (service, state.tftp_fails.clone()) {
                return Err(ControlError::Failed { service, message });
            }
            let running = match service {
                Service::Tftp => &mut state.tftp,
                Service::Dhcp => &mut state.dhcp,
                Service::Http => &mut state.http,
            };
            if *running {
                return Err(ControlError::AlreadyRunning(service));
            }
            *running = true;
            Ok(())
        })
    }

    fn stop(&self, service: Service, origin: String) -> BoxFuture<'_, Result<(), ControlError>> {
        Box::pin(async move {
            let mut state = self.lock();
            state.calls.push(("stop", service, origin));
            let running = match service {
                Service::Tftp => &mut state.tftp,
                Service::Dhcp => &mut state.dhcp,
                Service::Http => &mut state.http,
            };
            if !*running {
                return Err(ControlError::NotRunning(service));
            }
            *running = false;
            Ok(())
        })
    }

    fn stop_after_transfers(&self, service: Service, origin: String) -> BoxFuture<'_, Result<(), ControlError>> {
        Box::pin(async move {
            self.lock().calls.push(("stop-after-transfers", service, origin));
            Ok(())
        })
    }

    fn dhcp_exchanges(&self) -> Vec<DhcpExchange> {
        self.lock().dhcp_exchanges.clone()
    }

    fn instances(&self) -> BoxFuture<'_, Result<Vec<InstanceView>, FleetError>> {
        Box::pin(async move { Ok(self.lock().instances.clone()) })
    }

    fn configured_aliases(&self) -> Vec<ConfiguredAlias> {
        self.lock().configured_aliases.clone()
    }

    fn configured_reservations(&self) -> Vec<ConfiguredReservation> {
        self.lock().configured_reservations.clone()
    }

    fn reservation_conflicts(&self, _mac: &str, _address: Option<std::net::Ipv4Addr>) -> Vec<(&'static str, String)> {
        self.lock().conflicts.clone()
    }

    fn settings(&self) -> BoxFuture<'_, Result<SettingsView, SettingsError>> {
        Box::pin(async move {
            self.lock().settings.clone().ok_or_else(|| SettingsError::Unavailable("no settings here".into()))
        })
    }

    fn apply_settings(
        &self,
        input: SettingsInput,
        origin: String,
    ) -> BoxFuture<'_, Result<SettingsView, SettingsError>> {
        Box::pin(async move {
            let mut state = self.lock();
            if let Some(refusal) = state.settings_refusal.clone() {
                return Err(refusal);
            }
            state.applied.push((input, origin));
            state.settings.clone().ok_or_else(|| SettingsError::Unavailable("no settings here".into()))
        })
    }

    fn interfaces(&self) -> Vec<InterfaceInfo> {
        vec![
            InterfaceInfo {
                name: "lo".into(),
                addresses: vec!["127.0.0.1/8".into(), "::1/128".into()],
                up: true,
                default_route: false,
            },
            InterfaceInfo {
                name: "eth1".into(),
                addresses: vec!["10.9.0.1/24".into()],
                up: true,
                default_route: false,
            },
            InterfaceInfo {
                name: "eth0".into(),
                addresses: vec!["192.168.1.20/24".into()],
                up: true,
                default_route: true,
            },
            InterfaceInfo { name: "wlan0".into(), addresses: vec![], up: false, default_route: false },
        ]
    }

    fn leases(&self) -> Vec<LeaseView> {
        self.lock().leases.clone()
    }

    fn live_transfers(&self) -> Vec<LiveTransfer> {
        self.lock().live.clone()
    }

    fn file_in_use(&self, file: &Path) -> bool {
        self.lock().in_use.iter().any(|f| Path::new(f) == file)
    }

    fn reload(&self) {
        self.lock().reloads += 1;
    }

    fn metrics(&self) -> Metrics {
        self.lock().metrics.clone()
    }

    fn alerts(&self) -> Vec<String> {
        self.lock().alerts.clone()
    }

    fn armed_image(&self) -> Option<String> {
        self.lock().armed.clone()
    }

    fn arm_image(&self, file: Option<String>, _origin: String) {
        self.lock().armed = file;
    }

    fn wanted_addresses(&self) -> Vec<WantedAddressView> {
        self.lock().wanted.clone()
    }

    fn profiles(&self) -> Vec<ProfileChoice> {
        vec![ProfileChoice { name: "tplink".into(), family: "TP-Link routers".into(), mode: "pull".into() }]
    }

    fn doctor(&self, request: DoctorRequest) -> BoxFuture<'_, Vec<DoctorCheck>> {
        Box::pin(async move {
            let mut state = self.lock();
            state.doctor_asked.push(request);
            state.doctor.clone()
        })
    }

    fn recovery(&self) -> RecoveryView {
        self.lock().recovery.clone()
    }

    fn start_recovery(&self, request: RecoveryRequest, _origin: String) -> BoxFuture<'_, Result<(), RecoveryError>> {
        Box::pin(async move {
            let mut state = self.lock();
            if state.recovery.phase.active() {
                return Err(RecoveryError::Conflict("a recovery is under way: cancel it first".into()));
            }
            state.recovery = RecoveryView {
                phase: RecoveryPhase::Waiting,
                interface: Some(request.interface.clone()),
                image: Some(request.image.clone()),
                steps: vec![RecoveryStep { text: "Hold reset.".into(), by_lifeboat: false }],
                ..RecoveryView::default()
            };
            state.recoveries.push(request);
            Ok(())
        })
    }

    fn cancel_recovery(&self, _origin: String) -> BoxFuture<'_, ()> {
        self.lock().recovery.phase = RecoveryPhase::Cancelled;
        Box::pin(async {})
    }

    fn claimed_addresses(&self) -> BoxFuture<'_, Vec<ClaimedAddressView>> {
        Box::pin(async move { self.lock().claims.clone() })
    }

    fn claim_address(&self, claim: AddressClaim, _origin: String) -> BoxFuture<'_, Result<(), ClaimError>> {
        Box::pin(async move {
            let mut state = self.lock();
            if let Some(refusal) = state.claim_refusal.clone() {
                return Err(refusal);
            }
            let view = ClaimedAddressView {
                interface: claim.interface,
                address: claim.address,
                prefix: claim.prefix,
                since: now_ms(),
            };
            state.claims.push(view);
            Ok(())
        })
    }

    fn release_address(&self, address: Ipv4Addr, _origin: String) -> BoxFuture<'_, Result<bool, ClaimError>> {
        Box::pin(async move {
            let mut state = self.lock();
            let before = state.claims.len();
            state.claims.retain(|c| c.address != address);
            Ok(state.claims.len() < before)
        })
    }

    fn release_lease(&self, address: Ipv4Addr, origin: String) -> BoxFuture<'_, Result<bool, ControlError>> {
        Box::pin(async move {
            let mut state = self.lock();
            state.released.push((address, origin));
            let before = state.leases.len();
            state.leases.retain(|lease| lease.address != address);
            Ok(state.leases.len() < before)
        })
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// Panics unless the body contains every one of `needles`.
    pub fn assert_contains(&self, needles: &[&str]) {
        for needle in needles {
            assert!(self.body.contains(needle), "{needle:?} missing from the page:\n{}", self.body);
        }
    }
}

/// The dashboard over an in-memory store, a fake control and a temporary TFTP root, used like a
/// browser: it keeps the session cookie and names the host in every request.
pub struct App {
    pub router: Router,
    pub store: Store,
    pub log: LogWriter,
    pub control: Arc<FakeControl>,
    pub root: Arc<TempDir>,
    pub host: String,
    pub client: SocketAddr,
    cookie: Mutex<Option<String>>,
}

/// The upload limit of test apps.
pub const MAX_UPLOAD: u64 = 64 * 1024;

impl App {
    pub async fn new(auth: Auth) -> App {
        App::on_store(auth, Store::open_memory().await.expect("in-memory store")).await
    }

    /// The dashboard over `store` (a fleet's shared store, say) instead of an in-memory one.
    pub async fn on_store(auth: Auth, store: Store) -> App {
        let listen: SocketAddr = match auth {
            Auth::LoopbackOnly => "127.0.0.1:8080".parse().unwrap(),
            _ => "0.0.0.0:8080".parse().unwrap(),
        };
        let log = LogWriter::spawn(store.clone());
        let control = Arc::new(FakeControl::default());
        let root = tempfile::tempdir().expect("temp dir");
        let config = WebConfig {
            listen,
            auth,
            tftp_root: Some(root.path().to_path_buf()),
            max_upload: MAX_UPLOAD,
            retention: lifeboat_store::Retention::DEFAULT,
        };
        lifeboat_web::check_listen(&config).expect("valid config");
        let state =
            WebState::new(store.clone(), log.clone(), control.clone(), config, Arc::new(lifeboat_clock::SystemClock));
        App {
            router: router(state),
            store,
            log,
            control,
            root: Arc::new(root),
            host: "127.0.0.1:8080".into(),
            client: "127.0.0.1:50000".parse().unwrap(),
            cookie: Mutex::new(None),
        }
    }

    /// Another browser on the same dashboard, from `client`, without a cookie yet.
    pub fn browser(&self, client: SocketAddr) -> App {
        App {
            router: self.router.clone(),
            store: self.store.clone(),
            log: self.log.clone(),
            control: Arc::clone(&self.control),
            root: Arc::clone(&self.root),
            host: self.host.clone(),
            client,
            cookie: Mutex::new(None),
        }
    }

    /// A dashboard with no login, on loopback.
    pub async fn local() -> App {
        App::new(Auth::LoopbackOnly).await
    }

    /// Send `request` as this browser (Host, client address, cookie), remembering a new cookie.
    pub async fn send(&self, mut request: Request<Body>) -> Reply {
        if !request.headers().contains_key(HOST) {
            request.headers_mut().insert(HOST, self.host.parse().unwrap());
        }
        if let Some(cookie) = self.cookie.lock().unwrap().clone() {
            request.headers_mut().insert(COOKIE, cookie.parse().unwrap());
        }
        request.extensions_mut().insert(ConnectInfo(self.client));
        let response = self.router.clone().oneshot(request).await.expect("infallible router");
        for value in response.headers().get_all(SET_COOKIE) {
            let value = value.to_str().unwrap();
            let pair = value.split(';').next().unwrap().to_owned();
            *self.cookie.lock().unwrap() = if pair.ends_with('=') { None } else { Some(pair) };
        }
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), usize::MAX).await.expect("body");
        Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
    }

    pub fn forget_cookie(&self) {
        *self.cookie.lock().unwrap() = None;
    }

    pub fn cookie(&self) -> Option<String> {
        self.cookie.lock().unwrap().clone()
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Request::get(path).body(Body::empty()).unwrap()).await
    }

    /// The CSRF token of this browser's session.
    pub async fn csrf(&self) -> String {
        let reply = self.get("/api/v1/session").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json()["csrf_token"].as_str().unwrap().to_owned()
    }

    /// Post an HTML form with this session's CSRF token.
    pub async fn form(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let csrf = self.csrf().await;
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.form_raw(path, &encode_form(&all)).await
    }

    /// Post an already encoded form body, as is.
    pub async fn form_raw(&self, path: &str, body: &str) -> Reply {
        let request = Request::post(path)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.to_owned()))
            .unwrap();
        self.send(request).await
    }

    /// A JSON API call with this session's CSRF token.
    pub async fn api(&self, method: Method, path: &str, body: Option<serde_json::Value>) -> Reply {
        let csrf = self.csrf().await;
        let mut request = Request::builder().method(method).uri(path).header("x-csrf-token", csrf);
        let body = match body {
            Some(json) => {
                request = request.header(CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).unwrap()).await
    }

    /// Upload `bytes` as image `name` through the API.
    pub async fn upload(&self, name: &str, bytes: Vec<u8>) -> Reply {
        let csrf = self.csrf().await;
        let request = Request::put(format!("/api/v1/images/{name}"))
            .header("x-csrf-token", csrf)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header("content-length", bytes.len())
            .body(Body::from(bytes))
            .unwrap();
        self.send(request).await
    }

    /// Wait until every event submitted so far is in the store.
    pub async fn flush(&self) {
        self.log.flush().await;
    }

    /// The kinds and details of the stored events, newest first.
    pub async fn events(&self) -> Vec<(String, String, String)> {
        self.flush().await;
        let page = self.store.events_page(None, None, 100).await.unwrap();
        page.items.into_iter().map(|e| (e.event.kind.to_string(), e.event.origin, e.event.detail)).collect()
    }
}

/// `application/x-www-form-urlencoded` of `fields`.
pub fn encode_form(fields: &[(&str, &str)]) -> String {
    fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A finished transfer for seeding the history.
pub fn transfer(at: i64, mac: Option<&str>, requested: &str, outcome: TransferOutcome) -> TransferRecord {
    let found = outcome != TransferOutcome::NotFound;
    TransferRecord {
        protocol: lifeboat_store::TransferProtocol::Tftp,
        started_at: at - 1500,
        ended_at: at,
        client: SocketAddr::from((Ipv4Addr::new(192, 168, 0, 66), 2070)),
        mac: mac.map(str::to_owned),
        requested: requested.to_owned(),
        file: found.then(|| requested.trim_start_matches('/').to_owned()),
        direction: Direction::Read,
        bytes: if found { 4_194_304 } else { 0 },
        size: found.then_some(4_194_304),
        blksize: 1468,
        windowsize: 4,
        retransmits: 2,
        outcome,
        error: (outcome == TransferOutcome::NotFound).then(|| "File not found".to_owned()),
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A transfer that runs now: 1000 of 4000 bytes of `pxelinux.0` read by 10.9.0.100.
pub fn live_transfer() -> LiveTransfer {
    LiveTransfer {
        id: 3,
        protocol: lifeboat_store::TransferProtocol::Tftp,
        client: "10.9.0.100:3000".parse().unwrap(),
        mac: None,
        requested: "pxelinux.0".into(),
        file: Some("pxelinux.0".into()),
        direction: Direction::Read,
        bytes: 1000,
        size: Some(4000),
        started_at: 5,
        rate: 500,
        outcome: None,
    }
}
