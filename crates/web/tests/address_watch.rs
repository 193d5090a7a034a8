//! Devices looking for an address nobody has: the overview's banner says who, where and what,
//! with a button that answers there (and the command that does it by hand); the API lists them;
//! an old finding leaves the overview. Claimed addresses are listed and given back, from the
//! page and through the API, and a refusal says why.

mod common;

use axum::http::{Method, StatusCode};
use common::{App, now_ms};
use lifeboat_web::{ClaimError, WantedAddressView};
use serde_json::json;

fn wanted(at: i64) -> WantedAddressView {
    WantedAddressView {
        at,
        interface: "eth1".into(),
        mac: "50:c7:bf:00:00:86".into(),
        device: Some("192.168.0.86".parse().unwrap()),
        wanted: "192.168.0.66".parse().unwrap(),
        prefix: 24,
        claim_command: "ip addr add 192.168.0.66/24 dev eth1".into(),
    }
}

#[tokio::test]
async fn the_overview_says_which_device_looks_for_which_address_and_how_to_answer() {
    let app = App::local().await;
    assert!(!app.get("/").await.body.contains("is looking for"), "nothing seen, nothing said");
    app.control.lock().wanted = vec![wanted(now_ms() - 120_000)];
    app.get("/").await.assert_contains(&[
        "<strong class=\"mono\">50:c7:bf:00:00:86</strong> at <span class=\"mono\">192.168.0.86</span> on eth1 is looking for <strong class=\"mono\">192.168.0.66</strong>",
        "2 min ago",
        "<code class=\"mono\">ip addr add 192.168.0.66/24 dev eth1</code>",
    ]);
    let api = app.api(Method::GET, "/api/v1/addresses/wanted", None).await.json();
    assert_eq!(api[0]["wanted"], "192.168.0.66");
    assert_eq!(api[0]["device"], "192.168.0.86");
    assert_eq!(api[0]["claim_command"], "ip addr add 192.168.0.66/24 dev eth1");

    app.control.lock().wanted = vec![wanted(now_ms() - 2 * 3_600_000)];
    assert!(!app.get("/").await.body.contains("is looking for"), "two hours ago is over");
    assert_eq!(app.api(Method::GET, "/api/v1/addresses/wanted", None).await.json()[0]["mac"], "50:c7:bf:00:00:86");
}

#[tokio::test]
async fn answer_at_takes_the_address_and_give_it_back_returns_it() {
    let app = App::local().await;
    app.control.lock().wanted = vec![wanted(now_ms() - 1_000)];
    let page = app.get("/").await;
    page.assert_contains(&[
        "action=\"/addresses/claim\"",
        "name=\"interface\" value=\"eth1\"",
        "name=\"address\" value=\"192.168.0.66\"",
        "name=\"prefix\" value=\"24\"",
        "Answer at 192.168.0.66",
    ]);

    let answered =
        app.form("/addresses/claim", &[("interface", "eth1"), ("address", "192.168.0.66"), ("prefix", "24")]).await;
    assert_eq!(answered.status, StatusCode::SEE_OTHER, "{}", answered.body);
    let page = app.get("/").await;
    page.assert_contains(&[
        "192.168.0.66/24 is on eth1: the device can reach lifeboat there.",
        "lifeboat answers at 192.168.0.66 now",
        "lifeboat holds <strong class=\"mono\">192.168.0.66/24</strong> on eth1",
    ]);
    assert!(!page.body.contains("Answer at 192.168.0.66"), "answered already");
    let api = app.api(Method::GET, "/api/v1/addresses/claims", None).await.json();
    assert_eq!((api[0]["address"].as_str(), api[0]["prefix"].as_u64()), (Some("192.168.0.66"), Some(24)));

    let released = app.form("/addresses/release", &[("address", "192.168.0.66")]).await;
    assert_eq!(released.status, StatusCode::SEE_OTHER);
    app.get("/").await.assert_contains(&["192.168.0.66 removed from its interface.", "Answer at 192.168.0.66"]);
    assert!(app.control.lock().claims.is_empty());

    // The API: 201 with what is held, 204, then 404; a refusal is a 409 that says why.
    let body = json!({"interface": "eth1", "address": "10.9.0.66"});
    let created = app.api(Method::POST, "/api/v1/addresses/claims", Some(body.clone())).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.json()["prefix"], 24, "the default prefix");
    assert_eq!(
        app.api(Method::DELETE, "/api/v1/addresses/claims/10.9.0.66", None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.api(Method::DELETE, "/api/v1/addresses/claims/10.9.0.66", None).await.status, StatusCode::NOT_FOUND);
    app.control.lock().claim_refusal =
        Some(ClaimError::Refused("aa:bb:cc:00:00:01 answers for 10.9.0.66 on eth1: another host has it".into()));
    let refused = app.api(Method::POST, "/api/v1/addresses/claims", Some(body)).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.json()["error"].as_str().unwrap().contains("another host has it"), "{}", refused.body);
}
