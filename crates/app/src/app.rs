//! The running application: what [`App::start`] builds and [`App::wait`] takes down.
//!
//! **Invariant:** everything the configuration asks for starts, or nothing does: a service or a
//! dashboard that cannot start stops what did, flushes the store's writers and returns the error.
//! On the way down, services stop before the writers flush, so every record and lease of the
//! run is committed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use lifeboat_clock::Clock;
use lifeboat_server::{DhcpConfig, HttpBootConfig, TftpConfig};
use lifeboat_store::{LeaseWriter, LogWriter, Pruner, Retention, Store};
use lifeboat_web::{AddressClaim, Control};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::activity::Activity;
use crate::activity::CompletedDownload;
use crate::address_claims::AddressClaims;
use crate::announcer::announce_served;
use crate::armed_image::{ArmedImage, save_learned};
use crate::binder::Binder;
use crate::dashboard::{self, DashboardConfig, Lifeboat};
use crate::dhcp_activity::DhcpActivity;
use crate::fleet::Fleet;
use crate::host_directory::HostDirectory;
use crate::lease_book::LeaseBook;
use crate::network_setup::{Served, bridge_warning};
use crate::services::{Configs, Parts, Services};
use crate::settings::{Configurator, settings_key};
use crate::wanted_log::WantedLog;

/// What to run: the command line and the configuration file, checked.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// TFTP, or `None` when it is off.
    pub tftp: Option<TftpConfig>,
    /// DHCP, or `None` when it is off.
    pub dhcp: Option<DhcpConfig>,
    /// The HTTP boot server, or `None` when it is off.
    pub http: Option<HttpBootConfig>,
    /// The dashboard, or `None` when it is off.
    pub web: Option<DashboardConfig>,
    /// Stop a service nobody has used for this long (`--stop-when-idle`).
    pub stop_when_idle: Option<Duration>,
    /// End the run after the first complete download (`--once`).
    pub once: bool,
    /// Announce the addresses the services serve on, through the binder's
    /// [`Neighbours`](crate::Neighbours), when they start or appear; off with `--no-announce`.
    pub announce: bool,
    /// Addresses to take before the services start (`lifeboat recover`: where the device looks
    /// for its server); a refusal ends the start with its reason.
    pub claims: Vec<AddressClaim>,
    pub retention: Retention,
    /// What the dashboard's settings mean; `None`: they cannot be changed, and `tftp`, `dhcp` and
    /// `http` are all there is. With it, the stored settings replace them at start.
    pub settings: Option<Arc<dyn Configurator>>,
}

/// lifeboat, running.
pub struct App {
    lifeboat: Arc<Lifeboat>,
    dashboard: Option<(JoinHandle<()>, std::net::SocketAddr)>,
    pruner: JoinHandle<()>,
    /// The stop-when-idle watch and what ends it (a child of `shutdown`, also cancelled when
    /// start-up fails).
    idle_watch: Option<(JoinHandle<()>, CancellationToken)>,
    /// The address watch (devices looking for an address nobody has) and what ends it.
    address_watch: Option<(JoinHandle<()>, CancellationToken)>,
    /// The announcer of the addresses the services serve on, and what ends it.
    announcer: Option<(JoinHandle<()>, CancellationToken)>,
    /// On a shared database: the heartbeat and the listener for other instances' changes.
    fleet: Option<(Fleet, CancellationToken)>,
    shutdown: CancellationToken,
}

