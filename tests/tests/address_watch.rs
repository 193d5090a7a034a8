//! The address watch against a device that asks by ARP for an address nobody has, as a
//! bootloader waiting for its TFTP server does: busybox `arping` in the device's namespace asks
//! for an address of the segment that neither end holds. lifeboat logs it, records the event and
//! lists it (with the command that answers) on the dashboard; an address the host has, and one
//! the device asks for only once, are not reported.

use std::time::{Duration, Instant};

use lifeboat_e2e::dashboard::DashboardApi;
use lifeboat_e2e::{Pair, require_netns, spawn_lifeboat_serve};
use serde_json::json;

const STEP: Duration = Duration::from_secs(20);

/// `/api/v1/addresses/wanted` from the dashboard on the server namespace's loopback.
fn wanted(pair: &Pair) -> serde_json::Value {
    let url = "http://127.0.0.1:8080/api/v1/addresses/wanted";
    let out = pair.server.run_ok(&["curl", "-sS", "--max-time", "5", url], STEP);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.stdout))
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn a_device_asking_for_an_address_nobody_has_is_seen_and_the_answer_suggested() {
    require_netns!("busybox", "curl");
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let mut lifeboat = spawn_lifeboat_serve(&pair.server, root.path(), pair.server_ip.into(), &[]);
    let [a, b, c, _] = pair.server_ip.octets();
    let missing = std::net::Ipv4Addr::new(a, b, c, 66);
    let (device, missing_text, server_text) =
        (pair.client_ip.to_string(), missing.to_string(), pair.server_ip.to_string());
    let arping = |target: &str, count: &str| {
        let argv = ["busybox", "arping", "-c", count, "-w", "4", "-I", &pair.client_dev, "-s", &device, target];
        // arping fails when nobody answers: that is the point here.
        pair.client.run(&argv, STEP);
    };

    arping(&server_text, "2");
    arping(&missing_text, "3");
    let mac = pair.client.run_ok(&["cat", &format!("/sys/class/net/{}/address", pair.client_dev)], STEP);
    let mac = mac.stdout.trim().to_owned();
    let expected = format!("{mac} at {device} on {} is looking for {missing_text}", pair.server_dev);
    lifeboat.wait_for_line(&expected, STEP);

    let listed = wanted(&pair);
    let found = listed.as_array().expect("a list");
    assert_eq!(found.len(), 1, "only the missing address, once: {listed}");
    assert_eq!(found[0]["wanted"], missing_text.as_str());
    assert_eq!(found[0]["device"], device.as_str());
    assert_eq!(found[0]["interface"], pair.server_dev.as_str());
    assert_eq!(found[0]["claim_command"], format!("ip addr add {missing_text}/24 dev {}", pair.server_dev).as_str());
    let events = pair.server.run_ok(&["curl", "-sS", "--max-time", "5", "http://127.0.0.1:8080/api/v1/events"], STEP);
    assert!(events.stdout.contains("address_wanted") && events.stdout.contains(&missing_text), "{}", events.stdout);

    assert_eq!(found[0]["mac"], mac.as_str());

    // Asked once only: a slip, not a device waiting. The watch takes packets in order, so once
    // a later address is found, the single ask has been weighed too.
    let once = std::net::Ipv4Addr::new(a, b, c, 77).to_string();
    let later = std::net::Ipv4Addr::new(a, b, c, 88).to_string();
    arping(&once, "1");
    arping(&missing_text, "2");
    arping(&later, "2");
    lifeboat.wait_for_line(&format!("is looking for {later}"), STEP);
    let listed = wanted(&pair);
    let addresses: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|w| w["wanted"].as_str()).collect();
    assert_eq!(addresses, [later.as_str(), missing_text.as_str()], "newest first, each once, not the slip");
    let out = lifeboat.terminate(Duration::from_secs(5));
    assert!(out.success(), "{out}");
}

/// `ip -4 -o addr show dev DEV` in `ns`.
fn addresses_of(ns: &lifeboat_e2e::Netns, dev: &str) -> String {
    ns.run_ok(&["ip", "-4", "-o", "addr", "show", "dev", dev], STEP).stdout
}

