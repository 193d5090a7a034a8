//! The DHCP/BOOTP server: finds the interfaces, checks nobody else serves DHCP there, binds
//! ports 67 (and 4011 for proxyDHCP) and runs the responder of `lifeboat-dhcp` on every
//! datagram. A reply that acknowledges a lease leaves only after the lease is durable. While it
//! runs, it keeps watching its segments for other DHCP servers (`dhcp_probe.rs`); where one
//! appears, new clients get no address any more (unless `--dhcp-skip-probe`), and
//! [`DhcpServer::other_servers`] tells who it is.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;

use lifeboat_clock::{Clock, SystemClock};
use lifeboat_dhcp::config::{Mac, Reservation};
use lifeboat_dhcp::destination::{PXE_PORT, SERVER_PORT};
use lifeboat_dhcp::scope::{Reach, ScopeError};
use lifeboat_dhcp::{
    Arrival, Explanation, Lease, LeaseChange, Level, LoadShare, Reply, Responder, Settings, UnsavedBind,
};
use lifeboat_net::{BindError, FrameSender, Interface, PktInfoSocket, interfaces};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::dhcp_config::{DhcpConfig, DhcpHosts};
use crate::dhcp_plan::DhcpPlan;
use crate::dhcp_probe::{OtherServer, ProbeAnswer, probe, watch as watch_segment};
use crate::dhcp_send::ReplySender;

/// A future that resolves when a lease change is durable (or failed to become so).
pub type Persisted = Pin<Box<dyn Future<Output = Result<(), NotSaved>> + Send>>;

/// A future that resolves once a lease store that was unreachable can save changes again.
pub type Reachable = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Why a lease change was not saved.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotSaved {
    /// The store's database cannot be reached now (a PostgreSQL server down or cut off); it may
    /// come back, and [`LeaseSink::reachable`] says when.
    #[error("{0}")]
    Unreachable(String),
    /// The store refused or failed the change (a full disk, a conflict).
    #[error("{0}")]
    Failed(String),
}

/// Where the server persists lease changes: the store's write-behind writer in the binary, a
/// list in memory in tests.
pub trait LeaseSink: Send + Sync + 'static {
    /// Queue `change`; the future resolves once it is on disk.
    fn persist(&self, change: LeaseChange) -> Persisted;

    /// Resolves once the store can save again, after a change failed as
    /// [`NotSaved::Unreachable`]. Until then the server gives no new leases and answers clients
    /// with an active lease from memory. A store that is never unreachable keeps this default.
    fn reachable(&self) -> Reachable {
        Box::pin(std::future::ready(()))
    }
}

/// Why the DHCP server could not start.
#[derive(Debug, thiserror::Error)]
pub enum DhcpStartError {
    #[error("cannot list the network interfaces: {0}")]
    Interfaces(std::io::Error),
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error(
        "another DHCP server answers on {interface}: {} (server identifier {}) offered {offered}. Two DHCP servers on one segment hand out conflicting addresses: use a proxy range (--dhcp-range NETWORK,proxy) to add only boot information, stop the other server, or pass --dhcp-skip-probe if you are sure",
        from.ip(), server_id.map_or_else(|| "none".to_owned(), |i| i.to_string())
    )]
    AnotherServer { interface: String, from: SocketAddr, server_id: Option<Ipv4Addr>, offered: Ipv4Addr },
    #[error("cannot probe {interface} for other DHCP servers: {source} (pass --dhcp-skip-probe to skip the probe)")]
    Probe { interface: String, source: std::io::Error },
    #[error("{}", dhcp_bind_text(.0))]
    Bind(#[from] BindError),
}

/// A bind error, with what to do about a taken port. DHCP's ports are fixed by the protocol, so
/// the way out is the other server, not a flag (the socket crate's hint names no flag).
fn dhcp_bind_text(error: &BindError) -> String {
    match error {
        BindError::InUse { .. } => format!(
            "{error}; DHCP always uses port 67 (and 4011 for proxyDHCP): stop the other DHCP server (dnsmasq, dhcpd, kea), or leave out --dhcp-range to serve TFTP only"
        ),
        _ => error.to_string(),
    }
}

