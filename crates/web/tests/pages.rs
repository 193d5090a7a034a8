//! Every page renders, empty and with data, and shows what a person looks for.

mod common;

use std::net::Ipv4Addr;

use axum::http::StatusCode;
use common::{App, now_ms, transfer};
use lifeboat_store::{Direction, HostEntry, TransferOutcome};
use lifeboat_web::{LeaseView, LiveTransfer};

const PAGES: [&str; 7] = ["/", "/transfers", "/hosts", "/images", "/missing", "/leases", "/events"];

#[tokio::test]
async fn every_page_renders_on_an_empty_installation() {
    let app = App::local().await;
    for path in PAGES {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        assert!(reply.header("content-type").starts_with("text/html"), "{path}");
        reply.assert_contains(&["<nav", "/static/style.css", "/static/app.js", "name=\"csrf-token\""]);
    }
    app.get("/").await.assert_contains(&["No device has asked for a file yet", "No transfer is running"]);
    app.get("/hosts").await.assert_contains(&["No host mappings yet", "Add host"]);
    app.get("/images").await.assert_contains(&["The TFTP root is empty", "upload-file"]);
    app.get("/missing").await.assert_contains(&["No device asked for a file that does not exist"]);
    app.get("/leases").await.assert_contains(&["No active leases"]);
    app.get("/events")
        .await
        .assert_contains(&["No events recorded", "kept for 365 days, at most 500,000 rows per table"]);
    app.get("/transfers")
        .await
        .assert_contains(&["No transfers match", "kept for 365 days, at most 500,000 rows per table"]);
}

#[tokio::test]
async fn overview_shows_services_with_one_big_button_each_and_the_last_request() {
    let app = App::local().await;
    app.control.lock().tftp = true;
    let now = now_ms();
    app.store
        .insert_transfers(&[
            transfer(now - 60_000, Some("3c:84:6a:12:34:56"), "openwrt.bin", TransferOutcome::Complete),
            transfer(now - 5_000, Some("3c:84:6a:12:34:56"), "wr841nv8_tp_recovery.bin", TransferOutcome::NotFound),
        ])
        .await
        .unwrap();
    let reply = app.get("/").await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.assert_contains(&[
        "Stop TFTP",
        "action=\"/services/tftp/stop\"",
        "Start DHCP",
        "action=\"/services/dhcp/start\"",
        "RUNNING",
        "STOPPED",
        "0.0.0.0:69",
        "range 10.9.0.100",
        // The last request, at a glance: who, which name, what happened.
        "Last request",
        "192.168.0.66",
        "wr841nv8_tp_recovery.bin",
        "not found",
        "eth1",
        "10.9.0.1/24",
        "1 requested name(s) were not found",
    ]);
    assert!(!reply.body.contains("Start TFTP"), "a running service offers only Stop");

    // A service lifeboat was started without (no DHCP range) offers no Start button at all.
    app.control.lock().dhcp_unconfigured = true;
    let reply = app.get("/").await;
    assert!(!reply.body.contains("Start DHCP"), "an unconfigured service cannot be started");
    assert!(!reply.body.contains("action=\"/services/dhcp/start\""));
    reply.assert_contains(&["Stop TFTP"]);
}

fn live(bytes: u64, outcome: Option<TransferOutcome>) -> LiveTransfer {
    LiveTransfer {
        id: 7,
        protocol: lifeboat_store::TransferProtocol::Tftp,
        client: "192.168.0.66:2070".parse().unwrap(),
        mac: Some("3c:84:6a:12:34:56".into()),
        requested: "/openwrt.bin".into(),
        file: Some("openwrt.bin".into()),
        direction: Direction::Read,
        bytes,
        size: Some(8 << 20),
        started_at: now_ms() - 2000,
        rate: 1 << 20,
        outcome,
    }
}

#[tokio::test]
async fn live_transfers_render_with_progress_rate_and_eta() {
    let app = App::local().await;
    app.control.lock().live = vec![live(2 << 20, None)];
    for path in ["/", "/transfers"] {
        let reply = app.get(path).await;
        reply.assert_contains(&[
            "<progress max=\"100\" value=\"25\">",
            "25 %",
            "2.0 MiB",
            "of 8.0 MiB",
            "1.0 MB/s",
            "6 s",
            "/openwrt.bin",
            "data-stream=\"/api/v1/transfers/live/stream\"",
        ]);
    }
    app.control.lock().live = vec![live(8 << 20, Some(TransferOutcome::Complete))];
    app.get("/").await.assert_contains(&["value=\"100\"", "100 %", "complete"]);
}

