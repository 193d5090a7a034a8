//! This lifeboat as a member of a fleet sharing one database: it beats (its row of `instances`
//! says it runs, which services run, where its dashboard is), carries out the service changes
//! other instances' dashboards ask of it, and applies what they change in the shared tables
//! (hosts, aliases, boot profiles) as soon as it is committed.
//!
//! **Invariant:** a command addressed to this instance is carried out once and answered (its
//! outcome written) whatever happens to it; a change heard from the database is applied within
//! the time of a reload, and a change that could not be heard (the connection was lost) is
//! caught up with by reloading everything this instance follows. Nothing here waits on a
//! transfer or a DHCP reply, and none of it stops the services when the database is away.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use lifeboat_dhcp::LoadShare;
use lifeboat_store::{Change, Heartbeat, InstanceCommand, InstanceRecord, Store};
use lifeboat_web::{Control, FleetError, InstanceView, Service};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::dashboard::Lifeboat;

/// How often an instance beats; and how often it looks for commands when it cannot hear them
/// (on SQLite, or while its listening connection is lost).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);

/// An instance that has not beaten for this long is shown as gone, and the instances it shared
/// a DHCP range with answer its clients from then on.
pub const GONE_AFTER: Duration = Duration::from_secs(10);

/// How far back, in seconds, each read of other instances' leases starts before the last one.
const LEARN_OVERLAP: i64 = 5;

/// The fleet tasks of one lifeboat: the heartbeat and the listener.
pub(crate) struct Fleet {
    tasks: Vec<JoinHandle<()>>,
}

impl Fleet {
    /// Start beating and listening on `lifeboat`'s store, until `shutdown`.
    pub(crate) fn spawn(lifeboat: Arc<Lifeboat>, shutdown: CancellationToken) -> Fleet {
        let member = Arc::new(Member {
            lifeboat,
            share: tokio::sync::Mutex::new(None),
            partners: tokio::sync::Mutex::new(BTreeSet::new()),
            learned_up_to: tokio::sync::Mutex::new(0),
        });
        let mut tasks = vec![tokio::spawn(Arc::clone(&member).beat(shutdown.clone()))];
        if member.store().is_shared() {
            tasks.push(tokio::spawn(member.listen(shutdown)));
        }
        Fleet { tasks }
    }

    /// Wait for the tasks to end (after `shutdown` was cancelled).
    pub(crate) async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

struct Member {
    lifeboat: Arc<Lifeboat>,
    /// The share of DHCP clients last given to the DHCP server.
    share: tokio::sync::Mutex<Option<LoadShare>>,
    /// The other instances' addresses last given to the DHCP server.
    partners: tokio::sync::Mutex<BTreeSet<Ipv4Addr>>,
    /// Unix seconds of the last read of other instances' leases.
    learned_up_to: tokio::sync::Mutex<i64>,
}

impl Member {
    fn store(&self) -> &Store {
        &self.lifeboat.parts.store
    }

    /// Beat every [`HEARTBEAT_EVERY`], and carry out the commands that arrived meanwhile (the
    /// listener carries them out at once; this catches what it could not hear).
    async fn beat(self: Arc<Self>, shutdown: CancellationToken) {
        let mut every = tokio::time::interval(HEARTBEAT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = every.tick() => {}
            }
            match self.store().beat(&heartbeat(&self.lifeboat)).await {
                Ok(()) if failing => {
                    tracing::info!("heartbeats saved again");
                    failing = false;
                }
                Ok(()) => {}
                Err(error) if !failing => {
                    tracing::warn!("heartbeat not saved (other instances will show this one as gone): {error}");
                    failing = true;
                }
                Err(_) => {}
            }
            self.follow_the_fleet().await;
            self.carry_out_commands().await;
        }
    }

    /// Follow the other instances: share the DHCP clients with those that are up and serve a
    /// range in common with this one (each answers its part, by the order of their names), and
    /// tell DHCP their addresses, so their replies are not taken for a rogue server's.
    async fn follow_the_fleet(&self) {
        let Ok(instances) = self.store().instances().await else { return };
        let now = self.lifeboat.parts.clock.unix_ms();
        let this = self.store().instance();
        let partners = partner_addresses(&instances, this, now);
        let mut known = self.partners.lock().await;
        if *known != partners {
            known.clone_from(&partners);
            self.lifeboat.services.set_dhcp_partners(partners).await;
        }
        drop(known);
        let ours = self.lifeboat.services.dhcp_ranges();
        let share = if ours.is_empty() {
            None
        } else {
            let mut sharing: Vec<&str> = instances
                .iter()
                .filter(|i| {
                    i.name == this || (is_up(i.beat.at, now) && i.beat.dhcp_ranges.iter().any(|r| ours.contains(r)))
                })
                .map(|i| i.name.as_str())
                .collect();
            if !sharing.contains(&this) {
                sharing.push(this);
            }
            sharing.sort_unstable();
            let index = sharing.iter().position(|name| *name == this).unwrap_or(0);
            (sharing.len() > 1).then(|| LoadShare {
                index: u32::try_from(index).unwrap_or(0),
                of: u32::try_from(sharing.len()).unwrap_or(1),
            })
        };
        let mut current = self.share.lock().await;
        if *current != share {
            // Said here rather than by the DHCP server, so that a benchmark can hear it without
            // the line per exchange the server logs.
            match share {
                Some(LoadShare { of, .. }) => {
                    tracing::info!("DHCP answers 1 in {of} new clients: {of} lifeboats serve the same range");
                }
                None if !ours.is_empty() => {
                    tracing::info!("DHCP answers every client: no other lifeboat serves its range now");
                }
                None => {}
            }
            *current = share;
            self.lifeboat.services.share_dhcp_load(share).await;
        }
    }

