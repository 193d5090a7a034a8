//! Starting and stopping the TFTP, DHCP and HTTP boot servers while lifeboat runs: at start-up for what the
//! configuration turns on, and later from the dashboard's buttons.
//!
//! **Invariant:** a stopped service holds no socket: stopping cancels the server and waits for
//! its task to end, which drops every socket it bound. Starts and stops are serialized, so two
//! clicks never run one service twice. Every start and stop is recorded as an event with its
//! origin. With `--stop-when-idle`, a service nobody uses stops itself (an open TFTP server is
//! a hole once the router is flashed).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use lifeboat_clock::{Clock, unix_ms};
use lifeboat_dhcp::config::Range;
use lifeboat_dhcp::{Lease, LeaseChange, LoadShare};
use lifeboat_server::{Closing, DhcpCommand, DhcpConfig, HttpBootConfig, LeaseSink as _, OtherServer, TftpConfig};
use lifeboat_store::{Event, EventKind, LeaseWriter, LogWriter, Store};
use lifeboat_web::{ControlError, Service, ServiceStatus};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::activity::Activity;
use crate::address_claims::AddressClaims;
use crate::announcer::ServedOn;
use crate::binder::Binder;
use crate::dhcp_activity::DhcpActivity;
use crate::error_text::error_text;
use crate::host_directory::HostDirectory;
use crate::lease_book::LeaseBook;
use crate::lease_store::StoreSink;
use crate::wanted_log::WantedLog;

/// How long a lease release may take (its removal saved) before it is reported as failed.
const RELEASE_WAIT: Duration = Duration::from_secs(10);

/// What the services are built from, shared with the dashboard.
pub(crate) struct Parts {
    pub(crate) store: Store,
    pub(crate) leases: LeaseWriter,
    pub(crate) log: LogWriter,
    pub(crate) book: Arc<LeaseBook>,
    pub(crate) directory: Arc<HostDirectory>,
    pub(crate) activity: Arc<Activity>,
    pub(crate) binder: Arc<dyn Binder>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) dhcp_activity: Arc<DhcpActivity>,
    pub(crate) wanted: Arc<WantedLog>,
    /// The addresses taken to answer where a device looks (on the machine's own interfaces only).
    pub(crate) claims: Option<Arc<AddressClaims>>,
}

impl Parts {
    /// The DHCP server's way to the lease writer, keeping the lease book in step.
    fn lease_sink(&self) -> StoreSink {
        StoreSink { store: self.store.clone(), writer: self.leases.clone(), book: Arc::clone(&self.book) }
    }
}

pub(crate) struct Services {
    /// What each service starts with; the dashboard's settings change them (`reconfigure`).
    configs: Mutex<Configs>,
    parts: Arc<Parts>,
    tftp: Mutex<Slot>,
    dhcp: Mutex<Slot>,
    http: Mutex<Slot>,
    /// Held while a service starts or stops.
    switching: tokio::sync::Mutex<()>,
    /// DHCP replies of earlier runs, and the counter of the current one.
    dhcp_replies_before: AtomicU64,
    dhcp_replies: Mutex<Option<Arc<AtomicU64>>>,
    /// Other DHCP servers the running DHCP server has seen on its segments.
    other_dhcp_servers: Mutex<Option<watch::Receiver<Vec<OtherServer>>>>,
    /// Commands to the running DHCP server.
    dhcp_commands: Mutex<Option<mpsc::Sender<DhcpCommand>>>,
    /// The part of the clients DHCP answers when other lifeboats serve its range (the fleet
    /// sets it); given to the DHCP server whenever it starts.
    dhcp_share: Mutex<Option<LoadShare>>,
    /// The addresses of the fleet's other lifeboats (the fleet sets them): their DHCP replies
    /// are a partner's, not a rogue server's.
    dhcp_partners: Mutex<BTreeSet<Ipv4Addr>>,
    /// `--stop-when-idle`, once its watch runs, and when DHCP last answered (as the watch saw).
    idle: Mutex<Option<IdleWatch>>,
    /// Told each time a service has started (the announcer waits for it).
    started: Notify,
}

