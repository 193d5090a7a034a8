//! Command lines of the real TFTP clients, as they are really used.
//!
//! Each client is run inside a namespace with a hard timeout; the caller checks the exit status
//! and compares SHA-256 of what arrived.

use std::net::IpAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use crate::netns::Netns;
use crate::process::Output;

/// A real TFTP client and the options it is asked to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// tftp-hpa's `tftp` (no options at all: 512-byte blocks, lock-step).
    TftpHpa,
    /// `curl --connect-timeout 5 tftp://...` (always sends tsize, blksize and `timeout 1`).
    /// `blksize: None` uses curl's default (512, still sent as an option).
    Curl { blksize: Option<u16> },
    /// `atftp` with optional `--option "blksize N"` / `--option "windowsize N"`.
    Atftp { blksize: Option<u16>, windowsize: Option<u16> },
    /// `busybox tftp`, optionally with `-b SIZE` (which makes it send the blksize option).
    Busybox { blksize: Option<u16> },
}

impl Client {
    /// The program this client needs (for [`crate::require_program`]).
    pub fn program(&self) -> &'static str {
        match self {
            Client::TftpHpa => "tftp",
            Client::Curl { .. } => "curl",
            Client::Atftp { .. } => "atftp",
            Client::Busybox { .. } => "busybox",
        }
    }

    /// Short label for messages, e.g. `atftp(blksize=1468,windowsize=16)`.
    pub fn label(&self) -> String {
        fn opts(pairs: &[(&str, Option<u16>)]) -> String {
            let set: Vec<String> = pairs.iter().filter_map(|(k, v)| v.map(|v| format!("{k}={v}"))).collect();
            if set.is_empty() { String::new() } else { format!("({})", set.join(",")) }
        }
        match *self {
            Client::TftpHpa => "tftp-hpa".to_owned(),
            Client::Curl { blksize } => format!("curl{}", opts(&[("blksize", blksize)])),
            Client::Atftp { blksize, windowsize } => {
                format!("atftp{}", opts(&[("blksize", blksize), ("windowsize", windowsize)]))
            }
            Client::Busybox { blksize } => format!("busybox{}", opts(&[("blksize", blksize)])),
        }
    }

    /// Argument vector that downloads `remote` from `server` (port 69) into `local`.
    pub fn get_argv(&self, server: IpAddr, remote: &str, local: &Path) -> Vec<String> {
        self.argv(server, 69, remote, local, Direction::Get)
    }

    /// Argument vector that uploads `local` to `server` (port 69) as `remote`.
    pub fn put_argv(&self, server: IpAddr, remote: &str, local: &Path) -> Vec<String> {
        self.argv(server, 69, remote, local, Direction::Put)
    }

    /// Argument vector for a transfer to or from `server:port`.
    pub fn argv(&self, server: IpAddr, port: u16, remote: &str, local: &Path, direction: Direction) -> Vec<String> {
        let local = local.to_string_lossy().into_owned();
        let host = server.to_string();
        let port_s = port.to_string();
        let mut argv: Vec<String> = Vec::new();
        match *self {
            Client::TftpHpa => {
                let action = match direction {
                    Direction::Get => "get",
                    Direction::Put => "put",
                };
                let (first, second) = match direction {
                    Direction::Get => (remote.to_owned(), local),
                    Direction::Put => (local, remote.to_owned()),
                };
                argv.extend(["tftp".into(), "-m".into(), "binary".into(), host, port_s]);
                argv.extend(["-c".into(), action.into(), first, second]);
            }
            Client::Curl { blksize } => {
                let url_host = match server {
                    IpAddr::V4(_) => host,
                    IpAddr::V6(_) => format!("[{host}]"),
                };
                let url = format!("tftp://{url_host}:{port}/{remote}");
                // A short connect timeout makes curl ask for `timeout 1` (its default asks
                // for several seconds), so a lost packet costs one second, not six.
                argv.extend(["curl", "-sS", "--connect-timeout", "5", "--max-time", "300"].map(String::from));
                if let Some(b) = blksize {
                    argv.extend(["--tftp-blksize".into(), b.to_string()]);
                }
                match direction {
                    Direction::Get => argv.extend(["-o".into(), local, url]),
                    Direction::Put => argv.extend(["-T".into(), local, url]),
                }
            }
            Client::Atftp { blksize, windowsize } => {
                argv.push("atftp".into());
                argv.push(
                    match direction {
                        Direction::Get => "--get",
                        Direction::Put => "--put",
                    }
                    .into(),
                );
                argv.extend(["-r".into(), remote.to_owned(), "-l".into(), local]);
                if let Some(b) = blksize {
                    argv.extend(["--option".into(), format!("blksize {b}")]);
                }
                if let Some(w) = windowsize {
                    argv.extend(["--option".into(), format!("windowsize {w}")]);
                }
                argv.extend([host, port_s]);
            }
            Client::Busybox { blksize } => {
                argv.extend(["busybox".into(), "tftp".into()]);
                argv.push(
                    match direction {
                        Direction::Get => "-g",
                        Direction::Put => "-p",
                    }
                    .into(),
                );
                argv.extend(["-r".into(), remote.to_owned(), "-l".into(), local]);
                if let Some(b) = blksize {
                    argv.extend(["-b".into(), b.to_string()]);
                }
                argv.extend([host, port_s]);
            }
        }
        argv
    }

    /// Downloads `remote` into `local` inside `ns`, killed after `timeout`. The caller checks
    /// the result (`assert_success`) and the file's SHA-256.
    pub fn get(&self, ns: &Netns, server: IpAddr, remote: &str, local: &Path, timeout: Duration) -> Output {
        self.checked(ns.run(&self.get_argv(server, remote, local), timeout))
    }

    /// Uploads `local` as `remote` inside `ns`, killed after `timeout`.
    pub fn put(&self, ns: &Netns, server: IpAddr, remote: &str, local: &Path, timeout: Duration) -> Output {
        self.checked(ns.run(&self.put_argv(server, remote, local), timeout))
    }

    /// tftp-hpa's client exits with 0 even after an ERROR packet or a timeout and only says so
    /// on its output; turn that into exit status 1 so `Output::success` means what it says.
    pub fn checked(&self, mut out: Output) -> Output {
        if *self == Client::TftpHpa && out.success() {
            let text = format!("{}{}", out.stdout, out.stderr);
            if text.contains("Error code") || text.contains("Transfer timed out") {
                out.status = Some(ExitStatus::from_raw(1 << 8));
                out.stderr.push_str("\n(harness: tftp-hpa printed an error but exited with 0)\n");
            }
        }
        out
    }

    /// Every client in its most common configuration: tftp-hpa, curl at blksize 1468, atftp at
    /// blksize 1468, busybox.
    pub fn common() -> [Client; 4] {
        [
            Client::TftpHpa,
            Client::Curl { blksize: Some(1468) },
            Client::Atftp { blksize: Some(1468), windowsize: None },
            Client::Busybox { blksize: None },
        ]
    }
}

/// Which way a transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Get,
    Put,
}
