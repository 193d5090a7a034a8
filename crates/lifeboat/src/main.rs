//! `lifeboat`: the binary. It parses the command line, sets up logging and signals, and hands
//! over to `lifeboat-server`. Errors end here as one readable message and exit status 1.

mod activity;
mod cli;
mod clock;
mod dashboard;
mod dhcp_settings;
mod error_text;
mod host_directory;
mod lease_book;
mod lease_store;
mod passwd;
mod serve;
mod services;
mod settings;
mod transfer;
mod web_settings;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(*args).await,
            Command::Get(args) => transfer::get(args).await,
            Command::Put(args) => transfer::put(args).await,
            Command::Passwd(args) => passwd::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error_text::error_text(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `RUST_LOG` overrides the default `info` level.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
