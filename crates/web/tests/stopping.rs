//! Stopping is deliberate: the card counts down to an idle stop, the stop button asks first
//! while transfers run and offers to wait for them.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::{App, live_transfer};
use lifeboat_web::Service;

#[tokio::test]
async fn the_card_counts_down_to_an_idle_stop() {
    let app = App::local().await;
    {
        let mut fake = app.control.lock();
        fake.tftp = true;
        fake.tftp_idle_left = Some(Duration::from_secs(870));
    }
    app.get("/").await.assert_contains(&["Stops itself in", "data-countdown=\"870\"", "14m 30s"]);
    let services = app.api(Method::GET, "/api/v1/services", None).await.json();
    assert_eq!(services[0]["stops_when_idle_in_seconds"], 870);
}

#[tokio::test]
async fn stopping_asks_first_while_transfers_run_and_can_wait_for_them() {
    let app = App::local().await;
    app.control.lock().tftp = true;
    let quiet = app.get("/").await;
    assert!(!quiet.body.contains("data-confirm=\"1 transfer"), "nothing runs: no question");
    assert!(!quiet.body.contains("stop-after-transfers"));

    app.control.lock().live = vec![live_transfer()];
    let busy = app.get("/").await;
    busy.assert_contains(&["1 transfer(s) running: stop TFTP now", "/services/tftp/stop-after-transfers"]);

    let asked = app.form("/services/tftp/stop-after-transfers", &[]).await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.body);
    let calls = app.control.lock().calls.clone();
    assert!(
        calls.iter().any(|(what, service, _)| *what == "stop-after-transfers" && *service == Service::Tftp),
        "{calls:?}"
    );
    assert!(!calls.iter().any(|(what, _, _)| *what == "stop"), "not a plain stop: {calls:?}");
}
