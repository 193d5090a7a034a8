//! The JSON API: round trips of everything the pages can do, with JSON errors.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::header::HOST;
use axum::http::{Method, Request, StatusCode};
use common::{App, live_transfer, now_ms, transfer};
use futures_util::StreamExt;
use lifeboat_store::TransferOutcome;
use lifeboat_web::{Metrics, Service};
use serde_json::json;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn hosts_round_trip_with_events_and_reloads() {
    let app = App::local().await;
    std::fs::write(app.root.path().join("openwrt.bin"), b"fw").unwrap();
    let created = app
        .api(
            Method::POST,
            "/api/v1/hosts",
            Some(json!({"mac": "3C:84:6A:12:34:56", "name": "archer", "address": "192.168.0.66",
                        "image": "/openwrt.bin", "names": ["/tp_recovery.bin"], "notes": "shelf"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let host = created.json();
    let id = host["id"].as_i64().unwrap();
    assert_eq!(host["mac"], "3c:84:6a:12:34:56");
    assert_eq!(host["image"], "openwrt.bin");
    assert_eq!(host["names"], json!(["tp_recovery.bin"]));
    assert_eq!(host["address"], "192.168.0.66");

    let list = app.get("/api/v1/hosts").await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(app.get(&format!("/api/v1/hosts/{id}")).await.json()["name"], "archer");

    let updated = app
        .api(Method::PUT, &format!("/api/v1/hosts/{id}"), Some(json!({"mac": "3c:84:6a:12:34:56", "notes": "moved"})))
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.json()["notes"], "moved");
    assert_eq!(updated.json()["image"], json!(null));

    let duplicate = app.api(Method::POST, "/api/v1/hosts", Some(json!({"mac": "3c-84-6a-12-34-56"}))).await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT, "{}", duplicate.body);
    assert!(duplicate.json()["error"].as_str().unwrap().contains("3c:84:6a:12:34:56"), "{}", duplicate.body);

    let deleted = app.api(Method::DELETE, &format!("/api/v1/hosts/{id}"), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = app.get(&format!("/api/v1/hosts/{id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(gone.json()["error"].is_string());
    assert_eq!(app.api(Method::DELETE, &format!("/api/v1/hosts/{id}"), None).await.status, StatusCode::NOT_FOUND);

    assert_eq!(app.control.lock().reloads, 3, "add, change, delete each reload");
    let events = app.events().await;
    let kinds: Vec<&str> = events.iter().map(|(kind, _, _)| kind.as_str()).collect();
    assert_eq!(kinds, ["host_deleted", "host_changed", "host_added"]);
    assert!(events.iter().all(|(_, origin, _)| origin == "web 127.0.0.1 (local)"), "{events:?}");
    assert!(events[2].2.contains("image openwrt.bin"), "{events:?}");
}

#[tokio::test]
async fn invalid_hosts_get_422_with_every_field_named() {
    let app = App::local().await;
    let reply = app
        .api(
            Method::POST,
            "/api/v1/hosts",
            Some(json!({"mac": "3c:84:6a:12:34", "address": "192.168.0.300", "image": "nope.bin", "names": ["../x"]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    let body = reply.json();
    let fields: Vec<&str> = body["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["mac", "address", "image", "names"]);
    assert!(body["error"].as_str().unwrap().contains("is not a MAC address"));
    assert!(app.get("/api/v1/hosts").await.json().as_array().unwrap().is_empty());
    assert_eq!(app.control.lock().reloads, 0);
}

#[tokio::test]
async fn malformed_requests_get_json_errors() {
    let app = App::local().await;
    let csrf = app.csrf().await;
    let broken = Request::post("/api/v1/hosts")
        .header("x-csrf-token", &csrf)
        .header("content-type", "application/json")
        .body(Body::from("{\"mac\": "))
        .unwrap();
    let reply = app.send(broken).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.json()["error"].is_string());

    let unknown =
        app.api(Method::POST, "/api/v1/hosts", Some(json!({"mac": "3c:84:6a:12:34:56", "admin": true}))).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
    assert!(unknown.json()["error"].as_str().unwrap().contains("admin"));

    let bad_id = app.get("/api/v1/hosts/abc").await;
    assert_eq!(bad_id.status, StatusCode::NOT_FOUND);
    assert!(bad_id.json()["error"].is_string());

    let bad_filter = app.get("/api/v1/transfers?outcome=sideways").await;
    assert_eq!(bad_filter.status, StatusCode::BAD_REQUEST);
    assert!(bad_filter.json()["error"].as_str().unwrap().contains("sideways"));
    let bad_number = app.get("/api/v1/transfers?before=abc").await;
    assert_eq!(bad_number.status, StatusCode::BAD_REQUEST);
    assert!(bad_number.json()["error"].is_string());
}

#[tokio::test]
async fn images_upload_list_replace_and_delete() {
    let app = App::local().await;
    let firmware = b"OpenWrt factory image".to_vec();
    let uploaded = app.upload("boards/openwrt.bin", firmware.clone()).await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
    assert_eq!(uploaded.json()["sha256"], sha256(&firmware));
    assert_eq!(std::fs::read(app.root.path().join("boards/openwrt.bin")).unwrap(), firmware);

    let list = app.get("/api/v1/images").await.json();
    assert_eq!(list[0]["file"], "boards/openwrt.bin");
    assert_eq!(list[0]["size"], firmware.len());
    assert_eq!(list[0]["sha256"], sha256(&firmware), "the upload's digest is cached at once");
    assert_eq!(list[0]["in_use"], false);

    let replaced = app.upload("boards/openwrt.bin", b"v2".to_vec()).await;
    assert_eq!(replaced.status, StatusCode::OK);
    assert_eq!(replaced.json()["replaced"], true);
    assert_eq!(app.get("/api/v1/images").await.json()[0]["sha256"], sha256(b"v2"));

    app.control.lock().in_use.push("boards/openwrt.bin".into());
    let busy = app.upload("boards/openwrt.bin", b"v3".to_vec()).await;
    assert_eq!(busy.status, StatusCode::CONFLICT);
    assert!(busy.json()["error"].as_str().unwrap().contains("being transferred"));
    let busy = app.api(Method::DELETE, "/api/v1/images/boards/openwrt.bin", None).await;
    assert_eq!(busy.status, StatusCode::CONFLICT);
    assert_eq!(std::fs::read(app.root.path().join("boards/openwrt.bin")).unwrap(), b"v2");
    assert_eq!(app.get("/api/v1/images").await.json()[0]["in_use"], true);
    app.control.lock().in_use.clear();

    let deleted = app.api(Method::DELETE, "/api/v1/images/boards/openwrt.bin", None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert!(!app.root.path().join("boards/openwrt.bin").exists());
    assert_eq!(app.api(Method::DELETE, "/api/v1/images/boards/openwrt.bin", None).await.status, StatusCode::NOT_FOUND);
    assert!(app.store.image_digests().await.unwrap().is_empty(), "the digest is forgotten");

    let kinds: Vec<String> = app.events().await.into_iter().map(|(kind, _, _)| kind).collect();
    assert_eq!(kinds, ["image_deleted", "image_uploaded", "image_uploaded"]);
}

#[tokio::test]
async fn digests_of_files_put_there_by_hand_are_computed_in_the_background_and_cached() {
    let app = App::local().await;
    let bytes = vec![7u8; 300_000];
    std::fs::write(app.root.path().join("big.img"), &bytes).unwrap();
    let mut digest = serde_json::Value::Null;
    for _ in 0..100 {
        digest = app.get("/api/v1/images").await.json()[0]["sha256"].clone();
        if !digest.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(digest, sha256(&bytes));
    let cached = app.store.image_digests().await.unwrap();
    assert_eq!(cached.len(), 1);
    assert_eq!(cached[0].file, "big.img");

    // A changed file is hashed again.
    std::fs::write(app.root.path().join("big.img"), b"changed").unwrap();
    let mut digest = serde_json::Value::Null;
    for _ in 0..100 {
        digest = app.get("/api/v1/images").await.json()[0]["sha256"].clone();
        if digest == sha256(b"changed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(digest, sha256(b"changed"));
}

#[tokio::test]
async fn aliases_round_trip_and_hide_the_missing_name() {
    let app = App::local().await;
    std::fs::write(app.root.path().join("openwrt.bin"), b"fw").unwrap();
    app.store
        .insert_transfers(&[transfer(
            now_ms(),
            Some("3c:84:6a:12:34:56"),
            "tp_recovery.bin",
            TransferOutcome::NotFound,
        )])
        .await
        .unwrap();
    let missing = app.get("/api/v1/missing").await.json();
    assert_eq!(missing[0]["requested"], "tp_recovery.bin");
    assert_eq!(missing[0]["count"], 1);
    assert_eq!(missing[0]["last_client"], "192.168.0.66");
    assert_eq!(missing[0]["last_mac"], "3c:84:6a:12:34:56");

    let added =
        app.api(Method::POST, "/api/v1/aliases", Some(json!({"name": "tp_recovery.bin", "file": "openwrt.bin"}))).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    assert_eq!(added.json()[0]["file"], "openwrt.bin");
    assert!(app.get("/api/v1/missing").await.json().as_array().unwrap().is_empty());
    assert_eq!(app.control.lock().reloads, 1);

    let no_image = app.api(Method::POST, "/api/v1/aliases", Some(json!({"name": "x.bin", "file": "nope.bin"}))).await;
    assert_eq!(no_image.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_name = app.api(Method::POST, "/api/v1/aliases", Some(json!({"name": "../x", "file": "openwrt.bin"}))).await;
    assert_eq!(bad_name.status, StatusCode::UNPROCESSABLE_ENTITY);

    let removed = app.api(Method::DELETE, "/api/v1/aliases/tp_recovery.bin", None).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert!(app.get("/api/v1/aliases").await.json().as_array().unwrap().is_empty());
    assert_eq!(app.api(Method::DELETE, "/api/v1/aliases/tp_recovery.bin", None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.control.lock().reloads, 2);
    let events = app.events().await;
    assert_eq!(events[1].0, "alias_added");
    assert_eq!(events[1].2, "tp_recovery.bin → openwrt.bin");
}

#[tokio::test]
async fn services_start_and_stop_with_the_callers_origin() {
    let app = App::local().await;
    let started = app.api(Method::POST, "/api/v1/services/tftp/start", None).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    assert_eq!(started.json()[0]["service"], "tftp");
    assert_eq!(started.json()[0]["running"], true);
    let again = app.api(Method::POST, "/api/v1/services/tftp/start", None).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.json()["error"], "TFTP is already running");
    let stopped = app.api(Method::POST, "/api/v1/services/TFTP/stop", None).await;
    assert_eq!(stopped.status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/services").await.json()[0]["running"], false);
    assert_eq!(app.api(Method::POST, "/api/v1/services/ftp/start", None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.api(Method::POST, "/api/v1/services/dhcp/reboot", None).await.status, StatusCode::NOT_FOUND);
    let calls = app.control.lock().calls.clone();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[2], ("stop", Service::Tftp, "web 127.0.0.1 (local)".to_owned()));
}

#[tokio::test]
async fn transfers_history_pages_without_gaps_or_duplicates() {
    let app = App::local().await;
    let now = now_ms();
    let records: Vec<_> = (0..25)
        .map(|i| {
            transfer(now - 100_000 + i * 1000, Some("aa:bb:cc:dd:ee:01"), &format!("f{i}"), TransferOutcome::Complete)
        })
        .collect();
    app.store.insert_transfers(&records).await.unwrap();
    let mut seen = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let path = match before {
            Some(b) => format!("/api/v1/transfers?limit=10&before={b}"),
            None => "/api/v1/transfers?limit=10".to_owned(),
        };
        let page = app.get(&path).await.json();
        seen.extend(page["items"].as_array().unwrap().iter().map(|t| t["requested"].as_str().unwrap().to_owned()));
        match page["next_before"].as_i64() {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).rev().map(|i| format!("f{i}")).collect();
    assert_eq!(seen, expected);

    let one = app.get("/api/v1/transfers?file=f3&mac=AA:BB:CC:DD:EE:01&outcome=complete").await.json();
    let item = &one["items"][0];
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
    assert_eq!(item["client"], "192.168.0.66:2070");
    assert_eq!(item["direction"], "read");
    assert_eq!(item["protocol"], "tftp");
    assert_eq!(item["outcome"], "complete");
    assert_eq!(item["blksize"], 1468);
    let none = app.get("/api/v1/transfers?outcome=failed").await.json();
    assert!(none["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn live_transfers_leases_interfaces_and_events_lists() {
    let app = App::local().await;
    app.control.lock().live = vec![live_transfer()];
    let live = app.get("/api/v1/transfers/live").await.json();
    assert_eq!(
        live,
        json!([{"id": 3, "client": "10.9.0.100:3000", "mac": null, "requested": "pxelinux.0",
        "file": "pxelinux.0", "protocol": "tftp", "direction": "read", "bytes": 1000, "size": 4000, "started_at": 5, "rate": 500,
        "outcome": null}])
    );
    assert!(app.get("/api/v1/leases").await.json().as_array().unwrap().is_empty());
    let interfaces = app.get("/api/v1/interfaces").await.json();
    assert_eq!(interfaces[1]["name"], "eth1");
    assert_eq!(interfaces[1]["addresses"][0], "10.9.0.1/24");

    for i in 0..3 {
        app.api(Method::POST, "/api/v1/hosts", Some(json!({"mac": format!("00:00:00:00:00:0{i}")}))).await;
    }
    app.flush().await;
    let page = app.get("/api/v1/events?limit=2").await.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["kind"], "host_added");
    let next = page["next_before"].as_i64().unwrap();
    let rest = app.get(&format!("/api/v1/events?limit=2&before={next}")).await.json();
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_before"], json!(null));
}

#[tokio::test]
async fn live_stream_sends_a_snapshot_at_once() {
    let app = App::local().await;
    app.control.lock().live = vec![live_transfer()];
    let mut request =
        Request::get("/api/v1/transfers/live/stream").header(HOST, "127.0.0.1:8080").body(Body::empty()).unwrap();
    request.extensions_mut().insert(ConnectInfo(app.client));
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body().into_data_stream();
    let first =
        tokio::time::timeout(Duration::from_secs(5), body.next()).await.expect("an event in time").unwrap().unwrap();
    let text = String::from_utf8_lossy(&first);
    assert!(text.starts_with("event: transfers\ndata: [{"), "{text}");
    assert!(text.contains("\"requested\":\"pxelinux.0\""), "{text}");
    app.control.lock().live.clear();
    let second =
        tokio::time::timeout(Duration::from_secs(5), body.next()).await.expect("a second event").unwrap().unwrap();
    assert!(String::from_utf8_lossy(&second).contains("data: []"));
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let app = App::local().await;
    app.control.lock().tftp = true;
    app.control.lock().metrics = Metrics {
        transfers_complete: 5,
        transfers_not_found: 2,
        bytes_sent: 1_000_000,
        active_leases: 3,
        dhcp_replies: 9,
        refusals: 4,
        ..Metrics::default()
    };
    let reply = app.get("/metrics").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.header("content-type").starts_with("text/plain; version=0.0.4"));
    for line in [
        "# TYPE lifeboat_tftp_transfers_total counter",
        "lifeboat_tftp_transfers_total{outcome=\"complete\"} 5",
        "lifeboat_tftp_transfers_total{outcome=\"not_found\"} 2",
        "lifeboat_tftp_transfers_total{outcome=\"failed\"} 0",
        "lifeboat_tftp_bytes_total{direction=\"sent\"} 1000000",
        "lifeboat_refusals_total 4",
        "lifeboat_dhcp_replies_total 9",
        "lifeboat_dhcp_active_leases 3",
        "lifeboat_tftp_active_transfers 0",
        "lifeboat_service_up{service=\"tftp\"} 1",
        "lifeboat_service_up{service=\"dhcp\"} 0",
        "# TYPE lifeboat_log_records_total counter",
    ] {
        assert!(reply.body.lines().any(|l| l == line), "{line:?} missing:\n{}", reply.body);
    }
    let help = reply.body.lines().filter(|l| l.starts_with("# HELP")).count();
    let types = reply.body.lines().filter(|l| l.starts_with("# TYPE")).count();
    assert_eq!(help, types);
}

/// The health check is public (a container runtime has no credentials), healthy while every
/// service that should run does and the database takes writes, and 503 with the reason when not.
#[tokio::test]
async fn health_is_public_and_names_what_is_wrong() {
    let app = App::new(lifeboat_web::Auth::Token(lifeboat_web::generate_token())).await;
    app.control.lock().tftp = true;
    let healthy = app.get("/api/v1/health").await;
    assert_eq!(healthy.status, StatusCode::OK, "{}", healthy.body);
    let body = healthy.json();
    assert_eq!(body["healthy"], true);
    assert_eq!(body["database"]["writable"], true);
    assert_eq!(body["services"][0], json!({"service": "tftp", "running": true, "failed": false}));
    let written: i64 = app.store.setting("health_checked_at").await.unwrap().unwrap().parse().unwrap();
    assert!((written - now_ms()).abs() < 60_000, "the proof is dated now: {written}");
    // Other routes still need the token.
    assert_eq!(app.get("/api/v1/services").await.status, StatusCode::UNAUTHORIZED);

    {
        let mut fake = app.control.lock();
        fake.tftp = false;
        fake.tftp_fails = Some("cannot listen on UDP 0.0.0.0:69: address in use".into());
    }
    let failed = app.get("/api/v1/health").await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE, "{}", failed.body);
    assert_eq!(failed.json()["services"][0], json!({"service": "tftp", "running": false, "failed": true}));
    assert_eq!(failed.json()["database"]["writable"], true);
}

/// A database that no longer takes writes makes lifeboat unhealthy, once the last proof expired.
#[tokio::test]
async fn health_fails_when_the_database_takes_no_writes() {
    let app = App::local().await;
    app.store.close().await;
    let reply = app.get("/api/v1/health").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["healthy"], false);
    assert_eq!(body["database"]["writable"], false);
    assert!(body["database"]["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
}
