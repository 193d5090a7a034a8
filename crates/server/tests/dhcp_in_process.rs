//! The DHCP server in process, on a loopback socket the system picks, with interfaces and a
//! lease store of the test's own: no root, no namespace. A client on an ordinary port gets its
//! replies straight back (`lifeboat_dhcp::destination`), so nothing leaves loopback.
//!
//! What these tests pin down is the server's promise about leases: an ACK leaves only once its
//! lease is saved, and a lease that cannot be saved is never acknowledged.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dhcproto::v4::{self, DhcpOption, Message, MessageType, Opcode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use lifeboat_dhcp::LeaseChange;
use lifeboat_dhcp::config::{Mac, Reservation};
use lifeboat_net::{Interface, PktInfoSocket};
use lifeboat_server::{
    DhcpConfig, DhcpHosts, DhcpPlan, DhcpServer, DhcpSockets, LeaseSink, NotSaved, Persisted, Reachable,
};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// Every wait of these tests ends after this, as a failure.
const BOUND: Duration = Duration::from_secs(10);

/// A lease store whose commits the test finishes: each change is handed over with the sender
/// that completes its commit, `Ok` or `Err`. After an unreachable error, the store is back when
/// the test sends on `back` (if it kept the other end).
struct GatedStore {
    changes: mpsc::UnboundedSender<(LeaseChange, oneshot::Sender<Result<(), NotSaved>>)>,
    back: Mutex<Option<oneshot::Receiver<()>>>,
}

impl GatedStore {
    fn new(changes: mpsc::UnboundedSender<(LeaseChange, oneshot::Sender<Result<(), NotSaved>>)>) -> GatedStore {
        GatedStore { changes, back: Mutex::new(None) }
    }
}

impl LeaseSink for GatedStore {
    fn persist(&self, change: LeaseChange) -> Persisted {
        let (done, committed) = oneshot::channel();
        let _ = self.changes.send((change, done));
        let dropped = || Err(NotSaved::Failed("the test dropped the commit".into()));
        Box::pin(async move { committed.await.unwrap_or_else(|_| dropped()) })
    }

    fn reachable(&self) -> Reachable {
        let back = self.back.lock().unwrap().take();
        Box::pin(async move {
            match back {
                Some(back) => drop(back.await),
                None => std::future::pending().await,
            }
        })
    }
}

/// A store that saves everything at once, keeping a list.
#[derive(Default)]
struct MemoryStore(Mutex<Vec<LeaseChange>>);

impl LeaseSink for MemoryStore {
    fn persist(&self, change: LeaseChange) -> Persisted {
        self.0.lock().unwrap().push(change);
        Box::pin(async { Ok(()) })
    }
}

struct Running {
    server_addr: SocketAddr,
    client: UdpSocket,
    sent: Arc<std::sync::atomic::AtomicU64>,
    withheld: Arc<std::sync::atomic::AtomicU64>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(BOUND, self.task).await.expect("the server stops").unwrap();
    }
}

/// This namespace's loopback, as the only interface: it serves 127.0.0.100-127.0.0.200.
fn loopback() -> Vec<Interface> {
    let lo = lifeboat_net::interfaces().unwrap().into_iter().find(|i| i.name == "lo").expect("lo exists");
    vec![Interface { ipv4: vec![(Ipv4Addr::LOCALHOST, 8)], ..lo }]
}

async fn start(sink: Arc<dyn LeaseSink>, hosts: Option<watch::Receiver<DhcpHosts>>) -> Running {
    let config = DhcpConfig::new(vec!["127.0.0.100,127.0.0.200".parse().unwrap()]);
    let mut plan = DhcpPlan::new(&config, &loopback()).unwrap();
    // Nothing to watch on loopback, and probing it would need a raw socket.
    plan.watched.clear();
    let dhcp = PktInfoSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let server_addr = dhcp.local_addr().unwrap();
    let sockets = DhcpSockets { dhcp, pxe: None, frames: None };
    let mut server = DhcpServer::new(config, plan, sockets, Vec::new(), sink, 0);
    if let Some(hosts) = hosts {
        server = server.watch_hosts(hosts);
    }
    let (sent, withheld) = (server.replies_sent(), server.replies_withheld());
    let stop = CancellationToken::new();
    let task = tokio::spawn(server.run(stop.clone()));
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    Running { server_addr, client, sent, withheld, stop, task }
}

