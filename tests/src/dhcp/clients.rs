//! The real Debian DHCP/BOOTP clients, each driven the way an administrator runs it, inside the
//! client namespace, with all its state in a temporary folder (see the invariant in `dhcp.rs`).
//!
//! - dhclient (isc-dhcp-client): foreground (`-d -1`), own config (`-cf`), script (`-sf`), lease
//!   file (`-lf`) and pid file (`-pf`). The config can override the renewal time T1 on the client
//!   side, which makes dhclient really renew (unicast REQUEST) seconds after binding.
//! - udhcpc (busybox): foreground (`-f`), own script (`-s`), renew on SIGUSR1, release on SIGUSR2.
//! - dhcpcd: foreground (`-B`), IPv4 only, no ARP probe (`-A`, which saves about 6 s), own config
//!   and script; its database and run folders are private bind mounts in the mount namespace that
//!   `ip netns exec` creates, and `dhcpcd -N/-n/-k` reach it through `nsenter`.
//! - bootpc: one shot, with `--serverbcast` (it cannot receive a unicast reply before it has an
//!   address) and a host route for 255.255.255.255 (it sends through an ordinary UDP socket,
//!   which needs a route even for the limited broadcast).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::events::{ClientEvent, EventLog};
use super::{DhcpLink, STEP_TIMEOUT};
use crate::process::{self, Child, Output};

/// A client's temporary folder, its recorded script events and its long-running process.
#[derive(Debug)]
struct ClientState {
    label: &'static str,
    dir: tempfile::TempDir,
    events: EventLog,
    process: Option<Child>,
    /// Output of earlier processes of this client and of control commands, for messages.
    history: String,
}

