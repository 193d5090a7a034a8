//! `lifeboat`: the binary. It parses the command line, sets up logging and signals, and hands
//! over to the application (`lifeboat-app`). Errors end here as one readable message and exit status 1.

mod cli;
mod dhcp_settings;
mod old_spellings;
mod passwd;
mod serve;
mod settings;
mod state_dir;
mod transfer;
mod web_settings;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use tracing_appender::non_blocking::WorkerGuard;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Flushes what is queued when main returns.
    let _log = init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            fail(&format!("cannot start the async runtime: {error}"));
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
            fail(&lifeboat_app::error_text(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// The last word on stderr; a stderr that is gone is no reason to panic.
fn fail(message: &str) {
    let _ = writeln!(std::io::stderr(), "error: {message}");
}

/// Logs go to stderr; `RUST_LOG` overrides the default `info` level. A thread of its own writes
/// them, so a log line never blocks a task (a pipe nobody reads) nor fails one (a pipe that
/// closed: `lifeboat serve 2>&1 | head`); lines that do not fit its queue are dropped.
fn init_logging() -> WorkerGuard {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .log_internal_errors(false)
        .init();
    guard
}
