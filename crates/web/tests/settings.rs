//! The settings page and `/api/v1/settings` over a fake lifeboat: what they show (locks, the
//! main network's interface), what they hand to `Control::apply_settings`, and how a refusal
//! reaches the person: per key, next to its field, with what was typed kept.

mod common;

use axum::http::{Method, StatusCode};
use common::App;
use lifeboat_web::{Lock, SettingsError, SettingsInput, SettingsProblem, SettingsView};
use serde_json::json;

fn view() -> SettingsView {
    SettingsView {
        stored: json!({"dhcp": {"range": ["10.9.0.100,10.9.0.200"]}}),
        stored_toml: "[dhcp]\nrange = [\"10.9.0.100,10.9.0.200\"]\n".into(),
        effective: json!({"tftp": {"root": "/srv/tftp"}, "dhcp": {"range": ["10.9.0.100,10.9.0.200"]}}),
        effective_toml: "[tftp]\nroot = \"/srv/tftp\"\n".into(),
        locked: vec![Lock { key: "tftp.root".into(), by: "LIFEBOAT_TFTP_ROOT".into() }],
        problems: Vec::new(),
    }
}

fn invalid_range() -> SettingsError {
    SettingsError::Invalid(vec![SettingsProblem {
        key: Some("dhcp.range".into()),
        message: "dhcp.range \"nonsense\": expected START,END[,NETMASK][,LEASE] or NETWORK,proxy".into(),
    }])
}

#[tokio::test]
async fn the_api_shows_locks_applies_json_and_names_the_key_of_a_problem() {
    let app = App::local().await;
    app.control.lock().settings = Some(view());
    let shown = app.api(Method::GET, "/api/v1/settings", None).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(shown.json()["locked"][0], json!({"key": "tftp.root", "by": "LIFEBOAT_TFTP_ROOT"}));
    assert_eq!(shown.json()["effective"]["tftp"]["root"], "/srv/tftp");

    let body = json!({"dhcp": {"range": ["10.9.0.150,10.9.0.160"]}});
    let put = app.api(Method::PUT, "/api/v1/settings", Some(body.clone())).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let applied = app.control.lock().applied.clone();
    assert!(
        matches!(&applied[..], [(SettingsInput::Json(json), origin)] if *json == body && origin.starts_with("web "))
    );

    app.control.lock().settings_refusal = Some(invalid_range());
    let refused = app.api(Method::PUT, "/api/v1/settings", Some(json!({"dhcp": {"range": ["nonsense"]}}))).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert_eq!(refused.json()["fields"][0]["field"], "dhcp.range");

    app.control.lock().settings_refusal = Some(SettingsError::NotApplied("TFTP: address in use".into()));
    let conflict = app.api(Method::PUT, "/api/v1/settings", Some(body)).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.body);
    assert!(conflict.body.contains("previous settings still run"), "{}", conflict.body);
}

#[tokio::test]
async fn export_is_a_toml_file_and_import_takes_one() {
    let app = App::local().await;
    app.control.lock().settings = Some(view());
    let export = app.get("/api/v1/settings/export").await;
    assert_eq!(export.status, StatusCode::OK);
    assert_eq!(export.header("content-type"), "application/toml");
    assert!(export.header("content-disposition").contains("lifeboat.toml"));
    assert_eq!(export.body, "[tftp]\nroot = \"/srv/tftp\"\n");

    let csrf = app.csrf().await;
    let request = axum::http::Request::put("/api/v1/settings/import")
        .header("x-csrf-token", csrf)
        .body(axum::body::Body::from(export.body.clone()))
        .unwrap();
    let imported = app.send(request).await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.body);
    let applied = app.control.lock().applied.clone();
    assert!(matches!(&applied[..], [(SettingsInput::Toml(text), _)] if *text == export.body));
}

