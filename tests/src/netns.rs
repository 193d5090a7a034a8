//! Network namespaces and the veth links between them.
//!
//! Names are `lbt-<pid>-<n>`, unique per process. Dropping a [`Netns`] stops its impairment
//! helpers, kills every process still inside the namespace by PID (`ip netns pids`), and deletes
//! the namespace by name. Namespaces left behind by an earlier test process that no longer exists
//! are removed the same way when the first namespace of a run is created.

use std::ffi::OsStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::impair::Impairments;
use crate::process::{self, Child, Output};

/// Limit for the short administrative commands (`ip`, `tc`, `ss`, `nft`).
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

const PREFIX: &str = "lbt-";

static NEXT_NS: AtomicU32 = AtomicU32::new(1);
static NEXT_SUBNET: AtomicU32 = AtomicU32::new(0);

/// What `ip neigh` says of one address: its MAC and its state (`REACHABLE`, `STALE`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourEntry {
    pub mac: String,
    pub state: String,
}

/// A network namespace owned by this test; deleted on drop. Its `lo` is up.
pub struct Netns {
    name: String,
    pub(crate) impairments: Mutex<Impairments>,
    /// The working directory of every command run inside, where lifeboat's database goes unless
    /// a test says otherwise (`LIFEBOAT_DB`): it goes away with the namespace.
    scratch: tempfile::TempDir,
}

impl std::fmt::Debug for Netns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Netns").field(&self.name).finish()
    }
}

impl Netns {
    /// Creates `lbt-<pid>-<n>` and brings its loopback up. Panics on failure (call
    /// [`crate::require_netns()`] first).
    pub fn new() -> Netns {
        remove_stale_namespaces();
        let n = NEXT_NS.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{}-{n}", std::process::id());
        admin(&["ip", "netns", "add", &name]);
        let scratch = tempfile::tempdir().expect("a scratch directory for the namespace");
        let ns = Netns { name, impairments: Mutex::new(Impairments::default()), scratch };
        admin(&["ip", "-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace's scratch directory (the working directory of commands run inside).
    pub fn scratch(&self) -> &std::path::Path {
        self.scratch.path()
    }

    /// `ip netns exec NAME argv...` as a [`Command`], ready for env vars or a working directory.
    pub fn command<S: AsRef<OsStr>>(&self, argv: &[S]) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]);
        command.args(argv);
        command.current_dir(self.scratch.path());
        // Without it lifeboat would share /var/lib/lifeboat with every other test (and the machine).
        command.env("LIFEBOAT_DB", self.scratch.path().join("lifeboat.db"));
        command
    }

    /// Starts `argv` inside the namespace; the guard kills it (by process group) on drop.
    pub fn spawn<S: AsRef<OsStr>>(&self, argv: &[S]) -> Child {
        Child::spawn(self.command(argv))
    }

    /// Like [`Netns::spawn`], with extra environment variables.
    pub fn spawn_env<S: AsRef<OsStr>>(&self, argv: &[S], env: &[(&str, &str)]) -> Child {
        let mut command = self.command(argv);
        command.envs(env.iter().copied());
        Child::spawn(command)
    }

    /// Runs `argv` inside the namespace to completion, killing it after `timeout`. Does not
    /// check the exit status.
    pub fn run<S: AsRef<OsStr>>(&self, argv: &[S], timeout: Duration) -> Output {
        process::run(self.command(argv), timeout)
    }

    /// Runs `argv` inside the namespace and panics with diagnostics unless it exits with 0
    /// within `timeout`.
    #[track_caller]
    pub fn run_ok<S: AsRef<OsStr>>(&self, argv: &[S], timeout: Duration) -> Output {
        let out = self.run(argv, timeout);
        out.assert_success();
        out
    }

    /// PIDs of every process whose network namespace is this one.
    pub fn pids(&self) -> Vec<i32> {
        let out = process::run(process::command(&["ip", "netns", "pids", &self.name]), ADMIN_TIMEOUT);
        out.stdout.split_whitespace().filter_map(|pid| pid.parse().ok()).collect()
    }

    /// The neighbour table's entry for `address` on `dev`, if it has one.
    pub fn neighbour(&self, dev: &str, address: IpAddr) -> Option<NeighbourEntry> {
        let shown = address.to_string();
        let out = self.run_ok(&["ip", "neigh", "show", &shown, "dev", dev], ADMIN_TIMEOUT);
        // `10.77.1.1 lladdr 02:aa:00:00:00:01 REACHABLE` (the address and dev are left out when
        // asked for; older iproute2 keep them).
        let words: Vec<&str> = out.stdout.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "lladdr")?;
        let mac = (*words.get(at + 1)?).to_owned();
        let state = (*words.last()?).to_owned();
        Some(NeighbourEntry { mac, state })
    }

    /// Applies netem-style impairment to `dev` in this namespace; see [`crate::netem`].
    pub fn netem(&self, dev: &str, spec: &str) {
        crate::impair::apply(self, dev, spec);
    }
}

