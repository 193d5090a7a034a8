//! Boot profiles through the API and on the Hosts page: round trips, a host that boots one, a
//! profile in use that cannot be deleted, and template errors shown with their line.

mod common;

use axum::http::{Method, StatusCode};
use common::App;
use serde_json::json;

fn with_kernel(app: &App) {
    std::fs::create_dir_all(app.root.path().join("debian")).unwrap();
    std::fs::write(app.root.path().join("debian/vmlinuz"), b"kernel").unwrap();
    std::fs::write(app.root.path().join("debian/initrd.gz"), b"initrd").unwrap();
}

#[tokio::test]
async fn profiles_round_trip_and_a_host_boots_one_until_it_lets_go() {
    let app = App::local().await;
    with_kernel(&app);
    let saved = app
        .api(
            Method::PUT,
            "/api/v1/boot-profiles/debian-12",
            Some(json!({"kernel": "/debian/vmlinuz", "initrds": ["debian/initrd.gz"], "cmdline": "console=ttyS0 ip={{ ip }}"})),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(saved.json()["kernel"], "debian/vmlinuz");
    assert_eq!(saved.json()["script"], json!(null));
    let list = app.get("/api/v1/boot-profiles").await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(app.get("/api/v1/boot-profiles/debian-12").await.json()["initrds"], json!(["debian/initrd.gz"]));
    assert_eq!(app.get("/api/v1/boot-profiles/nothing").await.status, StatusCode::NOT_FOUND);

    let host = app
        .api(Method::POST, "/api/v1/hosts", Some(json!({"mac": "52:54:00:12:34:56", "boot_profile": "debian-12"})))
        .await;
    assert_eq!(host.status, StatusCode::CREATED, "{}", host.body);
    assert_eq!(host.json()["boot_profile"], "debian-12");
    let missing =
        app.api(Method::POST, "/api/v1/hosts", Some(json!({"mac": "52:54:00:12:34:57", "boot_profile": "nope"}))).await;
    assert_eq!(missing.status, StatusCode::CONFLICT, "{}", missing.body);

    let in_use = app.api(Method::DELETE, "/api/v1/boot-profiles/debian-12", None).await;
    assert_eq!(in_use.status, StatusCode::CONFLICT, "{}", in_use.body);
    assert!(in_use.json()["error"].as_str().unwrap().contains("52:54:00:12:34:56"), "{}", in_use.body);
    let id = host.json()["id"].as_i64().unwrap();
    let freed = app.api(Method::PUT, &format!("/api/v1/hosts/{id}"), Some(json!({"mac": "52:54:00:12:34:56"}))).await;
    assert_eq!(freed.status, StatusCode::OK, "{}", freed.body);
    let deleted = app.api(Method::DELETE, "/api/v1/boot-profiles/debian-12", None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);

    let events = app.events().await;
    let kinds: Vec<&str> = events.iter().map(|(kind, _, _)| kind.as_str()).collect();
    assert!(kinds.contains(&"boot_profile_saved") && kinds.contains(&"boot_profile_deleted"), "{kinds:?}");
}

#[tokio::test]
async fn a_template_error_is_refused_with_its_field_and_line() {
    let app = App::local().await;
    with_kernel(&app);
    let reply = app
        .api(
            Method::PUT,
            "/api/v1/boot-profiles/broken",
            Some(json!({"script": "#!ipxe\necho {{ mac }}\nkernel {{ kernel_url }\nboot\n"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["fields"][0]["field"], "script", "{body}");
    assert!(body["fields"][0]["message"].as_str().unwrap().starts_with("script line 3:"), "{body}");
    let typo = app
        .api(
            Method::PUT,
            "/api/v1/boot-profiles/typo",
            Some(json!({"kernel": "debian/vmlinuz", "cmdline": "ip={{ addr }}"})),
        )
        .await;
    assert_eq!(typo.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", typo.body);
    assert_eq!(typo.json()["fields"][0]["field"], "cmdline", "{}", typo.body);
    let bad_name = app.api(Method::PUT, "/api/v1/boot-profiles/-x", Some(json!({"kernel": "debian/vmlinuz"}))).await;
    assert_eq!(bad_name.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad_name.body);
    assert!(app.get("/api/v1/boot-profiles").await.json().as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_hosts_page_lists_profiles_and_shows_a_template_error_on_the_form() {
    let app = App::local().await;
    with_kernel(&app);
    let reply = app
        .form(
            "/boot-profiles",
            &[("name", "lab"), ("kernel", ""), ("script", "#!ipxe\n{% if mac %}\necho {{ mac }}\n")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert!(reply.body.contains("script line"), "the error is shown with its line");
    assert!(reply.body.contains("{% if mac %}"), "the form keeps what was typed");

    let added = app
        .form("/boot-profiles", &[("name", "lab"), ("kernel", "debian/vmlinuz"), ("initrds", "debian/initrd.gz")])
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let page = app.get("/hosts").await;
    assert!(page.body.contains("kernel debian/vmlinuz, initrd debian/initrd.gz"), "{}", page.body);
    assert!(page.body.contains(r#"<option value="lab">lab</option>"#), "the host form offers the profile");
    let edit = app.get("/boot-profiles/lab").await;
    assert_eq!(edit.status, StatusCode::OK);
    assert!(edit.body.contains("readonly"), "an existing profile keeps its name");
    let again = app.form("/boot-profiles", &[("name", "lab"), ("kernel", "debian/vmlinuz")]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "adding a second profile of a name is refused");
}
