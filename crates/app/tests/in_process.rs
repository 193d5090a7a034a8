//! The whole application in process: a store in memory, TFTP and DHCP on loopback ports the
//! system picks, tokio's time paused and moved by the test. No root, no namespace; nothing leaves
//! loopback (a DHCP client on an ordinary port gets its replies straight back).
//!
//! Time-driven behaviour is checked at its boundaries, on tokio's paused clock: just before a
//! deadline nothing happens, just after it does. The clock stops once the application has
//! started (the store is opened on real time).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use lifeboat_app::{App, AppConfig, Binder, Neighbours, SystemBinder};
use lifeboat_clock::FollowsTokio;
use lifeboat_dhcp::Lease;
use lifeboat_net::{Announcement, Interface, InterfaceIpv6, PktInfoSocket};
use lifeboat_server::client::{self, ClientSettings};
use lifeboat_server::{
    AllowList, DhcpConfig, DhcpPlan, DhcpServer, DhcpSockets, DhcpStartError, LeaseSink, Progress, StartError,
    TftpConfig, TftpObserver, TftpServer,
};
use lifeboat_store::{HostEntry, Retention, Store};
use lifeboat_web::{BoxFuture, Control, Service};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// Every wait on a real event (a datagram, a reload) ends after this, as a failure. In paused
/// time a `timeout` only fires when nothing else can run, so it bounds without racing.
const BOUND: Duration = Duration::from_secs(30);

/// Real sockets on loopback: TFTP as configured, DHCP on a port the system picks (kept here),
/// serving 127.0.0.100-127.0.0.200 as if loopback were a LAN.
#[derive(Default)]
struct Loopback {
    dhcp: Arc<Mutex<Option<SocketAddr>>>,
    /// What the announcer sees and sends through; `None`: no announcer.
    neighbours: Option<Arc<FakeNeighbours>>,
}

impl Binder for Loopback {
    fn tftp(&self, config: TftpConfig, observer: Arc<dyn TftpObserver>) -> Result<TftpServer, StartError> {
        // The configuration already names a loopback address.
        SystemBinder.tftp(config, observer)
    }

    fn dhcp(
        &self,
        config: DhcpConfig,
        leases: Vec<Lease>,
        sink: Arc<dyn LeaseSink>,
    ) -> BoxFuture<'static, Result<DhcpServer, DhcpStartError>> {
        let bound = Arc::clone(&self.dhcp);
        Box::pin(async move {
            let lo = lifeboat_net::interfaces().unwrap().into_iter().find(|i| i.name == "lo").expect("lo exists");
            let lo = Interface { ipv4: vec![(Ipv4Addr::LOCALHOST, 8)], ..lo };
            let mut plan = DhcpPlan::new(&config, &[lo])?;
            // Nothing to watch on loopback, and probing would need a raw socket.
            plan.watched.clear();
            let dhcp = PktInfoSocket::bind("127.0.0.1:0".parse().unwrap())?;
            *bound.lock().unwrap() = dhcp.local_addr().ok();
            Ok(DhcpServer::new(config, plan, DhcpSockets { dhcp, pxe: None, frames: None }, leases, sink, 0))
        })
    }

    fn neighbours(&self) -> Option<std::io::Result<Arc<dyn Neighbours>>> {
        self.neighbours.clone().map(|n| Ok(n as Arc<dyn Neighbours>))
    }
}

/// Interfaces the test makes up, and the announcements that would have gone out of them (with
/// the time on tokio's clock); nothing is sent.
#[derive(Default)]
struct FakeNeighbours {
    interfaces: Mutex<Vec<Interface>>,
    sent: Mutex<Vec<(tokio::time::Instant, u32, Announcement)>>,
    /// The word of changes handed to the announcer, if any: a notification for each `()`.
    changes: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<()>>>,
    /// How often the interfaces were listed.
    looks: std::sync::atomic::AtomicUsize,
}

impl Neighbours for FakeNeighbours {
    fn addresses(&self) -> BoxFuture<'_, std::io::Result<(Vec<Interface>, Vec<InterfaceIpv6>)>> {
        self.looks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let interfaces = self.interfaces.lock().unwrap().clone();
        Box::pin(async move { Ok((interfaces, Vec::new())) })
    }

    fn send(&self, ifindex: u32, announcement: &Announcement) -> std::io::Result<()> {
        self.sent.lock().unwrap().push((tokio::time::Instant::now(), ifindex, announcement.clone()));
        Ok(())
    }

    fn changes(&self) -> Option<futures_util::stream::BoxStream<'static, ()>> {
        let changes = self.changes.lock().unwrap().take()?;
        let stream =
            futures_util::stream::unfold(
                changes,
                |mut changes| async move { changes.recv().await.map(|()| ((), changes)) },
            );
        Some(Box::pin(stream))
    }
}

struct Running {
    app: App,
    control: Arc<dyn Control>,
    store: Store,
    shutdown: CancellationToken,
    root: tempfile::TempDir,
    dhcp: Arc<Mutex<Option<SocketAddr>>>,
    paused: Option<std::sync::mpsc::Sender<()>>,
}

/// What a test turns on; by default nothing but the announcements (which need a binder with
/// `Neighbours` to send anything).
struct Options {
    tftp: bool,
    dhcp: bool,
    stop_when_idle: Option<Duration>,
    once: bool,
    announce: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { tftp: false, dhcp: false, stop_when_idle: None, once: false, announce: true }
    }
}

/// A stand-in for the binary's settings: each line of the stored document is `tftp = ADDR`
/// (TFTP on that loopback address), `dhcp = on`, `dhcp = elsewhere` (a range on no interface
/// here: DHCP cannot start) or `invalid`; with no document, TFTP listens on
/// `base_tftp`. Locks nothing.
#[derive(Debug)]
struct LineSettings {
    root: std::path::PathBuf,
    base_tftp: SocketAddr,
}

impl lifeboat_app::Configurator for LineSettings {
    fn configure(&self, stored: &str) -> Result<lifeboat_app::Configured, Vec<lifeboat_app::SettingsProblem>> {
        let mut tftp_at = self.base_tftp;
        let mut dhcp = None;
        for line in stored.lines() {
            match line.split_once(" = ") {
                Some(("tftp", at)) => tftp_at = at.parse().unwrap(),
                Some(("dhcp", "on")) => dhcp = Some(DhcpConfig::new(vec!["127.0.0.100,127.0.0.200".parse().unwrap()])),
                // A range on no interface of this machine: DHCP cannot start with it.
                Some(("dhcp", "elsewhere")) => {
                    dhcp = Some(DhcpConfig::new(vec!["10.99.0.100,10.99.0.200".parse().unwrap()]));
                }
                _ => {
                    let message = format!("{line:?}: not a setting");
                    return Err(vec![lifeboat_app::SettingsProblem { key: Some("line".into()), message }]);
                }
            }
        }
        let mut tftp = TftpConfig::new(&self.root);
        tftp.listen = vec![tftp_at];
        tftp.allow = AllowList::new(vec!["127.0.0.0/8".parse().unwrap()]);
        Ok(lifeboat_app::Configured {
            tftp: Some(tftp),
            dhcp,
            http: None,
            stored: serde_json::json!(stored),
            effective: serde_json::json!(stored),
            effective_toml: stored.to_owned(),
        })
    }

    fn document_of_json(&self, json: &serde_json::Value) -> Result<String, Vec<lifeboat_app::SettingsProblem>> {
        Ok(json.as_str().unwrap_or_default().to_owned())
    }

