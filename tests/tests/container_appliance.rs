//! The container image as an appliance, run with podman inside namespaces this test creates:
//! once with host networking (the container shares a private "server" namespace) and once on
//! macvlan over a veth whose peer is the "LAN" namespace. From the LAN, real clients: udhcpc
//! gets a lease and the boot file, tftp-hpa downloads an image (sha256 compared), curl reaches
//! the dashboard with the token printed at start. The process runs as an unprivileged user with
//! exactly the capabilities it was given, the image has no shell, `podman stop` returns within
//! 3 s, and after a restart the leases and the history are still there. On macvlan the container
//! comes back with a new MAC, and a client that still holds the old one downloads at once: lifeboat
//! announces its address (the capture in the LAN shows it).

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use lifeboat_e2e::capture::NeighbourCapture;
use lifeboat_e2e::dhcp::{DhcpLink, STEP_TIMEOUT, Udhcpc};
use lifeboat_e2e::netns::admin;
use lifeboat_e2e::podman::{self, Container, IMAGE, PodmanNetwork, podman_ok, podman_restart_container};
use lifeboat_e2e::postgres::PostgresDatabase;
use lifeboat_e2e::{Netns, random_file, require_netns, sha256_file};
use serde_json::Value;

/// The image's unprivileged user.
const IMAGE_USER: u32 = 65532;
/// CAP_NET_BIND_SERVICE (10) and CAP_NET_RAW (13): what the container is given.
const GIVEN_CAPABILITIES: u64 = (1 << 10) | (1 << 13);
/// How long the container may take to answer its health check after `podman run`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Folders the container mounts: the images (read-only) and /data.
struct Volumes {
    _dir: tempfile::TempDir,
    tftp: std::path::PathBuf,
    data: std::path::PathBuf,
    image: std::path::PathBuf,
}

impl Volumes {
    fn new() -> Volumes {
        let dir = tempfile::tempdir().expect("a folder for the volumes");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let tftp = dir.path().join("tftp");
        let data = dir.path().join("data");
        std::fs::create_dir(&tftp).unwrap();
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&tftp, std::fs::Permissions::from_mode(0o755)).unwrap();
        // The image's user owns its data, as a named volume would give it.
        nix::unistd::chown(&data, Some(IMAGE_USER.into()), Some(IMAGE_USER.into())).unwrap();
        let image = tftp.join("firmware.bin");
        random_file(&image, 3 * 1024 * 1024 + 17, 13);
        std::fs::set_permissions(&image, std::fs::Permissions::from_mode(0o644)).unwrap();
        Volumes { _dir: dir, tftp, data, image }
    }

    fn mounts(&self) -> [String; 4] {
        [
            "--volume".into(),
            format!("{}:/srv/tftp:ro", self.tftp.display()),
            "--volume".into(),
            format!("{}:/data", self.data.display()),
        ]
    }
}

