//! What the in-process server tests share: a server on loopback on a port the system picks,
//! and the client calls that talk to it.

#![allow(dead_code, unreachable_pub)]

pub mod swarm;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lifeboat_server::client::{self, ClientError, ClientSettings};
use lifeboat_server::{AllowList, Progress, TftpConfig, TftpObserver, TftpServer, Unobserved, UploadConfig};
use lifeboat_tftp::{ClientOptions, ErrorCode, Mode, Timing, TransferError};
use tokio_util::sync::CancellationToken;

pub struct Running {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
    pub dir: tempfile::TempDir,
}

impl Running {
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task).await.expect("server did not stop").unwrap();
    }
}

/// A server on 127.0.0.1 with loopback allowed, after `adjust` changed its configuration.
pub fn start(adjust: impl FnOnce(&mut TftpConfig)) -> Running {
    start_observed(adjust, Arc::new(Unobserved))
}

pub fn start_observed(adjust: impl FnOnce(&mut TftpConfig), observer: Arc<dyn TftpObserver>) -> Running {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("root")).unwrap();
    let mut config = TftpConfig::new(dir.path().join("root"));
    config.listen = vec!["127.0.0.1:0".parse().unwrap()];
    config.allow = AllowList::new(vec!["127.0.0.0/8".parse().unwrap()]);
    config.timing = Timing { max_retries: 3, ..Timing::default() };
    adjust(&mut config);
    let server = TftpServer::bind_observed(config, observer).unwrap();
    let addr = server.local_addrs()[0];
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.run(shutdown.clone()));
    Running { addr, shutdown, task, dir }
}

pub fn enable_uploads(dir: &Path, overwrite: bool, max_size: u64) -> impl FnOnce(&mut TftpConfig) {
    let dir = dir.to_owned();
    move |config| config.upload = Some(UploadConfig { dir, max_size, overwrite })
}

pub fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

pub fn settings(blksize: Option<u16>, windowsize: Option<u16>) -> ClientSettings {
    ClientSettings {
        options: ClientOptions { blksize, windowsize, tsize: Some(0), timeout: None },
        mode: Mode::Octet,
        timing: Timing { max_retries: 3, ..Timing::default() },
        ..ClientSettings::default()
    }
}

pub async fn fetch(server: &Running, name: &str, settings: &ClientSettings) -> Result<Vec<u8>, ClientError> {
    static FETCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = FETCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out = server.dir.path().join(format!("fetched-{n}"));
    let (addr, name, settings) = (server.addr, name.to_owned(), *settings);
    let got = out.clone();
    tokio::task::spawn_blocking(move || {
        client::get(addr, &name, &got, &settings, &Progress::default(), &CancellationToken::new())
    })
    .await
    .unwrap()?;
    Ok(std::fs::read(out).unwrap())
}

pub fn peer_error(result: Result<Vec<u8>, ClientError>) -> (ErrorCode, String) {
    match result {
        Err(ClientError::Refused { error: TransferError::Peer { code, message }, .. }) => (code, message),
        other => panic!("expected an ERROR from the server, got {other:?}"),
    }
}

pub async fn upload(server: &Running, local: &Path, name: &str, s: &ClientSettings) -> Result<(), ClientError> {
    let (addr, local, name, s) = (server.addr, local.to_owned(), name.to_owned(), *s);
    tokio::task::spawn_blocking(move || {
        client::put(addr, &local, &name, &s, &Progress::default(), &CancellationToken::new())
    })
    .await
    .unwrap()
    .map(drop)
}
