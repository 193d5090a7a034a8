//! `lifeboat serve`: start the servers and stop them cleanly on SIGINT or SIGTERM (lifeboat
//! may be PID 1 in a container, where nobody else handles signals).

use std::sync::Arc;

use anyhow::Context as _;
use lifeboat_server::{DhcpServer, TftpServer};
use lifeboat_store::{LeaseWriter, Store};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cli::ServeArgs;
use crate::lease_store::{StoreSink, from_stored};
use crate::settings;

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => settings::read_file(path)?,
        None => settings::FileConfig::default(),
    };
    let config = settings::serve_config(file, &args)?;
    let shutdown = CancellationToken::new();
    watch_signals(shutdown.clone())?;

    // Bind everything before serving anything, so a mistake stops start-up as a whole.
    let tftp = match config.tftp {
        Some(tftp) => Some(TftpServer::bind(tftp).context("cannot start the TFTP server")?),
        None => None,
    };
    let mut writer = None;
    let dhcp = match config.dhcp {
        Some(dhcp) => {
            let store = Store::open(&config.db).await?;
            let leases = store.load_leases().await?;
            tracing::info!("{} leases loaded from {}", leases.len(), config.db.display());
            let lease_writer = LeaseWriter::spawn(store);
            writer = Some(lease_writer.clone());
            let sink = Arc::new(StoreSink(lease_writer));
            let leases = leases.into_iter().map(from_stored).collect();
            Some(DhcpServer::start(dhcp, leases, sink).await.context("cannot start the DHCP server")?)
        }
        None => None,
    };

    let tasks = TaskTracker::new();
    if let Some(server) = tftp {
        tasks.spawn(server.run(shutdown.clone()));
    }
    if let Some(server) = dhcp {
        tasks.spawn(server.run(shutdown.clone()));
    }
    tasks.close();
    tasks.wait().await;
    if let Some(writer) = writer {
        // Replies waiting for their lease are answered or dropped; queued leases are committed.
        writer.shutdown().await;
    }
    Ok(())
}

/// The first SIGINT or SIGTERM cancels `shutdown`; a second one exits at once.
fn watch_signals(shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received, stopping"),
            _ = interrupt.recv() => tracing::info!("SIGINT received, stopping"),
        }
        shutdown.cancel();
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        std::process::exit(130);
    });
    Ok(())
}
