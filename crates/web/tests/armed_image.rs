//! Arming an image for a recovery from the Images page and the API: only an image of the TFTP
//! root can be armed, the page says which one is and offers to disarm it.

mod common;

use axum::http::{Method, StatusCode};
use common::App;
use serde_json::json;

#[tokio::test]
async fn an_image_is_armed_and_disarmed_from_the_page_and_the_api() {
    let app = App::local().await;
    std::fs::write(app.root.path().join("openwrt.bin"), b"fw").unwrap();
    let page = app.get("/images").await;
    page.assert_contains(&["action=\"/images/arm\"", "Arm for recovery"]);
    assert!(!page.body.contains("is armed for a recovery"));

    let armed = app.form("/images/arm", &[("file", "openwrt.bin")]).await;
    assert_eq!(armed.status, StatusCode::SEE_OTHER);
    assert_eq!(app.control.lock().armed.as_deref(), Some("openwrt.bin"));
    let page = app.get("/images").await;
    page.assert_contains(&["openwrt.bin is armed:", "is armed for a recovery", "action=\"/images/disarm\""]);
    assert!(!page.body.contains("Arm for recovery"), "the armed image is not offered again");

    app.form("/images/arm", &[("file", "missing.bin")]).await;
    app.get("/images").await.assert_contains(&["there is no image &#34;missing.bin&#34; in the TFTP root"]);
    assert_eq!(app.control.lock().armed.as_deref(), Some("openwrt.bin"), "a refused arming changes nothing");

    app.form("/images/disarm", &[]).await;
    assert_eq!(app.control.lock().armed, None);
    app.get("/images").await.assert_contains(&["No image is armed now"]);

    let put = app.api(Method::PUT, "/api/v1/armed-image", Some(json!({"file": "openwrt.bin"}))).await;
    assert_eq!((put.status, put.json()["file"].as_str()), (StatusCode::OK, Some("openwrt.bin")));
    assert_eq!(app.api(Method::GET, "/api/v1/armed-image", None).await.json()["file"], "openwrt.bin");
    let missing = app.api(Method::PUT, "/api/v1/armed-image", Some(json!({"file": "nope.bin"}))).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", missing.body);
    assert_eq!(app.api(Method::DELETE, "/api/v1/armed-image", None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.api(Method::DELETE, "/api/v1/armed-image", None).await.status, StatusCode::NOT_FOUND);
    assert!(app.api(Method::GET, "/api/v1/armed-image", None).await.json()["file"].is_null());
}
