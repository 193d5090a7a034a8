//! The dashboard's promises that a script can check through its JSON API, with real clients in
//! namespaces: a host mapped to an image gets it over DHCP and TFTP at once, without a restart;
//! every request lands in the history with the device's MAC, also when the device never used
//! DHCP; a missing name becomes an alias in one call; the history survives `kill -9`.

use std::time::{Duration, Instant};

use lifeboat_e2e::dashboard::DashboardApi;
use lifeboat_e2e::dhcp::{Dhclient, DhcpLink, DhcpScope, STEP_TIMEOUT};
use lifeboat_e2e::{Client, Pair, lifeboat_bin, random_file, require_netns, sha256_file, wait_server_udp};
use serde_json::json;

/// The dashboard inside the server namespace (its own loopback).
const DASHBOARD: &str = "http://127.0.0.1:8080";
const START_TIMEOUT: Duration = Duration::from_secs(20);
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30);

/// The boot file dhclient was given, from its BOUND event.
fn dhclient_boot_file(link: &DhcpLink, log: &dyn Fn() -> String) -> String {
    let mut client = Dhclient::new(None);
    client.start(link);
    let bound = client.wait_for(&["BOUND", "REBOOT"], STEP_TIMEOUT).unwrap_or_else(|e| panic!("{e}\n{}", log()));
    let file = bound.var("new_filename").unwrap_or_default().to_owned();
    client.release(link).unwrap_or_else(|e| panic!("{e}"));
    file
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn a_host_mapped_on_the_dashboard_gets_its_image_over_dhcp_without_a_restart() {
    require_netns!("dhclient", "curl");
    let link = DhcpLink::new();
    let scope = DhcpScope::for_link(&link);
    let state = tempfile::tempdir().unwrap();
    let root = state.path().join("tftp");
    std::fs::create_dir_all(root.join("lab")).unwrap();
    random_file(root.join("lab/special.img"), 4096, 3);
    let (bin, root_s, db) = (
        lifeboat_bin().to_string_lossy().into_owned(),
        root.to_string_lossy().into_owned(),
        state.path().join("lifeboat.db").to_string_lossy().into_owned(),
    );
    let listen = format!("{}:69", link.server_ip);
    #[rustfmt::skip]
    let argv = [
        bin.as_str(), "serve", "--dhcp-interface", &link.server_dev, "--dhcp-range", &scope.range_arg(),
        "--dhcp-boot", "default.pxe", "--dhcp-skip-probe", "--dhcp-authoritative", "--tftp-root", &root_s, "--tftp-listen", &listen,
        "--db", &db,
    ];
    let mut server = link.server.spawn(&argv);
    wait_server_udp(&link.server, &mut server, 67, START_TIMEOUT);
    let api = DashboardApi::connect(&link.server, DASHBOARD, START_TIMEOUT);
    let log = || server.stdout();

    assert_eq!(dhclient_boot_file(&link, &log), "default.pxe", "before any mapping");

    let created = api.post(
        "/api/v1/hosts",
        &json!({ "mac": link.client_mac.to_uppercase(), "name": "lab-1", "image": "lab/special.img" }),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.body["id"].as_i64().expect("the new host's id");
    // The change reaches the running DHCP server asynchronously: allow it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let file = dhclient_boot_file(&link, &log);
        if file == "lab/special.img" {
            break;
        }
        assert!(Instant::now() < deadline, "the mapped host still got {file:?}:\n{}", log());
    }

    let bad = api.post("/api/v1/hosts", &json!({ "mac": "02:00:00:zz:00:01", "image": "lab/special.img" }));
    assert_eq!(bad.status, 422, "{bad:?}");
    assert!(bad.body.to_string().to_lowercase().contains("mac"), "the error does not name the MAC: {bad:?}");

    let deleted = api.delete(&format!("/api/v1/hosts/{id}"));
    assert!(matches!(deleted.status, 200 | 204), "{deleted:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while dhclient_boot_file(&link, &log) != "default.pxe" {
        assert!(Instant::now() < deadline, "the deleted mapping still applies:\n{}", log());
    }
    let events = api.get_ok("/api/v1/events");
    let text = events.to_string();
    for kind in ["host_added", "host_deleted", "service_started"] {
        assert!(text.contains(kind), "no {kind} event in {text}");
    }
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn every_request_is_recorded_with_the_device_mac_and_survives_kill_9() {
    require_netns!("tftp", "curl", "sqlite3");
    let pair = Pair::new();
    let state = tempfile::tempdir().unwrap();
    let root = state.path().join("tftp");
    std::fs::create_dir_all(&root).unwrap();
    let image = random_file(root.join("openwrt-factory.bin"), 600_000, 9);
    let db = state.path().join("lifeboat.db");
    let (bin, root_s, db_s) = (
        lifeboat_bin().to_string_lossy().into_owned(),
        root.to_string_lossy().into_owned(),
        db.to_string_lossy().into_owned(),
    );
    let listen = format!("{}:69", pair.server_ip);
    #[rustfmt::skip]
    let argv = [
        bin.as_str(), "serve", "--tftp-root", &root_s, "--tftp-listen", &listen, "--tftp-allow", "10.0.0.0/8",
        "--db", &db_s,
    ];
    let mut server = pair.server.spawn(&argv);
    wait_server_udp(&pair.server, &mut server, 69, START_TIMEOUT);
    let api = DashboardApi::connect(&pair.server, DASHBOARD, START_TIMEOUT);
    let client_mac = mac_of(&pair.client, &pair.client_dev);
    let out = tempfile::tempdir().unwrap();

    // A router in recovery mode: a fixed address, no DHCP, its own fixed name. lifeboat knows it
    // only from the neighbour table.
    let fetch = |name: &str| {
        let local = out.path().join(name.replace('/', "_"));
        let argv = Client::TftpHpa.get_argv(pair.server_addr(), name, &local);
        let result = pair.client.run(&argv, TRANSFER_TIMEOUT);
        (local, result)
    };
    let (_, missing) = fetch("wr841nv14_tp_recovery.bin");
    assert!(!missing.stdout.contains("Received") || !missing.success(), "{missing}");

    let seen = api.get_ok("/api/v1/missing");
    let names: Vec<&str> = seen.as_array().unwrap().iter().filter_map(|m| m["requested"].as_str()).collect();
    assert!(names.contains(&"wr841nv14_tp_recovery.bin"), "missing files: {seen}");

    // One call: serve the image under the name the device asked for.
    let alias =
        api.post("/api/v1/aliases", &json!({ "name": "wr841nv14_tp_recovery.bin", "file": "openwrt-factory.bin" }));
    assert!(matches!(alias.status, 200 | 201), "{alias:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let local = loop {
        let (local, result) = fetch("wr841nv14_tp_recovery.bin");
        if result.success() && local.exists() && sha256_file(&local) == image {
            break local;
        }
        assert!(Instant::now() < deadline, "the alias does not serve the image:\n{result}\n{}", server.stdout());
    };
    assert_eq!(sha256_file(&local), image);

    let history = api.get_ok("/api/v1/transfers");
    let items = history["items"].as_array().expect("items");
    let complete = items.iter().find(|t| t["outcome"] == "complete").unwrap_or_else(|| panic!("{history}"));
    assert_eq!(complete["requested"], "wr841nv14_tp_recovery.bin", "{complete}");
    assert_eq!(complete["file"], "openwrt-factory.bin", "{complete}");
    assert_eq!(complete["bytes"], 600_000, "{complete}");
    assert_eq!(complete["mac"], client_mac.as_str(), "the MAC from the neighbour table: {complete}");
    assert!(items.iter().any(|t| t["outcome"] == "not_found"), "{history}");

    // Records reach the database file within about a second (history is written in the
    // background); once they are there, kill -9 loses none of them.
    let query = "SELECT outcome, requested, ifnull(mac, '-') FROM transfers ORDER BY id;";
    let committed = |rows: &str| {
        let lines: Vec<&str> = rows.lines().collect();
        lines.first().is_some_and(|l| l.starts_with("not_found|wr841nv14_tp_recovery.bin|"))
            && lines.iter().any(|l| *l == format!("complete|wr841nv14_tp_recovery.bin|{client_mac}"))
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let rows = pair.server.run_ok(&["sqlite3", "-readonly", "-batch", &db_s, query], STEP_TIMEOUT);
        if committed(&rows.stdout) {
            break;
        }
        assert!(Instant::now() < deadline, "the history is not in the database 5 s later:\n{rows}");
        std::thread::sleep(Duration::from_millis(100));
    }
    server.kill();
    let rows = pair.server.run_ok(&["sqlite3", "-readonly", "-batch", &db_s, query], STEP_TIMEOUT);
    assert!(committed(&rows.stdout), "kill -9 lost committed history:\n{rows}");
}

/// The MAC of `dev` in `ns`, lowercase.
fn mac_of(ns: &lifeboat_e2e::Netns, dev: &str) -> String {
    let out = ns.run_ok(&["cat", &format!("/sys/class/net/{dev}/address")], STEP_TIMEOUT);
    out.stdout.trim().to_lowercase()
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn an_idle_tftp_server_stops_itself_and_says_so() {
    require_netns!("tftp", "curl");
    let pair = Pair::new();
    let state = tempfile::tempdir().unwrap();
    let root = state.path().join("tftp");
    std::fs::create_dir_all(&root).unwrap();
    let image = random_file(root.join("fw.bin"), 70_000, 4);
    let (bin, root_s, db) = (
        lifeboat_bin().to_string_lossy().into_owned(),
        root.to_string_lossy().into_owned(),
        state.path().join("lifeboat.db").to_string_lossy().into_owned(),
    );
    let listen = format!("{}:69", pair.server_ip);
    #[rustfmt::skip]
    let argv = [
        bin.as_str(), "serve", "--tftp-root", &root_s, "--tftp-listen", &listen, "--tftp-allow", "10.0.0.0/8",
        "--db", &db, "--stop-when-idle", "3s",
    ];
    let mut server = pair.server.spawn(&argv);
    wait_server_udp(&pair.server, &mut server, 69, START_TIMEOUT);
    let api = DashboardApi::connect(&pair.server, DASHBOARD, START_TIMEOUT);

    // Requests keep it alive past the idle time.
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        let local = out.path().join("fw.bin");
        pair.client.run_ok(&Client::TftpHpa.get_argv(pair.server_addr(), "fw.bin", &local), TRANSFER_TIMEOUT);
        assert_eq!(sha256_file(&local), image);
        std::thread::sleep(Duration::from_millis(700));
    }
    assert!(api.get_ok("/api/v1/services")[0]["running"].as_bool().unwrap(), "stopped while in use");

    // Then nobody asks: it stops within the idle time and a check interval.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tftp = &api.get_ok("/api/v1/services")[0];
        if tftp["running"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "still running: {tftp}\n{}", server.stdout());
        std::thread::sleep(Duration::from_millis(250));
    }
    let listening = pair.server.run_ok(&["ss", "-Hlun", "sport = :69"], STEP_TIMEOUT);
    assert!(listening.stdout.trim().is_empty(), "something still listens on port 69:\n{listening}");
    let events = api.get_ok("/api/v1/events").to_string();
    assert!(events.contains("auto_stopped") && events.contains("--stop-when-idle"), "{events}");
    assert!(server.is_running(), "lifeboat itself must keep running (the dashboard can start TFTP again)");
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn beyond_loopback_the_dashboard_needs_a_password_or_a_token() {
    require_netns!("curl");
    let pair = Pair::new();
    let state = tempfile::tempdir().unwrap();
    let root = state.path().join("tftp");
    std::fs::create_dir_all(&root).unwrap();
    let (bin, root_s, db) = (
        lifeboat_bin().to_string_lossy().into_owned(),
        root.to_string_lossy().into_owned(),
        state.path().join("lifeboat.db").to_string_lossy().into_owned(),
    );
    let (tftp, web) = (format!("{}:69", pair.server_ip), format!("{}:8080", pair.server_ip));
    #[rustfmt::skip]
    let mut argv = vec![
        bin.as_str(), "serve", "--tftp-root", &root_s, "--tftp-listen", &tftp, "--db", &db, "--web-listen", &web,
    ];

    // Without a password it refuses to start, and says what to do.
    let refused = pair.server.run(&argv, START_TIMEOUT);
    assert!(!refused.timed_out() && !refused.success(), "{refused}");
    for hint in ["without a password", "lifeboat passwd", "--web-token"] {
        assert!(refused.stdout.contains(hint), "{hint:?} missing:\n{refused}");
    }
    assert!(!refused.stderr.contains("panicked") && !refused.stdout.contains("panicked"), "{refused}");

    // With a token: printed at start-up, required by the API from the other namespace.
    argv.push("--web-token");
    let mut server = pair.server.spawn(&argv);
    wait_server_udp(&pair.server, &mut server, 69, START_TIMEOUT);
    let deadline = Instant::now() + START_TIMEOUT;
    let token = loop {
        let log = server.stdout();
        if let Some(token) = log.split("?token=").nth(1).and_then(|rest| rest.split_whitespace().next()) {
            break token.to_owned();
        }
        assert!(Instant::now() < deadline, "no token link in the log:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let url = format!("http://{web}/api/v1/services");
    let status = |extra: &[&str]| {
        let mut argv = vec!["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5"];
        argv.extend_from_slice(extra);
        argv.push(&url);
        pair.client.run_ok(&argv, STEP_TIMEOUT).stdout
    };
    assert_eq!(status(&[]), "401", "no token");
    assert_eq!(status(&["-H", "Authorization: Bearer wrong-token-0123456789"]), "401", "wrong token");
    let bearer = format!("Authorization: Bearer {token}");
    assert_eq!(status(&["-H", &bearer]), "200", "the printed token");
}
