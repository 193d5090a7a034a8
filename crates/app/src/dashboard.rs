//! The running lifeboat as the dashboard sees it: the binary's implementation of
//! [`lifeboat_web::Control`], and the dashboard's start-up (address, login, listener).
//!
//! **Invariant:** the dashboard never listens beyond loopback without a password or a token
//! (`lifeboat_web::check_listen` decides), and the password only ever exists as an argon2 hash in
//! the database's settings.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use lifeboat_dhcp::Mac;
use lifeboat_dhcp::config::hardware_text;
use lifeboat_server::{DhcpConfig, DhcpPlan};
use lifeboat_store::{Event, EventKind, Retention, Store};
use lifeboat_web::{
    AddressClaim, Auth, BoxFuture, ClaimError, ClaimedAddressView, ConfiguredAlias, ConfiguredReservation, Control,
    ControlError, DhcpExchange, DoctorCheck, DoctorRequest, FleetError, InstanceView, InterfaceInfo, LeaseView,
    LiveTransfer, Metrics, ProfileChoice, RecoveryError, RecoveryRequest, RecoveryView, Service, ServiceStatus,
    SettingsError, SettingsInput, SettingsView, WantedAddressView, WebConfig, WebState,
};
use tokio_util::sync::CancellationToken;

use crate::recovery::Recovery;

use crate::services::{Configs, Parts, Services};
use crate::settings::{Configurator, settings_key};

/// "Stop after the running transfers" waits at most this long, then stops anyway: a client
/// that keeps a transfer crawling must not keep the service up for ever.
const LONGEST_WAIT_FOR_TRANSFERS: Duration = Duration::from_secs(3600);

/// The settings key of the dashboard's password hash (written by `lifeboat passwd`).
pub const PASSWORD_SETTING: &str = "web_password_hash";

/// How the dashboard is to run, from flags and the configuration file.
#[derive(Debug, Clone)]
pub struct DashboardConfig {
    pub listen: SocketAddr,
    /// Off the loopback without a password: serve a random token printed at start-up.
    pub token: bool,
    /// The largest image the dashboard accepts, in bytes.
    pub max_upload: u64,
}

pub(crate) struct Lifeboat {
    pub(crate) services: Arc<Services>,
    pub(crate) parts: Arc<Parts>,
    /// What the dashboard's settings mean; `None`: they cannot be changed.
    pub(crate) settings: Option<Arc<dyn Configurator>>,
    /// Held while settings are applied and saved: two at once would interleave.
    pub(crate) applying: tokio::sync::Mutex<()>,
    /// The recovery started from the dashboard.
    pub(crate) recovery: Arc<Recovery>,
    /// Held while the doctor runs: one run at a time, however many pages ask (a run may send
    /// DHCP probes and reads every process's sockets).
    pub(crate) doctor_running: tokio::sync::Mutex<()>,
    /// Unix ms when this lifeboat started, for the fleet's list.
    pub(crate) started_at: i64,
    /// Where its dashboard listens, once it does.
    pub(crate) dashboard: std::sync::OnceLock<std::net::SocketAddr>,
}

impl Lifeboat {
    fn configurator(&self) -> Result<&dyn Configurator, SettingsError> {
        self.settings.as_deref().ok_or_else(|| {
            SettingsError::Unavailable("this lifeboat takes its settings from the command line only".into())
        })
    }

    async fn stored_settings(&self) -> Result<String, SettingsError> {
        let stored = self.parts.store.setting(&settings_key(&self.parts.store)).await;
        let stored = stored.map_err(|e| SettingsError::Unavailable(format!("cannot read the settings: {e}")))?;
        Ok(stored.unwrap_or_default())
    }

    async fn view(&self) -> Result<SettingsView, SettingsError> {
        let configurator = self.configurator()?;
        let stored = self.stored_settings().await?;
        // Stored settings that no longer fit are shown as they are, with why, over nothing.
        let (configured, problems) = match configurator.configure(&stored) {
            Ok(configured) => (configured, Vec::new()),
            Err(problems) => (configurator.configure("").map_err(SettingsError::Invalid)?, problems),
        };
        Ok(SettingsView {
            stored: configured.stored,
            stored_toml: stored,
            effective: configured.effective,
            effective_toml: configured.effective_toml,
            locked: configurator.locks(),
            problems,
        })
    }

