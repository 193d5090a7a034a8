//! The DHCP server under test, started in the foreground in the server namespace, and its lease
//! database as the server itself records it (dnsmasq's lease file, lifeboat's SQLite database).
//!
//! Which server runs is chosen by [`SERVER_ENV`]; every test in `dhcp_real_clients.rs` runs
//! against whichever it names, unchanged.

use std::ffi::OsString;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{DhcpLink, DhcpScope};
use crate::netns::wait_server_udp;
use crate::peers::{PeerServers, START_TIMEOUT};
use crate::process::{Child, Output, tail};

/// Environment variable choosing the server: `dnsmasq` (the default for now) or `lifeboat`.
pub const SERVER_ENV: &str = "LIFEBOAT_DHCP_TESTS_SERVER";

/// The DHCP server implementation under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhcpServerKind {
    /// dnsmasq 2.90: the reference, to show the tests hold for a server nobody here wrote.
    Dnsmasq,
    /// `lifeboat serve --dhcp-interface ... --dhcp-range ...`, the default.
    Lifeboat,
}

impl DhcpServerKind {
    /// The server named by [`SERVER_ENV`]; lifeboat when unset. Panics on any other value, so a
    /// typo cannot silently test the wrong server.
    pub fn from_env() -> DhcpServerKind {
        match std::env::var(SERVER_ENV).as_deref() {
            Ok("dnsmasq") => DhcpServerKind::Dnsmasq,
            Err(std::env::VarError::NotPresent) | Ok("") | Ok("lifeboat") => DhcpServerKind::Lifeboat,
            other => panic!("{SERVER_ENV} must be `dnsmasq` or `lifeboat`, not {other:?}"),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DhcpServerKind::Dnsmasq => "dnsmasq",
            DhcpServerKind::Lifeboat => "lifeboat",
        }
    }

    /// Checks that the programs this server needs exist (skip, or fail in CI, otherwise).
    pub fn require(self) -> Option<()> {
        match self {
            DhcpServerKind::Dnsmasq => crate::require_program(PeerServers::locate().dnsmasq).map(drop),
            // The lease database is read with the sqlite3 shell.
            DhcpServerKind::Lifeboat => crate::require_program("sqlite3").map(drop),
        }
    }
}

/// One lease as the server's own database records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLease {
    pub address: Ipv4Addr,
    /// Lower-case, colon-separated.
    pub mac: String,
    /// Unix seconds; `None` for a lease that never ends (BOOTP).
    pub expires: Option<u64>,
}

/// The lease database could not be read or made no sense.
#[derive(Debug)]
pub enum LeaseDbError {
    Read { path: PathBuf, source: std::io::Error },
    Query { path: PathBuf, output: Box<Output> },
    Line { path: PathBuf, line: String },
}

impl fmt::Display for LeaseDbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaseDbError::Read { path, source } => write!(f, "cannot read lease file {}: {source}", path.display()),
            LeaseDbError::Query { path, output } => {
                write!(f, "cannot query lease database {} with sqlite3:\n{output}", path.display())
            }
            LeaseDbError::Line { path, line } => write!(f, "unexpected line in {}: {line:?}", path.display()),
        }
    }
}

impl std::error::Error for LeaseDbError {}

/// A running DHCP server; stopped (by process group) when dropped.
#[derive(Debug)]
pub struct DhcpServer {
    kind: DhcpServerKind,
    process: Child,
    /// The command line, to start it again on the same state.
    argv: Vec<OsString>,
    server_ns: String,
    lease_db: PathBuf,
    // Lease database and TFTP root; removed after the process is gone (fields drop in order).
    _state: tempfile::TempDir,
}

impl DhcpServer {
    /// Starts `kind` on the server end of `link` with `scope`, and waits until it listens on
    /// UDP port 67 in the server namespace (panicking with its output otherwise).
    pub fn start(kind: DhcpServerKind, link: &DhcpLink, scope: &DhcpScope) -> DhcpServer {
        let state = tempfile::Builder::new().prefix("lbt-dhcp-server-").tempdir().expect("server state folder");
        let (argv, lease_db) = match kind {
            DhcpServerKind::Dnsmasq => dnsmasq_argv(link, scope, state.path()),
            DhcpServerKind::Lifeboat => lifeboat_argv(link, scope, state.path()),
        };
        let mut process = link.server.spawn(&argv);
        wait_server_udp(&link.server, &mut process, 67, START_TIMEOUT);
        DhcpServer { kind, process, argv, server_ns: link.server.name().to_owned(), lease_db, _state: state }
    }