#[tokio::test]
async fn transfers_page_filters_and_pages_the_history() {
    let app = App::local().await;
    let now = now_ms();
    let records: Vec<_> = (0..120)
        .map(|i| {
            let outcome = if i % 3 == 0 { TransferOutcome::NotFound } else { TransferOutcome::Complete };
            let mac = if i % 2 == 0 { "aa:bb:cc:dd:ee:01" } else { "aa:bb:cc:dd:ee:02" };
            transfer(now - 1_000_000 + i * 1000, Some(mac), &format!("file-{i}.bin"), outcome)
        })
        .collect();
    app.store.insert_transfers(&records).await.unwrap();

    let first = app.get("/transfers").await;
    assert_eq!(first.status, StatusCode::OK);
    first.assert_contains(&["file-119.bin", "Older »", "1468 / 4"]);
    assert!(!first.body.contains("file-60.bin"), "50 rows per page");

    let older = first.body.split("href=\"/transfers?before=").nth(1).unwrap().split('"').next().unwrap();
    let second = app.get(&format!("/transfers?before={older}")).await;
    second.assert_contains(&["file-69.bin", "« Newest"]);
    assert!(!second.body.contains("file-119.bin"));

    let filtered = app.get("/transfers?mac=AA-BB-CC-DD-EE-02&outcome=not_found").await;
    assert_eq!(filtered.status, StatusCode::OK);
    filtered.assert_contains(&["file-117.bin", "file-3.bin"]);
    assert!(!filtered.body.contains("file-118.bin"), "wrong MAC shown");
    assert!(!filtered.body.contains("file-115.bin"), "wrong outcome shown");

    let by_file = app.get("/transfers?file=file-42.bin").await;
    by_file.assert_contains(&["file-42.bin"]);
    assert!(!by_file.body.contains("file-43.bin"));

    let recent = app.get("/transfers?since=10s").await;
    recent.assert_contains(&["No transfers match"]);

    let bad = app.get("/transfers?mac=3c:84").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    bad.assert_contains(&["is not a MAC address"]);
    let bad = app.get("/transfers?since=someday").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    bad.assert_contains(&["is not a time"]);
}

#[tokio::test]
async fn alerts_are_shown_in_red_on_every_page_and_escaped() {
    let app = App::local().await;
    let alert = "Another DHCP server answers on eth1: 10.9.0.2 (MAC 02:00:00:00:00:02) offered 10.9.0.200 <b>";
    app.control.lock().alerts = vec![alert.into()];
    for page in PAGES {
        let reply = app.get(page).await;
        reply
            .assert_contains(&[r#"<div class="alert" role="alert">"#, "Another DHCP server answers on eth1: 10.9.0.2"]);
        assert!(!reply.body.contains("<b>"), "{page}: the alert was not escaped");
    }
    app.control.lock().alerts.clear();
    assert!(!app.get("/").await.body.contains(r#"class="alert""#));
}

#[tokio::test]
async fn hosts_images_missing_leases_and_events_pages_show_their_data() {
    let app = App::local().await;
    std::fs::write(app.root.path().join("openwrt.bin"), b"firmware").unwrap();
    let host = app
        .store
        .insert_host(&HostEntry {
            mac: "3c:84:6a:12:34:56".into(),
            name: Some("archer-c7".into()),
            address: Some(Ipv4Addr::new(192, 168, 0, 66)),
            image: Some("openwrt.bin".into()),
            names: vec!["ArcherC7v5_tp_recovery.bin".into()],
            boot_profile: None,
            notes: "left shelf".into(),
        })
        .await
        .unwrap();
    app.store
        .insert_transfers(&[transfer(
            now_ms(),
            Some("3c:84:6a:12:34:56"),
            "tp_recovery.bin",
            TransferOutcome::NotFound,
        )])
        .await
        .unwrap();
    app.control.lock().leases = vec![
        LeaseView {
            mac: "3c:84:6a:12:34:56".into(),
            address: Ipv4Addr::new(10, 9, 0, 100),
            hostname: Some("archer".into()),
            // 59.5 minutes: "in 59 min" whether or not a millisecond passes before the page is made.
            expires_at: Some(now_ms() + 3_570_000),
            last_seen: None,
            boot_file: None,
        },
        LeaseView {
            mac: "00:11:22:33:44:55".into(),
            address: Ipv4Addr::new(10, 9, 0, 7),
            hostname: None,
            expires_at: None,
            last_seen: None,
            boot_file: None,
        },
    ];

    app.get("/hosts").await.assert_contains(&[
        "3c:84:6a:12:34:56",
        "archer-c7",
        "192.168.0.66",
        "openwrt.bin",
        "ArcherC7v5_tp_recovery.bin",
        "left shelf",
        &format!("href=\"/hosts/{}\"", host.id),
    ]);
    let edit = app.get(&format!("/hosts/{}", host.id)).await;
    assert_eq!(edit.status, StatusCode::OK);
    edit.assert_contains(&[
        "Edit host",
        "value=\"3c:84:6a:12:34:56\"",
        "Save changes",
        "<option value=\"openwrt.bin\" selected>openwrt.bin</option>",
    ]);
    assert_eq!(app.get("/hosts/999").await.status, StatusCode::NOT_FOUND);

    app.get("/missing").await.assert_contains(&["tp_recovery.bin", "192.168.0.66", "action=\"/aliases\"", "Serve"]);
    app.get("/leases").await.assert_contains(&["10.9.0.7", "10.9.0.100", "never", "archer", "in 59 min"]);

    let images = app.get("/images").await;
    images.assert_contains(&["openwrt.bin", "8 B"]);

    // The web records an event for a host change (the service records its own start/stop).
    app.form("/hosts", &[("mac", "00:11:22:33:44:55")]).await;
    app.flush().await;
    app.get("/events").await.assert_contains(&["host added", "web 127.0.0.1 (local)", "00:11:22:33:44:55"]);
}

#[tokio::test]
async fn static_files_are_embedded_with_types() {
    let app = App::local().await;
    let css = app.get("/static/style.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.header("content-type").starts_with("text/css"));
    let js = app.get("/static/app.js").await;
    assert!(js.header("content-type").starts_with("text/javascript"));
    assert!(js.body.contains("EventSource"));
    assert_eq!(app.get("/static/../Cargo.toml").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/static/nothing.js").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_pages_are_404_pages_and_unknown_api_paths_are_json() {
    let app = App::local().await;
    let page = app.get("/nowhere").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    page.assert_contains(&["Not found"]);
    let api = app.get("/api/v1/nowhere").await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert!(api.json()["error"].as_str().unwrap().contains("/api/v1/nowhere"));
}
