//! lifeboat restarts on an interface with a new MAC, as a container on macvlan does at every
//! start. A client that downloaded from it a moment before still has the old MAC in its neighbour
//! table, REACHABLE, and downloads again at once: lifeboat announces its addresses (gratuitous
//! ARP, unsolicited neighbour advertisements), which the capture in the client shows. tftpd-hpa,
//! which announces nothing, restarted the same way is out of reach, and so is lifeboat with
//! `LIFEBOAT_ANNOUNCE=false`: the controls that show the test can fail.
//!
//! The set-up is a container's on macvlan: the client's veth leads to a "host" namespace holding
//! the recovery NIC (`lan0`, no address); lifeboat's namespace holds a macvlan on `lan0` with the
//! server's addresses. A restart deletes the macvlan and creates it again with another MAC.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use lifeboat_e2e::capture::NeighbourCapture;
use lifeboat_e2e::netns::{ADMIN_TIMEOUT, admin, next_subnet};
use lifeboat_e2e::{
    Child, Client, Netns, PeerServers, lifeboat_bin, random_file, require_netns, sha256_file, wait_server_udp,
};

/// What the issue asks: the client reaches the restarted server within this.
const AT_ONCE: Duration = Duration::from_secs(3);
/// Bound of the steps that are not timed.
const STEP: Duration = Duration::from_secs(20);
/// The client's neighbour entries stay REACHABLE this long after a confirmation. The kernel's
/// default (15 to 45 s) could lapse on a slow machine in the middle of the test, and the client
/// would then ask for the address again and reach the new MAC with no announcement at all.
const REACHABLE_MS: &str = "300000";

const OLD_MAC: &str = "02:1b:0a:00:00:01";
const NEW_MAC: &str = "02:1b:0b:00:00:02";

/// The client, the host with the recovery NIC, and the namespace lifeboat runs in.
struct Bench {
    client: Netns,
    host: Netns,
    machine: Netns,
    server_v4: Ipv4Addr,
    server_v6: Ipv6Addr,
    root: tempfile::TempDir,
    image: PathBuf,
}

impl Bench {
    fn new() -> Bench {
        let (client, host, machine) = (Netns::new(), Netns::new(), Netns::new());
        let n = next_subnet();
        let client_v4 = format!("10.77.{n}.2/24");
        let client_v6 = format!("fd77:0:0:{n}::2/64");
        admin(&[
            "ip",
            "-n",
            client.name(),
            "link",
            "add",
            "cli0",
            "type",
            "veth",
            "peer",
            "name",
            "lan0",
            "netns",
            host.name(),
        ]);
        admin(&["ip", "-n", client.name(), "addr", "add", &client_v4, "dev", "cli0"]);
        admin(&["ip", "-n", client.name(), "-6", "addr", "add", &client_v6, "dev", "cli0", "nodad"]);
        for family in ["ipv4", "ipv6"] {
            let key = format!("net.{family}.neigh.cli0.base_reachable_time_ms={REACHABLE_MS}");
            client.run_ok(&["sysctl", "-qw", &key], ADMIN_TIMEOUT);
        }
        admin(&["ip", "-n", client.name(), "link", "set", "cli0", "up"]);
        admin(&["ip", "-n", host.name(), "link", "set", "lan0", "up"]);
        let root = tempfile::tempdir().expect("a TFTP root");
        let image = root.path().join("firmware.bin");
        random_file(&image, 1024 * 1024 + 3, 17);
        Bench {
            client,
            host,
            machine,
            server_v4: Ipv4Addr::new(10, 77, n, 1),
            server_v6: format!("fd77:0:0:{n}::1").parse().unwrap(),
            root,
            image,
        }
    }

    /// (Re)create the macvlan `mv0` on `lan0` with `mac` in lifeboat's namespace, with the
    /// server's addresses.
    fn plug(&self, mac: &str) {
        let machine = self.machine.name();
        if self.machine.run(&["ip", "link", "show", "mv0"], ADMIN_TIMEOUT).success() {
            admin(&["ip", "-n", machine, "link", "del", "mv0"]);
        }
        let host = self.host.name();
        admin(&[
            "ip", "-n", host, "link", "add", "mv0", "link", "lan0", "address", mac, "type", "macvlan", "mode", "bridge",
        ]);
        admin(&["ip", "-n", host, "link", "set", "mv0", "netns", machine]);
        admin(&["ip", "-n", machine, "addr", "add", &format!("{}/24", self.server_v4), "dev", "mv0"]);
        admin(&["ip", "-n", machine, "-6", "addr", "add", &format!("{}/64", self.server_v6), "dev", "mv0", "nodad"]);
        admin(&["ip", "-n", machine, "link", "set", "mv0", "up"]);
    }

    /// `lifeboat serve` on every address (TFTP only), once it listens.
    fn lifeboat(&self) -> Child {
        self.lifeboat_with_env(&[])
    }

    /// [`Bench::lifeboat`] with `variables` in its environment.
    fn lifeboat_with_env(&self, variables: &[(&str, &str)]) -> Child {
        let root = self.root.path().display().to_string();
        let bin = lifeboat_bin().display().to_string();
        let mut lifeboat =
            self.machine.spawn_env(&[bin.as_str(), "serve", "--tftp-root", &root, "--no-web"], variables);
        wait_server_udp(&self.machine, &mut lifeboat, 69, STEP);
        lifeboat
    }

