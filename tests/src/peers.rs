//! Real peer TFTP servers (in.tftpd from tftpd-hpa, dnsmasq, atftpd) and the lifeboat server,
//! started in the foreground inside a namespace and waited for until they listen.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::netns::{Netns, wait_server_udp};
use crate::process::Child;

/// How long a server may take to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Where `.ci/run` unpacks atftpd (it conflicts with tftpd-hpa, so it is not installed).
pub const DEFAULT_ATFTPD: &str = "/opt/lifeboat-peers/atftpd/usr/sbin/atftpd";

/// Paths of the peer servers. Overrides: `LIFEBOAT_IN_TFTPD`, `LIFEBOAT_DNSMASQ`,
/// `LIFEBOAT_ATFTPD`.
#[derive(Debug, Clone)]
pub struct PeerServers {
    pub in_tftpd: PathBuf,
    pub dnsmasq: PathBuf,
    pub atftpd: PathBuf,
}

impl PeerServers {
    /// The paths, whether or not they exist.
    pub fn locate() -> PeerServers {
        let path = |var: &str, default: &str| {
            std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default))
        };
        PeerServers {
            in_tftpd: path("LIFEBOAT_IN_TFTPD", "/usr/sbin/in.tftpd"),
            dnsmasq: path("LIFEBOAT_DNSMASQ", "/usr/sbin/dnsmasq"),
            atftpd: path("LIFEBOAT_ATFTPD", DEFAULT_ATFTPD),
        }
    }

    /// [`PeerServers::locate`], then skip (or fail in CI) unless all three exist.
    pub fn require() -> Option<PeerServers> {
        let peers = PeerServers::locate();
        for path in [&peers.in_tftpd, &peers.dnsmasq, &peers.atftpd] {
            crate::require_program(path)?;
        }
        Some(peers)
    }

    /// `in.tftpd -L -u root -s ROOT -a ADDR:69 EXTRA...` (foreground; `-c` in `extra` allows
    /// creating files on upload, `-T usec` sets the retransmit timeout).
    pub fn spawn_tftpd_hpa(&self, ns: &Netns, root: &Path, addr: IpAddr, extra: &[&str]) -> Child {
        let mut argv: Vec<OsString> = vec![self.in_tftpd.clone().into()];
        argv.extend(["-L", "-u", "root", "-s"].map(OsString::from));
        argv.push(root.into());
        argv.push("-a".into());
        argv.push(socket_arg(addr, 69).into());
        argv.extend(extra.iter().map(OsString::from));
        start(ns, &argv, 69)
    }

    /// Flags that make dnsmasq a foreground program that touches nothing of the machine: no
    /// daemon, no config file, no DNS, no hosts or resolv files, its own interfaces only, root,
    /// no pid file, log to stderr. Every test that runs dnsmasq starts from these.
    pub const DNSMASQ_ISOLATED: [&'static str; 10] = [
        "--no-daemon",
        "--conf-file=/dev/null",
        "--port=0",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "--user=root",
        "--group=root",
        "--pid-file=",
        "--log-facility=-",
    ];

    /// dnsmasq as a TFTP-only server: no DNS (`--port=0`), no DHCP (no range), no config file,
    /// logging to stderr, bound to `addr` only.
    pub fn spawn_dnsmasq(&self, ns: &Netns, root: &Path, addr: IpAddr, extra: &[&str]) -> Child {
        let mut argv: Vec<OsString> = vec![self.dnsmasq.clone().into()];
        argv.extend(Self::DNSMASQ_ISOLATED.map(OsString::from));
        argv.push("--enable-tftp".into());
        argv.push(format!("--listen-address={addr}").into());
        let mut root_arg = OsString::from("--tftp-root=");
        root_arg.push(root);
        argv.push(root_arg);
        argv.extend(extra.iter().map(OsString::from));
        start(ns, &argv, 69)
    }

    /// atftpd in the foreground (`--daemon --no-fork`), bound to `addr`, logging to stdout.
    pub fn spawn_atftpd(&self, ns: &Netns, root: &Path, addr: IpAddr, extra: &[&str]) -> Child {
        let mut argv: Vec<OsString> = vec![self.atftpd.clone().into()];
        argv.extend(
            [
                "--daemon",
                "--no-fork",
                "--user",
                "root",
                "--group",
                "root",
                "--port",
                "69",
                "--logfile",
                "-",
                "--verbose=6",
            ]
            .map(OsString::from),
        );
        argv.push("--bind-address".into());
        argv.push(addr.to_string().into());
        argv.extend(extra.iter().map(OsString::from));
        argv.push(root.into());
        start(ns, &argv, 69)
    }
}

/// Starts `lifeboat serve --tftp-root ROOT --tftp-listen ADDR:69 EXTRA...` (IPv6 in brackets;
/// builds the binary on first use) and waits until it listens on UDP 69.
pub fn spawn_lifeboat_serve(ns: &Netns, root: &Path, addr: IpAddr, extra: &[&str]) -> Child {
    let mut argv: Vec<OsString> = vec![crate::lifeboat_bin().into(), "serve".into()];
    argv.push("--tftp-root".into());
    argv.push(root.into());
    argv.push("--tftp-listen".into());
    argv.push(socket_arg(addr, 69).into());
    argv.extend(extra.iter().map(OsString::from));
    start(ns, &argv, 69)
}

/// `lifeboat ARGS...` run to completion inside `ns` (e.g. `get` / `put`), killed after `timeout`.
pub fn run_lifeboat(ns: &Netns, args: &[&str], timeout: Duration) -> crate::Output {
    let mut argv: Vec<OsString> = vec![crate::lifeboat_bin().into()];
    argv.extend(args.iter().map(OsString::from));
    ns.run(&argv, timeout)
}

fn start(ns: &Netns, argv: &[OsString], port: u16) -> Child {
    let mut child = ns.spawn(argv);
    wait_server_udp(ns, &mut child, port, START_TIMEOUT);
    child
}

/// `ADDR:PORT`, with brackets around IPv6 addresses.
pub fn socket_arg(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}