    /// Stops the server with SIGTERM (SIGKILL after `grace`) and starts it again with the same
    /// command line and lease database. Returns the output of the stopped run; its status is
    /// `None` if SIGTERM was not enough.
    pub fn restart(&mut self, link: &DhcpLink, grace: Duration) -> Output {
        assert_eq!(link.server.name(), self.server_ns, "restart on the link the server was started on");
        let stopped = self.process.terminate(grace);
        self.process = link.server.spawn(&self.argv);
        wait_server_udp(&link.server, &mut self.process, 67, START_TIMEOUT);
        stopped
    }

    pub fn kind(&self) -> DhcpServerKind {
        self.kind
    }

    /// The server's log so far (stdout and stderr, last few KiB), for failure messages.
    pub fn log(&self) -> String {
        format!(
            "--- {} server: {} ---\nstdout (tail):\n{}\nstderr (tail):\n{}",
            self.kind.label(),
            self.process.cmdline(),
            tail(&self.process.stdout()),
            tail(&self.process.stderr())
        )
    }

    /// `Err` with the server's output if it has exited.
    pub fn check_running(&mut self) -> Result<(), String> {
        if self.process.is_running() { Ok(()) } else { Err(format!("the server exited:\n{}", self.process.output())) }
    }

    /// Every lease in the server's database right now.
    pub fn leases(&self) -> Result<Vec<ServerLease>, LeaseDbError> {
        match self.kind {
            DhcpServerKind::Dnsmasq => read_dnsmasq_leases(&self.lease_db),
            DhcpServerKind::Lifeboat => read_lifeboat_leases(&self.lease_db),
        }
    }

    /// The lease held by `mac`, if any.
    pub fn lease_of(&self, mac: &str) -> Result<Option<ServerLease>, LeaseDbError> {
        Ok(self.leases()?.into_iter().find(|l| l.mac.eq_ignore_ascii_case(mac)))
    }

    /// Polls the lease database (servers write it a moment after they answer) until `done`
    /// accepts `mac`'s lease, for at most `timeout`. `Err` describes the last state seen.
    pub fn wait_lease(
        &self,
        mac: &str,
        timeout: Duration,
        done: impl Fn(Option<&ServerLease>) -> bool,
    ) -> Result<Option<ServerLease>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.lease_of(mac);
            if let Ok(lease) = &last
                && done(lease.as_ref())
            {
                return Ok(lease.clone());
            }
            if Instant::now() >= deadline {
                return Err(match last {
                    Ok(lease) => format!("after {timeout:?} the server's lease for {mac} is {lease:?}"),
                    Err(e) => format!("after {timeout:?}: {e}"),
                });
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

/// dnsmasq with DHCP only: no DNS (`--port=0`), no config file, no ping before offering, the
/// lease file in `state`, logging every exchange to stderr.
fn dnsmasq_argv(link: &DhcpLink, scope: &DhcpScope, state: &Path) -> (Vec<OsString>, PathBuf) {
    let lease_file = state.join("dnsmasq.leases");
    let mut argv: Vec<OsString> = vec![PeerServers::locate().dnsmasq.into()];
    argv.extend(PeerServers::DNSMASQ_ISOLATED.map(OsString::from));
    let fixed = ["--log-dhcp", "--no-ping", "--dhcp-authoritative"];
    argv.extend(fixed.map(OsString::from));
    argv.push(format!("--interface={}", link.server_dev).into());
    argv.push(format!("--dhcp-range={}", scope.range_arg()).into());
    argv.push(format!("--dhcp-boot={}", scope.boot_arg()).into());
    for (mac, addr) in &scope.reservations {
        argv.push(format!("--dhcp-host={mac},{addr}").into());
    }
    if scope.bootp_dynamic {
        argv.push("--bootp-dynamic".into());
    }
    let mut lease_arg = OsString::from("--dhcp-leasefile=");
    lease_arg.push(&lease_file);
    argv.push(lease_arg);
    (argv, lease_file)
}

/// `lifeboat serve` with the same scope (dnsmasq-compatible flags), its SQLite lease database in
/// `state`, and an empty TFTP root bound to the server address.
fn lifeboat_argv(link: &DhcpLink, scope: &DhcpScope, state: &Path) -> (Vec<OsString>, PathBuf) {
    let db = state.join("leases.sqlite");
    let tftp_root = state.join("tftp");
    std::fs::create_dir_all(&tftp_root).expect("create the TFTP root");
    let mut argv: Vec<OsString> = vec![crate::lifeboat_bin().into(), "serve".into()];
    argv.extend(["--tftp-root".into(), tftp_root.into_os_string()]);
    argv.extend(["--tftp-listen".into(), format!("{}:69", link.server_ip).into()]);
    argv.extend(["--dhcp-interface".into(), OsString::from(&link.server_dev)]);
    argv.extend(["--dhcp-range".into(), scope.range_arg().into()]);
    argv.extend(["--dhcp-boot".into(), scope.boot_arg().into()]);
    for (mac, addr) in &scope.reservations {
        argv.extend(["--dhcp-reservation".into(), format!("{mac},{addr}").into()]);
    }
    if scope.bootp_dynamic {
        argv.push("--dhcp-bootp-dynamic".into());
    }
    // The behaviour of the last release: no probe (the test owns the segment), and clients
    // without a lease here answered at once.
    argv.extend(["--dhcp-skip-probe".into(), "--dhcp-authoritative".into()]);
    argv.extend(["--db".into(), db.clone().into_os_string()]);
    (argv, db)
}

/// dnsmasq's lease file: `EXPIRY MAC ADDRESS HOSTNAME CLIENT-ID` per line, expiry 0 = never.
/// A file that does not exist yet holds no leases.
fn read_dnsmasq_leases(path: &Path) -> Result<Vec<ServerLease>, LeaseDbError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(LeaseDbError::Read { path: path.to_path_buf(), source }),
    };
    text.lines().filter(|l| !l.trim().is_empty()).map(|line| parse_dnsmasq_line(path, line)).collect()
}