    /// tftp-hpa in the client downloads the image from `server`, bounded by `timeout`; whether
    /// the copy is whole.
    fn download(&self, server: IpAddr, timeout: Duration) -> bool {
        let copy = self.client.scratch().join("copy.bin");
        let _ = std::fs::remove_file(&copy);
        let out = Client::TftpHpa.get(&self.client, server, "firmware.bin", &copy, timeout);
        let whole = out.success() && copy.exists() && sha256_file(&copy) == sha256_file(&self.image);
        if !whole {
            println!("download from {server} did not complete:\n{out}");
        }
        whole
    }

    fn entry(&self, address: IpAddr) -> Option<lifeboat_e2e::NeighbourEntry> {
        self.client.neighbour("cli0", address)
    }
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn after_a_restart_with_a_new_mac_a_client_that_knew_the_old_one_downloads_at_once() {
    require_netns!("tftp", "tcpdump", "/usr/sbin/in.tftpd");
    let bench = Bench::new();
    let (v4, v6) = (IpAddr::V4(bench.server_v4), IpAddr::V6(bench.server_v6));
    let capture = NeighbourCapture::start(&bench.client, "cli0");

    bench.plug(OLD_MAC);
    let mut lifeboat = bench.lifeboat();
    assert!(bench.download(v4, STEP) && bench.download(v6, STEP), "{}", lifeboat.stdout());
    for address in [v4, v6] {
        let entry = bench.entry(address).unwrap_or_else(|| panic!("the client has no entry for {address}"));
        assert_eq!((entry.mac.as_str(), entry.state.as_str()), (OLD_MAC, "REACHABLE"), "{address}");
    }
    lifeboat.terminate(STEP).assert_success();

    // The restart: the interface comes back with another MAC; the client still holds the old one.
    bench.plug(NEW_MAC);
    let entry = bench.entry(v4).expect("the client's entry");
    assert_eq!((entry.mac.as_str(), entry.state.as_str()), (OLD_MAC, "REACHABLE"));

    // The control: a server that announces nothing is out of reach while the entry lasts.
    let peers = PeerServers::locate();
    let mut tftpd = peers.spawn_tftpd_hpa(&bench.machine, bench.root.path(), v4, &[]);
    assert!(!bench.download(v4, AT_ONCE), "tftpd-hpa was reachable: the test cannot tell anything");
    assert_eq!(bench.entry(v4).map(|e| e.mac), Some(OLD_MAC.to_owned()), "the control changed the entry");
    tftpd.terminate(STEP);
    // The same with lifeboat told not to announce (as a container is, through its environment).
    let mut silent = bench.lifeboat_with_env(&[("LIFEBOAT_ANNOUNCE", "false")]);
    assert!(!bench.download(v4, AT_ONCE), "reached lifeboat with announcements off:\n{}", silent.stdout());
    silent.terminate(STEP).assert_success();
    assert!(!silent.stdout().contains("announcing"), "{}", silent.stdout());
    assert!(capture.seen().iter().all(|s| s.mac != NEW_MAC), "announced before lifeboat ran: {:?}", capture.seen());

    let restarted = Instant::now();
    let mut lifeboat = bench.lifeboat();
    lifeboat.wait_for_line(&format!("announcing {}, ", bench.server_v4), STEP);
    assert!(bench.download(v4, AT_ONCE), "lifeboat was not reachable at once:\n{}", lifeboat.stdout());
    let took = restarted.elapsed();
    println!("the restarted lifeboat served the client {took:?} after it started");
    assert!(took < AT_ONCE, "the download completed {took:?} after the restart");
    assert!(bench.download(v6, AT_ONCE), "not reachable at once over IPv6:\n{}", lifeboat.stdout());
    for address in [v4, v6] {
        assert_eq!(bench.entry(address).map(|e| e.mac), Some(NEW_MAC.to_owned()), "{address}");
    }

    // Two announcements of each address (RFC 5227's ANNOUNCE_NUM), from the new MAC; one log
    // line for the interface's round.
    for address in [v4, v6] {
        assert!(capture.wait_for(NEW_MAC, address, 2, STEP), "{address} was not announced twice: {:?}", capture.seen());
    }
    // An address added to the interface while lifeboat serves is announced too.
    let added = Ipv4Addr::from(u32::from(bench.server_v4) + 8);
    let adding = SystemTime::now();
    admin(&["ip", "-n", bench.machine.name(), "addr", "add", &format!("{added}/24"), "dev", "mv0"]);
    assert!(capture.wait_for(NEW_MAC, added.into(), 2, STEP), "{added} was not announced: {:?}", capture.seen());
    // The kernel tells lifeboat of the new address: it need not wait for a look of its own.
    let first = capture.seen().iter().filter(|s| s.address == IpAddr::V4(added)).map(|s| s.at).min();
    let after = first.and_then(|at| at.duration_since(adding).ok());
    println!("{added} was first announced {after:?} after `ip addr add` started (pcap time)");

    lifeboat.terminate(STEP).assert_success();
    let log = lifeboat.stdout();
    let rounds = log.lines().filter(|l| l.contains(&format!("announcing {}, ", bench.server_v4))).count();
    assert_eq!(rounds, 1, "{log}");
    let seen = capture.finish();
    let from_new = seen.iter().filter(|s| s.mac == NEW_MAC && s.address == v4).count();
    assert_eq!(from_new, 2, "{seen:?}");
}
