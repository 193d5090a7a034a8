//! `lifeboat get` and `lifeboat put`: the client commands, with a progress bar on a terminal
//! and a summary (size, time, rate, sha256) at the end. With `--wait`, they say that they are
//! waiting (attempts, time waited, the deadline) until the server answers. Ctrl-C stops a
//! transfer at once, and an unfinished download leaves no file.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use lifeboat_server::Progress;
use lifeboat_server::client::{self, ClientReport, ClientSettings};
use lifeboat_tftp::human_rate;
use lifeboat_tftp::{ClientOptions, Mode};
use tokio_util::sync::CancellationToken;

use crate::cli::{GetArgs, PutArgs, TransferArgs};
use crate::settings::parse_socket_addr;

pub(crate) async fn get(args: GetArgs) -> anyhow::Result<()> {
    let server = resolve(&args.server).await?;
    let local = match args.output {
        Some(path) => path,
        None => default_local_name(&args.remote)?,
    };
    let settings = settings(&args.transfer);
    let remote = args.remote.clone();
    let report = run(server, &settings, move |progress, cancel| {
        client::get(server, &remote, &local, &settings, progress, cancel)
    })
    .await?;
    summarize("received", &report)
}

pub(crate) async fn put(args: PutArgs) -> anyhow::Result<()> {
    let server = resolve(&args.server).await?;
    let remote = match args.remote {
        Some(remote) => remote,
        None => args
            .local
            .file_name()
            .and_then(|name| name.to_str())
            .map(str::to_owned)
            .with_context(|| format!("cannot derive a remote name from {}; give one", args.local.display()))?,
    };
    let settings = settings(&args.transfer);
    let local = args.local.clone();
    let report = run(server, &settings, move |progress, cancel| {
        client::put(server, &local, &remote, &settings, progress, cancel)
    })
    .await?;
    summarize("sent", &report)
}

/// Runs `transfer` on a blocking thread with the progress shown, until it ends or Ctrl-C
/// cancels it.
async fn run(
    server: SocketAddr,
    settings: &ClientSettings,
    transfer: impl FnOnce(&Progress, &CancellationToken) -> Result<ClientReport, client::ClientError> + Send + 'static,
) -> anyhow::Result<ClientReport> {
    let progress = Arc::new(Progress::default());
    let cancel = CancellationToken::new();
    let bar = show_progress(&progress, server, settings.wait);
    let interrupt = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        }
    });
    let result = {
        let (progress, cancel) = (Arc::clone(&progress), cancel.clone());
        tokio::task::spawn_blocking(move || transfer(&progress, &cancel)).await?
    };
    interrupt.abort();
    finish_progress(bar);
    Ok(result?)
}

fn settings(args: &TransferArgs) -> ClientSettings {
    let options = if args.blksize == 0 {
        ClientOptions::default()
    } else {
        ClientOptions { blksize: Some(args.blksize), windowsize: args.windowsize, tsize: Some(0), timeout: None }
    };
    let mode = if args.netascii { Mode::Netascii } else { Mode::Octet };
    ClientSettings { options, mode, wait: args.wait, retry_every: args.retry_every, ..ClientSettings::default() }
}

/// SERVER, SERVER:PORT or a host name (resolved; port 69 unless given).
async fn resolve(server: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = parse_socket_addr(server, 69) {
        return Ok(addr);
    }
    let with_port = if server.contains(':') { server.to_owned() } else { format!("{server}:69") };
    tokio::net::lookup_host(&with_port)
        .await
        .with_context(|| format!("cannot resolve the server address {server:?}"))?
        .next()
        .with_context(|| format!("the server name {server:?} has no address"))
}

fn default_local_name(remote: &str) -> anyhow::Result<PathBuf> {
    remote
        .rsplit(['/', '\\'])
        .find(|part| !part.is_empty() && *part != "." && *part != "..")
        .map(PathBuf::from)
        .with_context(|| format!("cannot derive a local file name from {remote:?}; pass -o LOCAL"))
}

/// A progress bar on a terminal, and before the first byte, while the client waits for the
/// server, how long it has waited. Without a terminal (a pipe, a log): a line when the wait
/// begins and one every 10 s.
pub(crate) fn show_progress(
    progress: &Arc<Progress>,
    server: SocketAddr,
    wait: Option<Duration>,
) -> Option<(ProgressBar, tokio::task::JoinHandle<()>)> {
    let begun = std::time::Instant::now();
    let waiting = move |progress: &Progress| {
        let deadline = wait.map_or_else(String::new, |w| format!(" of {}", humantime::format_duration(w)));
        format!(
            "waiting for {server} to answer: attempt {}, {}s{deadline}",
            progress.attempts(),
            begun.elapsed().as_secs()
        )
    };
    if !std::io::stderr().is_terminal() {
        if wait.is_some() {
            let progress = Arc::clone(progress);
            let task = tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(10));
                every.tick().await;
                eprintln!(
                    "waiting up to {} for {server} to answer…",
                    humantime::format_duration(wait.unwrap_or_default())
                );
                loop {
                    every.tick().await;
                    if progress.bytes() > 0 {
                        return;
                    }
                    eprintln!("{}", waiting(&progress));
                }
            });
            return Some((ProgressBar::hidden(), task));
        }
        return None;
    }
    let bar = ProgressBar::new(0);
    let style = |template| ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    let (ticker, progress) = (bar.clone(), Arc::clone(progress));
    let task = tokio::spawn(async move {
        let mut started = false;
        loop {
            if !started && progress.bytes() == 0 && wait.is_some() {
                ticker.set_style(style("{spinner} {msg}"));
                ticker.set_message(waiting(&progress));
                ticker.tick();
            } else {
                if !started {
                    ticker.set_style(style("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"));
                    started = true;
                }
                if let Some(total) = progress.total() {
                    ticker.set_length(total);
                }
                ticker.set_position(progress.bytes());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Some((bar, task))
}

pub(crate) fn finish_progress(bar: Option<(ProgressBar, tokio::task::JoinHandle<()>)>) {
    if let Some((bar, task)) = bar {
        task.abort();
        bar.finish_and_clear();
    }
}

fn summarize(verb: &str, report: &ClientReport) -> anyhow::Result<()> {
    let written = writeln!(
        std::io::stdout(),
        "{verb} {} bytes in {:.2} s ({}), blksize {}, window {}, {} retransmits\nsha256 {}  {}",
        report.bytes,
        report.duration.as_secs_f64(),
        human_rate(report.bytes as f64 / report.duration.as_secs_f64().max(1e-6)),
        report.params.blksize,
        report.params.windowsize,
        report.retransmits,
        report.sha256,
        report.local.display(),
    );
    match written {
        // A closed pipe (`| head`) is the reader's choice, not a failure of the transfer.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
