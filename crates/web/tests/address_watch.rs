//! Devices looking for an address nobody has: the overview's banner says who, where and what,
//! with the command that answers; the API lists them; an old finding leaves the overview.

mod common;

use axum::http::Method;
use common::{App, now_ms};
use lifeboat_web::WantedAddressView;

fn wanted(at: i64) -> WantedAddressView {
    WantedAddressView {
        at,
        interface: "eth1".into(),
        mac: "50:c7:bf:00:00:86".into(),
        device: Some("192.168.0.86".parse().unwrap()),
        wanted: "192.168.0.66".parse().unwrap(),
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