    async fn apply(&self, input: SettingsInput, origin: String) -> Result<SettingsView, SettingsError> {
        let configurator = self.configurator()?;
        let text = match input {
            SettingsInput::Json(json) => configurator.document_of_json(&json).map_err(SettingsError::Invalid)?,
            SettingsInput::Toml(text) => configurator.document_of_import(&text).map_err(SettingsError::Invalid)?,
        };
        let configured = configurator.configure(&text).map_err(SettingsError::Invalid)?;
        let configs = Configs { tftp: configured.tftp, dhcp: configured.dhcp, http: configured.http };
        let _applying = self.applying.lock().await;
        let changed = self.services.reconfigure(configs, &origin).await;
        let changed = changed.map_err(|e| SettingsError::NotApplied(e.to_string()))?;
        self.parts
            .store
            .set_setting(&settings_key(&self.parts.store), &text)
            .await
            .map_err(|e| SettingsError::Unavailable(format!("applied, but not saved: {e}")))?;
        let what = if changed.is_empty() {
            "no service's configuration changed".to_owned()
        } else {
            let names: Vec<String> = changed.iter().map(ToString::to_string).collect();
            format!("applied to {}", names.join(" and "))
        };
        tracing::info!("settings saved from the dashboard, {what} ({origin})");
        let event = Event { at: self.parts.clock.unix_ms(), kind: EventKind::SettingsChanged, origin, detail: what };
        self.parts.log.event(event);
        self.view().await
    }
}

impl Control for Lifeboat {
    fn services(&self) -> Vec<ServiceStatus> {
        self.services.status()
    }

