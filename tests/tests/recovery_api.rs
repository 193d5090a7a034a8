//! The dashboard's recovery through its API, against real peers in namespaces: a push to a
//! Netgear-like device whose TFTP server (in.tftpd) comes up only after lifeboat has asked a few
//! times, with the address in the device's network taken and given back; and a pull recovery
//! cancelled while it waits, which gives back its address and disarms its image. Requests it
//! cannot run are refused with a reason.

use std::time::{Duration, Instant};

use lifeboat_e2e::dashboard::DashboardApi;
use lifeboat_e2e::{Pair, PeerServers, random_file, require_netns, require_program, sha256_file, spawn_lifeboat_serve};
use serde_json::{Value, json};

const STEP: Duration = Duration::from_secs(20);
const RECOVERY_BOUND: Duration = Duration::from_secs(90);

/// Polls the recovery until `holds`, within `bound`.
#[track_caller]
fn wait_for_recovery(api: &DashboardApi, what: &str, bound: Duration, holds: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + bound;
    loop {
        let view = api.get_ok("/api/v1/recovery");
        if holds(&view) {
            return view;
        }
        assert!(Instant::now() < deadline, "{what} within {bound:?}:\n{view:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn addresses(pair: &Pair) -> String {
    pair.server.run_ok(&["ip", "-4", "-o", "addr", "show", "dev", &pair.server_dev], STEP).stdout
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn a_push_from_the_dashboard_asks_until_the_device_answers_and_gives_its_address_back() {
    require_netns!("curl");
    let peers = PeerServers::locate();
    require_program(&peers.in_tftpd);
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let image_sha = random_file(root.path().join("R7800-V1.0.2.94.img"), 700_000, 51);
    let _lifeboat = spawn_lifeboat_serve(&pair.server, root.path(), pair.server_ip.into(), &[]);
    let api = DashboardApi::connect(&pair.server, "http://127.0.0.1:8080", STEP);
    pair.client.run_ok(&["ip", "addr", "add", "192.168.1.1/24", "dev", &pair.client_dev], STEP);

    let request = json!({"interface": pair.server_dev, "image": "R7800-V1.0.2.94.img", "profile": "netgear"});
    let started = api.post("/api/v1/recovery", &request);
    assert_eq!(started.status, 202, "{started:?}");
    let asking = wait_for_recovery(&api, "asked the device twice", STEP, |v| v["attempts"].as_u64() >= Some(2));
    assert_eq!(asking["phase"], "pushing", "{asking:#}");
    assert!(addresses(&pair).contains("192.168.1.10/24"), "{}", addresses(&pair));
    assert_eq!(api.post("/api/v1/recovery", &request).status, 409, "one at a time");

    // The device's TFTP server comes up now.
    let received = tempfile::tempdir().unwrap();
    let _tftpd = peers.spawn_tftpd_hpa(&pair.client, received.path(), "192.168.1.1".parse().unwrap(), &["-c"]);
    let done = wait_for_recovery(&api, "done", RECOVERY_BOUND, |v| v["phase"] != "pushing");
    assert_eq!(done["phase"], "done", "{done:#}");
    assert!(done["summary"].as_str().is_some_and(|s| s.contains(&image_sha)), "{done:#}");
    assert_eq!(sha256_file(received.path().join("R7800-V1.0.2.94.img")), image_sha);
    assert!(!addresses(&pair).contains("192.168.1.10/"), "{}", addresses(&pair));
    let events = api.get_ok("/api/v1/events");
    let kinds: Vec<&str> = events["items"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"recovery_started") && kinds.contains(&"recovery_ended"), "{kinds:?}");
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn a_waiting_recovery_cancelled_gives_its_address_back_and_refusals_say_why() {
    require_netns!("curl");
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    random_file(root.path().join("openwrt-factory.bin"), 10_000, 52);
    let _lifeboat = spawn_lifeboat_serve(&pair.server, root.path(), pair.server_ip.into(), &[]);
    let api = DashboardApi::connect(&pair.server, "http://127.0.0.1:8080", STEP);
    let dev = pair.server_dev.clone();

    let unknown_image = api.post("/api/v1/recovery", &json!({"interface": dev, "image": "nope.bin"}));
    assert_eq!(unknown_image.status, 422, "{unknown_image:?}");
    let bootp = json!({"interface": dev, "image": "openwrt-factory.bin", "profile": "xiaomi"});
    let refused = api.post("/api/v1/recovery", &bootp);
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(refused.body["error"].as_str().is_some_and(|e| e.contains("lifeboat recover")), "{refused:?}");
    let no_interface = api.post("/api/v1/recovery", &json!({"interface": "eth9", "image": "openwrt-factory.bin"}));
    assert_eq!(no_interface.status, 400, "{no_interface:?}");

    let tplink = json!({"interface": dev, "image": "openwrt-factory.bin", "profile": "tplink"});
    assert_eq!(api.post("/api/v1/recovery", &tplink).status, 202);
    wait_for_recovery(&api, "waiting with the address taken", STEP, |v| {
        v["seen"]
            .as_array()
            .is_some_and(|s| s.iter().any(|l| l["text"].as_str().is_some_and(|t| t.contains("waiting"))))
    });
    assert!(addresses(&pair).contains("192.168.0.66/24"), "{}", addresses(&pair));
    assert_eq!(api.get_ok("/api/v1/armed-image")["file"], "openwrt-factory.bin");

    assert_eq!(api.delete("/api/v1/recovery").status, 204);
    let cancelled = wait_for_recovery(&api, "cancelled", STEP, |v| v["phase"] == "cancelled");
    assert!(cancelled["ended_at"].is_i64(), "{cancelled:#}");
    assert!(!addresses(&pair).contains("192.168.0.66/"), "{}", addresses(&pair));
    assert!(api.get_ok("/api/v1/armed-image")["file"].is_null());
}
