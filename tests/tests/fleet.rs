//! A fleet of lifeboats sharing one PostgreSQL database, with real clients in namespaces: two
//! instances on two segments (each its own LAN), driven through one instance's dashboard API.
//! The database is a new one on the tests' server (`LIFEBOAT_TEST_POSTGRES`, which `.ci/run`
//! starts); lifeboat reaches it over its Unix socket, which every namespace sees.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use dhcproto::v4::MessageType;
use lifeboat_e2e::capture::DhcpCapture;
use lifeboat_e2e::dashboard::DashboardApi;
use lifeboat_e2e::dhcp::{DhcpLink, DhcpScope, STEP_TIMEOUT, Udhcpc};
use lifeboat_e2e::postgres::{PostgresDatabase, PrivateServer};
use lifeboat_e2e::{Child, Client, Netns, lifeboat_bin, require_netns, wait_server_udp};
use serde_json::json;

const START: Duration = Duration::from_secs(30);
const DASHBOARD: &str = "http://127.0.0.1:8080";

/// One lifeboat of the fleet on the server end of `link`: DHCP on its segment, TFTP on its
/// address, the dashboard on the namespace's loopback, the shared database; `files` in its TFTP
/// root from the start.
struct Instance {
    process: Child,
    root: tempfile::TempDir,
}

impl Instance {
    fn start(name: &str, link: &DhcpLink, database: &PostgresDatabase, files: &[(&str, &str)]) -> Instance {
        let root = tempfile::Builder::new().prefix("lbt-fleet-root-").tempdir().expect("TFTP root");
        for (file, content) in files {
            std::fs::write(root.path().join(file), content).expect("an image in the root");
        }
        let scope = DhcpScope::for_link(link);
        let argv: Vec<String> = vec![
            lifeboat_bin().display().to_string(),
            "serve".into(),
            "--instance".into(),
            name.into(),
            "--db".into(),
            database.url(),
            "--tftp-root".into(),
            root.path().display().to_string(),
            "--tftp-listen".into(),
            format!("{}:69", link.server_ip),
            "--tftp-allow".into(),
            "10.0.0.0/8".into(),
            "--dhcp-interface".into(),
            link.server_dev.clone(),
            "--dhcp-range".into(),
            scope.range_arg(),
            "--dhcp-skip-probe".into(),
            "--web-listen".into(),
            "127.0.0.1:8080".into(),
        ];
        let mut process = link.server.spawn(&argv);
        wait_server_udp(&link.server, &mut process, 67, START);
        wait_server_udp(&link.server, &mut process, 69, START);
        Instance { process, root }
    }
}