    fn document_of_import(&self, text: &str) -> Result<String, Vec<lifeboat_app::SettingsProblem>> {
        Ok(text.to_owned())
    }

    fn locks(&self) -> Vec<lifeboat_app::Lock> {
        Vec::new()
    }
}

/// The application with [`LineSettings`] over `store`, TFTP on `base_tftp` unless the stored
/// settings say otherwise.
async fn start_with_settings(store: &Store, root: &std::path::Path, base_tftp: SocketAddr) -> Running {
    let settings = Arc::new(LineSettings { root: root.to_path_buf(), base_tftp });
    let config = AppConfig {
        tftp: None,
        dhcp: None,
        http: None,
        web: None,
        stop_when_idle: None,
        once: false,
        announce: true,
        claims: Vec::new(),
        retention: Retention::DEFAULT,
        settings: Some(settings),
    };
    let shutdown = CancellationToken::new();
    let binder = Loopback::default();
    let dhcp = Arc::clone(&binder.dhcp);
    let clock = Arc::new(lifeboat_clock::SystemClock);
    let app = App::start(config, store.clone(), Arc::new(binder), clock, shutdown.clone()).await.unwrap();
    let control = app.control();
    Running { app, control, store: store.clone(), shutdown, root: tempfile::tempdir().unwrap(), dhcp, paused: None }
}

async fn start(options: Options) -> Running {
    start_on(options, Store::open_memory().await.unwrap()).await
}

/// [`start`] on `store`. (A store in memory has one connection, which the lease writer keeps
/// once it has written: a test that reads leases back after DHCP wrote some needs a file.)
async fn start_on(options: Options, store: Store) -> Running {
    start_with_binder(options, store, Loopback::default()).await
}

/// [`start_on`] with `binder`.
async fn start_with_binder(options: Options, store: Store, binder: Loopback) -> Running {
    let root = tempfile::tempdir().unwrap();
    let tftp = options.tftp.then(|| {
        let mut tftp = TftpConfig::new(root.path());
        tftp.listen = vec!["127.0.0.1:0".parse().unwrap()];
        tftp.allow = AllowList::new(vec!["127.0.0.0/8".parse().unwrap()]);
        tftp
    });
    let dhcp = options.dhcp.then(|| DhcpConfig::new(vec!["127.0.0.100,127.0.0.200".parse().unwrap()]));
    let config = AppConfig {
        tftp,
        dhcp,
        http: None,
        web: None,
        stop_when_idle: options.stop_when_idle,
        once: options.once,
        announce: options.announce,
        claims: Vec::new(),
        retention: Retention::DEFAULT,
        settings: None,
    };
    let shutdown = CancellationToken::new();
    let clock = Arc::new(FollowsTokio::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)));
    let dhcp = Arc::clone(&binder.dhcp);
    let app = App::start(config, store.clone(), Arc::new(binder), clock, shutdown.clone()).await.unwrap();
    let control = app.control();
    let started = usize::from(options.tftp) + usize::from(options.dhcp);
    // The start-up events reach the store before the test stops the clock (see `pause`).
    let deadline = std::time::Instant::now() + BOUND;
    while store.events_page(None, None, 10).await.unwrap().items.len() < started {
        assert!(std::time::Instant::now() < deadline, "the start-up events were never saved");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Running { app, control, store, shutdown, root, dhcp, paused: None }
}

impl Running {
    fn running(&self, service: Service) -> bool {
        self.control.services().iter().any(|s| s.service == service && s.running)
    }

    /// Stop tokio's clock; the test moves it from now on. A blocking task stays in flight
    /// meanwhile: the store's queries run on a thread of their own, and while the runtime waits
    /// for one, tokio would otherwise move paused time on by itself, over the deadlines the test
    /// checks. After `BOUND` of real time the task ends, so a stuck wait fails instead of hanging.
    fn pause(&mut self) {
        tokio::time::pause();
        let (paused, until_resumed) = std::sync::mpsc::channel::<()>();
        tokio::task::spawn_blocking(move || {
            let _ = until_resumed.recv_timeout(BOUND);
        });
        self.paused = Some(paused);
    }

    fn address(&self, service: Service) -> SocketAddr {
        if service == Service::Dhcp {
            return self.dhcp.lock().unwrap().expect("DHCP is bound");
        }
        let status = self.control.services().into_iter().find(|s| s.service == service).unwrap();
        status.listening[0].parse().unwrap_or_else(|_| panic!("{service} listens on {:?}", status.listening))
    }

    async fn stop(mut self) {
        // The writers commit the last records on the way down, on real time.
        if self.paused.take().is_some() {
            tokio::time::resume();
        }
        self.shutdown.cancel();
        tokio::time::timeout(BOUND, self.app.wait()).await.expect("lifeboat stops");
    }
}

/// Move the clock on by `by`, a second at a time, letting every task that woke run after each
/// step: as time passes for real, not in one jump that a periodic check would see only once.
async fn advance(by: Duration) {
    advance_in_steps(by, Duration::from_secs(1)).await;
}

/// [`advance`] in steps of `step`, for a test that times events more finely than a second.
async fn advance_in_steps(by: Duration, step: Duration) {
    let mut left = by;
    while !left.is_zero() {
        let step = left.min(step);
        tokio::time::advance(step).await;
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        left -= step;
    }
}

/// Fetch `name` from the TFTP server into memory, with lifeboat's own client.
async fn fetch(address: SocketAddr, name: &str, dir: &std::path::Path) -> Result<Vec<u8>, client::ClientError> {
    let out = dir.join(format!("{name}.fetched"));
    let (name, target) = (name.to_owned(), out.clone());
    tokio::task::spawn_blocking(move || {
        client::get(
            address,
            &name,
            &target,
            &ClientSettings::default(),
            &Progress::default(),
            &CancellationToken::new(),
        )
    })
    .await
    .unwrap()?;
    Ok(std::fs::read(out).unwrap())
}

#[tokio::test]
async fn tftp_stops_itself_after_the_idle_time_and_not_before() {
    let mut app =
        start(Options { tftp: true, stop_when_idle: Some(Duration::from_secs(60)), ..Options::default() }).await;
    app.pause();
    assert!(app.running(Service::Tftp));
    advance(Duration::from_secs(55)).await;
    assert!(app.running(Service::Tftp), "55 s of 60 idle: still serving");
    // The watch looks every 5 s (a quarter of the idle time, at most 5 s).
    advance(Duration::from_secs(10)).await;
    assert!(!app.running(Service::Tftp), "65 s idle: stopped itself");
    let status = app.control.services().into_iter().find(|s| s.service == Service::Tftp).unwrap();
    assert!(status.listening.is_empty(), "a stopped service holds no socket");
    let why = status.detail.unwrap_or_default();
    assert!(why.starts_with("stopped itself when nobody had used it"), "the card says why: {why}");
    app.stop().await;
}

