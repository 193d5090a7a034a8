//! `lifeboat serve`: open the database, start the configured servers and the dashboard, and stop
//! them cleanly on SIGINT or SIGTERM (lifeboat may be PID 1 in a container, where nobody else
//! handles signals).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use lifeboat_store::{LeaseWriter, LogWriter, Pruner, Store};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::activity::Activity;
use crate::cli::ServeArgs;
use crate::dashboard::{self, Lifeboat};
use crate::host_directory::HostDirectory;
use crate::lease_book::LeaseBook;
use crate::services::{Parts, Services};
use crate::{settings, state_dir};

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => settings::read_file(path)?,
        None => settings::FileConfig::default(),
    };
    let config = settings::serve_config(file, &args)?;
    let shutdown = CancellationToken::new();
    watch_signals(shutdown.clone())?;

    let db = state_dir::given_or_default(config.db)?;
    tracing::info!("database: {}", db.display());
    let store = Store::open(&db).await?;
    let directory = Arc::new(HostDirectory::default());
    directory.reload(&store).await?;
    let log = LogWriter::spawn(store.clone());
    let pruner = Pruner::spawn(store.clone(), config.retention, shutdown.clone());
    let book = Arc::new(LeaseBook::default());
    // The server reports files under the root as it resolved it; the history keeps them relative.
    let root = config.tftp.as_ref().map(|tftp| std::fs::canonicalize(&tftp.root).unwrap_or_else(|_| tftp.root.clone()));
    let activity = Arc::new(Activity::new(
        root.clone().unwrap_or_else(PathBuf::new),
        log.clone(),
        Arc::clone(&book),
        Arc::clone(&directory),
    ));
    let leases = LeaseWriter::spawn(store.clone());
    let parts = Arc::new(Parts { store, leases: leases.clone(), log: log.clone(), book, directory, activity });
    let services = Arc::new(Services::new(config.tftp, config.dhcp, Arc::clone(&parts)));

    // Everything the configuration asks for starts, or nothing does: a mistake stops start-up.
    let started = start_configured(&services).await;
    let dashboard = match (&started, &config.web) {
        (Ok(()), Some(web)) => {
            let lifeboat = Arc::new(Lifeboat { services: Arc::clone(&services), parts: Arc::clone(&parts) });
            dashboard::start(web, root.as_deref(), config.retention, lifeboat, shutdown.clone()).await.map(Some)
        }
        (Ok(()), None) => Ok(None),
        (Err(_), _) => Ok(None),
    };
    let outcome = match (started, dashboard) {
        (Ok(()), Ok(dashboard)) => {
            if let Some(idle) = config.stop_when_idle {
                tokio::spawn(Arc::clone(&services).stop_when_idle(idle, shutdown.clone()));
            }
            shutdown.cancelled().await;
            if let Some(dashboard) = dashboard {
                // It ends within its grace period once `shutdown` is cancelled.
                let _ = dashboard.await;
            }
            Ok(())
        }
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    services.stop_all("lifeboat stopping").await;
    // A prune may be halfway through a large backlog: its open transaction is rolled back.
    pruner.abort();
    let _ = pruner.await;
    // Replies waiting for their lease are answered or dropped; queued leases and records are
    // committed.
    leases.shutdown().await;
    log.shutdown().await;
    outcome
}

async fn start_configured(services: &Services) -> anyhow::Result<()> {
    for service in services.configured() {
        services.start(service, "command line").await.with_context(|| format!("cannot start the {service} server"))?;
    }
    Ok(())
}

/// The first SIGINT or SIGTERM cancels `shutdown`; a second one exits at once. The shutdown is
/// triggered before anything is said about it, so nothing that goes wrong with the log can
/// keep it from happening.
fn watch_signals(shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        shutdown.cancel();
        tracing::info!("{name} received, stopping");
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        std::process::exit(130);
    });
    Ok(())
}