/// The sockets a DHCP server answers on.
#[derive(Debug)]
pub struct DhcpSockets {
    /// Requests arrive here and replies leave from it: port 67 on every address.
    pub dhcp: PktInfoSocket,
    /// Port 4011, when a proxyDHCP range is configured.
    pub pxe: Option<PktInfoSocket>,
    /// For replies to clients without an address (see [`FrameSender`]); without it, they are
    /// broadcast.
    pub frames: Option<FrameSender>,
}

impl DhcpSockets {
    /// Bind what `plan` needs: port 67, port 4011 for proxyDHCP, and a packet socket when the
    /// process may open one.
    pub fn bind(plan: &DhcpPlan) -> Result<DhcpSockets, BindError> {
        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let dhcp = PktInfoSocket::bind(SocketAddr::new(any, SERVER_PORT))?;
        dhcp.set_broadcast(true).map_err(|e| BindError::new(SocketAddr::new(any, SERVER_PORT), e))?;
        let pxe = if plan.needs_pxe_port { Some(PktInfoSocket::bind(SocketAddr::new(any, PXE_PORT))?) } else { None };
        let frames = match FrameSender::open() {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(
                    "cannot open a packet socket ({e}): replies to clients without an address will be broadcast (give lifeboat CAP_NET_RAW to avoid that)"
                );
                None
            }
        };
        Ok(DhcpSockets { dhcp, pxe, frames })
    }
}

/// What [`DhcpServer::report_exchanges`] calls with each request and what became of it.
pub type ExchangeReport = Arc<dyn Fn(&Explanation) + Send + Sync>;

/// What the application asks of a running DHCP server (through the channel given to
/// [`DhcpServer::accept_commands`]): the lease table lives in the server's task, so changes to
/// it are made there, in order with the requests.
#[derive(Debug)]
pub enum DhcpCommand {
    /// Forget the lease bound on `address`. `done` hears whether there was one, once its removal
    /// is saved, or why saving it failed.
    Release { address: Ipv4Addr, done: oneshot::Sender<Result<bool, String>> },
    /// Take in leases another lifeboat of the fleet bound (nothing to save: they are in the
    /// shared database already).
    Learn(Vec<Lease>),
    /// Answer only this part of the clients (`None`: all): other lifeboats serve the same range.
    ShareLoad(Option<LoadShare>),
    /// The addresses of the fleet's other lifeboats now: replies from them are a partner's.
    Partners(BTreeSet<Ipv4Addr>),
}

/// A bound DHCP server, ready to [`run`](DhcpServer::run).
pub struct DhcpServer {
    responder: Responder,
    sender: Arc<ReplySender>,
    /// Replies withheld because their lease could not be saved.
    withheld: Arc<AtomicU64>,
    /// Interface indexes answered on.
    answer_on: BTreeSet<u32>,
    sink: Arc<dyn LeaseSink>,
    /// The reservations of the configuration; the dashboard's hosts come on top.
    configured: Vec<Reservation>,
    hosts: Option<watch::Receiver<DhcpHosts>>,
    commands: Option<mpsc::Receiver<DhcpCommand>>,
    /// What it serves, for people: `lab0 10.7.0.1 (10.7.0.0/24)`, `relayed 10.8.0.0/24`.
    serving: Vec<String>,
    /// The interfaces of local address ranges, watched for other DHCP servers.
    watched: Vec<Interface>,
    /// This machine's IPv4 addresses: replies from them are lifeboat's own.
    own_addresses: Vec<Ipv4Addr>,
    /// Keep handing out addresses where another server appears.
    skip_probe: bool,
    /// The fleet's other lifeboats' addresses: not other servers.
    partners: BTreeSet<Ipv4Addr>,
    /// The time of day leases are granted and expire by.
    clock: Arc<dyn Clock>,
    /// Told of every request and what became of it (the dashboard's recent DHCP activity).
    exchanges: Option<ExchangeReport>,
    others: watch::Sender<Vec<OtherServer>>,
    /// While the lease store is unreachable: resolves once it is back.
    store_back: Option<Reachable>,
}

impl std::fmt::Debug for DhcpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhcpServer").field("answer_on", &self.answer_on).finish_non_exhaustive()
    }
}

