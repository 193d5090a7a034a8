//! `lifeboat serve`: read the configuration, open the database, run the application until
//! SIGINT or SIGTERM (lifeboat may be PID 1 in a container, where nobody else handles signals).

use std::sync::Arc;

use anyhow::Context as _;
use lifeboat_app::{App, AppConfig, SystemBinder};
use lifeboat_clock::SystemClock;
use lifeboat_store::Store;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::cli::ServeArgs;
use crate::dashboard_settings::Layers;
use crate::instance::instance_or_host_name;
use crate::{capabilities, settings, state_dir};

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let file_table = match &args.config {
        Some(path) => settings::read_table(path)?,
        None => toml::Table::new(),
    };
    let file = match &args.config {
        Some(path) => settings::read_file(path)?,
        None => settings::FileConfig::default(),
    };
    let config = settings::serve_config(file, &args)?;
    // The dashboard's settings go between the file and the command line.
    let layers = Layers { file: file_table, locks: args.locks.clone(), args };
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    capabilities::report_missing(&config);
    let shutdown = CancellationToken::new();
    watch_signals(shutdown.clone())?;

    let db = state_dir::given_or_default(config.db)?;
    let instance = instance_or_host_name(config.instance);
    tracing::info!("database: {db}; this lifeboat is instance {instance}");
    let store = Store::connect(&db).await?.for_instance(&instance);
    let app_config = AppConfig {
        tftp: config.tftp,
        dhcp: config.dhcp,
        http: config.http,
        web: config.web,
        stop_when_idle: config.stop_when_idle,
        once: config.once,
        announce: config.announce,
        claims: Vec::new(),
        retention: config.retention,
        settings: Some(Arc::new(layers)),
    };
    let app = App::start(app_config, store, Arc::new(SystemBinder), Arc::new(SystemClock), shutdown).await?;
    app.wait().await;
    Ok(())
}

/// The first SIGINT or SIGTERM cancels `shutdown`; a second one exits at once. The shutdown is
/// triggered before anything is said about it, so nothing that goes wrong with the log can
/// keep it from happening.
pub(crate) fn watch_signals(shutdown: CancellationToken) -> anyhow::Result<()> {
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