/// Wait until `done` says yes about what `ask` returns, every 200 ms, for `timeout` at most.
fn eventually<T: std::fmt::Debug>(
    what: &str,
    timeout: Duration,
    mut ask: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let answer = ask();
        if done(&answer) {
            return answer;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}; last answer: {answer:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether something in `link`'s server namespace listens on UDP `port`.
fn udp_listening(link: &DhcpLink, port: u16) -> bool {
    let out = link.server.run_ok(&["ss", "-Hulnp"], STEP_TIMEOUT);
    out.stdout
        .lines()
        .any(|line| line.split_whitespace().nth(3).is_some_and(|local| local.ends_with(&format!(":{port}"))))
}

#[test]
#[ignore = "needs root (network namespaces) and PostgreSQL (LIFEBOAT_TEST_POSTGRES): .ci/run gives both"]
fn two_segments_share_hosts_history_and_one_dashboard() {
    require_netns!("udhcpc", "tftp", "psql", "curl");
    let database = PostgresDatabase::create();
    let (segment_a, segment_b) = (DhcpLink::new(), DhcpLink::new());
    // The same recovery image on both; a kernel whose copies differ; a file only B has.
    let mut a = Instance::start(
        "rack-a",
        &segment_a,
        &database,
        &[("openwrt.bin", "firmware 23.05"), ("vmlinuz", "kernel 6.1")],
    );
    let mut b = Instance::start(
        "rack-b",
        &segment_b,
        &database,
        &[("openwrt.bin", "firmware 23.05"), ("vmlinuz", "kernel 6.12"), ("only-b.img", "b")],
    );
    let api = DashboardApi::connect(&segment_a.server, DASHBOARD, START);

    // Both instances are listed by A, up, with their services.
    let listed = eventually(
        "A lists both instances as up",
        START,
        || api.get_ok("/api/v1/instances"),
        |list| list.as_array().is_some_and(|l| l.len() == 2 && l.iter().all(|i| i["state"] == "up")),
    );
    assert_eq!(listed[1]["name"], "rack-b", "{listed}");
    assert_eq!(listed[1]["services"]["tftp"], "running", "{listed}");
    // The same on the Instances page, with a button that stops B's TFTP.
    let page =
        segment_a.server.run_ok(&["curl", "-sS", "--max-time", "10", &format!("{DASHBOARD}/instances")], STEP_TIMEOUT);
    assert!(page.stdout.contains("rack-b") && page.stdout.contains("/instances/rack-b/services/tftp/stop"), "{page}");

    // A host mapped through A's API: B's client, an address on B's segment, an image on B.
    let reserved = segment_b.host(77);
    std::fs::write(b.root.path().join("node-b.efi"), b"the image B serves").unwrap();
    let created = api.post(
        "/api/v1/hosts",
        &json!({"mac": segment_b.client_mac, "name": "node-b", "address": reserved.to_string(), "image": "node-b.efi"}),
    );
    assert_eq!(created.status, 201, "{created:?}");
    // B hears of it from the database (it is not told) and says so once it has applied it.
    eventually(
        "B applies the host",
        START,
        || b.process.stdout(),
        |log| log.contains("hosts, aliases and boot profiles reloaded"),
    );

    // B offers it to a real client, without a restart and without being told.
    let mut client = Udhcpc::new();
    client.start(&segment_b);
    let bound = client.wait_for(&["bound"], STEP_TIMEOUT).unwrap_or_else(|e| panic!("{e}\n{}", client.diagnostics()));
    assert_eq!(bound.ipv4("ip"), Some(reserved), "{bound:?}");
    assert_eq!(bound.var("boot_file"), Some("node-b.efi"), "{bound:?}");

    // A transfer from each instance, by real TFTP clients on each segment.
    std::fs::write(a.root.path().join("node-a.efi"), b"the image A serves").unwrap();
    segment_a.client.run_ok(
        &["ip", "addr", "add", &format!("{}/24", segment_a.host(60)), "dev", &segment_a.client_dev],
        STEP_TIMEOUT,
    );
    let scratch = tempfile::tempdir().unwrap();
    let tftp = Client::TftpHpa;
    for (link, file) in [(&segment_a, "node-a.efi"), (&segment_b, "node-b.efi")] {
        let got = tftp.get(&link.client, IpAddr::V4(link.server_ip), file, &scratch.path().join(file), STEP_TIMEOUT);
        assert!(got.success(), "{file}: {got}");
    }

    // Both are in A's history, each under its instance.
    let history = eventually(
        "both transfers in A's history",
        START,
        || api.get_ok("/api/v1/transfers"),
        |page| page["items"].as_array().is_some_and(|items| items.len() >= 2),
    );
    let served: Vec<(String, String)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["instance"].as_str().unwrap().to_owned(), t["requested"].as_str().unwrap().to_owned()))
        .collect();
    assert!(served.contains(&("rack-a".into(), "node-a.efi".into())), "{served:?}");
    assert!(served.contains(&("rack-b".into(), "node-b.efi".into())), "{served:?}");
    let only_b = api.get_ok("/api/v1/transfers?instance=rack-b");
    assert!(only_b["items"].as_array().unwrap().iter().all(|t| t["instance"] == "rack-b"), "{only_b}");
    // The lease is in the database, written by B.
    let leases = database.query(&format!("SELECT address, instance FROM leases WHERE address = '{reserved}'"));
    assert_eq!(leases, [format!("{reserved}|rack-b")]);

    // A's dashboard stops TFTP on B, and B's port closes.
    assert!(udp_listening(&segment_b, 69));
    let stopped = api.post("/api/v1/instances/rack-b/services/tftp/stop", &json!({}));
    assert_eq!(stopped.status, 200, "{stopped:?}");
    assert!(!udp_listening(&segment_b, 69), "B's TFTP port is still open");
    let events = database.query("SELECT origin FROM events WHERE instance = 'rack-b' AND kind = 'service_stopped'");
    assert!(events.iter().any(|origin| origin.contains("on rack-a")), "{events:?}");

    // A's dashboard shows which instance holds each image and whether the copies match.
    let images = eventually(
        "A sees both instances' images",
        START,
        || api.get_ok("/api/v1/fleet/images"),
        |list| {
            list.as_array()
                .is_some_and(|l| l.iter().filter(|i| i["copies"].as_array().unwrap().len() == 2).count() == 2)
        },
    );
    let by_file = |file: &str| images.as_array().unwrap().iter().find(|i| i["file"] == file).cloned().unwrap();
    assert_eq!(by_file("openwrt.bin")["matches"], true, "{images}");
    assert_eq!(by_file("vmlinuz")["matches"], false, "{images}");
    assert_eq!(by_file("only-b.img")["missing_on"], json!(["rack-a"]), "{images}");
    let page =
        segment_a.server.run_ok(&["curl", "-sS", "--max-time", "10", &format!("{DASHBOARD}/images")], STEP_TIMEOUT);
    assert!(page.stdout.contains("Across the fleet") && page.stdout.contains("differs"), "{page}");

    client.release().ok();
    let a_out = a.process.terminate(Duration::from_secs(5));
    let b_out = b.process.terminate(Duration::from_secs(5));
    assert!(a_out.status.is_some_and(|s| s.success()), "A:\n{a_out}");
    assert!(b_out.status.is_some_and(|s| s.success()), "B:\n{b_out}");
}