    /// Give DHCP the leases other instances wrote since the last time (and a little before:
    /// `updated_at` is in seconds, and clocks differ).
    async fn learn_leases(&self) {
        let mut learned_up_to = self.learned_up_to.lock().await;
        let since = learned_up_to.saturating_sub(LEARN_OVERLAP);
        // The store says up to when: `updated_at` is stamped by its clock, not by this app's.
        match self.store().leases_written_by_others_since(since).await {
            Ok((leases, next)) => {
                *learned_up_to = next;
                self.lifeboat.services.learn_leases(leases).await;
            }
            Err(error) => tracing::debug!("other lifeboats' leases not read: {error}"),
        }
    }

    /// Hear the other instances' changes and apply them.
    async fn listen(self: Arc<Self>, shutdown: CancellationToken) {
        let mut changes = loop {
            match self.store().changes().await {
                Ok(changes) => break changes,
                Err(error) => {
                    tracing::warn!("cannot hear other lifeboats' changes yet: {error}");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(HEARTBEAT_EVERY) => {}
                    }
                }
            }
        };
        // What others committed after this instance loaded its hosts and before it listened
        // was not heard: read it now, quietly (nothing needs saying at start).
        self.catch_up(false).await;
        loop {
            let change = tokio::select! {
                () = shutdown.cancelled() => return,
                change = changes.next() => change,
            };
            match change {
                Change::Table(table) => match table.as_str() {
                    "hosts" | "aliases" | "boot_profiles" => self.reload_directory(true).await,
                    "instance_commands" => self.carry_out_commands().await,
                    "leases" => self.learn_leases().await,
                    _ => {}
                },
                Change::Missed => self.catch_up(true).await,
            }
        }
    }

    /// Read everything the notifications may have carried: hosts, aliases and profiles, the
    /// others' leases, commands for this instance.
    async fn catch_up(&self, say_it: bool) {
        self.reload_directory(say_it).await;
        self.learn_leases().await;
        self.carry_out_commands().await;
    }

    /// Reload hosts, aliases and boot profiles; `say_it` logs that they were (another lifeboat
    /// changed them).
    async fn reload_directory(&self, say_it: bool) {
        let parts = &self.lifeboat.parts;
        match parts.directory.reload(&parts.store).await {
            Ok(()) if say_it => {
                tracing::info!("hosts, aliases and boot profiles reloaded: the fleet's database changed");
            }
            Ok(()) => {}
            Err(error) => tracing::warn!("hosts and aliases changed by another lifeboat not applied: {error}"),
        }
    }

    /// Take the commands addressed to this instance, carry each out, and write its outcome.
    async fn carry_out_commands(&self) {
        let store = self.store();
        let clock = &self.lifeboat.parts.clock;
        let commands = match store.take_commands(clock.unix_ms()).await {
            Ok(commands) => commands,
            Err(error) => {
                tracing::debug!("commands not read: {error}");
                return;
            }
        };
        for command in commands {
            let outcome = self.carry_out(&command).await;
            if let Err(error) = store.finish_command(command.id, &outcome, clock.unix_ms()).await {
                tracing::warn!("command {} carried out, but its outcome was not saved: {error}", command.id);
            }
        }
    }

    /// `""` when it worked, else why not.
    async fn carry_out(&self, command: &InstanceCommand) -> String {
        let Ok(service) = command.service.parse::<Service>() else {
            return format!("there is no service {:?}", command.service);
        };
        let origin = command.origin.clone();
        let done = match command.action.as_str() {
            "start" => self.lifeboat.start(service, origin).await,
            "stop" => self.lifeboat.stop(service, origin).await,
            other => return format!("unknown action {other:?}: start or stop"),
        };
        match done {
            Ok(()) => String::new(),
            Err(error) => error.to_string(),
        }
    }
}