/// Waits until `holds(addresses)` for the addresses of `dev` in `ns`.
#[track_caller]
fn wait_for_addresses(ns: &lifeboat_e2e::Netns, dev: &str, what: &str, holds: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + STEP;
    loop {
        let addresses = addresses_of(ns, dev);
        if holds(&addresses) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}:\n{addresses}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn answering_at_the_wanted_address_serves_the_device_and_leaves_nothing_behind() {
    require_netns!("curl", "tftp");
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let image_sha = lifeboat_e2e::random_file(root.path().join("tp_recovery.bin"), 300_000, 66);
    let unspecified = std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
    let mut lifeboat = spawn_lifeboat_serve(&pair.server, root.path(), unspecified, &[]);
    let [a, b, c, _] = pair.server_ip.octets();
    let wanted = std::net::Ipv4Addr::new(a, b, c, 66);
    let dev = pair.server_dev.clone();
    let claim = json!({"interface": dev, "address": wanted.to_string()});
    let api = DashboardApi::connect(&pair.server, "http://127.0.0.1:8080", STEP);

    let claimed = api.post("/api/v1/addresses/claims", &claim);
    assert_eq!(claimed.status, 201, "{claimed:?}\n{}", lifeboat.stdout());
    let held = addresses_of(&pair.server, &dev);
    assert!(
        held.contains(&format!("{wanted}/24")) && held.contains(&format!("{dev}:lb")),
        "labelled as lifeboat's:\n{held}"
    );

    // The device downloads from the address it wanted.
    let out_dir = tempfile::tempdir().unwrap();
    let local = out_dir.path().join("got.bin");
    let got = lifeboat_e2e::Client::TftpHpa.get(&pair.client, wanted.into(), "tp_recovery.bin", &local, STEP);
    assert!(got.success(), "{got}");
    assert_eq!(lifeboat_e2e::sha256_file(&local), image_sha);

    // The link flaps and takes the address with it: lifeboat puts it back.
    pair.server.run_ok(&["ip", "addr", "del", &format!("{wanted}/24"), "dev", &dev], STEP);
    wait_for_addresses(&pair.server, &dev, "the address was not put back", |a| a.contains(&format!("{wanted}/24")));
    // The device's next attempt gets its file again.
    std::fs::remove_file(&local).unwrap();
    let again = lifeboat_e2e::Client::TftpHpa.get(&pair.client, wanted.into(), "tp_recovery.bin", &local, STEP);
    assert!(again.success(), "after the flap: {again}");
    assert_eq!(lifeboat_e2e::sha256_file(&local), image_sha);

    // Another host has an address: the probe hears it and the claim is refused.
    let taken = std::net::Ipv4Addr::new(a, b, c, 77);
    pair.client.run_ok(&["ip", "addr", "add", &format!("{taken}/24"), "dev", &pair.client_dev], STEP);
    let refused = api.post("/api/v1/addresses/claims", &json!({"interface": dev, "address": taken.to_string()}));
    assert_eq!(refused.status, 409, "{refused:?}");
    assert!(refused.body["error"].as_str().is_some_and(|e| e.contains("another host has it")), "{refused:?}");
    assert!(!addresses_of(&pair.server, &dev).contains(&taken.to_string()));

    // Given back through the API.
    assert_eq!(api.delete(&format!("/api/v1/addresses/claims/{wanted}")).status, 204);
    assert!(!addresses_of(&pair.server, &dev).contains(&format!("{wanted}/")));

    // Killed while holding it: the next start removes what it left.
    assert_eq!(api.post("/api/v1/addresses/claims", &claim).status, 201);
    lifeboat.kill();
    assert!(addresses_of(&pair.server, &dev).contains(&format!("{wanted}/")), "killed: nothing could remove it");
    let mut lifeboat = spawn_lifeboat_serve(&pair.server, root.path(), unspecified, &[]);
    assert!(!addresses_of(&pair.server, &dev).contains(&format!("{wanted}/")), "left over after a restart");
    assert!(lifeboat.stdout().contains("which an earlier run of lifeboat added and left"), "{}", lifeboat.stdout());

    // Stopped normally while holding it: removed on the way down.
    let api = DashboardApi::connect(&pair.server, "http://127.0.0.1:8080", STEP);
    assert_eq!(api.post("/api/v1/addresses/claims", &claim).status, 201);
    let out = lifeboat.terminate(Duration::from_secs(5));
    assert!(out.success(), "{out}");
    assert!(!addresses_of(&pair.server, &dev).contains(&format!("{wanted}/")), "still there after SIGTERM");
    assert!(addresses_of(&pair.server, &dev).contains(&pair.server_ip.to_string()), "its own address stays");
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn an_armed_image_is_served_under_whatever_name_the_device_asks_for() {
    require_netns!("curl", "tftp");
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let image_sha = lifeboat_e2e::random_file(root.path().join("openwrt-factory.bin"), 250_000, 14);
    let mut lifeboat = spawn_lifeboat_serve(&pair.server, root.path(), pair.server_ip.into(), &[]);
    let api = DashboardApi::connect(&pair.server, "http://127.0.0.1:8080", STEP);
    let out_dir = tempfile::tempdir().unwrap();
    let get = |name: &str| {
        let local = out_dir.path().join(name);
        let out = lifeboat_e2e::Client::TftpHpa.get(&pair.client, pair.server_ip.into(), name, &local, STEP);
        (out, local)
    };
    let (missing, _) = get("wr841nv8_tp_recovery.bin");
    assert!(!missing.success(), "nothing armed: the name is missing\n{missing}");

    let armed = api.put("/api/v1/armed-image", &json!({"file": "openwrt-factory.bin"}));
    assert_eq!(armed.status, 200, "{armed:?}");
    let (served, local) = get("wr841nv8_tp_recovery.bin");
    assert!(served.success(), "{served}\n{}", lifeboat.stdout());
    assert_eq!(lifeboat_e2e::sha256_file(&local), image_sha);
    // The name is learned: an alias of the dashboard, visible and removable.
    let deadline = Instant::now() + STEP;
    loop {
        let aliases = api.get_ok("/api/v1/aliases");
        let learned = aliases.as_array().unwrap().iter().any(|a| {
            a["name"] == "wr841nv8_tp_recovery.bin" && a["file"] == "openwrt-factory.bin" && a["source"] == "dashboard"
        });
        if learned {
            break;
        }
        assert!(Instant::now() < deadline, "the name was not learned: {aliases}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Disarmed: a new name is missing again; the learned one still serves the image.
    assert_eq!(api.delete("/api/v1/armed-image").status, 204);
    let (other, _) = get("ArcherC7v5_tp_recovery.bin");
    assert!(!other.success(), "disarmed, yet a missing name was served:\n{other}");
    let (again, local) = get("wr841nv8_tp_recovery.bin");
    assert!(again.success(), "{again}");
    assert_eq!(lifeboat_e2e::sha256_file(&local), image_sha);
    let out = lifeboat.terminate(Duration::from_secs(5));
    assert!(out.success(), "{out}");
}