#[derive(Debug, Clone, Copy)]
struct IdleWatch {
    idle: Duration,
    dhcp_last_reply: Instant,
}

/// The services' configurations; `None` leaves a service off.
#[derive(Debug, Clone)]
pub(crate) struct Configs {
    pub(crate) tftp: Option<TftpConfig>,
    pub(crate) dhcp: Option<DhcpConfig>,
    pub(crate) http: Option<HttpBootConfig>,
}

impl Configs {
    /// Whether `service`'s configuration differs between `self` and `other`. (The configurations
    /// compare by their full debug text: every field, with ordered collections.)
    fn differs(&self, other: &Configs, service: Service) -> bool {
        match service {
            Service::Tftp => format!("{:?}", self.tftp) != format!("{:?}", other.tftp),
            Service::Dhcp => format!("{:?}", self.dhcp) != format!("{:?}", other.dhcp),
            Service::Http => self.http != other.http,
        }
    }

    fn has(&self, service: Service) -> bool {
        match service {
            Service::Tftp => self.tftp.is_some(),
            Service::Dhcp => self.dhcp.is_some(),
            Service::Http => self.http.is_some(),
        }
    }
}

#[derive(Default)]
struct Slot {
    running: Option<Running>,
    /// Why it last failed to start, for the dashboard.
    failure: Option<String>,
    /// Who or what stopped it last, and when (Unix ms), for the stopped card.
    stopped: Option<(String, i64)>,
}

struct Running {
    stop: CancellationToken,
    task: JoinHandle<()>,
    listening: Vec<String>,
    since: Instant,
    /// Closes it to new requests (TFTP).
    closing: Option<Closing>,
    /// Where it can be reached, for the announcer.
    served_on: ServedOn,
}

impl Services {
    pub(crate) fn new(configs: Configs, parts: Arc<Parts>) -> Services {
        Services {
            configs: Mutex::new(configs),
            parts,
            tftp: Mutex::default(),
            dhcp: Mutex::default(),
            http: Mutex::default(),
            switching: tokio::sync::Mutex::new(()),
            dhcp_replies_before: AtomicU64::new(0),
            dhcp_replies: Mutex::default(),
            other_dhcp_servers: Mutex::default(),
            dhcp_commands: Mutex::default(),
            dhcp_share: Mutex::default(),
            dhcp_partners: Mutex::default(),
            idle: Mutex::default(),
            started: Notify::new(),
        }
    }

    pub(crate) fn is_running(&self, service: Service) -> bool {
        self.slot(service).running.is_some()
    }

    /// The services the configuration turns on.
    pub(crate) fn configured(&self) -> Vec<Service> {
        Service::ALL.into_iter().filter(|s| self.is_configured(*s)).collect()
    }

    fn is_configured(&self, service: Service) -> bool {
        self.configs().has(service)
    }