    fn instances(&self) -> BoxFuture<'_, Result<Vec<InstanceView>, FleetError>> {
        Box::pin(crate::fleet::instances(self))
    }

    fn command_instance(
        &self,
        name: String,
        service: Service,
        run: bool,
        origin: String,
    ) -> BoxFuture<'_, Result<(), FleetError>> {
        Box::pin(crate::fleet::command(self, name, service, run, origin))
    }

    fn start(&self, service: Service, origin: String) -> BoxFuture<'_, Result<(), ControlError>> {
        Box::pin(async move { self.services.start(service, &origin).await })
    }

    fn stop(&self, service: Service, origin: String) -> BoxFuture<'_, Result<(), ControlError>> {
        Box::pin(async move { self.services.stop(service, &origin).await })
    }

    fn stop_after_transfers(&self, service: Service, origin: String) -> BoxFuture<'_, Result<(), ControlError>> {
        Box::pin(async move {
            let Some(since) = self.services.running_since(service) else {
                return Err(ControlError::NotRunning(service));
            };
            let services = Arc::clone(&self.services);
            let activity = Arc::clone(&self.parts.activity);
            tracing::info!("{service} takes no new transfers and stops when its running ones end ({origin})");
            self.services.close_to_new(service, since);
            tokio::spawn(async move {
                let deadline = tokio::time::Instant::now() + LONGEST_WAIT_FOR_TRANSFERS;
                let running = || activity.live_transfers().iter().filter(|t| t.outcome.is_none()).count();
                while service == Service::Tftp && running() > 0 && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                // Only the run it was asked for: NotRunning when somebody stopped it (or it
                // stopped and started again) meanwhile.
                let _ = services.stop_run(service, since, &origin).await;
            });
            Ok(())
        })
    }

    fn dhcp_exchanges(&self) -> Vec<DhcpExchange> {
        self.parts.dhcp_activity.recent()
    }

    fn release_lease(&self, address: Ipv4Addr, origin: String) -> BoxFuture<'_, Result<bool, ControlError>> {
        Box::pin(async move {
            let mac = self.parts.book.lease_on(address).map(|lease| hardware_text(&lease.mac));
            let released = self.services.release_lease(address).await?;
            if released {
                let holder = mac.map_or_else(String::new, |mac| format!(" (held by {mac})"));
                let detail = format!("the lease on {address}{holder} was released");
                tracing::info!("{detail} ({origin})");
                let event = Event { at: self.parts.clock.unix_ms(), kind: EventKind::LeaseReleased, origin, detail };
                self.parts.log.event(event);
            }
            Ok(released)
        })
    }

    fn interfaces(&self) -> Vec<InterfaceInfo> {
        let interfaces = lifeboat_net::interfaces().unwrap_or_else(|error| {
            tracing::warn!("cannot list the network interfaces: {error}");
            Vec::new()
        });
        let default_route = lifeboat_net::default_route().map(|route| route.interface);
        interfaces
            .into_iter()
            .map(|i| InterfaceInfo {
                default_route: default_route.as_deref() == Some(i.name.as_str()),
                name: i.name,
                addresses: i.ipv4.iter().map(|(address, prefix)| format!("{address}/{prefix}")).collect(),
                up: i.up,
            })
            .collect()
    }

    fn leases(&self) -> Vec<LeaseView> {
        let active = self.parts.book.active(self.parts.clock.unix_seconds());
        let macs: Vec<String> = active.iter().map(|lease| hardware_text(&lease.mac)).collect();
        let seen = self.parts.dhcp_activity.last_seen_each(macs.iter().map(String::as_str));
        active
            .into_iter()
            .zip(macs)
            .zip(seen)
            .map(|((lease, mac), seen)| LeaseView {
                address: lease.address,
                hostname: lease.hostname,
                expires_at: lease.expires.map(|secs| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)),
                last_seen: seen.as_ref().map(|seen| seen.at),
                boot_file: seen.and_then(|seen| seen.boot_file),
                mac,
            })
            .collect()
    }

    fn live_transfers(&self) -> Vec<LiveTransfer> {
        self.parts.activity.live_transfers()
    }

    fn file_in_use(&self, file: &Path) -> bool {
        self.parts.activity.file_in_use(file)
    }

    fn reload(&self) {
        let parts = Arc::clone(&self.parts);
        tokio::spawn(async move {
            if let Err(error) = parts.directory.reload(&parts.store).await {
                tracing::error!("hosts and aliases not applied: {error}");
            }
        });
    }

    fn configured_aliases(&self) -> Vec<ConfiguredAlias> {
        let Some(tftp) = self.services.configs().tftp else { return Vec::new() };
        tftp.aliases
            .iter()
            .map(|(name, file)| ConfiguredAlias {
                name: name.clone(),
                exists: tftp.root.join(file).is_file(),
                file: file.display().to_string(),
            })
            .collect()
    }

    fn configured_reservations(&self) -> Vec<ConfiguredReservation> {
        let Some(dhcp) = self.services.configs().dhcp else { return Vec::new() };
        dhcp.reservations
            .iter()
            .map(|r| ConfiguredReservation { mac: r.mac.to_string(), address: r.address, name: r.name.clone() })
            .collect()
    }

    fn reservation_conflicts(&self, mac: &str, address: Option<Ipv4Addr>) -> Vec<(&'static str, String)> {
        let mut conflicts = Vec::new();
        // A host that only maps an image reserves nothing.
        let (Ok(mac), Some(address)) = (mac.parse::<Mac>(), address) else { return conflicts };
        let dhcp = self.services.configs().dhcp;
        let reservations = dhcp.as_ref().map(|d| d.reservations.as_slice()).unwrap_or_default();
        if let Some(theirs) = reservations.iter().find(|r| r.mac == mac) {
            conflicts.push((
                "mac",
                format!(
                    "{mac} already has the address {} from the configuration (--dhcp-reservation or the settings): change it there",
                    theirs.address
                ),
            ));
        }
        if let Some(theirs) = reservations.iter().find(|r| r.address == address && r.mac != mac) {
            conflicts.push(("address", format!("{address} is reserved for {} by the configuration", theirs.mac)));
        }
        // In a fleet, another lifeboat may serve the address's subnet: only a lone lifeboat
        // knows that no client of its could use it.
        if let Some(dhcp) = &dhcp
            && !self.parts.store.is_shared()
            && let Some(subnets) = served_subnets(dhcp)
            && !subnets.iter().any(|s| s.contains(&address))
        {
            let served: Vec<String> = subnets.iter().map(ToString::to_string).collect();
            conflicts.push((
                "address",
                format!(
                    "{address} is in none of the subnets DHCP serves ({}): no client of lifeboat could use it",
                    served.join(", ")
                ),
            ));
        }
        let now = self.parts.clock.unix_seconds();
        let holder = self.parts.book.active(now).into_iter().find(|l| l.address == address && l.mac != mac.0);
        if let Some(holder) = holder {
            conflicts.push((
                "address",
                format!(
                    "{address} is leased to {} now: pick another address, or release that lease first",
                    hardware_text(&holder.mac)
                ),
            ));
        }
        conflicts
    }

    fn settings(&self) -> BoxFuture<'_, Result<SettingsView, SettingsError>> {
        Box::pin(self.view())
    }

    fn apply_settings(
        &self,
        input: SettingsInput,
        origin: String,
    ) -> BoxFuture<'_, Result<SettingsView, SettingsError>> {
        Box::pin(self.apply(input, origin))
    }

    fn alerts(&self) -> Vec<String> {
        self.services.alerts()
    }

    fn armed_image(&self) -> Option<String> {
        self.parts.activity.armed.file()
    }

    fn arm_image(&self, file: Option<String>, origin: String) {
        let (kind, detail) = match &file {
            Some(file) => {
                (EventKind::ImageArmed, format!("{file} armed: a device asking for a file that does not exist gets it"))
            }
            None => (EventKind::ImageDisarmed, "no image is armed any more".to_owned()),
        };
        self.parts.activity.armed.set(file);
        tracing::info!("{detail} ({origin})");
        self.parts.log.event(Event { at: self.parts.clock.unix_ms(), kind, origin, detail });
    }

    fn wanted_addresses(&self) -> Vec<WantedAddressView> {
        self.parts.wanted.recent()
    }

    fn profiles(&self) -> Vec<ProfileChoice> {
        crate::built_in_profiles()
            .into_iter()
            .map(|p| ProfileChoice { mode: p.mode.to_string(), name: p.name, family: p.family })
            .collect()
    }

    fn recovery(&self) -> RecoveryView {
        self.recovery.view()
    }

    fn start_recovery(&self, request: RecoveryRequest, origin: String) -> BoxFuture<'_, Result<(), RecoveryError>> {
        Box::pin(async move {
            self.recovery.start(request, origin, Arc::clone(&self.services), Arc::clone(&self.parts)).await
        })
    }

    fn cancel_recovery(&self, origin: String) -> BoxFuture<'_, ()> {
        tracing::info!("recovery cancelled ({origin})");
        self.recovery.cancel();
        Box::pin(async {})
    }

    fn doctor(&self, request: DoctorRequest) -> BoxFuture<'_, Vec<DoctorCheck>> {
        Box::pin(async move {
            let _one_at_a_time = self.doctor_running.lock().await;
            let mut checks = Vec::new();
            let profile = match request.profile.as_deref().filter(|p| !p.is_empty()) {
                Some(name) => match crate::profile_named(name, None) {
                    Ok(profile) => Some(profile),
                    Err(e) => {
                        checks.push(DoctorCheck::fail("Profile", e.to_string(), "choose a profile from the list"));
                        None
                    }
                },
                None => None,
            };
            let tftp = self.services.configs().tftp;
            let image_name = request.image.filter(|i| !i.is_empty());
            let mut image_aliases = Vec::new();
            if let Some(name) = &image_name {
                image_aliases.extend(
                    tftp.iter()
                        .flat_map(|t| &t.aliases)
                        .filter(|(_, f)| f.as_os_str() == name.as_str())
                        .map(|(n, _)| n.clone()),
                );
                image_aliases.extend(
                    self.parts
                        .store
                        .aliases()
                        .await
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|a| a.file == *name)
                        .map(|a| a.name),
                );
            }
            let exam = crate::doctor::Examination {
                interface: request.interface.filter(|i| !i.is_empty()),
                image_armed: image_name.is_some() && self.parts.activity.armed.file() == image_name,
                image: match (&tftp, image_name) {
                    (Some(tftp), Some(name)) => Some(tftp.root.join(name)),
                    (None, Some(_)) => {
                        checks.push(DoctorCheck::note("Image", "not checked: TFTP has no root folder here"));
                        None
                    }
                    (_, None) => None,
                },
                profile,
                image_aliases,
                wanted: Some(self.parts.wanted.recent()),
                lifeboat_pids: vec![i32::try_from(std::process::id()).unwrap_or(0)],
            };
            checks.extend(crate::doctor::examine(&exam).await);
            checks.push(tftp_service_check(&self.services()));
            checks
        })
    }

    fn claimed_addresses(&self) -> BoxFuture<'_, Vec<ClaimedAddressView>> {
        Box::pin(async move {
            match &self.parts.claims {
                Some(claims) => claims.held().await,
                None => Vec::new(),
            }
        })
    }

    fn claim_address(&self, claim: AddressClaim, origin: String) -> BoxFuture<'_, Result<(), ClaimError>> {
        Box::pin(async move {
            match &self.parts.claims {
                Some(claims) => claims.claim(claim, &origin).await,
                None => Err(ClaimError::Refused("this lifeboat does not change addresses".into())),
            }
        })
    }

    fn release_address(&self, address: Ipv4Addr, origin: String) -> BoxFuture<'_, Result<bool, ClaimError>> {
        Box::pin(async move {
            match &self.parts.claims {
                Some(claims) => claims.release(address, &origin).await,
                None => Ok(false),
            }
        })
    }

    fn metrics(&self) -> Metrics {
        Metrics {
            active_leases: self.parts.book.active(self.parts.clock.unix_seconds()).len() as u64,
            dhcp_replies: self.services.dhcp_replies(),
            ..self.parts.activity.metrics()
        }
    }
}