impl App {
    /// Open the parts on `store`, start the configured services and the dashboard. Cancelling
    /// `shutdown` ends the run (see [`App::wait`]).
    pub async fn start(
        config: AppConfig,
        store: Store,
        binder: Arc<dyn Binder>,
        clock: Arc<dyn Clock>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<App> {
        let mut config = config;
        if let Some(configurator) = &config.settings
            && let Some(configs) = stored_configs(&store, configurator.as_ref()).await
        {
            (config.tftp, config.dhcp, config.http) = (configs.tftp, configs.dhcp, configs.http);
        }
        let served = Served {
            dhcp: config.dhcp.is_some(),
            tftp: config.tftp.is_some(),
            tftp_single_port: config.tftp.as_ref().is_some_and(|t| t.single_port),
        };
        if let Some(warning) = bridge_warning(&binder.network_facts(), served) {
            tracing::warn!("{warning}");
        }
        let clock_now = clock.unix_ms();
        let directory = Arc::new(HostDirectory::default());
        directory.reload(&store).await?;
        let log = LogWriter::spawn(store.clone());
        let pruner = Pruner::spawn(store.clone(), config.retention, shutdown.clone());
        let book = Arc::new(LeaseBook::default());
        // The server reports files under the root as it resolved it; the history keeps them
        // relative.
        let root = config.tftp.as_ref().map(|t| std::fs::canonicalize(&t.root).unwrap_or_else(|_| t.root.clone()));
        let (armed, learned) = ArmedImage::new();
        tokio::spawn(save_learned(learned, store.clone(), Arc::clone(&directory), log.clone(), Arc::clone(&clock)));
        let activity = Arc::new(Activity::new(
            root.clone().unwrap_or_default(),
            log.clone(),
            Arc::clone(&book),
            Arc::clone(&directory),
            Arc::clone(&clock),
            armed,
        ));
        let leases = LeaseWriter::spawn(store.clone());
        let dhcp_activity = Arc::new(DhcpActivity::new(Arc::clone(&clock)));
        let wanted = Arc::new(WantedLog::new(Arc::clone(&clock), log.clone()));
        let system_interfaces = binder.uses_system_interfaces();
        let claims = system_interfaces.then(|| Arc::new(AddressClaims::new(Arc::clone(&clock), log.clone())));
        if system_interfaces {
            AddressClaims::remove_leftovers().await;
        }
        let address_watch = system_interfaces.then(|| {
            let (found, findings) = tokio::sync::mpsc::channel(16);
            let end = shutdown.child_token();
            tokio::spawn(Arc::clone(&wanted).follow(findings));
            let list = || lifeboat_net::interfaces().unwrap_or_default();
            (tokio::spawn(lifeboat_server::watch_addresses(list, found, end.clone())), end)
        });
        let parts = Arc::new(Parts {
            store,
            leases,
            log,
            book,
            directory,
            activity,
            binder,
            clock,
            dhcp_activity,
            wanted,
            claims,
        });
        let configs = Configs { tftp: config.tftp, dhcp: config.dhcp, http: config.http };
        let services = Arc::new(Services::new(configs, Arc::clone(&parts)));
        let lifeboat = Arc::new(Lifeboat {
            services: Arc::clone(&services),
            parts,
            settings: config.settings.clone(),
            applying: tokio::sync::Mutex::new(()),
            recovery: Arc::default(),
            doctor_running: tokio::sync::Mutex::new(()),
            started_at: clock_now,
            dashboard: std::sync::OnceLock::new(),
        });
        let mut app = App {
            lifeboat,
            dashboard: None,
            pruner,
            idle_watch: None,
            address_watch,
            announcer: None,
            fleet: None,
            shutdown: shutdown.clone(),
        };

        if let Err(error) = app.claim_configured(&config.claims).await {
            app.stop().await;
            return Err(error);
        }
        if let Err(error) = app.start_configured().await {
            app.stop().await;
            return Err(error);
        }
        let neighbours = if config.announce { app.lifeboat.parts.binder.neighbours() } else { None };
        match neighbours {
            Some(Ok(neighbours)) => {
                let end = shutdown.child_token();
                let announcer = tokio::spawn(announce_served(Arc::clone(&services), neighbours, end.clone()));
                app.announcer = Some((announcer, end));
            }
            Some(Err(error)) => tracing::warn!(
                "cannot announce lifeboat's addresses ({error}; it needs CAP_NET_RAW): a device that knew another \
                 MAC for them reaches lifeboat only once its neighbour entry expires, up to a minute"
            ),
            None => {}
        }
        if let Some(web) = &config.web {
            match dashboard::start(web, root.as_deref(), config.retention, Arc::clone(&app.lifeboat), shutdown.clone())
                .await
            {
                Ok(dashboard) => {
                    let _ = app.lifeboat.dashboard.set(dashboard.1);
                    app.dashboard = Some(dashboard);
                }
                Err(error) => {
                    app.stop().await;
                    return Err(error);
                }
            }
        }
        if app.lifeboat.parts.store.is_shared() {
            let end = shutdown.child_token();
            let fleet = Fleet::spawn(Arc::clone(&app.lifeboat), end.clone());
            app.fleet = Some((fleet, end));
        }
        if config.once {
            let downloads = app.lifeboat.parts.activity.downloads();
            tokio::spawn(stop_after_first_download(downloads, shutdown.clone()));
        }
        if let Some(idle) = config.stop_when_idle {
            let end = shutdown.child_token();
            let watch = tokio::spawn(Arc::clone(&services).stop_when_idle(idle, end.clone()));
            app.idle_watch = Some((watch, end));
        }
        Ok(app)
    }

    /// The latest complete download: `None` until the first.
    pub fn downloads(&self) -> tokio::sync::watch::Receiver<Option<CompletedDownload>> {
        self.lifeboat.parts.activity.downloads()
    }

    /// What the dashboard sees and does: services, leases, live transfers, metrics.
    pub fn control(&self) -> Arc<dyn Control> {
        Arc::clone(&self.lifeboat) as Arc<dyn Control>
    }

    /// Where the dashboard listens, when it runs.
    pub fn dashboard_addr(&self) -> Option<std::net::SocketAddr> {
        self.dashboard.as_ref().map(|(_, addr)| *addr)
    }

    /// Run until `shutdown` is cancelled, then stop everything in order.
    pub async fn wait(mut self) {
        self.shutdown.cancelled().await;
        let dashboard = self.dashboard.take();
        // The dashboard ends within its grace period once `shutdown` is cancelled; the services
        // stop meanwhile, so that stopping takes the longer of the two, not their sum.
        let dashboard_ended = async {
            if let Some((dashboard, _)) = dashboard {
                let _ = dashboard.await;
            }
        };
        tokio::join!(dashboard_ended, self.stop_services());
        self.flush().await;
    }

    /// Take the configured addresses, in order.
    async fn claim_configured(&self, claims: &[AddressClaim]) -> anyhow::Result<()> {
        for claim in claims {
            let (address, interface) = (claim.address, claim.interface.clone());
            let Some(keeper) = &self.lifeboat.parts.claims else {
                anyhow::bail!("cannot take {address} on {interface}: this lifeboat does not change addresses");
            };
            keeper.claim(claim.clone(), "command line").await.with_context(|| {
                format!("cannot take {address} on {interface}, where the device looks for its server")
            })?;
        }
        Ok(())
    }

    async fn start_configured(&self) -> anyhow::Result<()> {
        let services = &self.lifeboat.services;
        for service in services.configured() {
            services
                .start(service, "command line")
                .await
                .with_context(|| format!("cannot start the {service} server"))?;
        }
        Ok(())
    }

    /// Stop everything that started, in order (when starting failed halfway).
    async fn stop(mut self) {
        self.stop_services().await;
        self.flush().await;
    }

    /// Stop the idle watch and the services, and the pruner.
    async fn stop_services(&mut self) {
        // Waited for, not aborted: a service it is stopping finishes stopping (its sockets
        // closed, its event recorded) before the writers flush. The fleet's tasks first, so no
        // command from another instance starts a service while they stop.
        if let Some((fleet, end)) = self.fleet.take() {
            end.cancel();
            fleet.wait().await;
        }
        if let Some((watch, end)) = self.idle_watch.take() {
            end.cancel();
            let _ = watch.await;
        }
        if let Some((watch, end)) = self.address_watch.take() {
            end.cancel();
            let _ = watch.await;
        }
        if let Some((announcer, end)) = self.announcer.take() {
            end.cancel();
            let _ = announcer.await;
        }
        self.lifeboat.services.stop_all("lifeboat stopping").await;
        if let Some(claims) = &self.lifeboat.parts.claims {
            claims.release_all("lifeboat stopping").await;
        }
        // A prune may be halfway through a large backlog: its open transaction is rolled back.
        self.pruner.abort();
        let _ = (&mut self.pruner).await;
    }

    /// Flush the writers, once the services stopped: replies waiting for their lease are
    /// answered or dropped; queued leases and records are committed.
    async fn flush(self) {
        let parts = &self.lifeboat.parts;
        parts.leases.clone().shutdown().await;
        parts.log.clone().shutdown().await;
    }
}

/// `--once`: the first complete download ends the run (`shutdown`), with what was served.
async fn stop_after_first_download(
    mut downloads: watch::Receiver<Option<CompletedDownload>>,
    shutdown: CancellationToken,
) {
    tokio::select! {
        () = shutdown.cancelled() => {}
        done = downloads.wait_for(Option::is_some) => {
            if let Ok(done) = done {
                let line = done.as_ref().map(|d| d.line.as_str()).unwrap_or_default();
                tracing::info!("{line}; stopping (--once)");
                shutdown.cancel();
            }
        }
    }
}

/// The configurations with the dashboard's stored settings, or without them when they no longer
/// fit (the file or the command line changed since): said, and the settings kept for the page.
/// `None` when even the layers below fail, which the binary checked before it started the
/// application: the configuration it gave stands.
async fn stored_configs(store: &Store, configurator: &dyn Configurator) -> Option<Configs> {
    let stored = match store.setting(&settings_key(store)).await {
        Ok(stored) => stored.unwrap_or_default(),
        Err(error) => {
            tracing::warn!("cannot read the dashboard's settings, starting without them: {error}");
            String::new()
        }
    };
    let configured = configurator.configure(&stored).or_else(|problems| {
        let text: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        tracing::warn!("the dashboard's settings do not apply any more, starting without them: {}", text.join("; "));
        configurator.configure("")
    });
    configured.ok().map(|configured| Configs { tftp: configured.tftp, dhcp: configured.dhcp, http: configured.http })
}