impl ClientState {
    fn new(label: &'static str, event_expr: &str, snippet: &str) -> ClientState {
        let dir = tempfile::Builder::new().prefix(&format!("lbt-{label}-")).tempdir().expect("client state folder");
        let events =
            EventLog::create_script(&dir.path().join("script.sh"), &dir.path().join("events"), event_expr, snippet)
                .unwrap_or_else(|e| panic!("cannot write the {label} script: {e}"));
        ClientState { label, dir, events, process: None, history: String::new() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn path_str(&self, name: &str) -> String {
        self.path(name).to_str().expect("temporary paths are UTF-8").to_owned()
    }

    fn spawn(&mut self, link: &DhcpLink, argv: &[String]) {
        self.retire_process();
        self.process = Some(link.client.spawn(argv));
    }

    /// Moves a finished (or still running, then killed) process into the history.
    fn retire_process(&mut self) {
        if let Some(mut old) = self.process.take() {
            let out = old.finish(Duration::ZERO);
            self.history.push_str(&format!("earlier {} process:\n{out}\n", self.label));
        }
    }

    fn record(&mut self, what: &str, out: &Output) {
        self.history.push_str(&format!("{what}:\n{out}\n"));
    }

    fn pid(&self) -> Pid {
        let child = self.process.as_ref().unwrap_or_else(|| panic!("{} is not running", self.label));
        Pid::from_raw(i32::try_from(child.pid()).expect("PIDs fit in i32"))
    }

    /// Signals the client process itself (not its process group, which may hold helpers or a
    /// script that the signal would kill).
    fn signal(&mut self, signal: Signal) -> Result<(), String> {
        let pid = self.pid();
        kill(pid, signal).map_err(|e| format!("cannot send {signal} to {} (pid {pid}): {e}", self.label))
    }

    fn wait_for(&mut self, names: &[&str], timeout: Duration) -> Result<ClientEvent, String> {
        match self.events.wait_for(names, timeout) {
            Ok(event) => Ok(event),
            Err(e) => {
                let label = self.label;
                Err(format!("{label}: {e}\n{}", self.diagnostics()))
            }
        }
    }

    /// Waits up to `timeout` for the running process to exit by itself.
    fn wait_exit(&mut self, timeout: Duration) -> Result<Output, String> {
        let label = self.label;
        let child = self.process.as_mut().ok_or_else(|| format!("{label} is not running"))?;
        if child.wait_timeout(timeout).is_none() {
            return Err(format!("{label} did not exit within {timeout:?}\n{}", self.diagnostics()));
        }
        Ok(child.output())
    }

    fn diagnostics(&mut self) -> String {
        let current = match self.process.as_mut() {
            Some(child) => format!("{} process:\n{}", self.label, child.output()),
            None => format!("{} process: not started", self.label),
        };
        format!("{}{current}", self.history)
    }
}

/// ISC dhclient.
#[derive(Debug)]
pub struct Dhclient {
    state: ClientState,
}

impl Dhclient {
    /// A dhclient with its config, script and (empty) lease file in a fresh folder.
    /// `renew_after`: client-side T1 override in seconds (`supersede dhcp-renewal-time`).
    pub fn new(renew_after: Option<u32>) -> Dhclient {
        // dhclient calls the script with $reason; the address is configured on the veth so that
        // the unicast RENEW and RELEASE have a source address.
        let snippet = r#"case "$reason" in
BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
EXPIRE|FAIL|RELEASE|STOP) [ -z "$old_ip_address" ] || ip addr del "$old_ip_address/$old_subnet_mask" dev "$interface" 2>/dev/null ;;
esac"#;
        let state = ClientState::new("dhclient", "\"$reason\"", snippet);
        // Retry quickly; give up after 10 s (-1 then makes it exit with status 2).
        let mut config = String::from("timeout 10;\nretry 1;\ninitial-interval 1;\n");
        if let Some(t1) = renew_after {
            config.push_str(&format!("supersede dhcp-renewal-time {t1};\n"));
        }
        std::fs::write(state.path("dhclient.conf"), config).expect("write dhclient.conf");
        Dhclient { state }
    }

    /// The lease file dhclient reads at start and appends to.
    pub fn lease_file(&self) -> PathBuf {
        self.state.path("dhclient.leases")
    }

    /// Writes a lease for `address` from `server_id`, valid until 2099, as if a previous run had
    /// got it: the next start asks for it again (INIT-REBOOT).
    pub fn remember_lease(&self, link: &DhcpLink, address: Ipv4Addr, server_id: Ipv4Addr) {
        let text = format!(
            "lease {{\n  interface \"{}\";\n  fixed-address {address};\n  option subnet-mask 255.255.255.0;\n  \
             option dhcp-server-identifier {server_id};\n  renew 0 2099/01/01 00:00:00;\n  \
             rebind 0 2099/01/01 00:00:00;\n  expire 0 2099/01/01 00:00:00;\n}}\n",
            link.client_dev
        );
        std::fs::write(self.lease_file(), text).expect("write the dhclient lease file");
    }

    fn argv(&self, link: &DhcpLink, mode: &[&str]) -> Vec<String> {
        let s = &self.state;
        let mut argv: Vec<String> = vec!["dhclient".into()];
        argv.extend(mode.iter().map(|m| (*m).to_owned()));
        argv.extend(["-cf".into(), s.path_str("dhclient.conf"), "-sf".into(), s.path_str("script.sh")]);
        argv.extend(["-lf".into(), s.path_str("dhclient.leases"), "-pf".into(), s.path_str("dhclient.pid")]);
        argv.push(link.client_dev.clone());
        argv
    }

    /// Starts `dhclient -d -1 -v` (foreground, one attempt) on the client end.
    pub fn start(&mut self, link: &DhcpLink) {
        let argv = self.argv(link, &["-d", "-1", "-v"]);
        self.state.spawn(link, &argv);
    }

    /// `dhclient -x`: stops the running dhclient without releasing its lease.
    pub fn stop_keeping_lease(&mut self, link: &DhcpLink) -> Result<(), String> {
        self.control(link, "-x")
    }

    /// `dhclient -r`: stops the running dhclient (via its pid file) and releases the lease.
    pub fn release(&mut self, link: &DhcpLink) -> Result<(), String> {
        self.control(link, "-r")
    }

    fn control(&mut self, link: &DhcpLink, flag: &str) -> Result<(), String> {
        let out = link.client.run(&self.argv(link, &[flag, "-v"]), STEP_TIMEOUT);
        self.state.record(&format!("dhclient {flag}"), &out);
        if !out.success() {
            return Err(format!("dhclient {flag} failed\n{}", self.state.diagnostics()));
        }
        self.state.wait_exit(STEP_TIMEOUT).map(drop)
    }

    pub fn wait_for(&mut self, names: &[&str], timeout: Duration) -> Result<ClientEvent, String> {
        self.state.wait_for(names, timeout)
    }

    pub fn events(&self) -> Vec<ClientEvent> {
        self.state.events.all()
    }

    pub fn diagnostics(&mut self) -> String {
        self.state.diagnostics()
    }
}

/// busybox udhcpc.
#[derive(Debug)]
pub struct Udhcpc {
    state: ClientState,
}

impl Udhcpc {
    pub fn new() -> Udhcpc {
        // udhcpc passes the event as $1 and the lease in $ip, $mask (prefix length), ...
        let snippet = r#"case "$1" in
bound|renew) ip addr replace "$ip/$mask" dev "$interface" ;;
deconfig) ip -4 addr flush dev "$interface" scope global ;;
esac"#;
        Udhcpc { state: ClientState::new("udhcpc", "\"$1\"", snippet) }
    }

    /// Starts `udhcpc -f -i DEV -s SCRIPT -t 5 -T 1 -A 1 -n -R`: foreground, up to five
    /// DISCOVERs one second apart, exit if no lease, release on exit.
    pub fn start(&mut self, link: &DhcpLink) {
        let mut argv: Vec<String> = vec!["udhcpc".into(), "-f".into(), "-i".into(), link.client_dev.clone()];
        argv.extend(["-s".into(), self.state.path_str("script.sh")]);
        argv.extend(["-t", "5", "-T", "1", "-A", "1", "-n", "-R"].map(String::from));
        self.state.spawn(link, &argv);
    }

    /// SIGUSR1: renew now (unicast REQUEST to the server).
    pub fn renew(&mut self) -> Result<(), String> {
        self.state.signal(Signal::SIGUSR1)
    }

    /// SIGUSR2: release the lease (unicast RELEASE) and stay idle.
    pub fn release(&mut self) -> Result<(), String> {
        self.state.signal(Signal::SIGUSR2)
    }

    pub fn wait_for(&mut self, names: &[&str], timeout: Duration) -> Result<ClientEvent, String> {
        self.state.wait_for(names, timeout)
    }

    pub fn diagnostics(&mut self) -> String {
        self.state.diagnostics()
    }
}