impl DhcpServer {
    /// List the interfaces, plan what to serve where, probe for other servers (unless
    /// `--dhcp-skip-probe`) and bind the ports. `leases` are the leases persisted by an
    /// earlier run.
    pub async fn start(
        config: DhcpConfig,
        leases: Vec<Lease>,
        sink: Arc<dyn LeaseSink>,
    ) -> Result<DhcpServer, DhcpStartError> {
        let all = interfaces().map_err(DhcpStartError::Interfaces)?;
        let plan = DhcpPlan::new(&config, &all)?;
        for scope in &plan.scopes {
            let kind = if scope.proxy { "proxyDHCP" } else { "DHCP" };
            if let Reach::Local { interface, address, .. } = &scope.reach {
                let pools: Vec<&str> = scope.pools.iter().map(|p| p.text.as_str()).collect();
                tracing::info!("{kind} on {interface} ({address}, subnet {}) {}", scope.subnet, pools.join(" "));
            }
        }
        if !config.skip_probe {
            for interface in &plan.watched {
                check_alone(interface, &config).await?;
            }
        }
        let sockets = DhcpSockets::bind(&plan)?;
        // Without the OS's randomness the limiter still works; its hash is then predictable,
        // so a client could pick MACs that share another's budget.
        let hash_seed = getrandom::u64().unwrap_or_else(|e| {
            tracing::warn!("no random seed for the DHCP rate limit ({e}); using a fixed one");
            0x6c69_6665_626f_6174
        });
        Ok(DhcpServer::new(config, plan, sockets, leases, sink, hash_seed))
    }

    /// A server on sockets somebody else bound, serving what `plan` says. `hash_seed` keys the
    /// rate limit's hash of client identifiers (see [`Settings::hash_seed`]).
    pub fn new(
        config: DhcpConfig,
        plan: DhcpPlan,
        sockets: DhcpSockets,
        leases: Vec<Lease>,
        sink: Arc<dyn LeaseSink>,
        hash_seed: u64,
    ) -> DhcpServer {
        let mut settings = Settings::new(plan.scopes);
        settings.reservations = config.reservations.clone();
        settings.boot_rules = config.boot_rules;
        settings.default_boot = config.default_boot;
        settings.http_boot = config.http_boot;
        settings.extra_options = config.extra_options;
        settings.bootp_dynamic = config.bootp_dynamic;
        settings.authoritative = config.authoritative;
        settings.relay_allow = config.relay_allow;
        settings.own_macs = plan.own_macs;
        settings.hash_seed = hash_seed;
        let DhcpSockets { dhcp, pxe, frames } = sockets;
        DhcpServer {
            responder: Responder::new(settings, leases),
            sender: Arc::new(ReplySender { dhcp, pxe, frames, sent: Arc::default() }),
            withheld: Arc::default(),
            answer_on: plan.answer_on,
            sink,
            configured: config.reservations,
            hosts: None,
            commands: None,
            serving: plan.serving,
            watched: plan.watched,
            own_addresses: plan.own_addresses,
            skip_probe: config.skip_probe,
            partners: config.partners,
            clock: Arc::new(SystemClock),
            exchanges: None,
            others: watch::Sender::new(Vec::new()),
            store_back: None,
        }
    }

