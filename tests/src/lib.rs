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
//! - [`files`]: [`sha256_file`], [`random_file`], [`crc32`].
//! - [`bin`]: [`lifeboat_bin`] builds the binary once per test process.
//! - [`dashboard`]: [`dashboard::DashboardApi`], the dashboard's JSON API over curl in a namespace.
//! - [`dhcp`]: DHCP/BOOTP topology, the server under test (dnsmasq or lifeboat), real DHCP clients.
//! - [`podman`]: the container image, built with docker/build-offline.sh and run under podman in namespaces.
//! - [`qemu`]: real PXE boots of a QEMU guest (iPXE NIC ROM) on a bridge, against dnsmasq or lifeboat.
//! - [`uboot`]: a QEMU guest running U-Boot at its prompt, typed into over its serial console.
//! - [`linux_boot`]: Debian's kernel and an initramfs made around a static busybox, whose `/init`
//!   prints a marker and its command line and powers off; booted directly by QEMU, or over the network.
//! - [`browser`]: headless Chromium under chromedriver inside a namespace (WebDriver).
//! - [`page`]: [`page::Page`], what the browser tests do with a page (wait, click, screenshot).
//! - [`capture`]: tcpdump in a namespace, its capture read back as DHCP messages.
//! - [`sockets`]: a UDP socket or a TCP connection inside a namespace, datagrams with a forged source,
//!   UDP counters.
//!
//! Every test that needs root is `#[ignore = "needs root …"]`, so a plain `cargo test` reports it
//! as ignored, with the reason, never as passed. `cargo test -- --include-ignored`, as root (what
//! `.ci/run` runs), runs them. Such a test starts with [`require_netns!`], which fails it, saying
//! what is missing, when namespaces or a peer program are unavailable: a test that was asked to
//! run either runs or fails.

pub mod bin;
pub mod browser;
pub mod capture;
pub mod clients;
pub mod dashboard;
pub mod dhcp;
pub mod files;
pub mod impair;
pub mod linux_boot;
pub mod netns;
pub mod page;
pub mod peers;
pub mod podman;
pub mod postgres;
pub mod process;
pub mod qemu;
pub mod sockets;
pub mod uboot;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use bin::{lifeboat_bin, workspace_root};
pub use browser::Browser;
pub use clients::{Client, Direction};
pub use files::{TestRng, crc32, dir_names, random_file, sha256_bytes, sha256_file};
pub use impair::{NetemStats, clear_netem, netem, netem_stats};
pub use netns::{Link, LinkOptions, NeighbourEntry, Netns, Pair, veth, wait_server_udp, wait_udp_listening};
pub use peers::{PeerServers, run_lifeboat, spawn_lifeboat_serve};
pub use process::{Child, Output};

/// Proof that network namespaces can be used here, returned by [`require_netns()`].
#[derive(Debug, Clone, Copy)]
pub struct NetnsSupport(());

/// Checks that this process can create network namespaces (root, `ip` present, `ip netns add`
/// works), and fails the test with the reason when it cannot. Checked once per process. (Returns
/// an `Option`, always `Some`, so callers can use `?`.)
pub fn require_netns() -> Option<NetnsSupport> {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    match CHECK.get_or_init(netns::probe_support) {
        Ok(()) => Some(NetnsSupport(())),
        Err(reason) => unavailable(reason),
    }
}

/// Fails the calling test unless network namespaces are usable (see [`require_netns()`]). Also accepts program names or paths that must exist, e.g.
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

/// Finds a program by absolute path or in `PATH`; fails the test when it is missing. (Returns an
/// `Option`, always `Some`, so callers can use `?`.)
pub fn require_program(program: impl AsRef<Path>) -> Option<PathBuf> {
    let program = program.as_ref();
    match find_program(program) {
        Some(path) => Some(path),
        None => {
            unavailable(&format!("program {} is not installed (.ci/run installs the test peers)", program.display()))
        }
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

/// Fails the test that needs what is missing. Tests that need root or peer programs are
/// `#[ignore]`d, so this runs only when someone asked for them (`--include-ignored`): reporting
/// them as passed without running them would be a lie.
pub fn unavailable(reason: &str) -> ! {
    panic!("cannot run this end-to-end test: {reason}")
}