impl Default for Netns {
    fn default() -> Self {
        Netns::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(mut impairments) = self.impairments.lock() {
            impairments.stop_all(&self.name);
        }
        kill_all_inside(&self.name);
        let out = process::run(process::command(&["ip", "netns", "del", &self.name]), ADMIN_TIMEOUT);
        if !out.success() && !std::thread::panicking() {
            eprintln!("warning: could not delete namespace {}:\n{out}", self.name);
        }
    }
}

fn kill_all_inside(name: &str) {
    // Processes still inside are ours (started in a namespace this process created); kill them by
    // PID and wait briefly so the namespace can go away.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = process::run(process::command(&["ip", "netns", "pids", name]), ADMIN_TIMEOUT);
        let pids: Vec<i32> = out.stdout.split_whitespace().filter_map(|p| p.parse().ok()).collect();
        if pids.is_empty() || Instant::now() >= deadline {
            return;
        }
        for pid in pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes `lbt-<pid>-<n>` namespaces whose creating process no longer exists (left over when a
/// test process was killed). Runs once per process.
fn remove_stale_namespaces() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = std::fs::read_dir("/run/netns") else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(PREFIX) else {
                continue;
            };
            let Some((pid, _)) = rest.split_once('-') else {
                continue;
            };
            let Ok(pid) = pid.parse::<u32>() else {
                continue;
            };
            if pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            kill_all_inside(&name);
            let _ = process::run(process::command(&["ip", "netns", "del", &name]), ADMIN_TIMEOUT);
        }
    });
}

/// Checks root, `ip`, and that a namespace can be added and deleted.
pub(crate) fn probe_support() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("network namespace tests need root (run as root, or in CI)".to_owned());
    }
    if crate::find_program("ip".as_ref()).is_none() {
        return Err("the `ip` program (iproute2) is not installed".to_owned());
    }
    let name = format!("{PREFIX}{}-probe", std::process::id());
    let out = process::run(process::command(&["ip", "netns", "add", &name]), ADMIN_TIMEOUT);
    if !out.success() {
        return Err(format!("`ip netns add` does not work here:\n{out}"));
    }
    let _ = process::run(process::command(&["ip", "netns", "del", &name]), ADMIN_TIMEOUT);
    Ok(())
}

/// Runs an administrative command (outside any namespace unless it says `-n`) and panics with
/// diagnostics if it fails.
#[track_caller]
pub fn admin(argv: &[&str]) -> Output {
    let out = process::run(process::command(argv), ADMIN_TIMEOUT);
    out.assert_success();
    out
}

/// How [`veth`] sets up a link.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// Device name on side A (at most 15 bytes, unique within A).
    pub a_dev: String,
    /// Device name on side B (unique within B).
    pub b_dev: String,
    /// IPv4 address and prefix length on side A, e.g. `10.77.1.1/24`.
    pub a_v4: (Ipv4Addr, u8),
    pub b_v4: (Ipv4Addr, u8),
    /// IPv6 addresses (added with `nodad`, so usable at once). `None`: no IPv6 address.
    pub a_v6: Option<(Ipv6Addr, u8)>,
    pub b_v6: Option<(Ipv6Addr, u8)>,
    pub mtu: Option<u32>,
}

impl LinkOptions {
    /// Server-style defaults for subnet `n`: A = `10.77.n.1/24` + `fd77:0:0:n::1/64` on `veth-a`,
    /// B = `10.77.n.2/24` + `fd77:0:0:n::2/64` on `veth-b`.
    pub fn subnet(n: u8) -> LinkOptions {
        LinkOptions {
            a_dev: "veth-a".to_owned(),
            b_dev: "veth-b".to_owned(),
            a_v4: (Ipv4Addr::new(10, 77, n, 1), 24),
            b_v4: (Ipv4Addr::new(10, 77, n, 2), 24),
            a_v6: Some((Ipv6Addr::new(0xfd77, 0, 0, n.into(), 0, 0, 0, 1), 64)),
            b_v6: Some((Ipv6Addr::new(0xfd77, 0, 0, n.into(), 0, 0, 0, 2), 64)),
            mtu: None,
        }
    }

    pub fn mtu(mut self, mtu: u32) -> LinkOptions {
        self.mtu = Some(mtu);
        self
    }

    pub fn devs(mut self, a_dev: &str, b_dev: &str) -> LinkOptions {
        self.a_dev = a_dev.to_owned();
        self.b_dev = b_dev.to_owned();
        self
    }
}

/// One veth pair between two namespaces, as created by [`veth`].
#[derive(Debug, Clone)]
pub struct Link {
    pub a_dev: String,
    pub b_dev: String,
    pub a_v4: Ipv4Addr,
    pub b_v4: Ipv4Addr,
    pub a_v6: Option<Ipv6Addr>,
    pub b_v6: Option<Ipv6Addr>,
}

/// A fresh subnet number (1..=250) for [`LinkOptions::subnet`]; namespaces isolate addresses, so
/// this only keeps logs readable.
pub fn next_subnet() -> u8 {
    u8::try_from(NEXT_SUBNET.fetch_add(1, Ordering::Relaxed) % 250 + 1).expect("1..=250")
}