fn request(kind: MessageType, mac: [u8; 6], xid: u32, asked: Option<Ipv4Addr>) -> Vec<u8> {
    let mut message = Message::default();
    message.set_opcode(Opcode::BootRequest).set_xid(xid).set_chaddr(&mac);
    message.opts_mut().insert(DhcpOption::MessageType(kind));
    if let Some(address) = asked {
        message.opts_mut().insert(DhcpOption::RequestedIpAddress(address));
        message.opts_mut().insert(DhcpOption::ServerIdentifier(Ipv4Addr::LOCALHOST));
    }
    let mut bytes = Vec::new();
    message.encode(&mut Encoder::new(&mut bytes)).unwrap();
    bytes
}

async fn exchange(running: &Running, bytes: &[u8]) -> Message {
    running.client.send_to(bytes, running.server_addr).await.unwrap();
    receive(running).await
}

async fn receive(running: &Running) -> Message {
    let mut buf = vec![0; 1500];
    let len = tokio::time::timeout(BOUND, running.client.recv(&mut buf)).await.expect("a reply").unwrap();
    Message::decode(&mut Decoder::new(&buf[..len])).unwrap()
}

fn kind(message: &Message) -> Option<MessageType> {
    match message.opts().get(v4::OptionCode::MessageType) {
        Some(DhcpOption::MessageType(kind)) => Some(*kind),
        _ => None,
    }
}