/// One segment for an HA pair: a bridge in namespace `lan` (with perfdhcp's address, `.250`),
/// each server in a namespace of its own on a veth into the bridge, and a DHCP client namespace
/// the same way. Addresses `10.78.N.0/24`.
struct HaSegment {
    lan: Netns,
    servers: [Netns; 2],
    /// `N` of `10.78.N.0/24`.
    net: u8,
}

impl HaSegment {
    fn new() -> HaSegment {
        let net = lifeboat_e2e::netns::next_subnet();
        let lan = Netns::new();
        lan.run_ok(&["ip", "link", "add", "br0", "type", "bridge"], STEP_TIMEOUT);
        lan.run_ok(&["ip", "addr", "add", &format!("10.78.{net}.250/24"), "dev", "br0"], STEP_TIMEOUT);
        lan.run_ok(&["ip", "link", "set", "br0", "up"], STEP_TIMEOUT);
        let servers = [Netns::new(), Netns::new()];
        for (n, server) in servers.iter().enumerate() {
            plug(&lan, server, &format!("srv{n}"), Some(&format!("10.78.{net}.{}/24", n + 1)));
        }
        HaSegment { lan, servers, net }
    }

    fn host(&self, n: u8) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::new(10, 78, self.net, n)
    }

    /// A client namespace on the bridge, as the link udhcpc runs on (its server end is a
    /// namespace of its own that nothing runs in: the servers are `servers`).
    fn client(&self, mac: &str) -> DhcpLink {
        let client = Netns::new();
        plug(&self.lan, &client, "cli0", None);
        client.run_ok(&["ip", "link", "set", "cli0", "down"], STEP_TIMEOUT);
        client.run_ok(&["ip", "link", "set", "cli0", "address", mac], STEP_TIMEOUT);
        client.run_ok(&["ip", "link", "set", "cli0", "up"], STEP_TIMEOUT);
        DhcpLink {
            server: Netns::new(),
            client,
            server_dev: "unused".into(),
            client_dev: "cli0".into(),
            server_ip: self.host(1),
            prefix_len: 24,
            client_mac: mac.into(),
        }
    }
}

/// A veth from `ns` (named `dev`, with `address` if given) into the bridge of `lan`.
fn plug(lan: &Netns, ns: &Netns, dev: &str, address: Option<&str>) {
    let port = format!("{dev}-{}", ns.name().rsplit('-').next().unwrap_or("x"));
    lan.run_ok(&["ip", "link", "add", &port, "type", "veth", "peer", "name", dev, "netns", ns.name()], STEP_TIMEOUT);
    lan.run_ok(&["ip", "link", "set", &port, "master", "br0", "up"], STEP_TIMEOUT);
    if let Some(address) = address {
        ns.run_ok(&["ip", "addr", "add", address, "dev", dev], STEP_TIMEOUT);
    }
    ns.run_ok(&["ip", "link", "set", dev, "up"], STEP_TIMEOUT);
    ns.run_ok(&["ip", "link", "set", "lo", "up"], STEP_TIMEOUT);
}