impl Default for Udhcpc {
    fn default() -> Self {
        Udhcpc::new()
    }
}

/// dhcpcd 9 (dhcpcd-base).
#[derive(Debug)]
pub struct Dhcpcd {
    state: ClientState,
}

impl Dhcpcd {
    pub fn new() -> Dhcpcd {
        // dhcpcd configures the address itself; the script only records.
        let state = ClientState::new("dhcpcd", "\"$reason\"", ":");
        for dir in ["db", "run"] {
            std::fs::create_dir(state.path(dir)).expect("create a dhcpcd folder");
        }
        let config = "# lifeboat-e2e: IPv4 only, no link-local fallback, no start-up delay, no udev.\n\
                      ipv4only\nnoipv4ll\nnodelay\nnodev\n";
        std::fs::write(state.path("dhcpcd.conf"), config).expect("write dhcpcd.conf");
        Dhcpcd { state }
    }

    /// Starts `dhcpcd -B -4 -A -d -f CONF -c SCRIPT -t 10 DEV` with private bind mounts over
    /// `/var/lib/dhcpcd` and `/run` (they live only in the mount namespace of this process).
    pub fn start(&mut self, link: &DhcpLink) {
        let s = &self.state;
        let mount_then_exec =
            "set -e; mount --bind \"$1\" /var/lib/dhcpcd; mount --bind \"$2\" /run; shift 2; exec \"$@\"";
        let mut argv: Vec<String> = vec!["sh".into(), "-c".into(), mount_then_exec.into(), "sh".into()];
        argv.extend([s.path_str("db"), s.path_str("run")]);
        argv.extend(["dhcpcd", "-B", "-4", "-A", "-d", "-t", "10"].map(String::from));
        argv.extend(["-f".into(), s.path_str("dhcpcd.conf"), "-c".into(), s.path_str("script.sh")]);
        argv.push(link.client_dev.clone());
        self.state.spawn(link, &argv);
    }

