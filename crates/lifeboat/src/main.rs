//! `lifeboat`: the binary. It parses the command line, sets up logging and signals, and hands
//! over to the application (`lifeboat-app`). Errors end here as one readable message and exit status 1.

mod capabilities;
mod cli;
mod dashboard_settings;
mod dhcp_settings;
mod doctor;
mod environment;
mod health;
mod http_settings;
mod instance;
mod old_spellings;
mod passwd;
mod recover;
mod serve;
mod settings;
mod state_dir;
mod transfer;
mod web_settings;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};
use tracing_appender::non_blocking::WorkerGuard;

use crate::cli::{Cli, Command, LogFormat};

/// Threads of tokio's blocking pool at most (see where the runtime is built).
const MAX_BLOCKING_THREADS: usize = 32;

fn main() -> ExitCode {
    // First, while this is the only thread: the threads started later inherit them.
    let raise_problems = capabilities::raise_permitted();
    let cli = parse_command_line();
    let log = LogTarget::of(&cli.command);
    // Flushes what is queued when main returns.
    let _log = init_logging(cli.log_format, log);
    for problem in raise_problems {
        tracing::warn!("{problem}");
    }
    // The blocking pool reads the files of HTTP boot downloads (a hop per chunk) and runs the
    // few long jobs (a recovery's upload): a boot storm of hundreds of downloads would start a
    // thread each, and each thread's stack and allocator arena, at up to 512 by default.
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().max_blocking_threads(MAX_BLOCKING_THREADS).build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            fail(cli.log_format, log, &format!("cannot start the async runtime: {error}"));
            return ExitCode::FAILURE;
        }
    };
    let log_format = cli.log_format;
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(*args).await.map(|()| ExitCode::SUCCESS),
            Command::Get(args) => transfer::get(args).await.map(|()| ExitCode::SUCCESS),
            Command::Put(args) => transfer::put(args).await.map(|()| ExitCode::SUCCESS),
            Command::Passwd(args) => passwd::run(args).await.map(|()| ExitCode::SUCCESS),
            Command::Health(args) => health::run(args).await.map(health::Verdict::exit_code),
            Command::Doctor(args) => doctor::run(args).await,
            Command::Recover(args) => {
                let shutdown = tokio_util::sync::CancellationToken::new();
                match serve::watch_signals(shutdown.clone()) {
                    Ok(()) => recover::run(args, shutdown).await.map(|()| ExitCode::SUCCESS),
                    Err(error) => Err(error),
                }
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            fail(log_format, log, &lifeboat_app::error_text(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// The command line, with `serve`'s flags from the environment added (`environment.rs`). A
/// mistake ends here, as clap words it.
fn parse_command_line() -> Cli {
    let command = Cli::command();
    let matches = command.clone().get_matches();
    let serve = command.find_subcommand("serve").expect("the serve subcommand exists");
    let extra = match matches.subcommand_matches("serve") {
        Some(serve_matches) => environment::serve_flags(serve, serve_matches, |name| std::env::var_os(name)),
        None => Ok(Vec::new()),
    };
    let extra = match extra {
        Ok(extra) => extra,
        Err(problem) => {
            let _ = writeln!(std::io::stderr(), "error: {problem}");
            std::process::exit(2);
        }
    };
    let from_environment: Vec<String> =
        extra.iter().filter_map(|flag| flag.to_str()?.strip_prefix("--").map(str::to_owned)).collect();
    let matches =
        if extra.is_empty() { matches } else { command.clone().get_matches_from(std::env::args_os().chain(extra)) };
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    if let (Command::Serve(args), Some(serve_matches)) = (&mut cli.command, matches.subcommand_matches("serve")) {
        args.locks = locks(serve, serve_matches, &from_environment);
    }
    cli
}

/// The configuration keys that `serve`'s command line (`matches`) sets, each with the flag, or
/// the environment variable when the flag came from there (`from_environment`).
fn locks(serve: &clap::Command, matches: &clap::ArgMatches, from_environment: &[String]) -> Vec<lifeboat_app::Lock> {
    use clap::parser::ValueSource;
    serve
        .get_arguments()
        .filter(|arg| matches.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine))
        .filter_map(|arg| arg.get_long())
        .filter(|long| *long != "config")
        .map(|long| {
            let spelled = long;
            let long = old_spellings::new_flag(long).unwrap_or(long);
            let switch = long.strip_prefix("no-").unwrap_or(long);
            let by = if from_environment.iter().any(|f| f == spelled) {
                environment::variable(switch)
            } else {
                format!("--{spelled}")
            };
            lifeboat_app::Lock { key: dashboard_settings::key_of_flag(long), by }
        })
        .collect()
}

/// Where log lines go. The server logs to stdout, where container runtimes, systemd and log
/// collectors read a service's output; the client commands (`get`, `put`, `passwd`, `health`)
/// keep stdout for what they were asked for and log to stderr, like any command-line tool.
#[derive(Clone, Copy)]
enum LogTarget {
    Stdout,
    Stderr,
}

impl LogTarget {
    fn of(command: &Command) -> LogTarget {
        match command {
            Command::Serve(_) => LogTarget::Stdout,
            // `recover` talks to the person on stdout.
            Command::Get(_)
            | Command::Put(_)
            | Command::Passwd(_)
            | Command::Health(_)
            | Command::Recover(_)
            | Command::Doctor(_) => LogTarget::Stderr,
        }
    }

    fn stream(self) -> Box<dyn std::io::Write + Send> {
        match self {
            LogTarget::Stdout => Box::new(std::io::stdout()),
            LogTarget::Stderr => Box::new(std::io::stderr()),
        }
    }

    fn is_terminal(self) -> bool {
        use std::io::IsTerminal as _;
        match self {
            LogTarget::Stdout => std::io::stdout().is_terminal(),
            LogTarget::Stderr => std::io::stderr().is_terminal(),
        }
    }
}

/// The last word, in the shape of the log and where the log goes; a stream that is gone is no
/// reason to panic.
fn fail(format: LogFormat, target: LogTarget, message: &str) {
    let line = match format {
        LogFormat::Text => format!("error: {message}"),
        LogFormat::Json => serde_json::json!({
            "timestamp": humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
            "level": "ERROR",
            "fields": { "message": message },
            "target": "lifeboat",
        })
        .to_string(),
    };
    let _ = writeln!(target.stream(), "{line}");
}

/// Logs go to `target`; `RUST_LOG` overrides the default `info` level. A thread of its own writes
/// them, so a log line never blocks a task (a pipe nobody reads) nor fails one (a pipe that
/// closed: `lifeboat serve | head`); lines that do not fit its queue are dropped. With
/// `--log-format json` each line is one JSON object (time, level, message and fields).
fn init_logging(format: LogFormat, target: LogTarget) -> WorkerGuard {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking(target.stream());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).log_internal_errors(false);
    match format {
        LogFormat::Text => builder.with_ansi(target.is_terminal()).with_target(false).init(),
        LogFormat::Json => builder.json().with_current_span(false).with_span_list(false).init(),
    }
    guard
}