    /// Grant and expire leases by `clock` instead of the system's.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> DhcpServer {
        self.clock = clock;
        self
    }

    /// Call `exchange` with every request and what became of it, as the log has it. It runs on
    /// the server's task: it must only note and return.
    pub fn report_exchanges(mut self, exchange: ExchangeReport) -> DhcpServer {
        self.exchanges = Some(exchange);
        self
    }

    /// The other DHCP servers seen on the segments this server serves, as they are found.
    pub fn other_servers(&self) -> watch::Receiver<Vec<OtherServer>> {
        self.others.subscribe()
    }

    /// What this server answers, one line per range: interface, address and subnet.
    pub fn serving(&self) -> &[String] {
        &self.serving
    }

    /// The indexes of the interfaces whose requests it answers.
    pub fn answer_on(&self) -> &BTreeSet<u32> {
        &self.answer_on
    }

    /// The number of replies sent so far, counting on while it runs.
    pub fn replies_sent(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.sender.sent)
    }

    /// The number of replies withheld because their lease change failed to be saved.
    pub fn replies_withheld(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.withheld)
    }

    /// Carry out the commands sent on `commands` while it runs.
    pub fn accept_commands(mut self, commands: mpsc::Receiver<DhcpCommand>) -> DhcpServer {
        self.commands = Some(commands);
        self
    }

    /// Follow the dashboard's hosts: the current value applies now, every later one as soon as
    /// it is sent.
    pub fn watch_hosts(mut self, mut hosts: watch::Receiver<DhcpHosts>) -> DhcpServer {
        let current = hosts.borrow_and_update().clone();
        self.apply_hosts(current);
        self.hosts = Some(hosts);
        self
    }

    fn apply_hosts(&mut self, hosts: DhcpHosts) {
        let mut reservations = self.configured.clone();
        let macs: HashSet<Mac> = reservations.iter().map(|r| r.mac).collect();
        let addresses: HashSet<Ipv4Addr> = reservations.iter().map(|r| r.address).collect();
        for host in hosts.reservations {
            // The configuration wins: a dashboard host may not take a --dhcp-reservation's MAC or address.
            if addresses.contains(&host.address) && !macs.contains(&host.mac) {
                tracing::warn!(
                    "host {} not reserved {}: --dhcp-reservation gives that address to another MAC",
                    host.mac,
                    host.address
                );
            } else if !macs.contains(&host.mac) {
                reservations.push(host);
            }
        }
        tracing::info!(reservations = reservations.len(), boot_files = hosts.boot.len(), "DHCP hosts updated");
        self.responder.set_hosts(reservations, hosts.boot, hosts.profiled);
    }

    /// Answer requests until `shutdown` is cancelled.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let (found, mut others) = mpsc::channel(64);
        let watchers = TaskTracker::new();
        for interface in std::mem::take(&mut self.watched) {
            let own = self.own_addresses.clone();
            watchers.spawn(watch_segment(
                interface,
                own,
                found.clone(),
                Arc::clone(&self.clock),
                shutdown.child_token(),
            ));
        }
        watchers.close();
        drop(found);
        let mut buf = vec![0u8; 4096];
        let mut pxe_buf = vec![0u8; 4096];
        // Replies that wait for their lease to be committed. They live in this task rather than
        // in a task each: under load a spawned task per ACK costs more in wake-ups between
        // threads than the whole DHCP exchange costs in work.
        let mut waiting: FuturesUnordered<AfterCommit> = FuturesUnordered::new();
        loop {
            let sender = Arc::clone(&self.sender);
            let (received, port, data) = tokio::select! {
                () = shutdown.cancelled() => break,
                Some(committed) = waiting.next(), if !waiting.is_empty() => {
                    self.settle(committed).await;
                    continue;
                }
                () = store_back(self.store_back.as_mut()) => {
                    self.store_back = None;
                    self.responder.set_store_down(false);
                    tracing::info!("the lease database is reachable again: DHCP gives and renews leases as usual");
                    continue;
                }
                Some(hosts) = next_hosts(self.hosts.as_mut()) => {
                    self.apply_hosts(hosts);
                    continue;
                }
                Some(other) = others.recv() => {
                    self.another_server(other);
                    continue;
                }
                Some(command) = next_command(self.commands.as_mut()) => {
                    self.carry_out(command);
                    continue;
                }
                r = sender.dhcp.recv(&mut buf) => (r, SERVER_PORT, &buf),
                r = recv_optional(sender.pxe.as_ref(), &mut pxe_buf) => (r, PXE_PORT, &pxe_buf),
            };
            let datagram = match received {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!("DHCP receive failed: {e}");
                    continue;
                }
            };
            if !self.answer_on.contains(&datagram.ifindex) || datagram.truncated {
                continue;
            }
            let (SocketAddr::V4(source), IpAddr::V4(local_address)) = (datagram.peer, datagram.local) else { continue };
            let arrival = Arrival { interface: datagram.ifindex, local_address, local_port: port, source };
            let handled = self.responder.handle(&data[..datagram.len], &arrival, self.clock.unix_seconds());
            log(&handled.explanation);
            if let Some(exchange) = &self.exchanges {
                exchange(&handled.explanation);
            }
            match (handled.change, handled.reply) {
                (Some(change), reply) => {
                    waiting.push(after_commit(self.sink.persist(change), handled.unsaved, reply, arrival));
                }
                (None, Some(reply)) => self.sender.send(&reply, &arrival).await,
                (None, None) => {}
            }
        }
        // Leases already queued are committed by the writer; answer the clients whose lease
        // made it, for a moment, rather than leave them to time out and retry.
        let drain = async {
            while let Some(committed) = waiting.next().await {
                self.settle(committed).await;
            }
        };
        if tokio::time::timeout(DRAIN_TIME, drain).await.is_err() {
            tracing::warn!("DHCP stopped before every saved lease was acknowledged");
        }
        watchers.wait().await;
        let c = self.responder.counters();
        tracing::info!(
            "DHCP stopped: {} requests, {} offers, {} acks, {} naks, {} BOOTP replies, {} malformed, {} rate-limited, {} new clients held back under pool pressure",
            c.received,
            c.offers,
            c.acks,
            c.naks,
            c.bootp_replies,
            c.malformed,
            c.rate_limited,
            c.held_back
        );
    }
}