#[tokio::test]
async fn a_transfer_restarts_the_idle_time_and_lingers_in_the_live_list() {
    let mut app =
        start(Options { tftp: true, stop_when_idle: Some(Duration::from_secs(60)), ..Options::default() }).await;
    app.pause();
    std::fs::write(app.root.path().join("openwrt.bin"), vec![7u8; 40_000]).unwrap();
    let address = app.address(Service::Tftp);
    let scratch = tempfile::tempdir().unwrap();

    advance(Duration::from_secs(50)).await;
    let got = fetch(address, "openwrt.bin", scratch.path()).await.unwrap();
    assert_eq!(got, vec![7u8; 40_000]);
    // The server sees the client's last ACK on a thread of its own, a moment after the client
    // is done: wait (bounded, in real time) until the transfer has ended there too.
    let deadline = std::time::Instant::now() + BOUND;
    let live = loop {
        let live = app.control.live_transfers();
        if live.iter().all(|t| t.outcome.is_some()) {
            break live;
        }
        assert!(std::time::Instant::now() < deadline, "the transfer never ended: {live:?}");
        tokio::task::yield_now().await;
    };
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!((live[0].requested.as_str(), live[0].bytes), ("openwrt.bin", 40_000));
    assert!(live[0].outcome.is_some(), "it has ended");
    // Dated by the application's clock (which started at 1,800,000,000 s), not the system's.
    let started_s = live[0].started_at / 1000;
    assert!((1_800_000_050..1_800_000_060).contains(&started_s), "started at {started_s} s");

    // The ended transfer lingers 10 s, so a watcher sees it reach its end.
    advance(Duration::from_secs(9)).await;
    assert_eq!(app.control.live_transfers().len(), 1, "9 s after its end: still listed");
    advance(Duration::from_secs(2)).await;
    assert!(app.control.live_transfers().is_empty(), "11 s after its end: gone");

    // 50 s + 11 s since start, but only 11 s since the request: still serving.
    assert!(app.running(Service::Tftp));
    advance(Duration::from_secs(40)).await;
    assert!(app.running(Service::Tftp), "51 s after the request");
    advance(Duration::from_secs(15)).await;
    assert!(!app.running(Service::Tftp), "66 s after the request");
    app.stop().await;
}

fn dhcp_request(kind: MessageType, mac: [u8; 6], xid: u32) -> Vec<u8> {
    let mut message = Message::default();
    message.set_opcode(Opcode::BootRequest).set_xid(xid).set_chaddr(&mac);
    message.opts_mut().insert(DhcpOption::MessageType(kind));
    let mut bytes = Vec::new();
    message.encode(&mut Encoder::new(&mut bytes)).unwrap();
    bytes
}

async fn discover(server: SocketAddr, mac: [u8; 6]) -> Message {
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(&dhcp_request(MessageType::Discover, mac, 7), server).await.unwrap();
    let mut buf = vec![0; 1500];
    let len = tokio::time::timeout(BOUND, client.recv(&mut buf)).await.expect("an offer").unwrap();
    Message::decode(&mut Decoder::new(&buf[..len])).unwrap()
}

/// DISCOVER, then REQUEST what was offered: the ACK.
async fn bind(server: SocketAddr, mac: [u8; 6]) -> Message {
    let offer = discover(server, mac).await;
    let server_id = offer.opts().iter().find_map(|(_, option)| match option {
        DhcpOption::ServerIdentifier(id) => Some(*id),
        _ => None,
    });
    let mut request = Message::default();
    request.set_opcode(Opcode::BootRequest).set_xid(8).set_chaddr(&mac);
    request.opts_mut().insert(DhcpOption::MessageType(MessageType::Request));
    request.opts_mut().insert(DhcpOption::RequestedIpAddress(offer.yiaddr()));
    request.opts_mut().insert(DhcpOption::ServerIdentifier(server_id.expect("the offer names its server")));
    let mut bytes = Vec::new();
    request.encode(&mut Encoder::new(&mut bytes)).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(&bytes, server).await.unwrap();
    let mut buf = vec![0; 1500];
    let len = tokio::time::timeout(BOUND, client.recv(&mut buf)).await.expect("an ack").unwrap();
    let ack = Message::decode(&mut Decoder::new(&buf[..len])).unwrap();
    assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack), "{ack:?}");
    ack
}

#[tokio::test]
async fn a_lease_released_from_the_dashboard_is_gone_from_dhcp_and_the_store_whether_dhcp_runs_or_not() {
    let state = tempfile::tempdir().unwrap();
    let store = Store::open(&state.path().join("lifeboat.db")).await.unwrap();
    let app = start_on(Options { dhcp: true, ..Options::default() }, store).await;
    let server = app.address(Service::Dhcp);
    let first = bind(server, [2, 0, 0, 0, 0, 0x21]).await.yiaddr();
    let second = bind(server, [2, 0, 0, 0, 0, 0x22]).await.yiaddr();
    let leases = app.control.leases();
    assert_eq!(leases.len(), 2, "{leases:?}");
    assert!(leases.iter().all(|lease| lease.last_seen.is_some()), "both clients were just heard: {leases:?}");

    // While DHCP runs: through its lease table.
    let origin = "web 127.0.0.1 (test)".to_owned();
    assert_eq!(app.control.release_lease(first, origin.clone()).await, Ok(true));
    assert_eq!(app.control.release_lease(first, origin.clone()).await, Ok(false), "released once");
    let stored: Vec<Ipv4Addr> = app.store.load_leases().await.unwrap().iter().map(|l| l.address).collect();
    assert_eq!(stored, [second], "the removal is saved before the release returns");
    assert_eq!(app.control.leases().iter().map(|l| l.address).collect::<Vec<_>>(), [second]);

    // While DHCP is stopped: in the store, and DHCP starts without it.
    app.control.stop(Service::Dhcp, origin.clone()).await.unwrap();
    assert_eq!(app.control.release_lease(second, origin.clone()).await, Ok(true));
    let stored: Vec<Ipv4Addr> = app.store.load_leases().await.unwrap().iter().map(|l| l.address).collect();
    assert!(!stored.contains(&second), "{stored:?}");
    app.control.start(Service::Dhcp, origin.clone()).await.unwrap();
    assert!(!app.control.leases().iter().any(|l| l.address == second), "the released lease came back");
    let (store, deadline) = (app.store.clone(), tokio::time::Instant::now() + BOUND);
    app.stop().await;
    // Written behind, flushed on the way down.
    let events = store.events_page(None, None, 50).await.unwrap().items;
    let released: Vec<&str> = events
        .iter()
        .filter(|e| e.event.kind == lifeboat_store::EventKind::LeaseReleased)
        .map(|e| e.event.detail.as_str())
        .collect();
    assert_eq!(released.len(), 2, "{events:?}");
    assert!(released.iter().any(|d| d.contains(&format!("{first} (held by 02:00:00:00:00:21)"))), "{released:?}");
    assert!(tokio::time::Instant::now() < deadline);
}

#[tokio::test]
async fn dhcp_stops_itself_when_it_has_answered_nobody_for_the_idle_time() {
    let mut app =
        start(Options { dhcp: true, stop_when_idle: Some(Duration::from_secs(60)), ..Options::default() }).await;
    app.pause();
    let address = app.address(Service::Dhcp);
    advance(Duration::from_secs(40)).await;
    let offer = discover(address, [2, 0, 0, 0, 0, 1]).await;
    assert!(offer.yiaddr() >= Ipv4Addr::new(127, 0, 0, 100), "{:?}", offer.yiaddr());
    // The dashboard's recent DHCP requests have it, with what became of it.
    let noted = app.control.dhcp_exchanges();
    assert_eq!((noted[0].client.as_str(), noted[0].request.as_str()), ("02:00:00:00:00:01", "DHCPDISCOVER"));
    assert_eq!(noted[0].outcome, format!("DHCPOFFER {}", offer.yiaddr()), "{noted:?}");
    advance(Duration::from_secs(50)).await;
    assert!(app.running(Service::Dhcp), "50 s after a reply");
    advance(Duration::from_secs(20)).await;
    assert!(!app.running(Service::Dhcp), "70 s after the last reply");
    app.stop().await;
}