#[test]
#[ignore = "needs root (network namespaces) and PostgreSQL (LIFEBOAT_TEST_POSTGRES): .ci/run gives both"]
fn an_ha_pair_serves_200_clients_without_giving_an_address_twice_and_the_survivor_renews_after_kill_9() {
    require_netns!("perfdhcp", "udhcpc", "psql");
    let database = PostgresDatabase::create();
    let segment = HaSegment::new();
    let relay = segment.host(250);
    let mut servers: Vec<Child> = segment
        .servers
        .iter()
        .enumerate()
        .map(|(n, ns)| {
            let argv: Vec<String> = vec![
                lifeboat_bin().display().to_string(),
                "serve".into(),
                "--instance".into(),
                format!("ha-{n}"),
                "--db".into(),
                database.url(),
                "--dhcp-interface".into(),
                format!("srv{n}"),
                "--dhcp-range".into(),
                format!("{},{},255.255.255.0,60", segment.host(10), segment.host(240)),
                // perfdhcp acts as a relay on the segment. No --dhcp-skip-probe: each knows the
                // other's addresses from its heartbeats, and takes it for a partner, not a rogue.
                "--dhcp-relay-allow".into(),
                format!("{relay}/32"),
                "--no-web".into(),
            ];
            let mut process = ns.spawn(&argv);
            wait_server_udp(ns, &mut process, 67, START);
            process
        })
        .collect();
    // Each hears of the other through their heartbeats and takes its half of the clients.
    for server in &servers {
        eventually(
            "the pair shares the range",
            START,
            || server.stdout(),
            |log| log.contains("answers 1 in 2 new clients"),
        );
    }

    // 200 clients (perfdhcp numbers their MACs from its base), one DORA each, broadcast to both.
    let perfdhcp = segment.lan.run(
        &[
            "perfdhcp",
            "-4",
            "-r",
            "40",
            "-R",
            "200",
            "-n",
            "200",
            "-p",
            "20",
            "-d",
            "3",
            "-W",
            "2000000",
            "-l",
            &relay.to_string(),
            "all",
        ],
        Duration::from_secs(60),
    );
    let log = &perfdhcp.stdout;
    // What the database holds: one row per client, no address twice, both instances in it.
    let rows = database.query("SELECT count(*), count(DISTINCT address), count(DISTINCT instance) FROM leases");
    let counts: Vec<u64> = rows[0].split('|').map(|n| n.parse().unwrap()).collect();
    assert!(counts[0] >= 190, "only {} leases for 200 clients:\n{log}\n{}", counts[0], servers[0].stdout());
    assert_eq!(counts[0], counts[1], "an address is held twice: {rows:?}");
    assert_eq!(counts[2], 2, "one instance answered every client: {rows:?}");
    let per_instance = database.query("SELECT instance, count(*) FROM leases GROUP BY instance ORDER BY instance");

    // A real client binds; the instance that served it is killed; it rebinds with the other.
    let link = segment.client("02:78:00:00:00:01");
    let mut client = Udhcpc::new();
    client.start(&link);
    let bound = client.wait_for(&["bound"], STEP_TIMEOUT).unwrap_or_else(|e| panic!("{e}\n{}", client.diagnostics()));
    let address = bound.ipv4("ip").expect("udhcpc reports its address");
    let holder = database.query(&format!("SELECT instance FROM leases WHERE address = '{address}'"));
    let victim: usize = holder[0].trim_start_matches("ha-").parse().expect("ha-N");
    servers[victim].kill();
    let survivor = format!("ha-{}", 1 - victim);
    // T1 is 30 s (its renewals go to the dead server), T2 52.5 s: then it rebinds by broadcast.
    let renewed = client
        .wait_for(&["renew", "bound"], Duration::from_secs(90))
        .unwrap_or_else(|e| panic!("{e}\n{}\nsurvivor:\n{}", client.diagnostics(), servers[1 - victim].stdout()));
    assert_eq!(renewed.ipv4("ip"), Some(address), "{renewed:?}");
    let now_held = database.query(&format!("SELECT instance FROM leases WHERE address = '{address}'"));
    assert_eq!(now_held, std::slice::from_ref(&survivor), "per instance before the kill: {per_instance:?}");
    for server in &servers {
        let log = server.stdout();
        assert!(!log.contains("another DHCP server answers"), "a partner was taken for a rogue server:\n{log}");
    }
    client.release().ok();
    let out = servers[1 - victim].terminate(Duration::from_secs(5));
    assert!(out.status.is_some_and(|s| s.success()), "{survivor}:\n{out}");
}