/// The lifeboat container running in `ns`, with `network` arguments, serving DHCP on `range`
/// when it is given in the environment (otherwise DHCP is set up from the dashboard).
fn run_container(ns: &Netns, name: &str, network: &[&str], volumes: &Volumes, range: Option<&str>) -> Container {
    let mut args: Vec<String> = ["run", "--detach", "--name", name].map(String::from).to_vec();
    args.extend(network.iter().map(|s| (*s).to_owned()));
    args.extend(["--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE,NET_RAW"].map(String::from));
    args.extend(volumes.mounts());
    if let Some(range) = range {
        args.extend(["--env".into(), format!("LIFEBOAT_DHCP_RANGE={range}")]);
        args.extend(["--env".into(), "LIFEBOAT_DHCP_BOOT=firmware.bin".into()]);
    }
    args.push(IMAGE.into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    podman_ok(Some(ns), &args);
    let container = Container { name: name.to_owned() };
    wait_healthy(ns, &container);
    container
}

/// Wait until the image's own health check (`lifeboat health`) passes. It runs in `ns`: a
/// container on host networking shares the network of whoever calls podman.
fn wait_healthy(ns: &Netns, container: &Container) {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let check = podman::podman(Some(ns), &["healthcheck", "run", &container.name]);
        if check.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the container was not healthy within {START_TIMEOUT:?}:\n{check}\nlogs:\n{}",
            container.logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The token of the link lifeboat printed at its last start (the logs keep earlier runs').
fn printed_token(container: &Container) -> String {
    let logs = container.logs();
    let token = logs
        .rsplit("?token=")
        .next()
        .filter(|_| logs.contains("?token="))
        .map(|rest| rest.chars().take_while(char::is_ascii_alphanumeric).collect());
    token.filter(|t: &String| !t.is_empty()).unwrap_or_else(|| panic!("no token link in the logs:\n{logs}"))
}

/// `GET path` on the dashboard at `server`:8080 from `ns`, with the bearer token.
fn api_get(ns: &Netns, server: Ipv4Addr, token: &str, path: &str) -> Value {
    let url = format!("http://{server}:8080{path}");
    let auth = format!("Authorization: Bearer {token}");
    let out = ns.run_ok(&["curl", "-sS", "--fail", "--max-time", "8", "-H", &auth, &url], STEP_TIMEOUT);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{url} answered no JSON ({e}): {}", out.stdout))
}

/// `PUT /api/v1/settings` with `body` on the dashboard at `server`:8080 from `ns`, with the
/// bearer token: the HTTP status and the JSON answer.
fn put_settings(ns: &Netns, server: Ipv4Addr, token: &str, body: &Value) -> (u16, Value) {
    let url = format!("http://{server}:8080/api/v1/settings");
    let auth = format!("Authorization: Bearer {token}");
    let body = body.to_string();
    let argv = ["curl", "-sS", "--max-time", "20", "-X", "PUT", "-H", &auth, "-H", "Content-Type: application/json"];
    let mut argv: Vec<&str> = argv.to_vec();
    argv.extend(["--data", &body, "--write-out", "\n%{http_code}", &url]);
    let out = ns.run_ok(&argv, STEP_TIMEOUT);
    let (json, status) = out.stdout.trim().rsplit_once('\n').expect("a body and a status");
    (status.parse().unwrap(), serde_json::from_str(json).unwrap_or(Value::Null))
}

/// udhcpc in the LAN gets an address in the range and the boot file; returns the address.
fn lease_from_lan(link: &DhcpLink, container: &Container) -> Ipv4Addr {
    let mut client = Udhcpc::new();
    client.start(link);
    let bound = client.wait_for(&["bound"], STEP_TIMEOUT).unwrap_or_else(|e| {
        panic!("udhcpc got no lease: {e}\n{}\nlifeboat:\n{}", client.diagnostics(), container.logs())
    });
    assert_eq!(bound.var("boot_file"), Some("firmware.bin"), "{bound:?}");
    bound.ipv4("ip").expect("udhcpc reports the address")
}

/// tftp-hpa in the LAN downloads the image from `server`; the copy must be identical.
fn download_from_lan(link: &DhcpLink, server: Ipv4Addr, volumes: &Volumes) {
    download_within(link, server, volumes, Duration::from_secs(60));
}

/// [`download_from_lan`], bounded by `timeout`.
fn download_within(link: &DhcpLink, server: Ipv4Addr, volumes: &Volumes, timeout: Duration) {
    let copy = link.client.scratch().join("firmware.copy");
    let _ = std::fs::remove_file(&copy);
    let target = copy.to_string_lossy().into_owned();
    let out =
        link.client.run(&["tftp", "-m", "binary", &server.to_string(), "-c", "get", "firmware.bin", &target], timeout);
    assert!(out.success() && copy.exists(), "tftp-hpa failed:\n{out}");
    assert_eq!(sha256_file(&copy), sha256_file(&volumes.image), "the downloaded image differs");
}

/// A podman macvlan network named after `what` on `link`'s server end: the "host" namespace
/// holds the recovery NIC (no address of its own), the container's macvlan sits on it, and the
/// LAN is the link's client side. The network and the container's address (10.77.N.2).
fn macvlan_network(link: &DhcpLink, what: &str) -> (PodmanNetwork, Ipv4Addr) {
    admin(&["ip", "-n", link.server.name(), "addr", "flush", "dev", &link.server_dev]);
    let subnet = format!("{}/24", link.host(0));
    let network = PodmanNetwork { name: Container::name_for(what) };
    let parent = format!("parent={}", link.server_dev);
    podman_ok(
        Some(&link.server),
        &["network", "create", "--driver", "macvlan", "--opt", &parent, "--subnet", &subnet, &network.name],
    );
    (network, link.host(2))
}

/// Uid and effective capabilities of the container's process, from /proc.
fn uid_and_capabilities(container: &Container) -> (u32, u64) {
    let status = std::fs::read_to_string(format!("/proc/{}/status", container.pid())).expect("the process's status");
    let field = |name: &str| -> String {
        status.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned()).expect(name)
    };
    let uid = field("Uid:").split_whitespace().nth(1).unwrap().parse().unwrap();
    let effective = u64::from_str_radix(&field("CapEff:"), 16).unwrap();
    (uid, effective)
}

/// The checks both network set-ups share: lease, download, dashboard, user and capabilities,
/// no shell, a quick stop, and data that survives a restart.
fn check_appliance(link: &DhcpLink, server: Ipv4Addr, container: &Container, volumes: &Volumes) {
    let address = lease_from_lan(link, container);
    download_from_lan(link, server, volumes);

    let token = printed_token(container);
    let services = api_get(&link.client, server, &token, "/api/v1/services");
    // What the image's configuration turns on runs; HTTP boot stays off until it is turned on.
    let running = |name: &str| {
        services.as_array().and_then(|s| s.iter().find(|s| s["service"] == name)).map(|s| s["running"] == true)
    };
    assert_eq!(
        (running("tftp"), running("dhcp"), running("http")),
        (Some(true), Some(true), Some(false)),
        "{services}"
    );

    let (uid, capabilities) = uid_and_capabilities(container);
    assert_eq!(uid, IMAGE_USER, "lifeboat runs as the image's user");
    assert_eq!(capabilities, GIVEN_CAPABILITIES, "exactly the given capabilities, raised: {capabilities:#x}");
    let shell = podman::podman(None, &["exec", &container.name, "/bin/sh", "-c", "true"]);
    let said = format!("{}{}", shell.stdout, shell.stderr).to_lowercase();
    assert!(
        !shell.success() && said.contains("no such file"),
        "the image has a shell, or exec failed otherwise:\n{shell}"
    );

    let started = Instant::now();
    podman_ok(None, &["stop", "--time", "10", &container.name]);
    let stopping = started.elapsed();
    assert!(stopping < Duration::from_secs(3), "podman stop took {stopping:?}:\n{}", container.logs());
    println!("podman stop returned after {stopping:?}");

    podman_restart_container(Some(&link.server), &container.name);
    wait_healthy(&link.server, container);
    let token = printed_token(container);
    let leases = api_get(&link.client, server, &token, "/api/v1/leases");
    let kept = leases.as_array().is_some_and(|l| {
        l.iter().any(|l| l["address"] == address.to_string() && l["mac"].as_str() == Some(&link.client_mac))
    });
    assert!(kept, "the lease of {address} did not survive the restart: {leases}");
    let transfers = api_get(&link.client, server, &token, "/api/v1/transfers");
    assert!(transfers.to_string().contains("firmware.bin"), "the history did not survive the restart: {transfers}");
}

#[test]
#[ignore = "needs root: network namespaces and podman (run by .ci/run)"]
fn the_image_serves_a_lan_with_host_networking() {
    require_netns!("udhcpc", "tftp", "curl", "nsenter", "podman");
    let size = podman::build_image();
    println!("image {IMAGE}: {size} bytes ({:.1} MB)", size as f64 / 1e6);
    assert!(size < 20_000_000, "the image is {size} bytes, over 20 MB");

    let link = DhcpLink::new();
    let volumes = Volumes::new();
    let name = Container::name_for("host");
    let container = run_container(&link.server, &name, &["--network", "host"], &volumes, None);
    let server = link.server_ip;

    // DHCP set up from the dashboard, without a restart (asked from the server's side: the
    // LAN has no address yet).
    let token = printed_token(&container);
    let first_range = format!("{},{}", link.host(100), link.host(150));
    let setup = serde_json::json!({"dhcp": {"range": [first_range], "boot": "firmware.bin"}});
    let (status, answer) = put_settings(&link.server, server, &token, &setup);
    assert_eq!(status, 200, "{answer}\n{}", container.logs());
    assert_eq!(answer["effective"]["dhcp"]["boot"], "firmware.bin", "{answer}");
    check_appliance(&link, server, &container, &volumes);

    // After the restart: the settings are still there; a new range reaches the next client.
    let token = printed_token(&container);
    let second_range = format!("{},{}", link.host(160), link.host(170));
    let change = serde_json::json!({"dhcp": {"range": [second_range], "boot": "firmware.bin"}});
    let (status, answer) = put_settings(&link.client, server, &token, &change);
    assert_eq!(status, 200, "{answer}\n{}", container.logs());
    let address = lease_from_lan(&link, &container);
    let host = address.octets()[3];
    assert!((160..=170).contains(&host), "the next lease {address} is not from the new range");
    // A range that names no interface's subnet is refused with the command line's message.
    let (status, answer) =
        put_settings(&link.client, server, &token, &serde_json::json!({"dhcp": {"range": ["nonsense"]}}));
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["fields"][0]["field"], "dhcp.range", "{answer}");
}

#[test]
#[ignore = "needs root: network namespaces and podman (run by .ci/run)"]
fn the_image_serves_a_lan_on_macvlan() {
    require_netns!("udhcpc", "tftp", "curl", "nsenter", "podman");
    podman::build_image();

    let link = DhcpLink::new();
    let (network, server) = macvlan_network(&link, "macvlan");
    // DHCP broadcasts from the LAN to a macvlan container (FIELD-NOTES: containers).
    admin(&["ip", "-n", link.client.name(), "route", "add", "255.255.255.255/32", "dev", &link.client_dev]);

    let volumes = Volumes::new();
    let range = format!("{},{}", link.host(100), link.host(150));
    let name = Container::name_for("macvlan");
    let net = format!("{}:ip={server}", network.name);
    let container = run_container(&link.server, &name, &["--network", &net], &volumes, Some(&range));
    check_appliance(&link, server, &container, &volumes);

    // The range came from the environment: the dashboard cannot change it, and says why.
    let token = printed_token(&container);
    let change = serde_json::json!({"dhcp": {"range": [format!("{},{}", link.host(160), link.host(170))]}});
    let (status, answer) = put_settings(&link.client, server, &token, &change);
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("LIFEBOAT_DHCP_RANGE")), "{answer}");
}