#[tokio::test]
async fn without_stop_when_idle_the_services_keep_running() {
    let mut app = start(Options { tftp: true, dhcp: true, ..Options::default() }).await;
    app.pause();
    advance(Duration::from_secs(3 * 3600)).await;
    assert!(app.running(Service::Tftp) && app.running(Service::Dhcp));
    app.stop().await;
}

#[tokio::test]
async fn a_host_saved_on_the_dashboard_reaches_dhcp_and_tftp_without_a_restart() {
    let app = start(Options { tftp: true, dhcp: true, ..Options::default() }).await;
    std::fs::write(app.root.path().join("openwrt-initramfs.bin"), b"initramfs").unwrap();
    let (dhcp, tftp) = (app.address(Service::Dhcp), app.address(Service::Tftp));
    let scratch = tempfile::tempdir().unwrap();
    let mac = [2, 0, 0, 0, 0, 9];
    let reserved = Ipv4Addr::new(127, 0, 0, 150);
    assert_ne!(discover(dhcp, mac).await.yiaddr(), reserved);
    assert!(fetch(tftp, "recovery.bin", scratch.path()).await.is_err(), "no such file yet");

    let host = HostEntry {
        mac: "02:00:00:00:00:09".into(),
        address: Some(reserved),
        image: Some("openwrt-initramfs.bin".into()),
        ..HostEntry::default()
    };
    app.store.insert_host(&host).await.unwrap();
    app.store.set_alias("recovery.bin", "openwrt-initramfs.bin").await.unwrap();
    app.control.reload();

    // The reload runs in the background: ask until it shows (bounded).
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let offer = discover(dhcp, mac).await;
        if offer.yiaddr() == reserved {
            let file = String::from_utf8_lossy(offer.fname().unwrap_or_default()).trim_end_matches('\0').to_owned();
            assert_eq!(file, "openwrt-initramfs.bin");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the reservation never reached DHCP");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fetch(tftp, "recovery.bin", scratch.path()).await.unwrap(), b"initramfs");
    app.stop().await;
}

/// A free loopback TFTP address (bound once, then let go).
fn free_loopback() -> SocketAddr {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// Settings saved from the dashboard start what they turn on, restart only the services whose
/// configuration changes, survive a restart of lifeboat, and when a service does not start
/// with them, the previous settings run on and stay stored.
#[tokio::test]
async fn settings_apply_by_restarting_only_what_they_change_and_keep_the_last_working_ones() {
    use lifeboat_web::{SettingsError, SettingsInput};
    let root = tempfile::tempdir().unwrap();
    let store = Store::open_memory().await.unwrap();
    let first_tftp = free_loopback();
    let app = start_with_settings(&store, root.path(), first_tftp).await;
    assert!(app.running(Service::Tftp) && !app.running(Service::Dhcp));
    assert_eq!(app.address(Service::Tftp), first_tftp);

    // Set up DHCP: it starts; TFTP's configuration is the same, so TFTP keeps running as it was.
    let with_dhcp = format!("tftp = {first_tftp}\ndhcp = on");
    let origin = "web 127.0.0.1 (test)".to_owned();
    let view = app.control.apply_settings(SettingsInput::Toml(with_dhcp.clone()), origin.clone()).await.unwrap();
    assert_eq!(view.effective_toml, with_dhcp);
    assert!(app.running(Service::Dhcp), "DHCP, set up from the dashboard, runs");
    assert_eq!(app.address(Service::Tftp), first_tftp);
    app.control.services().iter().for_each(|s| assert!(!s.failed, "{s:?}"));

    // Move TFTP to an address that is taken: nothing changes, the previous settings run on.
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let taken_at = taken.local_addr().unwrap();
    let refused = app
        .control
        .apply_settings(SettingsInput::Toml(format!("tftp = {taken_at}\ndhcp = on")), origin.clone())
        .await
        .unwrap_err();
    assert!(matches!(&refused, SettingsError::NotApplied(message) if message.contains("TFTP")), "{refused:?}");
    assert!(app.running(Service::Tftp) && app.running(Service::Dhcp), "the previous settings still run");
    assert_eq!(app.address(Service::Tftp), first_tftp, "TFTP is back on its previous address");
    assert_eq!(store.setting(lifeboat_app::SETTINGS_KEY).await.unwrap().as_deref(), Some(with_dhcp.as_str()));

    // Invalid settings are refused with their problem, before anything stops.
    let invalid = app.control.apply_settings(SettingsInput::Toml("invalid".into()), origin.clone()).await.unwrap_err();
    assert!(matches!(&invalid, SettingsError::Invalid(problems) if problems[0].key.as_deref() == Some("line")));
    assert!(app.running(Service::Dhcp));

    // Moving TFTP to a free address restarts TFTP there.
    let second_tftp = free_loopback();
    let moved = format!("tftp = {second_tftp}\ndhcp = on");
    app.control.apply_settings(SettingsInput::Toml(moved.clone()), origin).await.unwrap();
    assert_eq!(app.address(Service::Tftp), second_tftp);
    app.stop().await;

    // A new run on the same database starts with the stored settings.
    let again = start_with_settings(&store, root.path(), first_tftp).await;
    assert!(again.running(Service::Dhcp), "the stored settings turn DHCP on at start");
    assert_eq!(again.address(Service::Tftp), second_tftp);
    assert_eq!(again.control.settings().await.unwrap().effective_toml, moved);
    again.stop().await;
}

/// The dashboard cannot reserve what would clash with the running configuration or never be
/// used: an address the configuration reserves for another MAC, a MAC it reserves already, an
/// address outside the served subnets, an address another client holds a lease on.
#[tokio::test]
async fn reservations_that_clash_with_the_configuration_or_a_lease_are_named() {
    let root = tempfile::tempdir().unwrap();
    let mut dhcp = DhcpConfig::new(vec!["127.0.0.100,127.0.0.200".parse().unwrap()]);
    dhcp.reservations = vec!["02:00:00:00:00:07,127.0.0.7,bench".parse().unwrap()];
    let mut tftp = TftpConfig::new(root.path());
    tftp.listen = vec!["127.0.0.1:0".parse().unwrap()];
    tftp.aliases = [("recovery.bin".to_owned(), "gone.bin".into())].into();
    let config = AppConfig {
        tftp: Some(tftp),
        dhcp: Some(dhcp),
        http: None,
        web: None,
        stop_when_idle: None,
        once: false,
        announce: true,
        claims: Vec::new(),
        retention: Retention::DEFAULT,
        settings: None,
    };
    let store = Store::open_memory().await.unwrap();
    let binder = Loopback::default();
    let bound = Arc::clone(&binder.dhcp);
    let shutdown = CancellationToken::new();
    let clock = Arc::new(lifeboat_clock::SystemClock);
    let app = App::start(config, store, Arc::new(binder), clock, shutdown.clone()).await.unwrap();
    let control = app.control();

    let aliases = control.configured_aliases();
    assert_eq!((aliases[0].name.as_str(), aliases[0].exists), ("recovery.bin", false));
    assert_eq!(control.configured_reservations()[0].address, Ipv4Addr::new(127, 0, 0, 7));

    let fields = |mac: &str, address: [u8; 4]| -> Vec<&'static str> {
        control.reservation_conflicts(mac, Some(address.into())).into_iter().map(|(field, _)| field).collect()
    };
    assert_eq!(fields("02:00:00:00:00:07", [127, 0, 0, 8]), ["mac"], "the MAC has a reservation already");
    assert_eq!(fields("02:00:00:00:00:09", [127, 0, 0, 7]), ["address"], "the address is reserved for another");
    assert_eq!(fields("02:00:00:00:00:09", [10, 1, 2, 3]), ["address"], "outside every served subnet");
    assert!(fields("02:00:00:00:00:09", [127, 0, 0, 9]).is_empty());
    assert!(control.reservation_conflicts("02:00:00:00:00:07", None).is_empty(), "an image only reserves nothing");

    // A lease held by one client: another MAC cannot reserve its address, the holder can.
    let server = bound.lock().unwrap().expect("DHCP is bound");
    let holder = [2, 0, 0, 0, 0, 0x0a];
    let offer = discover(server, holder).await;
    let mut request = Message::default();
    request.set_opcode(Opcode::BootRequest).set_xid(8).set_chaddr(&holder);
    request.opts_mut().insert(DhcpOption::MessageType(MessageType::Request));
    request.opts_mut().insert(DhcpOption::RequestedIpAddress(offer.yiaddr()));
    let server_id = offer.opts().get(dhcproto::v4::OptionCode::ServerIdentifier).cloned().expect("a server id");
    request.opts_mut().insert(server_id);
    let mut bytes = Vec::new();
    request.encode(&mut Encoder::new(&mut bytes)).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(&bytes, server).await.unwrap();
    let mut buf = vec![0; 1500];
    tokio::time::timeout(BOUND, client.recv(&mut buf)).await.expect("an ACK").unwrap();
    let leased = offer.yiaddr().octets();
    let deadline = std::time::Instant::now() + BOUND;
    while fields("02:00:00:00:00:0b", leased).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the lease never counted against another MAC");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fields("02:00:00:00:00:0b", leased), ["address"]);
    assert!(fields("02:00:00:00:00:0a", leased).is_empty(), "the holder may reserve its own address");

    shutdown.cancel();
    tokio::time::timeout(BOUND, app.wait()).await.expect("lifeboat stops");
}

/// A stopped card says who stopped it; "stop after the running transfers" refuses new requests,
/// waits for the transfer that runs and then stops; the idle countdown counts down.
#[tokio::test]
async fn stopping_says_who_and_can_wait_for_the_running_transfer() {
    let app = start(Options { tftp: true, stop_when_idle: Some(Duration::from_secs(600)), ..Options::default() }).await;
    std::fs::write(app.root.path().join("small.bin"), b"a block of less than 512 bytes").unwrap();
    let server = app.address(Service::Tftp);
    let tftp = || app.control.services().into_iter().find(|s| s.service == Service::Tftp).unwrap();

    // The idle watch reports how long is left (it starts within a check of 5 s at most).
    let deadline = std::time::Instant::now() + BOUND;
    while tftp().stops_when_idle_in.is_none() {
        assert!(std::time::Instant::now() < deadline, "no idle countdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = tftp().stops_when_idle_in.unwrap();
    assert!(left <= Duration::from_secs(600) && left > Duration::from_secs(500), "{left:?}");

    // A client that asked and then waits: its transfer runs (the server resends its block).
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(b"\0\x01small.bin\0octet\0", server).await.unwrap();
    let mut block = vec![0; 600];
    let (_, transfer) = tokio::time::timeout(BOUND, client.recv_from(&mut block)).await.expect("DATA 1").unwrap();
    let origin = "web 127.0.0.1 (test)".to_owned();
    app.control.stop_after_transfers(Service::Tftp, origin.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(app.running(Service::Tftp), "a transfer runs: TFTP waits for it");
    // Meanwhile a new request is refused, with an error that says why.
    let late = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    late.send_to(b"\0\x01small.bin\0octet\0", server).await.unwrap();
    let mut answer = vec![0; 600];
    let len = tokio::time::timeout(BOUND, late.recv(&mut answer)).await.expect("an answer").unwrap();
    let said = String::from_utf8_lossy(&answer[4..len]).into_owned();
    assert_eq!(&answer[..2], b"\0\x05", "an ERROR packet: {said}");
    assert!(said.contains("server stopping"), "{said}");

    client.send_to(b"\0\x04\0\x01", transfer).await.unwrap();
    let deadline = std::time::Instant::now() + BOUND;
    while app.running(Service::Tftp) {
        assert!(std::time::Instant::now() < deadline, "TFTP did not stop after the transfer ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let detail = tftp().detail.unwrap_or_default();
    assert!(detail.starts_with(&format!("stopped by {origin}, ")) && detail.ends_with(" UTC"), "{detail}");
    assert_eq!(tftp().stops_when_idle_in, None, "a stopped service counts nothing down");
    app.stop().await;
}

/// Settings that change a stopped service and then fail on another leave nothing of themselves
/// behind: the stopped service starts again with its previous configuration.
#[tokio::test]
async fn a_failed_apply_takes_back_what_it_changed_in_a_stopped_service() {
    use lifeboat_web::{SettingsError, SettingsInput};
    let root = tempfile::tempdir().unwrap();
    let store = Store::open_memory().await.unwrap();
    let first_tftp = free_loopback();
    let app = start_with_settings(&store, root.path(), first_tftp).await;
    let origin = "web 127.0.0.1 (test)".to_owned();
    app.control.stop(Service::Tftp, origin.clone()).await.unwrap();

    let moved = format!("tftp = {}\ndhcp = elsewhere", free_loopback());
    let refused = app.control.apply_settings(SettingsInput::Toml(moved), origin.clone()).await.unwrap_err();
    assert!(matches!(refused, SettingsError::NotApplied(_)), "{refused:?}");
    assert!(!app.running(Service::Tftp) && !app.running(Service::Dhcp), "what was stopped stays stopped");
    assert!(app.control.services().iter().all(|s| !s.failed), "nothing is left failed: {:?}", app.control.services());

    app.control.start(Service::Tftp, origin).await.unwrap();
    assert_eq!(app.address(Service::Tftp), first_tftp, "TFTP starts with its previous configuration");
    assert_eq!(store.setting(lifeboat_app::SETTINGS_KEY).await.unwrap(), None, "nothing was stored");
    app.stop().await;
}

/// `--once`: a download of a missing file changes nothing; the first complete one ends the run
/// by itself, every port closed.
#[tokio::test]
async fn once_ends_the_run_after_the_first_complete_download() {
    let app = start(Options { tftp: true, once: true, ..Options::default() }).await;
    std::fs::write(app.root.path().join("fw.bin"), vec![7u8; 3000]).unwrap();
    let server = app.address(Service::Tftp);
    let scratch = tempfile::tempdir().unwrap();
    assert!(fetch(server, "missing.bin", scratch.path()).await.is_err());
    assert!(!app.shutdown.is_cancelled() && app.running(Service::Tftp), "a failed download is not the one");
    assert_eq!(fetch(server, "fw.bin", scratch.path()).await.unwrap(), vec![7u8; 3000]);
    let Running { app, shutdown, .. } = app;
    // Nobody cancels it here: the download did.
    tokio::time::timeout(BOUND, app.wait()).await.expect("the run ends by itself after the download");
    assert!(shutdown.is_cancelled());
    assert!(std::net::UdpSocket::bind(server).is_ok(), "the TFTP port is closed");
}

/// One HTTP/1.1 GET on a new connection to `addr`: the status line and the body.
async fn http_get(addr: SocketAddr, path: &str) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: lifeboat\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        answer
    };
    let answer = tokio::time::timeout(BOUND, exchange).await.expect("the HTTP boot server answered");
    let head_end = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a head");
    let status = String::from_utf8_lossy(&answer[..head_end]).lines().next().unwrap_or_default().to_owned();
    (status, answer[head_end + 4..].to_vec())
}

#[tokio::test]
async fn a_host_with_a_boot_profile_gets_its_script_and_its_kernel_over_http_in_the_history() {
    let store = Store::open_memory().await.unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("debian")).unwrap();
    std::fs::write(root.path().join("debian/vmlinuz"), vec![0x4b; 100_000]).unwrap();
    std::fs::write(root.path().join("debian/initrd.gz"), vec![0x49; 50_000]).unwrap();
    let profile = lifeboat_store::BootProfileEntry {
        name: "debian".into(),
        kernel: Some("debian/vmlinuz".into()),
        initrds: vec!["debian/initrd.gz".into()],
        cmdline: "console=ttyS0 hostname={{ hostname }}".into(),
        ..Default::default()
    };
    store.save_boot_profile(&profile).await.unwrap();
    let host = HostEntry {
        mac: "52:54:00:12:34:56".into(),
        name: Some("node-1".into()),
        boot_profile: Some("debian".into()),
        ..Default::default()
    };
    store.insert_host(&host).await.unwrap();

    let mut tftp = TftpConfig::new(root.path());
    tftp.listen = vec!["127.0.0.1:0".parse().unwrap()];
    tftp.allow = AllowList::new(vec!["127.0.0.0/8".parse().unwrap()]);
    let http = lifeboat_server::HttpBootConfig {
        root: root.path().to_path_buf(),
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        allow: tftp.allow.clone(),
        aliases: Default::default(),
    };
    let config = AppConfig {
        tftp: Some(tftp),
        dhcp: None,
        http: Some(http),
        web: None,
        stop_when_idle: None,
        once: false,
        announce: true,
        claims: Vec::new(),
        retention: Retention::DEFAULT,
        settings: None,
    };
    let shutdown = CancellationToken::new();
    let clock = Arc::new(lifeboat_clock::SystemClock);
    let app = App::start(config, store.clone(), Arc::new(Loopback::default()), clock, shutdown.clone()).await.unwrap();
    let control = app.control();
    let status = control.services().into_iter().find(|s| s.service == Service::Http).expect("an HTTP boot service");
    assert!(status.running, "{status:?}");
    let addr: SocketAddr = status.listening[0].parse().unwrap();

    let (line, script) = http_get(addr, "/ipxe?mac=52:54:00:12:34:56").await;
    assert!(line.contains("200"), "{line}");
    let script = String::from_utf8(script).unwrap();
    let base = format!("http://{addr}");
    assert!(
        script.contains(&format!("kernel {base}/debian/vmlinuz console=ttyS0 hostname=node-1 initrd=initrd0\n")),
        "{script}"
    );
    assert!(script.contains(&format!("initrd --name initrd0 {base}/debian/initrd.gz\n")), "{script}");
    // An unknown machine: no default profile, so the menu of the one there is.
    let (_, menu) = http_get(addr, "/ipxe?mac=52:54:00:00:00:99").await;
    assert!(String::from_utf8_lossy(&menu).contains("item p0 debian"), "{}", String::from_utf8_lossy(&menu));

    let (line, kernel) = http_get(addr, "/debian/vmlinuz").await;
    assert!(line.contains("200") && kernel.len() == 100_000, "{line}");
    let (line, _) = http_get(addr, "/debian/missing.img").await;
    assert!(line.contains("404"), "{line}");

    // Both reach the history, marked as HTTP.
    let deadline = std::time::Instant::now() + BOUND;
    let records = loop {
        let page = store.transfers_page(&Default::default(), None, 10).await.unwrap();
        if page.items.len() >= 2 {
            break page.items;
        }
        assert!(std::time::Instant::now() < deadline, "the HTTP transfers were never recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let seen: Vec<(&str, lifeboat_store::TransferOutcome, lifeboat_store::TransferProtocol, u64)> = records
        .iter()
        .map(|t| (t.record.requested.as_str(), t.record.outcome, t.record.protocol, t.record.bytes))
        .collect();
    assert!(
        seen.contains(&(
            "debian/vmlinuz",
            lifeboat_store::TransferOutcome::Complete,
            lifeboat_store::TransferProtocol::Http,
            100_000
        )),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|(name, outcome, protocol, _)| name.contains("missing.img")
            && *outcome == lifeboat_store::TransferOutcome::NotFound
            && *protocol == lifeboat_store::TransferProtocol::Http),
        "{seen:?}"
    );
    shutdown.cancel();
    tokio::time::timeout(BOUND, app.wait()).await.expect("lifeboat stopped");
}

/// Two lifeboats, instances `a` and `b`, on one new PostgreSQL database (the server of
/// `LIFEBOAT_TEST_POSTGRES`), each with TFTP on loopback, and DHCP on loopback's one range: `b`
/// always, `a` when `a_dhcp` (then they serve the same range, as an HA pair, and share it).
async fn fleet_of_two(a_dhcp: bool) -> (lifeboat_store::ScratchDatabase, Running, Running) {
    let database = tokio::time::timeout(BOUND, lifeboat_store::ScratchDatabase::for_test()).await.expect("database");
    let location = database.location();
    let store = |name: &'static str| {
        let location = location.clone();
        async move { Store::connect(&location).await.expect("connect").for_instance(name) }
    };
    let options = |dhcp| Options { tftp: true, dhcp, ..Options::default() };
    let a = start_on(options(a_dhcp), store("a").await).await;
    let b = start_on(options(true), store("b").await).await;
    (database, a, b)
}

/// Ask with `ask` until `done` says yes, every 20 ms, for [`BOUND`] at most.
async fn eventually<T, F>(what: &str, mut ask: impl FnMut() -> F, done: impl Fn(&T) -> bool) -> T
where
    F: std::future::Future<Output = T>,
{
    let deadline = std::time::Instant::now() + BOUND;
    loop {
        let answer = ask().await;
        if done(&answer) {
            return answer;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: not within {BOUND:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set LIFEBOAT_TEST_POSTGRES (.ci/run starts a private server)"]
async fn a_host_saved_through_one_instance_reaches_the_other_instances_dhcp_and_tftp_unasked() {
    // Only b serves DHCP: with the same range on both, a could be the one to answer the client.
    let (database, a, b) = fleet_of_two(false).await;
    std::fs::write(b.root.path().join("node-7.efi"), b"node seven").unwrap();
    let mac = [2, 0, 0, 0, 0, 7];
    let reserved = Ipv4Addr::new(127, 0, 0, 177);
    let (dhcp_b, tftp_b) = (b.address(Service::Dhcp), b.address(Service::Tftp));

    // Saved on a; b is not told (no reload): it hears the change from the database.
    let host = HostEntry {
        mac: "02:00:00:00:00:07".into(),
        address: Some(reserved),
        image: Some("node-7.efi".into()),
        names: vec!["boot.efi".into()],
        ..HostEntry::default()
    };
    a.store.insert_host(&host).await.unwrap();

    // Asked every 20 ms, the client would pass DHCP's limit of 20 requests a second before a
    // slow machine brings the host over, and its next DISCOVER would be dropped: an attempt
    // that gets no answer within a second is just one more "not yet".
    let offer = eventually(
        "b offers the reserved address",
        || offer_within(dhcp_b, mac, Duration::from_secs(1)),
        |o| o.as_ref().is_some_and(|o| o.yiaddr() == reserved),
    )
    .await
    .expect("an offer");
    let file = String::from_utf8_lossy(offer.fname().unwrap_or_default()).trim_end_matches('\0').to_owned();
    assert_eq!(file, "node-7.efi");
    let scratch = tempfile::tempdir().unwrap();
    assert_eq!(fetch(tftp_b, "node-7.efi", scratch.path()).await.unwrap(), b"node seven");

    // The transfer is in the history a reads, under b's name.
    let served = eventually(
        "b's transfer in the shared history",
        || async {
            let filter = lifeboat_store::TransferFilter { instance: Some("b".into()), ..Default::default() };
            a.store.transfers_page(&filter, None, 10).await.unwrap().items
        },
        |items| !items.is_empty(),
    )
    .await;
    assert_eq!((served[0].instance.as_str(), served[0].record.requested.as_str()), ("b", "node-7.efi"));
    a.stop().await;
    b.stop().await;
    database.drop().await.unwrap();
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set LIFEBOAT_TEST_POSTGRES (.ci/run starts a private server)"]
async fn one_instance_lists_the_fleet_and_stops_a_service_of_another() {
    let (database, a, b) = fleet_of_two(false).await;
    let up = |instances: &Vec<lifeboat_web::InstanceView>| {
        instances.iter().filter(|i| i.up).map(|i| i.name.clone()).collect::<Vec<_>>() == ["a", "b"]
    };
    let listed = eventually("both instances beat", || async { a.control.instances().await.unwrap() }, up).await;
    assert!(listed[0].this && !listed[1].this, "{listed:?}");
    assert_eq!(listed[1].services.get("tftp").map(String::as_str), Some("running"), "{listed:?}");
    let tftp_b = b.address(Service::Tftp);

    a.control.command_instance("b".into(), Service::Tftp, false, "test".into()).await.expect("b stops TFTP");

    assert!(!b.running(Service::Tftp), "b's TFTP still runs");
    assert!(UdpSocket::bind(tftp_b).await.is_ok(), "b's TFTP port is still taken");
    let stopped_by = b.store.events_page(None, None, 20).await.unwrap();
    assert!(
        stopped_by.items.iter().any(|e| e.instance == "b" && e.event.origin.contains("test on a")),
        "{:?}",
        stopped_by.items
    );
    // The next heartbeat says so.
    eventually(
        "b's heartbeat shows TFTP stopped",
        || async { a.control.instances().await.unwrap() },
        |instances| {
            instances.iter().any(|i| i.name == "b" && i.services.get("tftp").map(String::as_str) == Some("stopped"))
        },
    )
    .await;
    // Stopping it again is refused by b, and the refusal reaches a.
    let again = a.control.command_instance("b".into(), Service::Tftp, false, "test".into()).await;
    assert!(matches!(again, Err(lifeboat_web::FleetError::Refused { .. })), "{again:?}");
    let unknown = a.control.command_instance("c".into(), Service::Tftp, false, "test".into()).await;
    assert!(matches!(unknown, Err(lifeboat_web::FleetError::UnknownInstance(_))), "{unknown:?}");

    b.stop().await;
    a.stop().await;
    database.drop().await.unwrap();
}

/// A DISCOVER to `server`: its offer, or `None` when it stays quiet for `wait`.
async fn offer_within(server: SocketAddr, mac: [u8; 6], wait: Duration) -> Option<Message> {
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(&dhcp_request(MessageType::Discover, mac, 9), server).await.unwrap();
    let mut buf = vec![0; 1500];
    let len = tokio::time::timeout(wait, client.recv(&mut buf)).await.ok()?.unwrap();
    Some(Message::decode(&mut Decoder::new(&buf[..len])).unwrap())
}

/// A REBINDING request (broadcast, `ciaddr` set, no server identifier) of `mac` for `address`
/// to `server`: the reply's type and address.
async fn rebind(server: SocketAddr, mac: [u8; 6], address: Ipv4Addr) -> Option<(MessageType, Ipv4Addr)> {
    let mut request = Message::default();
    request.set_opcode(Opcode::BootRequest).set_xid(10).set_chaddr(&mac).set_ciaddr(address);
    request.opts_mut().insert(DhcpOption::MessageType(MessageType::Request));
    let mut bytes = Vec::new();
    request.encode(&mut Encoder::new(&mut bytes)).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(&bytes, server).await.unwrap();
    let mut buf = vec![0; 1500];
    let len = tokio::time::timeout(Duration::from_secs(2), client.recv(&mut buf)).await.ok()?.unwrap();
    let reply = Message::decode(&mut Decoder::new(&buf[..len])).unwrap();
    Some((reply.opts().msg_type()?, reply.yiaddr()))
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set LIFEBOAT_TEST_POSTGRES (.ci/run starts a private server)"]
async fn an_ha_pair_shares_the_clients_never_gives_an_address_twice_and_the_survivor_rebinds_the_others() {
    let (database, a, b) = fleet_of_two(true).await;
    let servers = [a.address(Service::Dhcp), b.address(Service::Dhcp)];
    let quiet = Duration::from_millis(300);
    let mac = |n: u8| [2, 0, 0, 0, 3, n];
    // Once both heartbeats are seen, each client gets one offer, not two.
    eventually(
        "the pair shares the clients",
        || async {
            let mut single = 0;
            for n in 200..206 {
                let (x, y) =
                    tokio::join!(offer_within(servers[0], mac(n), quiet), offer_within(servers[1], mac(n), quiet));
                single += usize::from(x.is_some() != y.is_some());
            }
            single
        },
        |single| *single == 6,
    )
    .await;

    let mut served = [Vec::new(), Vec::new()];
    for n in 0..40 {
        let (x, y) = tokio::join!(offer_within(servers[0], mac(n), quiet), offer_within(servers[1], mac(n), quiet));
        let side = match (x.is_some(), y.is_some()) {
            (true, false) => 0,
            (false, true) => 1,
            other => panic!("client {n}: offers from (a, b) = {other:?}"),
        };
        let ack = bind(servers[side], mac(n)).await;
        served[side].push((n, ack.yiaddr()));
    }
    assert!(!served[0].is_empty() && !served[1].is_empty(), "one instance served everyone: {served:?}");
    let mut addresses: Vec<Ipv4Addr> = served.iter().flatten().map(|(_, address)| *address).collect();
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), 40, "an address was given twice: {served:?}");
    let stored = eventually(
        "the 40 leases in the database",
        || async { a.store.load_leases().await.unwrap() },
        |l| l.len() >= 40,
    )
    .await;
    assert_eq!(stored.len(), 40, "{stored:?}");

    // b goes away; once a no longer sees it beat, a answers b's clients when they rebind.
    let (client, address) = served[1][0];
    b.stop().await;
    let deadline = std::time::Instant::now() + BOUND;
    let answer = loop {
        if let Some(answer) = rebind(servers[0], mac(client), address).await {
            break answer;
        }
        assert!(std::time::Instant::now() < deadline, "a never answered b's client");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(answer, (MessageType::Ack, address));
    a.stop().await;
    database.drop().await.unwrap();
}

/// With announcements off (`--no-announce`), nothing is sent: not when the served address
/// appears, not when TFTP starts again, though the interface could send them.
#[tokio::test]
async fn nothing_is_announced_when_announcements_are_off() {
    let (neighbours, binder) = with_lab0([2, 0, 0, 0, 0, 0xa]);
    let options = Options { tftp: true, announce: false, ..Options::default() };
    let mut app = start_with_binder(options, Store::open_memory().await.unwrap(), binder).await;
    app.pause();
    let std::net::IpAddr::V4(served) = app.address(Service::Tftp).ip() else { panic!("TFTP listens on IPv6") };
    neighbours.interfaces.lock().unwrap()[0].ipv4.push((served, 8));
    advance_in_steps(Duration::from_secs(5), Duration::from_millis(10)).await;
    app.control.stop(Service::Tftp, "dashboard".into()).await.unwrap();
    app.control.start(Service::Tftp, "dashboard".into()).await.unwrap();
    advance_in_steps(Duration::from_secs(5), Duration::from_millis(10)).await;
    assert_eq!(neighbours.sent.lock().unwrap().len(), 0, "announced though announcements are off");
    app.stop().await;
}

/// Where the kernel says when addresses change, the announcer lists them when told (and every
/// ten seconds in case a word was lost), not every second: an address that appears is announced
/// as soon as the change is reported. When the word stops, it looks every second again.
#[tokio::test]
async fn with_word_of_changes_the_announcer_looks_when_told() {
    use std::sync::atomic::Ordering;
    const NEW_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xb];
    let (neighbours, binder) = with_lab0([2, 0, 0, 0, 0, 0xa]);
    let (tell, told) = tokio::sync::mpsc::unbounded_channel();
    *neighbours.changes.lock().unwrap() = Some(told);
    let options = Options { tftp: true, ..Options::default() };
    let mut app = start_with_binder(options, Store::open_memory().await.unwrap(), binder).await;
    app.pause();
    let std::net::IpAddr::V4(served) = app.address(Service::Tftp).ip() else { panic!("TFTP listens on IPv6") };
    let looks = || neighbours.looks.load(Ordering::SeqCst);
    let at_start = looks();
    advance_in_steps(Duration::from_secs(5), Duration::from_millis(10)).await;
    assert_eq!(looks(), at_start, "looked with nothing said");

    // The address appears; nothing is said yet, so nothing is seen.
    neighbours.interfaces.lock().unwrap()[0].ipv4.push((served, 8));
    advance_in_steps(Duration::from_secs(3), Duration::from_millis(10)).await;
    assert_eq!(arp_announcements(&neighbours), []);
    // A burst of notifications (as an added address brings): one look, announced at once.
    for _ in 0..3 {
        tell.send(()).unwrap();
    }
    advance_in_steps(Duration::from_millis(30), Duration::from_millis(10)).await;
    tell.send(()).unwrap();
    advance_in_steps(Duration::from_millis(100), Duration::from_millis(10)).await;
    assert_eq!(looks(), at_start + 1);
    assert_eq!(arp_announcements(&neighbours).len(), 1, "the first frame of the round went out at once");
    // Ten seconds after the last look, a look anyway.
    advance_in_steps(Duration::from_secs(10), Duration::from_millis(10)).await;
    assert_eq!(looks(), at_start + 2);

    // The word stops: every second again, and a new MAC is found within it.
    drop(tell);
    advance_in_steps(Duration::from_millis(50), Duration::from_millis(10)).await;
    neighbours.interfaces.lock().unwrap()[0].mac = Some(lifeboat_dhcp::Mac(NEW_MAC));
    advance_in_steps(Duration::from_secs(1), Duration::from_millis(10)).await;
    let sent = arp_announcements(&neighbours);
    assert_eq!(sent.last().map(|s| (s.2, s.3)), Some((NEW_MAC, served)), "{sent:?}");
    app.stop().await;
}

/// Fake neighbours with one Ethernet interface, `lab0` (index 7, up, `mac`, no address yet), and
/// a loopback binder that announces through them.
fn with_lab0(mac: [u8; 6]) -> (Arc<FakeNeighbours>, Loopback) {
    let lab0 = Interface { name: "lab0".into(), index: 7, mac: Some(lifeboat_dhcp::Mac(mac)), up: true, ipv4: vec![] };
    let neighbours = Arc::new(FakeNeighbours { interfaces: Mutex::new(vec![lab0]), ..FakeNeighbours::default() });
    let binder = Loopback { neighbours: Some(Arc::clone(&neighbours)), ..Loopback::default() };
    (neighbours, binder)
}

/// The ARP announcements sent so far: when, on which interface, from which MAC, of which address.
fn arp_announcements(neighbours: &FakeNeighbours) -> Vec<(tokio::time::Instant, u32, [u8; 6], Ipv4Addr)> {
    let sent = neighbours.sent.lock().unwrap();
    sent.iter()
        .filter(|(_, _, a)| a.ethertype == 0x0806)
        .map(|(at, ifindex, a)| {
            // ARP for IPv4 over Ethernet: sender MAC at 8, sender address at 14 (RFC 826).
            let mac: [u8; 6] = a.payload[8..14].try_into().unwrap();
            let address: [u8; 4] = a.payload[14..18].try_into().unwrap();
            (*at, *ifindex, mac, Ipv4Addr::from(address))
        })
        .collect()
}

#[tokio::test]
async fn the_served_address_is_announced_when_it_appears_when_the_mac_changes_and_when_tftp_starts_again() {
    const OLD_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
    const NEW_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xb];
    // An Ethernet interface that will carry the address TFTP listens on; it has none yet.
    let (neighbours, binder) = with_lab0(OLD_MAC);
    let options = Options { tftp: true, ..Options::default() };
    let mut app = start_with_binder(options, Store::open_memory().await.unwrap(), binder).await;
    app.pause();
    let served = match app.address(Service::Tftp).ip() {
        std::net::IpAddr::V4(address) => address,
        other => panic!("TFTP listens on {other}"),
    };
    advance(Duration::from_secs(3)).await;
    assert_eq!(arp_announcements(&neighbours), [], "an address no interface has is not announced");

    // The address appears: two announcements, two seconds apart, from the interface's MAC.
    neighbours.interfaces.lock().unwrap()[0].ipv4.push((served, 8));
    advance_in_steps(Duration::from_secs(5), Duration::from_millis(10)).await;
    let sent = arp_announcements(&neighbours);
    assert_eq!(sent.iter().map(|(_, i, m, a)| (*i, *m, *a)).collect::<Vec<_>>(), [(7, OLD_MAC, served); 2]);
    let apart = sent[1].0 - sent[0].0;
    assert!((Duration::from_secs(2)..Duration::from_millis(2020)).contains(&apart), "{apart:?} apart");
    advance(Duration::from_secs(30)).await;
    assert_eq!(arp_announcements(&neighbours).len(), 2, "nothing changed: nothing more");

    // The interface comes back with another MAC: announced within the second.
    neighbours.interfaces.lock().unwrap()[0].mac = Some(lifeboat_dhcp::Mac(NEW_MAC));
    advance(Duration::from_secs(1)).await;
    let sent = arp_announcements(&neighbours);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!((sent[2].2, sent[2].3), (NEW_MAC, served));
    advance(Duration::from_secs(15)).await;
    assert_eq!(arp_announcements(&neighbours).len(), 4);

    // TFTP restarted from the dashboard, faster than the look every second: announced at once,
    // without time passing. Again at once: not within ten seconds of the last round.
    for expected in [5, 5] {
        app.control.stop(Service::Tftp, "dashboard".into()).await.unwrap();
        app.control.start(Service::Tftp, "dashboard".into()).await.unwrap();
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert_eq!(arp_announcements(&neighbours).len(), expected, "{:?}", arp_announcements(&neighbours));
    }
    app.stop().await;
}
