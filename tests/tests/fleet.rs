//! A fleet of lifeboats sharing one PostgreSQL database, with real clients in namespaces: two
//! instances on two segments (each its own LAN), driven through one instance's dashboard API.
//! The database is a new one on the tests' server (`LIFEBOAT_TEST_POSTGRES`, which `.ci/run`
//! starts); lifeboat reaches it over its Unix socket, which every namespace sees.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use lifeboat_e2e::dashboard::DashboardApi;
use lifeboat_e2e::dhcp::{DhcpLink, DhcpScope, STEP_TIMEOUT, Udhcpc};
use lifeboat_e2e::postgres::PostgresDatabase;
use lifeboat_e2e::{Child, Client, lifeboat_bin, require_netns, wait_server_udp};
use serde_json::json;

const START: Duration = Duration::from_secs(30);
const DASHBOARD: &str = "http://127.0.0.1:8080";

/// One lifeboat of the fleet on the server end of `link`: DHCP on its segment, TFTP on its
/// address, the dashboard on the namespace's loopback, the shared database.
struct Instance {
    process: Child,
    root: tempfile::TempDir,
}

impl Instance {
    fn start(name: &str, link: &DhcpLink, database: &PostgresDatabase) -> Instance {
        let root = tempfile::Builder::new().prefix("lbt-fleet-root-").tempdir().expect("TFTP root");
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
    let mut a = Instance::start("rack-a", &segment_a, &database);
    let mut b = Instance::start("rack-b", &segment_b, &database);
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

    // A host mapped through A's API: B's client, an address on B's segment, an image on B.
    let reserved = segment_b.host(77);
    std::fs::write(b.root.path().join("node-b.efi"), b"the image B serves").unwrap();
    let created = api.post(
        "/api/v1/hosts",
        &json!({"mac": segment_b.client_mac, "name": "node-b", "address": reserved.to_string(), "image": "node-b.efi"}),
    );
    assert_eq!(created.status, 201, "{created:?}");

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

    client.release().ok();
    let a_out = a.process.terminate(Duration::from_secs(5));
    let b_out = b.process.terminate(Duration::from_secs(5));
    assert!(a_out.status.is_some_and(|s| s.success()), "A:\n{a_out}");
    assert!(b_out.status.is_some_and(|s| s.success()), "B:\n{b_out}");
}