impl DhcpServer {
    fn carry_out(&mut self, command: DhcpCommand) {
        match command {
            DhcpCommand::Release { address, done } => {
                let Some(change) = self.responder.release_address(address) else {
                    let _ = done.send(Ok(false));
                    return;
                };
                let persisted = self.sink.persist(change);
                // Rare, and nobody's reply waits for it: a task of its own is fine here.
                tokio::spawn(async move {
                    let _ = done.send(persisted.await.map(|()| true).map_err(|e| e.to_string()));
                });
            }
            DhcpCommand::Learn(leases) => self.responder.learn(leases),
            DhcpCommand::Partners(partners) => self.take_partners(partners),
            DhcpCommand::ShareLoad(share) => self.responder.share_load(share),
        }
    }

    /// Send the reply of a change that was saved. One that was not is undone in memory and its
    /// reply withheld (the client retries); when the store cannot be reached, only what memory
    /// already holds is answered until it is back.
    async fn settle(&mut self, committed: Committed) {
        let Committed { outcome, unsaved, reply, arrival } = committed;
        let error = match outcome {
            Ok(()) => {
                if let Some(reply) = reply {
                    self.sender.send(&reply, &arrival).await;
                }
                return;
            }
            Err(error) => error,
        };
        if let Some(unsaved) = unsaved {
            self.responder.undo(unsaved);
        }
        if reply.is_some() {
            self.withheld.fetch_add(1, Ordering::Relaxed);
            tracing::error!("lease not saved, so the reply is withheld: {error}");
        } else {
            tracing::error!("lease change not saved: {error}");
        }
        if matches!(error, NotSaved::Unreachable(_)) && self.store_back.is_none() {
            self.responder.set_store_down(true);
            self.store_back = Some(self.sink.reachable());
            tracing::warn!(
                "the lease database cannot be reached: until it is back, DHCP gives no new leases and answers clients with an active lease from memory, for the time their saved lease has left"
            );
        }
    }

    /// The fleet's other lifeboats are at `partners` now. One already taken for another server
    /// is forgotten, and its segment gets new clients again unless a real other server is there.
    fn take_partners(&mut self, partners: BTreeSet<Ipv4Addr>) {
        self.partners = partners;
        let mut freed = Vec::new();
        self.others.send_if_modified(|others| {
            let before = others.len();
            others.retain(|o| {
                let partner = is_partner(&self.partners, o);
                if partner && o.held_back {
                    freed.push(o.index);
                }
                !partner
            });
            others.len() != before
        });
        for index in freed {
            let still_held = self.others.borrow().iter().any(|o| o.index == index && o.held_back);
            if !still_held {
                self.responder.serve_new_clients(index);
                tracing::info!(
                    "DHCP gives new clients addresses again on interface #{index}: the server seen there is a lifeboat of this fleet"
                );
            }
        }
    }

    /// Another DHCP server was seen: the first time on a segment and address, it is said, and
    /// new clients of that segment get no address any more (unless `--dhcp-skip-probe`). A
    /// lifeboat of the same fleet is no other server.
    fn another_server(&mut self, mut other: OtherServer) {
        if is_partner(&self.partners, &other) {
            tracing::debug!("DHCP replies from {} are another lifeboat of this fleet's", other.address);
            return;
        }
        let known = self.others.borrow().iter().any(|o| o.interface == other.interface && o.address == other.address);
        if known {
            return;
        }
        other.held_back = !self.skip_probe;
        if other.held_back {
            self.responder.hold_new_clients(other.index);
        }
        tracing::warn!("{other}");
        self.others.send_modify(|others| others.push(other));
    }
}