/// The container gets a new MAC at every start on macvlan. A LAN client that downloaded from it
/// just before still has the old MAC, REACHABLE, in its neighbour table; it downloads again at
/// once after `podman restart` because lifeboat announces its address (seen in a capture).
#[test]
#[ignore = "needs root: network namespaces and podman (run by .ci/run)"]
fn after_a_restart_on_macvlan_a_client_that_knew_the_old_mac_downloads_at_once() {
    require_netns!("tftp", "tcpdump", "nsenter", "podman");
    podman::build_image();
    let link = DhcpLink::new();
    let (network, server) = macvlan_network(&link, "macvlan-restart");
    let client_cidr = format!("{}/24", link.host(50));
    admin(&["ip", "-n", link.client.name(), "addr", "add", &client_cidr, "dev", &link.client_dev]);
    // The kernel keeps an entry REACHABLE 15 to 45 s; stretched, so that it cannot lapse on a slow
    // machine and let the client find the new MAC by asking.
    let reachable = format!("net.ipv4.neigh.{}.base_reachable_time_ms=300000", link.client_dev);
    link.client.run_ok(&["sysctl", "-qw", &reachable], STEP_TIMEOUT);
    let capture = NeighbourCapture::start(&link.client, &link.client_dev);
    let volumes = Volumes::new();
    let name = Container::name_for("macvlan-restart");
    let net = format!("{}:ip={server}", network.name);
    let container = run_container(&link.server, &name, &["--network", &net], &volumes, None);
    download_from_lan(&link, server, &volumes);
    let before = link.client.neighbour(&link.client_dev, server.into()).expect("the client's entry");
    assert_eq!(before.state, "REACHABLE", "{before:?}");

    podman_ok(None, &["stop", "--time", "10", &container.name]);
    let announced = |logs: &str| logs.matches(&format!("announcing {server} ")).count();
    let announced_before = announced(&container.logs());
    let started = Instant::now();
    podman_restart_container(Some(&link.server), &container.name);
    let deadline = Instant::now() + START_TIMEOUT;
    while announced(&container.logs()) == announced_before {
        assert!(Instant::now() < deadline, "lifeboat did not announce {server}:\n{}", container.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    let up = started.elapsed();
    download_within(&link, server, &volumes, Duration::from_secs(3));
    println!("downloaded {:?} after `podman start` returned; lifeboat was up after {up:?}", started.elapsed());

    let after = link.client.neighbour(&link.client_dev, server.into()).expect("the client's entry");
    assert_ne!(after.mac, before.mac, "the container kept its MAC: this test proves nothing");
    assert!(
        capture.wait_for(&after.mac, server.into(), 2, STEP_TIMEOUT),
        "{server} was not announced twice from {}: {:?}",
        after.mac,
        capture.seen()
    );
    let seen = capture.finish();
    assert!(seen.iter().any(|s| s.mac == before.mac), "the first run announced nothing: {seen:?}");
}

/// On a bridge with NAT (podman's default kind of network) TFTP's own transfer ports do not
/// pass: lifeboat says so at start, naming macvlan, host networking and the single-port mode.
#[test]
#[ignore = "needs root: network namespaces and podman (run by .ci/run)"]
fn behind_a_bridge_the_image_says_what_breaks_and_what_to_do() {
    require_netns!("nsenter", "podman", "iptables");
    podman::build_image();
    let host = Netns::new();
    let network = PodmanNetwork { name: Container::name_for("bridge") };
    let subnet = format!("10.78.{}.0/24", lifeboat_e2e::netns::next_subnet());
    podman_ok(Some(&host), &["network", "create", "--driver", "bridge", "--subnet", &subnet, &network.name]);
    let volumes = Volumes::new();
    let name = Container::name_for("bridge");
    let mut args: Vec<String> =
        ["run", "--detach", "--name", &name, "--network", &network.name].map(String::from).to_vec();
    args.extend(["--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE,NET_RAW"].map(String::from));
    args.extend(volumes.mounts());
    args.push(IMAGE.into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    podman_ok(Some(&host), &args);
    let container = Container { name };
    wait_healthy(&host, &container);
    let logs = container.logs();
    for needle in ["behind a bridge", "eth0 is a veth", "TFTP_SINGLE_PORT", "macvlan", "host networking"] {
        assert!(logs.contains(needle), "{needle:?} is not in the logs:\n{logs}");
    }
}

/// The image as one lifeboat of a fleet: its database and name come from the environment
/// (`LIFEBOAT_DB`, a PostgreSQL URL over a Unix socket mounted into the container, and
/// `LIFEBOAT_INSTANCE`), a real client's lease lands in the shared database under that name,
/// and the dashboard lists the instance.
#[test]
#[ignore = "needs root (network namespaces, podman) and PostgreSQL (LIFEBOAT_TEST_POSTGRES): .ci/run gives all"]
fn the_image_joins_a_fleet_on_postgresql_from_its_environment() {
    require_netns!("udhcpc", "curl", "podman", "psql");
    podman::build_image();
    let database = PostgresDatabase::create();
    // The URL names the server's socket folder in `host=`: mounted at /run/postgresql inside.
    let url = database.url();
    let (before, socket_dir) = url.split_once("host=").expect("a Unix socket URL");
    let inside = format!("{before}host=/run/postgresql");

    let link = DhcpLink::new();
    let volumes = Volumes::new();
    let name = Container::name_for("fleet");
    let range = format!("{},{}", link.host(100), link.host(150));
    let mut args: Vec<String> = ["run", "--detach", "--name", &name, "--network", "host"].map(String::from).to_vec();
    args.extend(["--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE,NET_RAW"].map(String::from));
    args.extend(volumes.mounts());
    args.extend(["--volume".into(), format!("{socket_dir}:/run/postgresql")]);
    for (key, value) in [
        ("LIFEBOAT_DB", inside.as_str()),
        ("LIFEBOAT_INSTANCE", "rack-9"),
        ("LIFEBOAT_DHCP_RANGE", range.as_str()),
        ("LIFEBOAT_DHCP_BOOT", "firmware.bin"),
    ] {
        args.extend(["--env".into(), format!("{key}={value}")]);
    }
    args.push(IMAGE.into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    podman_ok(Some(&link.server), &args);
    let container = Container { name };
    wait_healthy(&link.server, &container);

    let address = lease_from_lan(&link, &container);
    let held = database.query(&format!("SELECT instance FROM leases WHERE address = '{address}'"));
    assert_eq!(held, ["rack-9"], "{}", container.logs());
    let token = printed_token(&container);
    let instances = api_get(&link.client, link.server_ip, &token, "/api/v1/instances");
    let listed = instances.as_array().is_some_and(|l| l.iter().any(|i| i["name"] == "rack-9" && i["state"] == "up"));
    assert!(listed, "{instances}");
}