/// What `lifeboat` says of itself now.
fn heartbeat(lifeboat: &Lifeboat) -> Heartbeat {
    let services: BTreeMap<String, String> = lifeboat
        .services()
        .into_iter()
        .map(|status| (status.service.slug().to_owned(), state_of(status.running, status.failed, status.configured)))
        .collect();
    Heartbeat {
        started_at: lifeboat.started_at,
        at: lifeboat.parts.clock.unix_ms(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        dashboard: lifeboat.dashboard.get().map(ToString::to_string).unwrap_or_default(),
        services,
        dhcp_ranges: lifeboat.services.dhcp_ranges(),
        addresses: machine_addresses(),
    }
}

/// This machine's IPv4 addresses, but loopback's: where its DHCP replies come from.
fn machine_addresses() -> Vec<Ipv4Addr> {
    let interfaces = lifeboat_net::interfaces().unwrap_or_default();
    interfaces.iter().flat_map(|i| i.ipv4.iter().map(|(address, _)| *address)).filter(|a| !a.is_loopback()).collect()
}

/// The addresses of the fleet's other instances that are up: a DHCP server answering from one
/// of them is a partner serving the same segment, not a rogue server.
pub(crate) fn partner_addresses(instances: &[InstanceRecord], this: &str, now: i64) -> BTreeSet<Ipv4Addr> {
    instances
        .iter()
        .filter(|i| i.name != this && is_up(i.beat.at, now))
        .flat_map(|i| i.beat.addresses.iter().copied())
        .collect()
}

/// How long a person's start or stop of a service on another instance waits for its answer.
pub const COMMAND_WAIT: Duration = Duration::from_secs(10);

/// How often the asking instance looks at the command's outcome meanwhile.
const COMMAND_POLL: Duration = Duration::from_millis(100);

/// The instances of `lifeboat`'s fleet; just itself when its database is its own.
pub(crate) async fn instances(lifeboat: &Lifeboat) -> Result<Vec<InstanceView>, FleetError> {
    let store = &lifeboat.parts.store;
    let now = lifeboat.parts.clock.unix_ms();
    if !store.is_shared() {
        let record = InstanceRecord { name: store.instance().to_owned(), beat: heartbeat(lifeboat) };
        return Ok(vec![view(record, store.instance(), now)]);
    }
    let records = store.instances().await.map_err(|e| FleetError::Unavailable(e.to_string()))?;
    Ok(records.into_iter().map(|record| view(record, store.instance(), now)).collect())
}

/// Whether an instance that last beat at `seen_at` (Unix ms) counts as up at `now`.
fn is_up(seen_at: i64, now: i64) -> bool {
    now.saturating_sub(seen_at) < i64::try_from(GONE_AFTER.as_millis()).unwrap_or(i64::MAX)
}

fn view(record: InstanceRecord, this: &str, now: i64) -> InstanceView {
    InstanceView {
        this: record.name == this,
        up: is_up(record.beat.at, now),
        name: record.name,
        version: record.beat.version,
        dashboard: record.beat.dashboard,
        started_at: record.beat.started_at,
        seen_at: record.beat.at,
        services: record.beat.services,
    }
}

/// Start (`run`) or stop `service` on instance `name`, as `origin` asked: here directly, on
/// another instance by a command that instance carries out; waits for its outcome for
/// [`COMMAND_WAIT`] at most, then withdraws it.
pub(crate) async fn command(
    lifeboat: &Lifeboat,
    name: String,
    service: Service,
    run: bool,
    origin: String,
) -> Result<(), FleetError> {
    let store = &lifeboat.parts.store;
    let refused = |reason: String| FleetError::Refused { instance: name.clone(), reason };
    if name == store.instance() {
        let done = if run { lifeboat.start(service, origin).await } else { lifeboat.stop(service, origin).await };
        return done.map_err(|e| refused(e.to_string()));
    }
    let unavailable = |e: lifeboat_store::StoreError| FleetError::Unavailable(e.to_string());
    let known = store.is_shared() && store.instances().await.map_err(unavailable)?.iter().any(|i| i.name == name);
    if !known {
        return Err(FleetError::UnknownInstance(name));
    }
    let clock = &lifeboat.parts.clock;
    let action = if run { "start" } else { "stop" };
    let origin = format!("{origin} on {}", store.instance());
    let id = store.issue_command(&name, service.slug(), action, &origin, clock.unix_ms()).await.map_err(unavailable)?;
    let deadline = tokio::time::Instant::now() + COMMAND_WAIT;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(COMMAND_POLL).await;
        let command = store.command(id).await.map_err(unavailable)?;
        if let Some(command) = command.filter(InstanceCommand::is_finished) {
            return match command.outcome.as_deref() {
                Some("") | None => Ok(()),
                Some(reason) => Err(refused(reason.to_owned())),
            };
        }
    }
    let seconds = COMMAND_WAIT.as_secs();
    let why = format!("withdrawn: {name} did not answer within {seconds} s");
    if store.withdraw_command(id, &why, clock.unix_ms()).await.map_err(unavailable)? {
        return Err(FleetError::NoAnswer { instance: name, seconds });
    }
    // Taken just now: its outcome comes in a moment, but nobody waits any longer.
    Err(refused(format!("took the command after {seconds} s; see its events for the outcome")))
}

/// A service's state as the heartbeat says it.
fn state_of(running: bool, failed: bool, configured: bool) -> String {
    let state = match (running, failed, configured) {
        (true, _, _) => "running",
        (false, true, _) => "failed",
        (false, false, true) => "stopped",
        (false, false, false) => "not configured",
    };
    state.to_owned()
}
