//! The Doctor and Recovery pages and their API over a fake control: the doctor is asked what
//! the form names (an image only when it is a file of the TFTP root) and its checks are shown
//! with their fixes; a recovery starts only with an image of the root, one at a time, shows
//! itself as under way (the page reloads itself then) and can be cancelled.

mod common;

use axum::http::{Method, StatusCode};
use common::App;
use lifeboat_web::{DoctorCheck, RecoveryPhase};
use serde_json::json;

#[tokio::test]
async fn the_doctor_page_and_api_show_each_check_with_its_fix() {
    let app = App::local().await;
    std::fs::write(app.root.path().join("tp_recovery.bin"), b"fw").unwrap();
    app.control.lock().doctor = vec![
        DoctorCheck::pass("UDP port 69", "free: lifeboat can take it"),
        DoctorCheck::fail("Firewall: requests in", "dropped by rule inet filter input handle 7", "`nft insert rule …`"),
    ];
    let form = app.get("/doctor").await;
    form.assert_contains(&["id=\"doctor-form\"", "TP-Link routers", "tp_recovery.bin"]);
    assert!(!form.body.contains("doctor-results"), "nothing is checked before the form is sent");
    assert!(app.control.lock().doctor_asked.is_empty());

    let run = app.get("/doctor?run=1&interface=eth1&profile=tplink&image=tp_recovery.bin").await;
    run.assert_contains(&["1 problem", "check fail", "Fix: `nft insert rule …`", "check pass", "UDP port 69"]);
    let asked = app.control.lock().doctor_asked.pop().unwrap();
    assert_eq!((asked.interface.as_deref(), asked.image.as_deref()), (Some("eth1"), Some("tp_recovery.bin")));

    // A name that is not a file of the root never reaches the doctor.
    let outside = app.get("/doctor?run=1&image=..%2F..%2Fetc%2Fshadow").await;
    outside.assert_contains(&["is not a file of the TFTP root"]);
    assert_eq!(app.control.lock().doctor_asked.pop().unwrap().image, None);

    let api = app.api(Method::GET, "/api/v1/doctor?interface=eth1", None).await;
    assert_eq!(api.status, StatusCode::OK);
    let body = api.json();
    assert_eq!(body["healthy"], false);
    assert_eq!(body["checks"][1]["verdict"], "fail");
    assert_eq!(body["checks"][1]["fix"], "`nft insert rule …`");
    assert_eq!(app.api(Method::GET, "/api/v1/profiles", None).await.json()[0]["name"], "tplink");
}

#[tokio::test]
async fn a_recovery_starts_with_an_image_of_the_root_one_at_a_time_and_can_be_cancelled() {
    let app = App::local().await;
    std::fs::write(app.root.path().join("openwrt-factory.bin"), b"fw").unwrap();
    let idle = app.get("/recovery").await;
    idle.assert_contains(&[
        "id=\"recovery-form\"",
        "openwrt-factory.bin",
        "TP-Link routers</option>",
        "id=\"upload-form\"",
    ]);
    assert!(!idle.body.contains("id=\"recovery\""));

    app.form("/recovery/start", &[("interface", "eth1"), ("image", "nope.bin"), ("profile", "tplink")]).await;
    app.get("/recovery").await.assert_contains(&["is not a file of the TFTP root"]);
    assert!(app.control.lock().recoveries.is_empty());

    let started = app
        .form("/recovery/start", &[("interface", "eth1"), ("image", "openwrt-factory.bin"), ("profile", "tplink")])
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER);
    let asked = app.control.lock().recoveries.pop().unwrap();
    assert_eq!((asked.interface.as_str(), asked.profile.as_deref()), ("eth1", Some("tplink")));
    let waiting = app.get("/recovery").await;
    waiting.assert_contains(&[
        "Recovery started",
        "data-active=\"true\"",
        "Waiting for the device",
        "Hold reset.",
        "/recovery/cancel",
    ]);
    assert!(!waiting.body.contains("id=\"recovery-form\""), "no second one while this runs");

    let again = app
        .api(Method::POST, "/api/v1/recovery", Some(json!({"interface": "eth1", "image": "openwrt-factory.bin"})))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(app.api(Method::GET, "/api/v1/recovery", None).await.json()["phase"], "waiting");

    app.form("/recovery/cancel", &[]).await;
    assert_eq!(app.control.lock().recovery.phase, RecoveryPhase::Cancelled);
    let cancelled = app.get("/recovery").await;
    cancelled.assert_contains(&["Recovery cancelled", "Cancelled", "data-active=\"false\"", "Start another"]);
    let restarted = app
        .api(Method::POST, "/api/v1/recovery", Some(json!({"interface": "eth1", "image": "openwrt-factory.bin"})))
        .await;
    assert_eq!(restarted.status, StatusCode::ACCEPTED, "{}", restarted.body);
    assert_eq!(restarted.json()["phase"], "waiting");
    assert_eq!(app.api(Method::DELETE, "/api/v1/recovery", None).await.status, StatusCode::NO_CONTENT);
}