/// Whether `other` answers from the address of one of the fleet's lifeboats. Its server
/// identifier is not enough: a rogue server may name a partner's address in it.
fn is_partner(partners: &BTreeSet<Ipv4Addr>, other: &OtherServer) -> bool {
    partners.contains(&other.address)
}

fn from_partner(partners: &BTreeSet<Ipv4Addr>, from: SocketAddr) -> bool {
    matches!(from.ip(), IpAddr::V4(source) if partners.contains(&source))
}

/// How long a stopping server still sends the replies of leases being committed.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// A reply whose lease change has been committed (or has failed to be).
struct Committed {
    outcome: Result<(), NotSaved>,
    /// What to put back in the lease table if the change was not saved.
    unsaved: Option<UnsavedBind>,
    reply: Option<Reply>,
    arrival: Arrival,
}

type AfterCommit = Pin<Box<dyn Future<Output = Committed> + Send>>;

fn after_commit(
    persisted: Persisted,
    unsaved: Option<UnsavedBind>,
    reply: Option<Reply>,
    arrival: Arrival,
) -> AfterCommit {
    Box::pin(async move { Committed { outcome: persisted.await, unsaved, reply, arrival } })
}

/// When the unreachable lease store is back, or never while it is reachable.
async fn store_back(back: Option<&mut Reachable>) {
    match back {
        Some(back) => back.await,
        None => std::future::pending().await,
    }
}

/// The next command, or never when nobody sends them (or the sender is gone).
async fn next_command(commands: Option<&mut mpsc::Receiver<DhcpCommand>>) -> Option<DhcpCommand> {
    if let Some(receiver) = commands
        && let Some(command) = receiver.recv().await
    {
        return Some(command);
    }
    std::future::pending().await
}

/// The next value of the hosts, or never when nobody sends them (or the sender is gone).
async fn next_hosts(hosts: Option<&mut watch::Receiver<DhcpHosts>>) -> Option<DhcpHosts> {
    if let Some(receiver) = hosts
        && receiver.changed().await.is_ok()
    {
        return Some(receiver.borrow_and_update().clone());
    }
    std::future::pending().await
}

async fn recv_optional(socket: Option<&PktInfoSocket>, buf: &mut [u8]) -> std::io::Result<lifeboat_net::Datagram> {
    match socket {
        Some(s) => s.recv(buf).await,
        None => std::future::pending().await,
    }
}

/// Refuse to serve an interface where another DHCP server answers.
async fn check_alone(interface: &Interface, config: &DhcpConfig) -> Result<(), DhcpStartError> {
    let name = interface.name.clone();
    match probe(interface, config.probe_wait).await {
        Ok(None) => Ok(()),
        Ok(Some(ProbeAnswer { from, .. })) if from_partner(&config.partners, from) => {
            tracing::info!("DHCP on {name}: {} answers too, a lifeboat of this fleet", from.ip());
            Ok(())
        }
        Ok(Some(ProbeAnswer { from, server })) => Err(DhcpStartError::AnotherServer {
            interface: name,
            from,
            server_id: server.server_id,
            offered: server.offered,
        }),
        Err(source) => Err(DhcpStartError::Probe { interface: name, source }),
    }
}

fn log(e: &Explanation) {
    match e.level {
        Level::Debug => tracing::debug!("{e}"),
        Level::Info => tracing::info!("{e}"),
        Level::Warn => tracing::warn!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux's errno values (the crate does not depend on libc).
    const EADDRINUSE: i32 = 98;
    const EACCES: i32 = 13;

    fn bind_error(addr: &str, errno: i32) -> DhcpStartError {
        DhcpStartError::Bind(BindError::new(addr.parse().unwrap(), std::io::Error::from_raw_os_error(errno)))
    }

    #[test]
    fn a_taken_dhcp_port_points_at_the_other_server_not_at_a_flag() {
        let text = bind_error("0.0.0.0:67", EADDRINUSE).to_string();
        assert!(text.contains("ss -ulpn 'sport = :67'") && text.contains("stop the other DHCP server"), "{text}");
        assert!(!text.contains("--tftp-listen"), "{text}");
        let text = bind_error("0.0.0.0:67", EACCES).to_string();
        assert!(text.contains("CAP_NET_BIND_SERVICE") && !text.contains("other DHCP server"), "{text}");
    }
}