fn parse_dnsmasq_line(path: &Path, line: &str) -> Result<ServerLease, LeaseDbError> {
    let bad = || LeaseDbError::Line { path: path.to_path_buf(), line: line.to_owned() };
    let mut words = line.split_whitespace();
    let expiry: u64 = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    let mac = words.next().ok_or_else(bad)?.to_ascii_lowercase();
    let address = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    Ok(ServerLease { address, mac, expires: (expiry != 0).then_some(expiry) })
}

/// lifeboat's `leases` table (migrations/sqlite/0001_leases.sql), read with the sqlite3 shell.
fn read_lifeboat_leases(path: &Path) -> Result<Vec<ServerLease>, LeaseDbError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let query = "SELECT address, lower(hex(mac)), ifnull(expires_at, 0) FROM leases ORDER BY address;";
    let mut command = crate::process::command(&["sqlite3", "-readonly", "-batch", "-noheader", "-separator", " "]);
    command.arg(path).arg(query);
    let out = crate::process::run(command, Duration::from_secs(10));
    if !out.success() {
        return Err(LeaseDbError::Query { path: path.to_path_buf(), output: Box::new(out) });
    }
    out.stdout.lines().filter(|l| !l.trim().is_empty()).map(|line| parse_lifeboat_line(path, line)).collect()
}

fn parse_lifeboat_line(path: &Path, line: &str) -> Result<ServerLease, LeaseDbError> {
    let bad = || LeaseDbError::Line { path: path.to_path_buf(), line: line.to_owned() };
    let mut words = line.split_whitespace();
    let address = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    let hex_mac = words.next().ok_or_else(bad)?;
    let bytes = hex::decode(hex_mac).map_err(|_| bad())?;
    let mac = bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    let expiry: i64 = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    Ok(ServerLease { address, mac, expires: u64::try_from(expiry).ok().filter(|e| *e != 0) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dnsmasq_lease_lines() {
        let path = Path::new("leases");
        let dhcp = parse_dnsmasq_line(path, "1795925147 1A:4f:fe:6e:44:5f 10.99.0.106 * 01:1a:4f:fe:6e:44:5f").unwrap();
        assert_eq!(
            dhcp,
            ServerLease {
                address: Ipv4Addr::new(10, 99, 0, 106),
                mac: "1a:4f:fe:6e:44:5f".into(),
                expires: Some(1_795_925_147)
            }
        );
        let bootp = parse_dnsmasq_line(path, "0 1a:4f:fe:6e:44:5f 10.99.0.106 * *").unwrap();
        assert_eq!(bootp.expires, None);
        assert!(parse_dnsmasq_line(path, "soon 1a:4f 10.0.0.1").is_err());
    }

    #[test]
    fn parses_lifeboat_rows() {
        let path = Path::new("db");
        let row = parse_lifeboat_line(path, "10.77.3.120 021b00000302 1795925147").unwrap();
        assert_eq!(row.mac, "02:1b:00:00:03:02");
        assert_eq!(row.expires, Some(1_795_925_147));
        assert_eq!(parse_lifeboat_line(path, "10.77.3.50 021b00000302 0").unwrap().expires, None);
        assert!(parse_lifeboat_line(path, "10.77.3.50 zz 0").is_err());
    }
}
