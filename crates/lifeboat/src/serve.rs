//! `lifeboat serve`: start the servers and stop them cleanly on SIGINT or SIGTERM (lifeboat
//! may be PID 1 in a container, where nobody else handles signals).

use anyhow::Context as _;
use lifeboat_server::TftpServer;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::cli::ServeArgs;
use crate::settings;

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => settings::read_file(path)?,
        None => settings::FileConfig::default(),
    };
    let config = settings::tftp_config(file, &args)?;
    let server = TftpServer::bind(config).context("cannot start the TFTP server")?;
    let shutdown = CancellationToken::new();
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let stopper = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received, stopping"),
            _ = interrupt.recv() => tracing::info!("SIGINT received, stopping"),
        }
        stopper.cancel();
        // A second signal means: stop now.
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        std::process::exit(130);
    });
    server.run(shutdown).await;
    Ok(())
}