/// Check the address and the login, bind the dashboard's port and serve it until `shutdown`.
/// Binding happens before this returns, so a taken port stops start-up.
/// Whether this lifeboat serves TFTP now.
fn tftp_service_check(services: &[ServiceStatus]) -> DoctorCheck {
    let title = "lifeboat's TFTP";
    match services.iter().find(|s| s.service == Service::Tftp) {
        Some(s) if s.running => DoctorCheck::pass(title, format!("running, on {}", s.listening.join(", "))),
        Some(s) if !s.configured => {
            DoctorCheck::fail(title, "not set up: no TFTP root", "give lifeboat a TFTP root (--tftp-root or Settings)")
        }
        _ => DoctorCheck::note(title, "stopped: a recovery starts it, or the overview's button"),
    }
}

pub(crate) async fn start(
    config: &DashboardConfig,
    tftp_root: Option<&Path>,
    retention: Retention,
    lifeboat: Arc<Lifeboat>,
    shutdown: CancellationToken,
) -> anyhow::Result<(tokio::task::JoinHandle<()>, SocketAddr)> {
    let store: &Store = &lifeboat.parts.store;
    let password = store.setting(PASSWORD_SETTING).await?;
    let loopback = config.listen.ip().is_loopback();
    let auth = match password {
        Some(hash) => Auth::Password { hash },
        None if loopback => Auth::LoopbackOnly,
        None if config.token => Auth::Token(lifeboat_web::generate_token()),
        None => anyhow::bail!(
            "the dashboard would listen on {} without a password: set one with `lifeboat passwd --db {}`, pass --web-token for a random token printed here, or keep the default --web-listen 127.0.0.1:8080",
            config.listen,
            store.location()
        ),
    };
    let web = WebConfig {
        listen: config.listen,
        auth: auth.clone(),
        tftp_root: tftp_root.map(Path::to_path_buf),
        max_upload: config.max_upload,
        retention,
    };
    lifeboat_web::check_listen(&web)?;
    let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| {
        format!(
            "cannot listen on {} for the dashboard (is another program using the port? `ss -ltnp 'sport = :{}'` shows it; choose another with --web-listen, or turn the dashboard off with --no-web)",
            config.listen,
            config.listen.port()
        )
    })?;
    let listen = listener.local_addr().unwrap_or(config.listen);
    let interfaces = lifeboat_net::interfaces().unwrap_or_default();
    for at in reachable_at(listen, &interfaces) {
        match &auth {
            Auth::Token(token) => tracing::info!("dashboard on http://{at}/?token={token}"),
            Auth::Password { .. } => tracing::info!("dashboard on http://{at}/ (password login)"),
            Auth::LoopbackOnly => tracing::info!("dashboard on http://{at}/ (this machine only, no login)"),
        }
    }
    let parts = &lifeboat.parts;
    let state = WebState::new(parts.store.clone(), parts.log.clone(), lifeboat.clone(), web, Arc::clone(&parts.clock));
    tokio::spawn(lifeboat_web::keep_digests_current(state.clone(), shutdown.clone()));
    let router = lifeboat_web::router(state);
    let task = tokio::spawn(async move {
        if let Err(error) = lifeboat_web::serve(listener, router, shutdown).await {
            tracing::error!("the dashboard stopped: {error}");
        }
    });
    Ok((task, listen))
}