/// Joins `a` and `b` with a veth pair created directly inside them (the machine's own namespace
/// never sees it), assigns the addresses and brings both ends up.
pub fn veth(a: &Netns, b: &Netns, opts: &LinkOptions) -> Link {
    admin(&[
        "ip",
        "-n",
        a.name(),
        "link",
        "add",
        &opts.a_dev,
        "type",
        "veth",
        "peer",
        "name",
        &opts.b_dev,
        "netns",
        b.name(),
    ]);
    for (ns, dev, v4, v6) in [(a, &opts.a_dev, opts.a_v4, opts.a_v6), (b, &opts.b_dev, opts.b_v4, opts.b_v6)] {
        if let Some(mtu) = opts.mtu {
            admin(&["ip", "-n", ns.name(), "link", "set", dev, "mtu", &mtu.to_string()]);
        }
        let cidr = format!("{}/{}", v4.0, v4.1);
        admin(&["ip", "-n", ns.name(), "addr", "add", &cidr, "dev", dev]);
        if let Some((addr, len)) = v6 {
            let cidr = format!("{addr}/{len}");
            admin(&["ip", "-n", ns.name(), "-6", "addr", "add", &cidr, "dev", dev, "nodad"]);
        }
        admin(&["ip", "-n", ns.name(), "link", "set", dev, "up"]);
    }
    Link {
        a_dev: opts.a_dev.clone(),
        b_dev: opts.b_dev.clone(),
        a_v4: opts.a_v4.0,
        b_v4: opts.b_v4.0,
        a_v6: opts.a_v6.map(|(a, _)| a),
        b_v6: opts.b_v6.map(|(a, _)| a),
    }
}

/// The usual topology: a server namespace and a client namespace joined by one veth pair.
/// Server side is `10.77.N.1/24` / `fd77:0:0:N::1/64` on `srv0`, client side `10.77.N.2/24` /
/// `fd77:0:0:N::2/64` on `cli0`.
#[derive(Debug)]
pub struct Pair {
    pub server: Netns,
    pub client: Netns,
    pub server_ip: Ipv4Addr,
    pub client_ip: Ipv4Addr,
    pub server_ip6: Ipv6Addr,
    pub client_ip6: Ipv6Addr,
    pub server_dev: String,
    pub client_dev: String,
}

impl Pair {
    pub fn new() -> Pair {
        Pair::build(None)
    }

    /// Same as [`Pair::new`] with both ends of the veth at `mtu`.
    pub fn with_mtu(mtu: u32) -> Pair {
        Pair::build(Some(mtu))
    }

    fn build(mtu: Option<u32>) -> Pair {
        let server = Netns::new();
        let client = Netns::new();
        let mut opts = LinkOptions::subnet(next_subnet()).devs("srv0", "cli0");
        opts.mtu = mtu;
        let link = veth(&server, &client, &opts);
        Pair {
            server,
            client,
            server_ip: link.a_v4,
            client_ip: link.b_v4,
            server_ip6: link.a_v6.expect("subnet() sets IPv6"),
            client_ip6: link.b_v6.expect("subnet() sets IPv6"),
            server_dev: link.a_dev,
            client_dev: link.b_dev,
        }
    }

    /// Server address as an `IpAddr`, for the client helpers.
    pub fn server_addr(&self) -> IpAddr {
        IpAddr::V4(self.server_ip)
    }
}

impl Default for Pair {
    fn default() -> Self {
        Pair::new()
    }
}

/// Polls `ss -uln` inside `ns` until something listens on UDP `port`, for at most `timeout`;
/// panics with the last `ss` output when the time is up.
#[track_caller]
pub fn wait_udp_listening(ns: &Netns, port: u16, timeout: Duration) {
    if let Err(last) = poll_udp_listening(ns, port, timeout, || Ok(())) {
        panic!("nothing listened on UDP port {port} in {} within {timeout:?}; last `ss -uln`:\n{last}", ns.name());
    }
}

/// Like [`wait_udp_listening`], but fails fast (with the server's output) if `server` exits
/// while we wait.
#[track_caller]
pub fn wait_server_udp(ns: &Netns, server: &mut Child, port: u16, timeout: Duration) {
    let result =
        poll_udp_listening(ns, port, timeout, || if server.is_running() { Ok(()) } else { Err(server.output()) });
    match result {
        Ok(()) => {}
        Err(last) => panic!(
            "server did not listen on UDP port {port} in {} within {timeout:?}:\n{}\nlast `ss -uln`:\n{last}",
            ns.name(),
            server.output()
        ),
    }
}

fn poll_udp_listening(
    ns: &Netns,
    port: u16,
    timeout: Duration,
    mut still_ok: impl FnMut() -> Result<(), Output>,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let filter = format!("sport = :{port}");
    loop {
        let out = ns.run(&["ss", "-H", "-uln", &filter], ADMIN_TIMEOUT);
        if out.success() && !out.stdout.trim().is_empty() {
            return Ok(());
        }
        if let Err(exited) = still_ok() {
            return Err(format!("the server exited:\n{exited}"));
        }
        if Instant::now() >= deadline {
            return Err(format!("{}{}", out.stdout, out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