#[test]
#[ignore = "needs root (network namespaces) and PostgreSQL's server programs (it runs its own): .ci/run gives both"]
fn with_postgresql_stopped_under_load_no_ack_goes_out_unsaved_saved_leases_renew_and_service_resumes() {
    require_netns!("perfdhcp", "udhcpc", "tcpdump", "psql");
    let database = PrivateServer::start();
    let segment = HaSegment::new();
    let relay = segment.host(250);
    let server_ns = &segment.servers[0];
    let root = tempfile::Builder::new().prefix("lbt-outage-root-").tempdir().expect("TFTP root");
    let image = root.path().join("firmware.bin");
    lifeboat_e2e::random_file(&image, 2 * 1024 * 1024 + 3, 16);
    let argv: Vec<String> = vec![
        lifeboat_bin().display().to_string(),
        "serve".into(),
        "--instance".into(),
        "outage".into(),
        "--db".into(),
        database.url().to_owned(),
        "--tftp-root".into(),
        root.path().display().to_string(),
        "--tftp-listen".into(),
        format!("{}:69", segment.host(1)),
        "--tftp-allow".into(),
        "10.0.0.0/8".into(),
        "--dhcp-interface".into(),
        "srv0".into(),
        "--dhcp-range".into(),
        format!("{},{},255.255.255.0,600", segment.host(10), segment.host(240)),
        "--dhcp-relay-allow".into(),
        format!("{relay}/32"),
        "--dhcp-skip-probe".into(),
        // The dashboard on the server's loopback (no password needed there).
        "--web-listen".into(),
        "127.0.0.1:8080".into(),
    ];
    let mut lifeboat = server_ns.spawn(&argv);
    wait_server_udp(server_ns, &mut lifeboat, 67, START);
    let capture = DhcpCapture::start(&segment.lan, "br0");

    // A real client holds a saved lease before the database goes away.
    let client_mac = "02:78:00:00:00:02";
    let link = segment.client(client_mac);
    let mut client = Udhcpc::new();
    client.start(&link);
    let bound = client.wait_for(&["bound"], STEP_TIMEOUT).unwrap_or_else(|e| panic!("{e}\n{}", client.diagnostics()));
    let address = bound.ipv4("ip").expect("udhcpc reports its address");

    // New clients all along (perfdhcp as a relay: 30 new clients a second for 24 s).
    let mut load = segment.lan.spawn(&[
        "perfdhcp",
        "-4",
        "-r",
        "30",
        "-R",
        "5000",
        "-p",
        "24",
        "-d",
        "3",
        "-l",
        &relay.to_string(),
        "all",
    ]);
    eventually(
        "leases saved under load",
        Duration::from_secs(15),
        || database.query("SELECT count(*) FROM leases")[0].parse::<u32>().unwrap_or(0),
        |n| *n >= 20,
    );

    database.stop();
    let stopped = std::time::SystemTime::now();
    eventually(
        "lifeboat notices",
        Duration::from_secs(15),
        || lifeboat.stdout(),
        |log| log.contains("cannot be reached"),
    );
    // The client that holds a lease renews it from lifeboat's memory, for what its saved lease has left.
    client.renew().expect("udhcpc renews on SIGUSR1");
    let renewed = client.wait_for(&["renew"], STEP_TIMEOUT).unwrap_or_else(|e| panic!("{e}\n{}", lifeboat.stdout()));
    assert_eq!(renewed.ipv4("ip"), Some(address), "{}", renewed.summary());
    let left: u32 = renewed.var("lease").and_then(|l| l.parse().ok()).expect("udhcpc reports the lease time");
    assert!(left < 600, "a renewal from memory gave a full lease, more than is saved: {}", renewed.summary());
    // TFTP serves on: a real client downloads the image, intact.
    let scratch = tempfile::tempdir().unwrap();
    let fetched = scratch.path().join("firmware.bin");
    let got = Client::TftpHpa.get(&segment.lan, IpAddr::V4(segment.host(1)), "firmware.bin", &fetched, STEP_TIMEOUT);
    assert!(got.success(), "TFTP during the outage: {got}\n{}", lifeboat.stdout());
    assert_eq!(lifeboat_e2e::sha256_file(&fetched), lifeboat_e2e::sha256_file(&image));
    // The Leases page says what is wrong and what still works, instead of a bare failure.
    let page = server_ns.run(&["curl", "-sS", "--max-time", "15", "http://127.0.0.1:8080/leases"], STEP_TIMEOUT);
    assert!(page.stdout.contains("the shared database does not answer"), "the Leases page during the outage:\n{page}");
    // Some seconds of load with the database down, then it comes back: no restart of lifeboat.
    std::thread::sleep(Duration::from_secs(4));
    let restarting = std::time::SystemTime::now();
    database.start_again();
    eventually("service resumes", Duration::from_secs(20), || lifeboat.stdout(), |log| log.contains("reachable again"));
    load.finish(Duration::from_secs(60));
    let seen = capture.finish();
    assert!(lifeboat.is_running(), "lifeboat stopped:\n{}", lifeboat.stdout());

    // What the database holds, by MAC: every ACK on the wire is covered by a saved lease on its
    // address lasting at least as long as the ACK said.
    let saved: std::collections::BTreeMap<String, (String, u64)> = database
        .query("SELECT encode(mac, 'hex'), address, expires_at FROM leases")
        .iter()
        .map(|row| {
            let cols: Vec<&str> = row.split('|').collect();
            let mac: Vec<String> = (0..6).map(|i| cols[0][i * 2..i * 2 + 2].to_owned()).collect();
            (mac.join(":"), (cols[1].to_owned(), cols[2].parse().expect("a finite lease")))
        })
        .collect();
    let acks: Vec<_> = seen.iter().filter(|m| m.kind() == Some(MessageType::Ack)).collect();
    for ack in &acks {
        let (held, expires) =
            saved.get(&ack.mac()).unwrap_or_else(|| panic!("an ACK for a lease never saved: {ack:?}"));
        assert_eq!(held, &ack.message.yiaddr().to_string(), "{ack:?}");
        let promised = ack.unix_secs() + u64::from(ack.lease_secs().expect("an ACK's lease time"));
        assert!(*expires + 2 >= promised, "ACK promised until {promised}, saved until {expires}: {ack:?}");
    }
    // While the database was down, only the client with a saved lease got an ACK. (The server
    // was down when `stop` returned: an ACK after that, but for a lease committed just before,
    // leaves within milliseconds; a second covers it.)
    let during: Vec<_> = acks.iter().filter(|a| a.at > stopped && a.at < restarting).map(|a| (a.at, a.mac())).collect();
    let new_clients: Vec<_> =
        during.iter().filter(|(at, mac)| *at > stopped + Duration::from_secs(1) && mac != client_mac).collect();
    assert!(new_clients.is_empty(), "new clients acknowledged during the outage: {new_clients:?}");
    assert!(during.iter().any(|(_, mac)| mac == client_mac), "the renewal's ACK is not in the capture");
    // The download made while the database was down reached the history once it was back.
    eventually(
        "the outage's transfer in the history",
        Duration::from_secs(20),
        || database.query("SELECT count(*) FROM transfers WHERE requested = 'firmware.bin'"),
        |rows| rows.first().is_some_and(|n| n == "1"),
    );
    let after = acks.iter().filter(|a| a.at > restarting && a.mac() != client_mac).count();
    eprintln!(
        "ACKs on the wire: {} in all, {} while the database was down, {after} to new clients after",
        acks.len(),
        during.len()
    );
    assert!(after > 0, "no new client was served after the database came back:\n{}", lifeboat.stdout());
    client.release().ok();
    let out = lifeboat.terminate(Duration::from_secs(10));
    assert!(out.status.is_some_and(|s| s.success()), "{out}");
}
