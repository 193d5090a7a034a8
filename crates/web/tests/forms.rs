//! The HTML forms: each change answers with a redirect and a one-shot message, and invalid
//! input comes back with the fields marked and what was typed kept.

mod common;

use axum::http::StatusCode;
use common::{App, now_ms, transfer};
use lifeboat_store::TransferOutcome;
use lifeboat_web::Service;

#[tokio::test]
async fn adding_a_host_redirects_and_shows_a_message_once() {
    let app = App::local().await;
    std::fs::write(app.root.path().join("openwrt.bin"), b"fw").unwrap();
    let reply = app
        .form(
            "/hosts",
            &[
                ("mac", "3C:84:6A:12:34:56"),
                ("name", "archer"),
                ("address", ""),
                ("image", "openwrt.bin"),
                ("names", "tp_recovery.bin\r\nArcherC7v5_tp_recovery.bin"),
                ("notes", ""),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.header("location"), "/hosts");
    let page = app.get("/hosts").await;
    page.assert_contains(&["Host 3c:84:6a:12:34:56 added.", "tp_recovery.bin", "ArcherC7v5_tp_recovery.bin"]);
    assert!(!app.get("/hosts").await.body.contains("added."), "the message shows once");
    let hosts = app.store.hosts().await.unwrap();
    assert_eq!(hosts[0].entry.names, ["tp_recovery.bin", "ArcherC7v5_tp_recovery.bin"]);
    assert_eq!(app.control.lock().reloads, 1);
}

#[tokio::test]
async fn invalid_host_form_comes_back_with_messages_and_the_typed_values() {
    let app = App::local().await;
    let reply =
        app.form("/hosts", &[("mac", "3c:84:6a:zz:34:56"), ("address", "192.168.1"), ("image", "missing.bin")]).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    reply.assert_contains(&[
        "Please correct the fields marked below.",
        "is not a MAC address: write six pairs of hex digits",
        "value=\"3c:84:6a:zz:34:56\"",
        "is not an IPv4 address",
        "value=\"192.168.1\"",
        "there is no file &#34;missing.bin&#34; in the TFTP root",
        "class=\"mono invalid\"",
    ]);
    assert!(app.store.hosts().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_image_of_a_host_is_chosen_among_the_images() {
    let app = App::local().await;
    std::fs::write(app.root.path().join("openwrt.bin"), b"fw").unwrap();
    std::fs::create_dir(app.root.path().join("lab")).unwrap();
    std::fs::write(app.root.path().join("lab/special.img"), b"img").unwrap();
    let page = app.get("/hosts").await;
    page.assert_contains(&[
        "<select id=\"image\" name=\"image\"",
        "<option value=\"\">(none)</option>",
        "<option value=\"openwrt.bin\">openwrt.bin</option>",
        "<option value=\"lab/special.img\">lab/special.img</option>",
    ]);

    // The edit form has the host's image chosen; one that is gone stays a choice, marked.
    app.form("/hosts", &[("mac", "3c:84:6a:12:34:56"), ("image", "lab/special.img")]).await;
    let id = app.store.hosts().await.unwrap()[0].id;
    app.get(&format!("/hosts/{id}")).await.assert_contains(&["<option value=\"lab/special.img\" selected>"]);
    std::fs::remove_file(app.root.path().join("lab/special.img")).unwrap();
    app.get(&format!("/hosts/{id}")).await.assert_contains(&[
        "<option value=\"lab/special.img\" selected>lab/special.img (not in the TFTP root)</option>",
    ]);
}

#[tokio::test]
async fn duplicate_mac_says_which_host_has_it() {
    let app = App::local().await;
    app.form("/hosts", &[("mac", "3c:84:6a:12:34:56"), ("name", "first")]).await;
    let reply = app.form("/hosts", &[("mac", "3c-84-6a-12-34-56"), ("name", "second")]).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    reply.assert_contains(&["3c:84:6a:12:34:56", "value=\"second\""]);
    assert_eq!(app.store.hosts().await.unwrap().len(), 1);
}

#[tokio::test]
async fn editing_and_deleting_a_host() {
    let app = App::local().await;
    app.form("/hosts", &[("mac", "3c:84:6a:12:34:56")]).await;
    let id = app.store.hosts().await.unwrap()[0].id;
    let bad = app.form(&format!("/hosts/{id}"), &[("mac", "3c:84:6a:12:34:56"), ("address", "10.0.0.256")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    bad.assert_contains(&["Edit host", "is not an IPv4 address"]);
    let good = app.form(&format!("/hosts/{id}"), &[("mac", "3c:84:6a:12:34:56"), ("address", "10.0.0.25")]).await;
    assert_eq!(good.status, StatusCode::SEE_OTHER);
    assert_eq!(app.store.host(id).await.unwrap().unwrap().entry.address, Some("10.0.0.25".parse().unwrap()));
    assert_eq!(app.form("/hosts/999", &[("mac", "3c:84:6a:12:34:56")]).await.status, StatusCode::NOT_FOUND);

    let deleted = app.form(&format!("/hosts/{id}/delete"), &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    app.get("/hosts").await.assert_contains(&["Host deleted."]);
    assert!(app.store.hosts().await.unwrap().is_empty());
    let again = app.form(&format!("/hosts/{id}/delete"), &[]).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    app.get("/hosts").await.assert_contains(&["there is no host"]);
}

#[tokio::test]
async fn start_and_stop_buttons() {
    let app = App::local().await;
    let reply = app.form("/services/tftp/start", &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), "/");
    let page = app.get("/").await;
    page.assert_contains(&["TFTP started.", "Stop TFTP"]);
    app.form("/services/tftp/stop", &[]).await;
    app.get("/").await.assert_contains(&["TFTP stopped.", "Start TFTP"]);
    app.form("/services/dhcp/stop", &[]).await;
    app.get("/").await.assert_contains(&["DHCP is not running", "flash error"]);
    let calls = app.control.lock().calls.clone();
    assert_eq!(calls[0], ("start", Service::Tftp, "web 127.0.0.1 (local)".to_owned()));
    assert_eq!(app.form("/services/smtp/start", &[]).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn serving_an_image_under_a_missing_name_in_one_click() {
    let app = App::local().await;
    std::fs::write(app.root.path().join("openwrt.bin"), b"fw").unwrap();
    app.store
        .insert_transfers(&[transfer(now_ms(), None, "wr841nv8_tp_recovery.bin", TransferOutcome::NotFound)])
        .await
        .unwrap();
    let reply = app.form("/aliases", &[("name", "wr841nv8_tp_recovery.bin"), ("file", "openwrt.bin")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let page = app.get("/missing").await;
    page.assert_contains(&["openwrt.bin is now served as wr841nv8_tp_recovery.bin.", "No device asked for a file"]);
    let aliases = app.store.aliases().await.unwrap();
    assert_eq!((aliases[0].name.as_str(), aliases[0].file.as_str()), ("wr841nv8_tp_recovery.bin", "openwrt.bin"));
    assert_eq!(app.control.lock().reloads, 1);

    app.form("/aliases/delete", &[("name", "wr841nv8_tp_recovery.bin")]).await;
    app.get("/missing").await.assert_contains(&["Alias wr841nv8_tp_recovery.bin removed.", "No aliases."]);
    assert_eq!(app.control.lock().reloads, 2);

    app.form("/aliases", &[("name", "x.bin"), ("file", "../../etc/passwd")]).await;
    app.get("/missing").await.assert_contains(&["is not a valid file name"]);
    assert!(app.store.aliases().await.unwrap().is_empty());
}

#[tokio::test]
async fn deleting_an_image_from_the_page() {
    let app = App::local().await;
    std::fs::write(app.root.path().join("old.bin"), b"x").unwrap();
    app.control.lock().in_use.push("old.bin".into());
    app.form("/images/delete", &[("file", "old.bin")]).await;
    app.get("/images").await.assert_contains(&["being transferred right now", "in transfer"]);
    assert!(app.root.path().join("old.bin").exists());
    app.control.lock().in_use.clear();
    let reply = app.form("/images/delete", &[("file", "old.bin")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    app.get("/images").await.assert_contains(&["old.bin deleted."]);
    assert!(!app.root.path().join("old.bin").exists());
    app.form("/images/delete", &[("file", "../../../etc/hostname")]).await;
    app.get("/images").await.assert_contains(&["is not a valid file name"]);
}