/// Nothing has arrived for the client (a non-blocking look).
fn nothing_waiting(running: &Running) -> bool {
    let mut buf = [0; 1500];
    matches!(running.client.try_recv(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

const MAC: [u8; 6] = [0x02, 0x10, 0x20, 0x30, 0x40, 0x50];

#[tokio::test]
async fn the_ack_leaves_only_after_its_lease_is_saved() {
    let (changes, mut committing) = mpsc::unbounded_channel();
    let running = start(Arc::new(GatedStore::new(changes)), None).await;

    let offer = exchange(&running, &request(MessageType::Discover, MAC, 1, None)).await;
    assert_eq!(kind(&offer), Some(MessageType::Offer));
    let offered = offer.yiaddr();
    running.client.send_to(&request(MessageType::Request, MAC, 2, Some(offered)), running.server_addr).await.unwrap();

    let (change, commit) = tokio::time::timeout(BOUND, committing.recv()).await.expect("a lease to save").unwrap();
    let LeaseChange::Upsert(lease) = change else { panic!("a new lease, not {change:?}") };
    assert_eq!((lease.address, lease.mac.as_slice()), (offered, &MAC[..]));
    // The server handles datagrams in order: once another client has its OFFER, an ACK sent
    // without waiting for the commit would have left already.
    let other = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    other.send_to(&request(MessageType::Discover, [2, 0, 0, 0, 0, 0x99], 9, None), running.server_addr).await.unwrap();
    let mut buf = vec![0; 1500];
    tokio::time::timeout(BOUND, other.recv(&mut buf)).await.expect("the other client's offer").unwrap();
    // The reply depends on this commit, which has not finished: only the two OFFERs left.
    assert_eq!(running.sent.load(Ordering::SeqCst), 2);
    assert!(nothing_waiting(&running), "no ACK before the lease is saved");

    commit.send(Ok(())).unwrap();
    let ack = receive(&running).await;
    assert_eq!((kind(&ack), ack.yiaddr()), (Some(MessageType::Ack), offered));
    assert_eq!(running.withheld.load(Ordering::SeqCst), 0);
    running.stop().await;
}

#[tokio::test]
async fn a_lease_that_cannot_be_saved_is_never_acknowledged() {
    let (changes, mut committing) = mpsc::unbounded_channel();
    let running = start(Arc::new(GatedStore::new(changes)), None).await;
    let offered = exchange(&running, &request(MessageType::Discover, MAC, 1, None)).await.yiaddr();
    let asking = request(MessageType::Request, MAC, 2, Some(offered));
    running.client.send_to(&asking, running.server_addr).await.unwrap();
    let (_, commit) = tokio::time::timeout(BOUND, committing.recv()).await.expect("a lease to save").unwrap();
    commit.send(Err(NotSaved::Failed("disk full".into()))).unwrap();

    // The server takes the withholding branch: it counts the reply it did not send.
    let deadline = tokio::time::Instant::now() + BOUND;
    while running.withheld.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the failed commit was never handled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(running.sent.load(Ordering::SeqCst), 1, "only the OFFER left");
    assert!(nothing_waiting(&running), "no ACK for a lease that is not saved");

    // The client retries, as clients do; this time the disk takes it.
    running.client.send_to(&asking, running.server_addr).await.unwrap();
    let (_, commit) = tokio::time::timeout(BOUND, committing.recv()).await.expect("the retry's lease").unwrap();
    commit.send(Ok(())).unwrap();
    let ack = receive(&running).await;
    assert_eq!((kind(&ack), ack.yiaddr()), (Some(MessageType::Ack), offered));
    assert_eq!(running.withheld.load(Ordering::SeqCst), 1);
    running.stop().await;
}

/// Wait (bounded) until `count` reaches `at_least`.
async fn until_counted(count: &std::sync::atomic::AtomicU64, at_least: u64, what: &str) {
    let deadline = tokio::time::Instant::now() + BOUND;
    while count.load(Ordering::SeqCst) < at_least {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn lease_time(message: &Message) -> Option<u32> {
    match message.opts().get(v4::OptionCode::AddressLeaseTime) {
        Some(DhcpOption::AddressLeaseTime(secs)) => Some(*secs),
        _ => None,
    }
}

#[tokio::test]
async fn while_the_store_is_unreachable_saved_leases_are_renewed_from_memory_and_nobody_else_is_served() {
    let (changes, mut committing) = mpsc::unbounded_channel();
    let store = Arc::new(GatedStore::new(changes));
    let (store_back, back) = oneshot::channel();
    *store.back.lock().unwrap() = Some(back);
    let running = start(store.clone(), None).await;
    let offered = exchange(&running, &request(MessageType::Discover, MAC, 1, None)).await.yiaddr();
    let asking = request(MessageType::Request, MAC, 2, Some(offered));
    running.client.send_to(&asking, running.server_addr).await.unwrap();
    let (_, commit) = tokio::time::timeout(BOUND, committing.recv()).await.expect("a lease to save").unwrap();
    commit.send(Ok(())).unwrap();
    let saved = lease_time(&receive(&running).await).expect("the ACK has a lease time");

    // The renewal's commit fails: the database went away.
    running.client.send_to(&asking, running.server_addr).await.unwrap();
    let (_, commit) = tokio::time::timeout(BOUND, committing.recv()).await.expect("the renewal to save").unwrap();
    commit.send(Err(NotSaved::Unreachable("connection refused".into()))).unwrap();
    until_counted(&running.withheld, 1, "the failed renewal was never handled").await;

    // A new client asks first, then the known one renews again: the known one is answered from
    // memory with no more than its saved lease has left, and nothing goes to the store; the
    // new one gets nothing (its OFFER would have left first).
    let newcomer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let new_mac = [2, 0, 0, 0, 0, 0x77];
    newcomer.send_to(&request(MessageType::Discover, new_mac, 7, None), running.server_addr).await.unwrap();
    let ack = exchange(&running, &asking).await;
    assert_eq!((kind(&ack), ack.yiaddr()), (Some(MessageType::Ack), offered));
    assert!(lease_time(&ack).is_some_and(|t| t <= saved), "{:?} after {saved}", lease_time(&ack));
    assert!(committing.try_recv().is_err(), "nothing was sent to the unreachable store");
    let mut buf = [0; 1500];
    assert!(matches!(newcomer.try_recv(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock));

    // The store is back: the new client gets an offer (once the server has heard).
    store_back.send(()).unwrap();
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        newcomer.send_to(&request(MessageType::Discover, new_mac, 8, None), running.server_addr).await.unwrap();
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(100), newcomer.recv(&mut buf)).await {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no offer after the store came back");
    }
    running.stop().await;
}

#[tokio::test]
async fn a_host_added_while_running_gets_its_address_and_boot_file_at_once() {
    let (hosts, watched) = watch::channel(DhcpHosts::default());
    let store = Arc::new(MemoryStore::default());
    let running = start(store.clone(), Some(watched)).await;

    let before = exchange(&running, &request(MessageType::Discover, MAC, 1, None)).await;
    assert_ne!(before.yiaddr(), Ipv4Addr::new(127, 0, 0, 150));

    let reserved = Ipv4Addr::new(127, 0, 0, 150);
    hosts.send_replace(DhcpHosts {
        reservations: vec![Reservation { mac: Mac(MAC), address: reserved, name: None, boot_file: None }],
        boot: [(Mac(MAC), "openwrt-initramfs.bin".to_owned())].into(),
        profiled: Default::default(),
    });
    // The server takes the new hosts between datagrams; the next DISCOVER may still race them,
    // so ask until the answer changes (bounded).
    let deadline = tokio::time::Instant::now() + BOUND;
    let after = loop {
        let offer = exchange(&running, &request(MessageType::Discover, MAC, 3, None)).await;
        if offer.yiaddr() == reserved {
            break offer;
        }
        assert!(tokio::time::Instant::now() < deadline, "the reservation never applied");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let file = String::from_utf8_lossy(after.fname().unwrap_or_default());
    assert_eq!(file.trim_end_matches('\0'), "openwrt-initramfs.bin");
    running.stop().await;
}