    pub(crate) fn configs(&self) -> Configs {
        self.configs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Run with `new`: each service whose configuration changes is restarted if it ran, and
    /// started if it had none before or had failed to start; the others are left alone. When
    /// one does not start, every service this touched gets its previous configuration back and
    /// what ran before runs again. The services that changed are returned. One at a time: the
    /// caller holds the lock that orders settings changes.
    pub(crate) async fn reconfigure(&self, new: Configs, origin: &str) -> Result<Vec<Service>, ControlError> {
        let old = self.configs();
        let changed: Vec<Service> = Service::ALL.into_iter().filter(|s| old.differs(&new, *s)).collect();
        let mut touched: Vec<(Service, bool)> = Vec::new();
        for &service in &changed {
            let ran = self.is_running(service);
            let had_failed = self.slot(service).failure.is_some();
            if ran {
                // NotRunning: it stopped meanwhile (idle, a click), which is fine.
                let _ = self.stop(service, origin).await;
            }
            self.set_config(service, &new);
            touched.push((service, ran));
            let start = new.has(service) && (ran || had_failed || !old.has(service));
            if !start {
                continue;
            }
            match self.start(service, origin).await {
                // Somebody pressed Start meanwhile: it runs, with the new configuration.
                Ok(()) | Err(ControlError::AlreadyRunning(_)) => {}
                Err(error) => {
                    self.restore(&old, &touched, origin).await;
                    return Err(error);
                }
            }
        }
        Ok(changed)
    }

    /// After a service did not start with new settings: each of `touched` (with whether it ran
    /// before) gets its configuration from `old` back, and runs again if it ran.
    async fn restore(&self, old: &Configs, touched: &[(Service, bool)], origin: &str) {
        for &(service, ran) in touched {
            if self.is_running(service) {
                let _ = self.stop(service, origin).await;
            }
            self.set_config(service, old);
            if ran
                && old.has(service)
                && let Err(error) = self.start(service, origin).await
            {
                tracing::error!("{service} did not start again with the previous settings: {error}");
            }
        }
    }

    /// When the current run of `service` started, if it runs.
    pub(crate) fn running_since(&self, service: Service) -> Option<Instant> {
        self.slot(service).running.as_ref().map(|r| r.since)
    }

    /// Close the run of `service` that started at `since` to new requests, if it still runs
    /// and can be closed (TFTP): its running transfers go on.
    pub(crate) fn close_to_new(&self, service: Service, since: Instant) {
        if let Some(running) = self.slot(service).running.as_ref().filter(|r| r.since == since)
            && let Some(closing) = &running.closing
        {
            closing.close();
        }
    }

    /// Stop `service` if the run that started at `since` is still the one running.
    pub(crate) async fn stop_run(&self, service: Service, since: Instant, origin: &str) -> Result<(), ControlError> {
        let detail = format!("{service} stopped; its sockets are closed");
        self.stop_recorded(service, origin, EventKind::ServiceStopped, detail, Some(since)).await
    }

    fn set_config(&self, service: Service, from: &Configs) {
        let mut configs = self.configs.lock().unwrap_or_else(|p| p.into_inner());
        match service {
            Service::Tftp => configs.tftp = from.tftp.clone(),
            Service::Dhcp => configs.dhcp = from.dhcp.clone(),
            Service::Http => configs.http = from.http.clone(),
        }
    }

    pub(crate) async fn start(&self, service: Service, origin: &str) -> Result<(), ControlError> {
        let _switching = self.switching.lock().await;
        if self.slot(service).running.is_some() {
            return Err(ControlError::AlreadyRunning(service));
        }
        let started = match service {
            Service::Tftp => self.start_tftp(),
            Service::Dhcp => self.start_dhcp().await,
            Service::Http => self.start_http().await,
        };
        let mut slot = self.slot(service);
        match started {
            Ok(running) => {
                let detail = format!("listening on {}", running.listening.join(", "));
                slot.running = Some(running);
                slot.failure = None;
                drop(slot);
                self.record(EventKind::ServiceStarted, origin, format!("{service} started, {detail}"));
                self.started.notify_one();
                Ok(())
            }
            Err(error) => {
                slot.failure = Some(error.to_string());
                Err(error)
            }
        }
    }

    pub(crate) async fn stop(&self, service: Service, origin: &str) -> Result<(), ControlError> {
        let detail = format!("{service} stopped; its sockets are closed");
        self.stop_recorded(service, origin, EventKind::ServiceStopped, detail, None).await
    }

    async fn stop_recorded(
        &self,
        service: Service,
        origin: &str,
        kind: EventKind,
        detail: String,
        only_run_since: Option<Instant>,
    ) -> Result<(), ControlError> {
        let _switching = self.switching.lock().await;
        let running = {
            let mut slot = self.slot(service);
            let this_run = slot.running.as_ref().is_some_and(|r| only_run_since.is_none_or(|since| since == r.since));
            let why = match kind {
                EventKind::AutoStopped => "stopped itself when nobody had used it for the idle time".to_owned(),
                _ => format!("stopped by {origin}"),
            };
            if this_run {
                slot.stopped = Some((why, self.parts.clock.unix_ms()));
            }
            if this_run { slot.running.take() } else { None }
        };
        let Some(running) = running else {
            return Err(ControlError::NotRunning(service));
        };
        running.stop.cancel();
        if let Err(error) = running.task.await {
            tracing::error!("{service} ended badly: {error}");
        }
        if service == Service::Dhcp {
            *self.other_dhcp_servers.lock().unwrap_or_else(|p| p.into_inner()) = None;
            *self.dhcp_commands.lock().unwrap_or_else(|p| p.into_inner()) = None;
            // Under the counter's lock, so that no reader counts this run's replies twice.
            let mut counter = self.replies_counter();
            if let Some(replies) = counter.take() {
                self.dhcp_replies_before.fetch_add(replies.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        self.record(kind, origin, detail);
        Ok(())
    }

    /// Stop each service that nobody has used for `idle`: a TFTP server with no request (and no
    /// transfer running), a DHCP server that sent no reply. Runs until `shutdown`.
    pub(crate) async fn stop_when_idle(self: Arc<Self>, idle: Duration, shutdown: CancellationToken) {
        let check = (idle / 4).clamp(Duration::from_millis(200), Duration::from_secs(5));
        let mut dhcp_last = (self.dhcp_replies(), Instant::now());
        *self.idle.lock().unwrap_or_else(|p| p.into_inner()) = Some(IdleWatch { idle, dhcp_last_reply: dhcp_last.1 });
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(check) => {}
            }
            let replies = self.dhcp_replies();
            if replies != dhcp_last.0 {
                dhcp_last = (replies, Instant::now());
                *self.idle.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(IdleWatch { idle, dhcp_last_reply: dhcp_last.1 });
            }
            for service in Service::ALL {
                let Some(since) = self.slot(service).running.as_ref().map(|r| r.since) else { continue };
                let running_for = since.elapsed();
                let unused_for = match service {
                    Service::Tftp | Service::Http => self.parts.activity.idle_for(),
                    Service::Dhcp => dhcp_last.1.elapsed(),
                };
                if running_for.min(unused_for) >= idle {
                    let detail = format!(
                        "{service} stopped itself: no request for {} (--stop-when-idle)",
                        humantime::format_duration(idle)
                    );
                    // Only the run that was idle, not one somebody started in the meantime
                    // (NotRunning then: nothing to do).
                    let _ = self.stop_recorded(service, "lifeboat", EventKind::AutoStopped, detail, Some(since)).await;
                }
            }
        }
    }

    /// Stop whatever runs (at exit).
    pub(crate) async fn stop_all(&self, origin: &str) {
        // A start or stop under way (a click, the idle watch) finishes first, so that what
        // follows (the writers' flush) never overtakes a service that is still stopping.
        drop(self.switching.lock().await);
        for service in Service::ALL {
            if self.slot(service).running.is_some() {
                // NotRunning can only mean another stop won the race: nothing to do.
                let _ = self.stop(service, origin).await;
            }
        }
    }

    pub(crate) fn status(&self) -> Vec<ServiceStatus> {
        Service::ALL
            .into_iter()
            .map(|service| {
                let slot = self.slot(service);
                // A server's task only ends when it is told to stop, unless it broke.
                let ended = slot.running.as_ref().is_some_and(|r| r.task.is_finished());
                let detail = match (&slot.running, &slot.failure) {
                    _ if ended => Some(format!("{service} ended by itself; the log says why")),
                    (None, Some(failure)) => Some(failure.clone()),
                    (None, None) if !self.is_configured(service) => Some(not_configured(service)),
                    (None, None) => slot.stopped.as_ref().map(|(why, at)| format!("{why}, {}", clock_time(*at))),
                    _ => None,
                };
                let stops_when_idle_in = slot.running.as_ref().and_then(|running| self.idle_left(service, running));
                ServiceStatus {
                    service,
                    running: slot.running.is_some() && !ended,
                    // A service without a configuration should not run, so it cannot have failed
                    // (a start asked of it, or settings that did not apply, leave it so).
                    failed: ended || (slot.running.is_none() && slot.failure.is_some() && self.is_configured(service)),
                    configured: self.is_configured(service),
                    listening: slot.running.as_ref().map(|r| r.listening.clone()).unwrap_or_default(),
                    detail,
                    stops_when_idle_in,
                }
            })
            .collect()
    }

    /// How long `running` has left before the idle watch stops it, if one runs.
    fn idle_left(&self, service: Service, running: &Running) -> Option<Duration> {
        let watch = (*self.idle.lock().unwrap_or_else(|p| p.into_inner()))?;
        let unused_for = match service {
            Service::Tftp | Service::Http => self.parts.activity.idle_for(),
            Service::Dhcp => watch.dhcp_last_reply.elapsed(),
        };
        Some(watch.idle.saturating_sub(running.since.elapsed().min(unused_for)))
    }

    /// What the dashboard shows in red: the other DHCP servers the running server has seen.
    pub(crate) fn alerts(&self) -> Vec<String> {
        let others = self.other_dhcp_servers.lock().unwrap_or_else(|p| p.into_inner());
        let Some(others) = others.as_ref() else { return Vec::new() };
        others.borrow().iter().map(|other| upper_first(&other.to_string())).collect()
    }

    /// DHCP replies sent since lifeboat started.
    pub(crate) fn dhcp_replies(&self) -> u64 {
        let counter = self.replies_counter();
        let current = counter.as_ref().map_or(0, |c| c.load(Ordering::Relaxed));
        self.dhcp_replies_before.load(Ordering::Relaxed) + current
    }

    fn start_tftp(&self) -> Result<Running, ControlError> {
        let service = Service::Tftp;
        let config = self.configs().tftp.ok_or_else(|| unavailable(service))?;
        let observer = Arc::clone(&self.parts.activity);
        let server = self.parts.binder.tftp(config, observer).map_err(|e| failed(service, &e))?;
        let listening = server.local_addrs().iter().map(ToString::to_string).collect();
        let served_on = ServedOn::Sockets(server.local_addrs());
        let stop = CancellationToken::new();
        self.parts.activity.reset_idle();
        let closing = Some(server.closing());
        let task = tokio::spawn(server.run(stop.clone()));
        Ok(Running { stop, task, listening, since: Instant::now(), closing, served_on })
    }

    async fn start_http(&self) -> Result<Running, ControlError> {
        let service = Service::Http;
        let config = self.configs().http.ok_or_else(|| unavailable(service))?;
        let observer = Arc::clone(&self.parts.activity);
        let server = self.parts.binder.http_boot(config, observer).await.map_err(|e| failed(service, &e))?;
        let listening = server.local_addrs().iter().map(ToString::to_string).collect();
        let served_on = ServedOn::Sockets(server.local_addrs());
        let stop = CancellationToken::new();
        self.parts.activity.reset_idle();
        let task = tokio::spawn(server.run(stop.clone()));
        Ok(Running { stop, task, listening, since: Instant::now(), closing: None, served_on })
    }

    async fn start_dhcp(&self) -> Result<Running, ControlError> {
        let service = Service::Dhcp;
        let mut config = self.configs().dhcp.ok_or_else(|| unavailable(service))?;
        let parts = &self.parts;
        config.partners = self.current_partners().await;
        // From the database, not from memory: it holds every lease the last run committed.
        let leases = parts.store.load_leases().await.map_err(|e| failed(service, &e))?;
        tracing::info!("{} leases loaded from {}", leases.len(), parts.store.location());
        parts.book.reset(&leases);
        let sink = Arc::new(parts.lease_sink());
        let (command_sender, commands) = mpsc::channel(8);
        let server = parts
            .binder
            .dhcp(config, leases, sink)
            .await
            .map_err(|e| failed(service, &e))?
            .with_clock(Arc::clone(&parts.clock))
            .watch_hosts(parts.directory.dhcp_hosts())
            .report_exchanges({
                let activity = Arc::clone(&parts.dhcp_activity);
                Arc::new(move |exchange| activity.note(exchange))
            })
            .accept_commands(commands);
        let listening = server.serving().to_vec();
        let served_on = ServedOn::Interfaces(server.answer_on().clone());
        *self.replies_counter() = Some(server.replies_sent());
        let others = server.other_servers();
        tokio::spawn(record_other_servers(others.clone(), parts.log.clone()));
        *self.other_dhcp_servers.lock().unwrap_or_else(|p| p.into_inner()) = Some(others);
        let share = *self.dhcp_share.lock().unwrap_or_else(|p| p.into_inner());
        if share.is_some() {
            // The channel is new and empty: this cannot be full.
            let _ = command_sender.try_send(DhcpCommand::ShareLoad(share));
        }
        *self.dhcp_commands.lock().unwrap_or_else(|p| p.into_inner()) = Some(command_sender);
        let stop = CancellationToken::new();
        let task = tokio::spawn(server.run(stop.clone()));
        Ok(Running { stop, task, listening, since: Instant::now(), closing: None, served_on })
    }

    /// Where the running services can be reached.
    pub(crate) fn served_on(&self) -> Vec<ServedOn> {
        Service::ALL.into_iter().filter_map(|s| self.slot(s).running.as_ref().map(|r| r.served_on.clone())).collect()
    }

    /// Returns once a service has started since the last call returned (at once if one has).
    pub(crate) async fn next_start(&self) {
        self.started.notified().await;
    }

    /// The DHCP ranges served while DHCP runs, as `start-end`: what the fleet compares to find
    /// the lifeboats sharing a range.
    pub(crate) fn dhcp_ranges(&self) -> Vec<String> {
        if !self.status().iter().any(|s| s.service == Service::Dhcp && s.running) {
            return Vec::new();
        }
        let configs = self.configs();
        let ranges = configs.dhcp.as_ref().map(|dhcp| dhcp.ranges.as_slice()).unwrap_or_default();
        ranges
            .iter()
            .filter_map(|range| match range {
                Range::Dynamic { start, end, .. } => Some(format!("{start}-{end}")),
                Range::Proxy { .. } => None,
            })
            .collect()
    }

    /// Answer only `share` of the clients (`None`: all), now and whenever DHCP starts again.
    pub(crate) async fn share_dhcp_load(&self, share: Option<LoadShare>) {
        *self.dhcp_share.lock().unwrap_or_else(|p| p.into_inner()) = share;
        self.send_dhcp(DhcpCommand::ShareLoad(share)).await;
    }

    /// Tell DHCP the addresses of the fleet's other lifeboats, now and whenever it starts again.
    pub(crate) async fn set_dhcp_partners(&self, partners: BTreeSet<Ipv4Addr>) {
        self.dhcp_partners.lock().unwrap_or_else(|p| p.into_inner()).clone_from(&partners);
        self.send_dhcp(DhcpCommand::Partners(partners)).await;
    }

    /// The fleet's other lifeboats' addresses, read afresh when the database is shared: DHCP
    /// may start (and probe for other servers) before the fleet's first heartbeat.
    async fn current_partners(&self) -> BTreeSet<Ipv4Addr> {
        let store = &self.parts.store;
        let known = self.dhcp_partners.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if !store.is_shared() {
            return known;
        }
        match store.instances().await {
            Ok(instances) => crate::fleet::partner_addresses(&instances, store.instance(), self.parts.clock.unix_ms()),
            Err(_) => known,
        }
    }

    /// Give the running DHCP server leases other lifeboats bound (nothing when it is stopped: it
    /// loads every lease from the store when it starts).
    pub(crate) async fn learn_leases(&self, leases: Vec<Lease>) {
        if !leases.is_empty() {
            self.send_dhcp(DhcpCommand::Learn(leases)).await;
        }
    }

    async fn send_dhcp(&self, command: DhcpCommand) {
        let commands = self.dhcp_commands.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(commands) = commands {
            // An error means DHCP stopped meanwhile; it reads the store when it starts again.
            let _ = commands.send(command).await;
        }
    }

    /// Forget the lease on `address`: through the DHCP server when it runs (its lease table is
    /// in its task), else in the lease book and the store. `Ok(false)` when there is none.
    /// Holds the switch, so DHCP does not start (and load the leases) meanwhile.
    pub(crate) async fn release_lease(&self, address: Ipv4Addr) -> Result<bool, ControlError> {
        let failed = |message: String| ControlError::Failed { service: Service::Dhcp, message };
        let released = async {
            let _switching = self.switching.lock().await;
            let commands = self.dhcp_commands.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let Some(commands) = commands {
                let (done, outcome) = oneshot::channel();
                if commands.send(DhcpCommand::Release { address, done }).await.is_ok()
                    && let Ok(outcome) = outcome.await
                {
                    return outcome.map_err(failed);
                }
                // The server stopped before it saw the command: do it here instead.
            }
            let Some(lease) = self.parts.book.lease_on(address) else { return Ok(false) };
            let change = LeaseChange::Remove { key: lease.key, address };
            self.parts.lease_sink().persist(change).await.map_err(|e| failed(e.to_string()))?;
            Ok(true)
        };
        // A disk that does not answer must not hold Start, Stop and the shutdown (which wait
        // for the same switch) for longer.
        tokio::time::timeout(RELEASE_WAIT, released)
            .await
            .unwrap_or_else(|_| Err(failed(format!("the release of {address} was not saved within {RELEASE_WAIT:?}"))))
    }

    fn record(&self, kind: EventKind, origin: &str, detail: String) {
        tracing::info!("{detail} ({origin})");
        let event = Event { at: self.parts.clock.unix_ms(), kind, origin: origin.to_owned(), detail };
        self.parts.log.event(event);
    }

    fn slot(&self, service: Service) -> MutexGuard<'_, Slot> {
        let slot = match service {
            Service::Tftp => &self.tftp,
            Service::Dhcp => &self.dhcp,
            Service::Http => &self.http,
        };
        slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn replies_counter(&self) -> MutexGuard<'_, Option<Arc<AtomicU64>>> {
        self.dhcp_replies.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Records each other DHCP server as an event when it is first seen; ends with the DHCP run.
async fn record_other_servers(mut others: watch::Receiver<Vec<OtherServer>>, log: LogWriter) {
    let mut recorded = 0;
    while others.changed().await.is_ok() {
        let seen = others.borrow_and_update().clone();
        for other in seen.iter().skip(recorded) {
            let at = unix_ms(other.seen_at);
            let origin = format!("dhcp {}", other.interface);
            log.event(Event { at, kind: EventKind::OtherDhcpServer, origin, detail: other.to_string() });
        }
        recorded = seen.len();
    }
}

fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

fn not_configured(service: Service) -> String {
    match service {
        Service::Tftp => {
            "not configured: set a TFTP root on the Settings page, or start lifeboat with --tftp-root DIR".to_owned()
        }
        Service::Dhcp => {
            "not configured: set up DHCP on the Settings page, or start lifeboat with --dhcp-range RANGE".to_owned()
        }
        Service::Http => "not configured: set an HTTP boot address on the Settings page, or start lifeboat with \
                          --http-boot (or --http-boot-listen ADDR:PORT)"
            .to_owned(),
    }
}

fn unavailable(service: Service) -> ControlError {
    ControlError::Unavailable { service, reason: not_configured(service) }
}

/// A start-up error with its causes, as the binary prints errors.
fn failed(service: Service, error: &(dyn std::error::Error + 'static)) -> ControlError {
    ControlError::Failed { service, message: error_text(error) }
}

/// `at` (Unix ms) as the dashboard writes times: `2026-12-06 23:40:01 UTC`.
fn clock_time(at: i64) -> String {
    let at = lifeboat_clock::from_unix_ms(at);
    let text = humantime::format_rfc3339_seconds(at).to_string();
    format!("{} UTC", text.trim_end_matches('Z').replace('T', " "))
}