/// Where a browser can reach a dashboard listening on `listen`: the address itself, or, for the
/// unspecified address (`0.0.0.0`, `[::]`), every IPv4 address of an interface that is up
/// (loopback last). A link printed as `http://0.0.0.0:8080/` leads nowhere.
fn reachable_at(listen: SocketAddr, interfaces: &[lifeboat_net::Interface]) -> Vec<SocketAddr> {
    if !listen.ip().is_unspecified() {
        return vec![listen];
    }
    let mut addresses: Vec<std::net::Ipv4Addr> =
        interfaces.iter().filter(|i| i.up).flat_map(|i| i.ipv4.iter().map(|(address, _)| *address)).collect();
    addresses.sort_by_key(|address| address.is_loopback());
    let found: Vec<SocketAddr> =
        addresses.into_iter().map(|address| SocketAddr::from((address, listen.port()))).collect();
    if found.is_empty() { vec![listen] } else { found }
}

/// The subnets in which `dhcp` hands out addresses, as this machine's interfaces place its
/// ranges; `None` when they cannot be placed now (the plan's own error says why at start).
fn served_subnets(dhcp: &DhcpConfig) -> Option<Vec<ipnet::Ipv4Net>> {
    let interfaces = lifeboat_net::interfaces().ok()?;
    let plan = DhcpPlan::new(dhcp, &interfaces).ok()?;
    Some(plan.scopes.iter().filter(|s| !s.proxy).map(|s| s.subnet).collect())
}

#[cfg(test)]
mod tests {
    use lifeboat_net::Interface;

    use super::*;

    fn interface(name: &str, up: bool, address: [u8; 4]) -> Interface {
        Interface { name: name.into(), index: 1, mac: None, up, ipv4: vec![(address.into(), 24)] }
    }

    #[test]
    fn a_dashboard_on_every_address_is_shown_at_each_usable_one() {
        let interfaces = [
            interface("lo", true, [127, 0, 0, 1]),
            interface("eth0", true, [10, 0, 0, 5]),
            interface("eth1", false, [10, 1, 0, 5]),
        ];
        let at = reachable_at("0.0.0.0:8080".parse().unwrap(), &interfaces);
        assert_eq!(at, ["10.0.0.5:8080".parse().unwrap(), "127.0.0.1:8080".parse().unwrap()]);
        assert_eq!(reachable_at("[::]:8080".parse().unwrap(), &interfaces).len(), 2);
        let one = "10.0.0.5:9000".parse().unwrap();
        assert_eq!(reachable_at(one, &interfaces), [one]);
        assert_eq!(reachable_at("0.0.0.0:8080".parse().unwrap(), &[]), ["0.0.0.0:8080".parse().unwrap()]);
    }
}