#[tokio::test]
async fn changing_settings_needs_the_csrf_token() {
    let app = App::local().await;
    app.control.lock().settings = Some(view());
    let request = axum::http::Request::put("/api/v1/settings")
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{}"))
        .unwrap();
    assert_eq!(app.send(request).await.status, StatusCode::FORBIDDEN);
    assert!(app.control.lock().applied.is_empty());
}

#[tokio::test]
async fn the_page_shows_locks_warns_about_the_main_network_and_sets_up_dhcp() {
    let app = App::local().await;
    app.control.lock().settings = Some(view());
    let page = app.get("/settings").await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_contains(&[
        "LIFEBOAT_TFTP_ROOT",
        "tftp.root",
        "10.9.0.100,10.9.0.200",
        "eth0 carries the default route",
    ]);

    let saved =
        app.form("/settings/dhcp", &[("interface", "eth1"), ("range", "10.9.0.150,10.9.0.160"), ("boot", "")]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let applied = app.control.lock().applied.clone();
    let [(SettingsInput::Json(document), _)] = &applied[..] else { panic!("{applied:?}") };
    assert_eq!(document["dhcp"]["interface"], json!(["eth1"]));
    assert_eq!(document["dhcp"]["range"], json!(["10.9.0.150,10.9.0.160"]));
    assert!(document["dhcp"]["boot"].is_null(), "an empty boot file leaves the key out");
}

#[tokio::test]
async fn a_refused_setting_is_shown_next_to_its_field_with_what_was_typed() {
    let app = App::local().await;
    app.control.lock().settings = Some(view());
    app.control.lock().settings_refusal = Some(invalid_range());
    let page = app.form("/settings/dhcp", &[("interface", ""), ("range", "nonsense"), ("boot", "x.bin")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    page.assert_contains(&["expected START,END", "value=\"nonsense\"", "value=\"x.bin\""]);

    let document = "[dhcp]\nrange = [\"nonsense\"]\n";
    let page = app.form("/settings", &[("document", document)]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    page.assert_contains(&["expected START,END", "range = [&#34;nonsense&#34;]"]);
    // Above the document that was typed, not beside a field of another form.
    let message = page.body.find("expected START,END").unwrap();
    assert!(message < page.body.find("id=\"dhcp\"").unwrap(), "the refusal is not at the top");
    assert_eq!(page.body.matches("expected START,END").count(), 1, "said once");
}

#[tokio::test]
async fn an_unconfigured_dhcp_card_offers_to_set_it_up() {
    let app = App::local().await;
    app.control.lock().dhcp_unconfigured = true;
    let overview = app.get("/").await;
    overview.assert_contains(&["href=\"/settings#dhcp\"", "Set up DHCP"]);
}

/// What the configuration gives is visible beside what the dashboard holds, and the dashboard
/// refuses what would clash with it or never apply, with a 4xx and the reason on the field.
#[tokio::test]
async fn the_configurations_aliases_and_reservations_are_shown_and_clashes_refused() {
    use lifeboat_web::{ConfiguredAlias, ConfiguredReservation};
    let app = App::local().await;
    std::fs::write(app.root.path().join("openwrt.bin"), b"fw").unwrap();
    {
        let mut fake = app.control.lock();
        fake.configured_aliases =
            vec![ConfiguredAlias { name: "recovery.bin".into(), file: "gone.bin".into(), exists: false }];
        fake.configured_reservations = vec![ConfiguredReservation {
            mac: "02:00:00:00:00:07".into(),
            address: "10.9.0.7".parse().unwrap(),
            name: Some("bench-router".into()),
        }];
    }
    let aliases = app.api(Method::GET, "/api/v1/aliases", None).await;
    assert_eq!(
        aliases.json()[0],
        json!({"name": "recovery.bin", "file": "gone.bin", "created_at": null, "source": "configuration", "exists": false})
    );
    let reservations = app.api(Method::GET, "/api/v1/reservations", None).await;
    assert_eq!(reservations.json()[0]["source"], "configuration");
    app.get("/missing").await.assert_contains(&["recovery.bin", "from the configuration", "the file does not exist"]);
    app.get("/hosts").await.assert_contains(&[
        "Reservations from the configuration",
        "02:00:00:00:00:07",
        "bench-router",
    ]);

    // A dashboard alias for a name the configuration already serves.
    let alias =
        app.api(Method::POST, "/api/v1/aliases", Some(json!({"name": "RECOVERY.BIN", "file": "openwrt.bin"}))).await;
    assert_eq!(alias.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", alias.body);
    assert!(alias.body.contains("alias of the configuration"), "{}", alias.body);

    // What the running lifeboat says against a reservation is a 422 on its field.
    app.control.lock().conflicts =
        vec![("address", "10.9.0.7 is reserved for 02:00:00:00:00:07 by the configuration".into())];
    let host = json!({"mac": "02:00:00:00:00:08", "address": "10.9.0.7"});
    let refused = app.api(Method::POST, "/api/v1/hosts", Some(host)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert_eq!(refused.json()["fields"][0]["field"], "address");
    assert!(app.store.hosts().await.unwrap().is_empty(), "nothing was saved");

    // Two hosts of the dashboard cannot hold one address.
    app.control.lock().conflicts.clear();
    let first =
        app.api(Method::POST, "/api/v1/hosts", Some(json!({"mac": "02:00:00:00:00:08", "address": "10.9.0.8"}))).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let second =
        app.api(Method::POST, "/api/v1/hosts", Some(json!({"mac": "02:00:00:00:00:09", "address": "10.9.0.8"}))).await;
    assert_eq!(second.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", second.body);
    assert!(second.body.contains("already reserved for 02:00:00:00:00:08"), "{}", second.body);
    // The host keeps its own address when it is changed.
    let id = first.json()["id"].as_i64().unwrap();
    let kept = app
        .api(
            Method::PUT,
            &format!("/api/v1/hosts/{id}"),
            Some(json!({"mac": "02:00:00:00:00:08", "address": "10.9.0.8", "name": "r1"})),
        )
        .await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
}

/// The DHCP form replaces the first range and interface and keeps the others; over saved
/// settings that no longer apply it refuses, rather than build a document on nothing.
#[tokio::test]
async fn the_dhcp_form_keeps_further_ranges_and_will_not_overwrite_unreadable_settings() {
    let app = App::local().await;
    let mut two = view();
    two.stored = json!({"dhcp": {"range": ["10.9.0.100,10.9.0.150", "10.9.0.160,10.9.0.170"], "interface": ["eth1"]}});
    app.control.lock().settings = Some(two);
    let saved =
        app.form("/settings/dhcp", &[("interface", "eth1"), ("range", "10.9.0.100,10.9.0.120"), ("boot", "")]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let applied = app.control.lock().applied.clone();
    let [(SettingsInput::Json(document), _)] = &applied[..] else { panic!("{applied:?}") };
    assert_eq!(document["dhcp"]["range"], json!(["10.9.0.100,10.9.0.120", "10.9.0.160,10.9.0.170"]));

    let mut stale = view();
    stale.stored = json!({});
    stale.problems =
        vec![SettingsProblem { key: Some("dhcp.range".into()), message: "dhcp.range is set by --dhcp-range".into() }];
    app.control.lock().settings = Some(stale);
    app.get("/settings").await.assert_contains(&["do not apply any more", "set by --dhcp-range"]);
    let refused =
        app.form("/settings/dhcp", &[("interface", ""), ("range", "10.9.0.100,10.9.0.120"), ("boot", "")]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    let fields = app.form("/settings/fields/tftp", &[("tftp.max_blksize", "1024")]).await;
    assert_eq!(fields.status, StatusCode::CONFLICT, "{}", fields.body);
    fields.assert_contains(&["the saved settings do not apply", "value=\"1024\""]);
    assert_eq!(app.control.lock().applied.len(), 1, "nothing more was applied");
}

#[tokio::test]
async fn every_tftp_key_has_a_field_showing_what_is_in_effect_and_locked_ones_cannot_change() {
    let app = App::local().await;
    app.control.lock().settings = Some(view());
    let page = app.get("/settings").await;
    page.assert_contains(&[
        "action=\"/settings/fields/tftp\"",
        "action=\"/settings/fields/dhcp\"",
        // The root comes from LIFEBOAT_TFTP_ROOT: shown, in effect, not editable.
        "<input id=\"tftp-root\" name=\"tftp.root\" value=\"\" placeholder=\"/srv/tftp\" class=\"mono\" disabled>",
        "name=\"tftp.max_blksize\"",
        "<select id=\"tftp-single_port\" name=\"tftp.single_port\">",
        "<textarea id=\"tftp-alias\" name=\"tftp.alias\"",
        "<textarea id=\"dhcp-range\" name=\"dhcp.range\"",
        "name=\"dhcp.authoritative\"",
    ]);
    for key in ["listen", "allow", "max_windowsize", "options", "max_transfers", "max_transfers_per_client"] {
        page.assert_contains(&[&format!("name=\"tftp.{key}\"")]);
    }
    for key in ["upload", "upload_dir", "upload_max_size", "upload_overwrite"] {
        page.assert_contains(&[&format!("name=\"tftp.{key}\"")]);
    }
}

#[tokio::test]
async fn tftp_fields_are_saved_typed_over_the_stored_settings() {
    let app = App::local().await;
    app.control.lock().settings = Some(view());
    let fields = [
        ("tftp.max_blksize", "8192"),
        ("tftp.single_port", "true"),
        ("tftp.upload", "false"),
        ("tftp.allow", "10.0.0.0/8\n192.168.0.0/16"),
        ("tftp.alias", "tp_recovery.bin = openwrt.bin"),
        ("tftp.listen", ""),
    ];
    let saved = app.form("/settings/fields/tftp", &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let applied = app.control.lock().applied.clone();
    let [(SettingsInput::Json(document), _)] = &applied[..] else { panic!("{applied:?}") };
    assert_eq!(
        document,
        &json!({
            "dhcp": {"range": ["10.9.0.100,10.9.0.200"]},
            "tftp": {
                "max_blksize": 8192,
                "single_port": true,
                "upload": false,
                "allow": ["10.0.0.0/8", "192.168.0.0/16"],
                "alias": {"tp_recovery.bin": "openwrt.bin"},
            },
        })
    );
    assert_eq!(app.form("/settings/fields/web", &[("web.listen", "0.0.0.0:80")]).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_field_that_does_not_fit_or_is_refused_comes_back_marked_with_what_was_typed() {
    let app = App::local().await;
    app.control.lock().settings = Some(view());
    let page =
        app.form("/settings/fields/tftp", &[("tftp.max_blksize", "lots"), ("tftp.upload_dir", "/data/up")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    page.assert_contains(&[
        "tftp.max_blksize: &#34;lots&#34; is not a whole number",
        "value=\"lots\"",
        "value=\"/data/up\"",
        "class=\"mono invalid\"",
    ]);
    assert!(app.control.lock().applied.is_empty(), "nothing was applied");

    // Refused by lifeboat's own validation: the same message as the command line, at the field.
    app.control.lock().settings_refusal = Some(SettingsError::Invalid(vec![SettingsProblem {
        key: Some("tftp.max_blksize".into()),
        message: "--tftp-max-blksize 4: must be between 8 and 65464".into(),
    }]));
    let page = app.form("/settings/fields/tftp", &[("tftp.max_blksize", "4")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let at_field = page.body.find("must be between 8 and 65464").expect("the message");
    let field = page.body.find("id=\"tftp-max_blksize\"").expect("the field");
    let next_field = page.body.find("id=\"tftp-max_windowsize\"").expect("the next field");
    assert!(field < at_field && at_field < next_field, "the message is not next to its field");
}
