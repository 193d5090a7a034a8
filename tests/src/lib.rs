//! End-to-end test harness for lifeboat.
//!
//! Tests in `tests/tests/*.rs` run the real `lifeboat` binary, real TFTP clients (tftp-hpa, curl,
//! atftp, busybox) and real peer servers (in.tftpd, dnsmasq, atftpd) inside network namespaces that
//! the harness creates and removes.
//!
//! **Invariant:** traffic only ever flows between namespaces this process created, over veth pairs
//! whose addresses exist only inside them. The harness never touches the machine's own interfaces,
//! every wait is bounded, and everything it starts is stopped by PID (never by name).
//!
//! Map:
//! - [`netns`]: [`Netns`] guard (create, run commands in, delete) and [`Pair`] / [`veth`] links.
//! - [`process`]: [`Child`] guard (killed by process group on drop) and [`Output`] of bounded runs.
//! - [`impair`]: [`netem`] loss / duplication / delay / reordering on a device.
//! - [`peers`]: [`PeerServers`]: in.tftpd, dnsmasq and the private atftpd.
//! - [`clients`]: [`Client`]: command lines of the real TFTP clients.
//! - [`files`]: [`sha256_file`], [`random_file`].
//! - [`bin`]: [`lifeboat_bin`] builds the binary once per test process.
//! - [`dashboard`]: [`dashboard::DashboardApi`], the dashboard's JSON API over curl in a namespace.
//! - [`dhcp`]: DHCP/BOOTP topology, the server under test (dnsmasq or lifeboat), real DHCP clients.
//! - [`qemu`]: real PXE boots of a QEMU guest (iPXE NIC ROM) on a bridge, against dnsmasq or lifeboat.
//! - [`browser`]: headless Chromium under chromedriver inside a namespace (WebDriver).
//! - [`sockets`]: a UDP socket inside a namespace, datagrams with a forged source, UDP counters.
//!
//! A test starts with [`require_netns!`], which returns early (printing `skipped: reason`) for an
//! unprivileged user and fails instead when the `CI` environment variable is set.

pub mod bin;
pub mod browser;
pub mod clients;
pub mod dashboard;
pub mod dhcp;
pub mod files;
pub mod impair;
pub mod netns;
pub mod peers;
pub mod process;
pub mod qemu;
pub mod sockets;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use bin::{lifeboat_bin, workspace_root};
pub use browser::Browser;
pub use clients::{Client, Direction};
pub use files::{TestRng, dir_names, random_file, sha256_bytes, sha256_file};
pub use impair::{NetemStats, clear_netem, netem, netem_stats};
pub use netns::{Link, LinkOptions, Netns, Pair, veth, wait_server_udp, wait_udp_listening};
pub use peers::{PeerServers, run_lifeboat, spawn_lifeboat_serve};
pub use process::{Child, Output};

/// Proof that network namespaces can be used here, returned by [`require_netns()`].
#[derive(Debug, Clone, Copy)]
pub struct NetnsSupport(());

/// Checks that this process can create network namespaces (root, `ip` present, `ip netns add`
/// works). Returns `None` after printing `skipped: <reason>` to stderr when it cannot, or panics
/// with the reason when the `CI` environment variable is set. Checked once per process.
pub fn require_netns() -> Option<NetnsSupport> {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    match CHECK.get_or_init(netns::probe_support) {
        Ok(()) => Some(NetnsSupport(())),
        Err(reason) => skip(reason),
    }
}

/// Returns early from the calling test unless network namespaces are usable (see
/// [`require_netns()`]). Also accepts program names or paths that must exist, e.g.
/// `require_netns!("curl", "/usr/sbin/in.tftpd");`.
#[macro_export]
macro_rules! require_netns {
    () => {
        if $crate::require_netns().is_none() {
            return;
        }
    };
    ($($program:expr),+ $(,)?) => {
        if $crate::require_netns().is_none() {
            return;
        }
        $(
            if $crate::require_program($program).is_none() {
                return;
            }
        )+
    };
}

/// Finds a program by absolute path or in `PATH`. Missing: skip (print reason, `None`), or panic
/// when `CI` is set.
pub fn require_program(program: impl AsRef<Path>) -> Option<PathBuf> {
    let program = program.as_ref();
    match find_program(program) {
        Some(path) => Some(path),
        None => skip(&format!("program {} is not installed (.ci/run installs the test peers)", program.display())),
    }
}

/// Looks a program up like a shell would, without running it.
pub fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// True when the `CI` environment variable is set (to anything but the empty string).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// The skip-or-fail rule: in CI a missing prerequisite is a failure, elsewhere a visible skip.
pub fn skip<T>(reason: &str) -> Option<T> {
    if in_ci() {
        panic!("cannot run this end-to-end test: {reason} (CI is set, so this is a failure)");
    }
    // Straight to the stderr handle: libtest captures `eprintln!` of passing tests, and a skip
    // must stay visible.
    let _ = writeln!(std::io::stderr(), "skipped: {reason}");
    None
}