    /// `dhcpcd -4 -N DEV`: renew (unicast REQUEST).
    pub fn renew(&mut self, link: &DhcpLink) -> Result<(), String> {
        self.control(link, "-N")
    }

    /// `dhcpcd -4 -n DEV`: rebind (broadcast REQUEST after reloading the config).
    pub fn rebind(&mut self, link: &DhcpLink) -> Result<(), String> {
        self.control(link, "-n")
    }

    /// `dhcpcd -4 -k DEV`: release the lease; dhcpcd then exits.
    pub fn release(&mut self, link: &DhcpLink) -> Result<(), String> {
        self.control(link, "-k")?;
        self.state.wait_exit(STEP_TIMEOUT).map(drop)
    }

    /// Runs `dhcpcd -4 FLAG DEV` in the running dhcpcd's mount and network namespaces, where its
    /// pid file and control socket are.
    fn control(&mut self, link: &DhcpLink, flag: &str) -> Result<(), String> {
        let target = self.state.pid().to_string();
        let mut argv = vec!["nsenter", "--target", target.as_str(), "--mount", "--net", "--"];
        argv.extend(["dhcpcd", "-4", flag, link.client_dev.as_str()]);
        let out = process::run(process::command(&argv), STEP_TIMEOUT);
        self.state.record(&format!("dhcpcd {flag}"), &out);
        if out.success() { Ok(()) } else { Err(format!("dhcpcd {flag} failed\n{}", self.state.diagnostics())) }
    }

    pub fn wait_for(&mut self, names: &[&str], timeout: Duration) -> Result<ClientEvent, String> {
        self.state.wait_for(names, timeout)
    }

    pub fn diagnostics(&mut self) -> String {
        self.state.diagnostics()
    }
}

impl Default for Dhcpcd {
    fn default() -> Self {
        Dhcpcd::new()
    }
}

/// What bootpc printed: shell assignments such as `IPADDR='10.77.3.100'` and `BOOTFILE='...'`.
#[derive(Debug, Clone)]
pub struct BootpReply {
    pub vars: BTreeMap<String, String>,
    pub output: Output,
}

impl BootpReply {
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    pub fn ipv4(&self, name: &str) -> Option<Ipv4Addr> {
        self.var(name)?.parse().ok()
    }
}

/// bootpc (a plain BOOTP client: no DHCP options, no lease time).
#[derive(Debug, Clone, Copy)]
pub struct Bootpc;

impl Bootpc {
    /// Broadcasts one BOOTP request with `--serverbcast` and waits up to `wait_secs` for the
    /// reply. `Err` when bootpc fails or prints no address.
    pub fn request(link: &DhcpLink, wait_secs: u32) -> Result<BootpReply, String> {
        let dev = link.client_dev.as_str();
        link.client.run_ok(&["ip", "route", "replace", "255.255.255.255/32", "dev", dev], STEP_TIMEOUT);
        let wait = wait_secs.to_string();
        let argv = ["bootpc", "--dev", dev, "--serverbcast", "--timeoutwait", wait.as_str(), "--returniffail"];
        let output = link.client.run(&argv, Duration::from_secs(u64::from(wait_secs)) + STEP_TIMEOUT);
        let vars = parse_shell_assignments(&output.stdout);
        if !output.success() || !vars.contains_key("IPADDR") {
            return Err(format!("bootpc got no address:\n{output}"));
        }
        Ok(BootpReply { vars, output })
    }
}

/// `NAME='value'` lines (bootpc quotes every value with single quotes).
fn parse_shell_assignments(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.trim().split_once('=')?;
            let value = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(value);
            Some((name.to_owned(), value.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bootpc_output() {
        let vars = parse_shell_assignments("SERVER='10.0.0.9'\nBOOTFILE='netboot/x.kpxe'\nT028='?c'\n");
        assert_eq!(vars["SERVER"], "10.0.0.9");
        assert_eq!(vars["BOOTFILE"], "netboot/x.kpxe");
        assert_eq!(vars["T028"], "?c");
    }
}
