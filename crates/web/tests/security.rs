//! Hostile input and the gate: CSRF, cross-site requests, DNS rebinding, logins, tokens, path
//! tricks in upload names, huge uploads, security headers.

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, ORIGIN};
use axum::http::{Method, Request, StatusCode};
use common::{App, MAX_UPLOAD, encode_form};
use lifeboat_web::{Auth, WebConfig, WebError, check_listen, hash_password};
use serde_json::json;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn host_form(csrf: Option<&str>) -> String {
    let mut fields = vec![("mac", "3c:84:6a:12:34:56")];
    if let Some(csrf) = csrf {
        fields.insert(0, ("csrf", csrf));
    }
    encode_form(&fields)
}

#[tokio::test]
async fn state_changes_without_the_csrf_token_are_refused_in_loopback_mode_too() {
    let app = App::local().await;
    app.get("/").await;
    let missing = app.form_raw("/hosts", &host_form(None)).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    missing.assert_contains(&["CSRF token is missing"]);
    let wrong = app.form_raw("/hosts", &host_form(Some("00112233445566778899aabbccddeeff"))).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    wrong.assert_contains(&["CSRF token is wrong"]);

    let api = app
        .send(Request::post("/api/v1/services/tftp/start").header("x-csrf-token", "nope").body(Body::empty()).unwrap())
        .await;
    assert_eq!(api.status, StatusCode::FORBIDDEN);
    assert!(api.json()["error"].as_str().unwrap().contains("CSRF"));
    let api = app.send(Request::delete("/api/v1/images/x.bin").body(Body::empty()).unwrap()).await;
    assert_eq!(api.status, StatusCode::FORBIDDEN);

    // Another session's token, from another browser on the same dashboard, is no good either.
    let other = app.browser("127.0.0.1:40002".parse().unwrap());
    let foreign = other.csrf().await;
    let csrf = app.csrf().await;
    assert_ne!(foreign, csrf, "two sessions share a token");
    assert_eq!(app.form_raw("/hosts", &host_form(Some(&foreign))).await.status, StatusCode::FORBIDDEN);

    assert!(app.store.hosts().await.unwrap().is_empty());
    assert!(app.control.lock().calls.is_empty());
    assert_eq!(app.form_raw("/hosts", &host_form(Some(&csrf))).await.status, StatusCode::SEE_OTHER);
    // The foreign token was a good one, for its own session.
    let another_host = encode_form(&[("csrf", &foreign), ("mac", "3c:84:6a:12:34:57")]);
    assert_eq!(other.form_raw("/hosts", &another_host).await.status, StatusCode::SEE_OTHER);
    assert_eq!(app.store.hosts().await.unwrap().len(), 2);
}

#[tokio::test]
async fn cross_site_posts_are_refused_even_with_a_token() {
    let app = App::local().await;
    let csrf = app.csrf().await;
    for (header, value) in
        [(ORIGIN.as_str(), "http://evil.example"), ("sec-fetch-site", "cross-site"), (ORIGIN.as_str(), "null")]
    {
        let request = Request::post("/services/tftp/start")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header, value)
            .body(Body::from(format!("csrf={csrf}")))
            .unwrap();
        let reply = app.send(request).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{header}: {value}");
        reply.assert_contains(&["cross-site request refused"]);
    }
    assert!(app.control.lock().calls.is_empty());
    let same = Request::post("/services/tftp/start")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ORIGIN, "http://127.0.0.1:8080")
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(format!("csrf={csrf}")))
        .unwrap();
    assert_eq!(app.send(same).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn loopback_mode_refuses_other_host_names_against_dns_rebinding() {
    let app = App::local().await;
    for host in ["evil.example:8080", "10.0.0.1:8080", "localhost.evil.example"] {
        let request = Request::get("/api/v1/session").header(HOST, host).body(Body::empty()).unwrap();
        let reply = app.send(request).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{host}");
        assert!(reply.body.contains("loopback"), "{}", reply.body);
    }
    for host in ["localhost:8080", "[::1]:8080", "127.0.0.1:8080"] {
        let request = Request::get("/").header(HOST, host).body(Body::empty()).unwrap();
        assert_eq!(app.send(request).await.status, StatusCode::OK, "{host}");
    }
}

#[test]
fn loopback_only_is_refused_on_a_non_loopback_listen_address() {
    let config = WebConfig {
        listen: "0.0.0.0:8080".parse().unwrap(),
        auth: Auth::LoopbackOnly,
        tftp_root: None,
        max_upload: 1,
        retention: lifeboat_store::Retention::DEFAULT,
    };
    let error = check_listen(&config).unwrap_err();
    assert!(matches!(error, WebError::OpenWithoutPassword { .. }));
    assert!(error.to_string().contains("0.0.0.0:8080"), "{error}");
    check_listen(&WebConfig { listen: "127.0.0.1:8080".parse().unwrap(), ..config }).unwrap();
}

async fn password_app() -> App {
    let hash = hash_password("correct horse").unwrap();
    App::new(Auth::Password { hash }).await
}

async fn log_in(app: &App, password: &str) -> common::Reply {
    app.get("/login").await;
    app.form("/login", &[("password", password), ("next", "/hosts")]).await
}

#[tokio::test]
async fn password_mode_sends_people_to_the_login_page_and_api_clients_get_401() {
    let app = password_app().await;
    let page = app.get("/hosts").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.header("location"), "/login?next=/hosts");
    let api = app.get("/api/v1/hosts").await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert!(api.json()["error"].as_str().unwrap().contains("log in"));
    assert_eq!(app.get("/metrics").await.status, StatusCode::UNAUTHORIZED);
    let login = app.get("/login").await;
    assert_eq!(login.status, StatusCode::OK);
    login.assert_contains(&["type=\"password\"", "name=\"csrf\""]);
    assert_eq!(app.get("/static/style.css").await.status, StatusCode::OK);
}

#[tokio::test]
async fn wrong_password_is_refused_slowly_and_recorded() {
    let app = password_app().await;
    let started = Instant::now();
    let reply = log_in(&app, "wrong horse").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    reply.assert_contains(&["Wrong password."]);
    assert!(started.elapsed() >= Duration::from_secs(1), "a failed login answers after a delay");
    assert_eq!(app.get("/hosts").await.status, StatusCode::SEE_OTHER, "still logged out");
    let events = app.events().await;
    assert_eq!(events[0].0, "login_failed");
    assert_eq!(events[0].1, "web 127.0.0.1");
    // Without the CSRF token, the password is not even checked.
    let no_csrf = app.form_raw("/login", &encode_form(&[("password", "correct horse")])).await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn right_password_gives_a_new_session_and_logout_ends_it() {
    let app = password_app().await;
    app.get("/login").await;
    let before = app.cookie().unwrap();
    let reply = app.form("/login", &[("password", "correct horse"), ("next", "/hosts")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), "/hosts");
    let cookie = reply.header("set-cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let after = app.cookie().unwrap();
    assert_ne!(before, after, "the session id changes at login");
    let page = app.get("/hosts").await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_contains(&["Log out"]);
    let created = app.api(Method::POST, "/api/v1/hosts", Some(json!({"mac": "3c:84:6a:12:34:56"}))).await;
    assert_eq!(created.status, StatusCode::CREATED);
    app.flush().await;
    assert_eq!(app.events().await[0].1, "web 127.0.0.1 (admin)");

    // The id known before the login is worthless.
    let fixated =
        Request::get("/hosts").header("cookie", &before).header(HOST, "127.0.0.1:8080").body(Body::empty()).unwrap();
    app.forget_cookie();
    assert_eq!(app.send(fixated).await.status, StatusCode::SEE_OTHER);

    // Log out ends the session.
    let app2 = password_app().await;
    log_in(&app2, "correct horse").await;
    assert_eq!(app2.get("/").await.status, StatusCode::OK);
    let out = app2.form("/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(app2.get("/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn login_redirects_only_to_this_site() {
    let app = password_app().await;
    app.get("/login").await;
    let reply = app.form("/login", &[("password", "correct horse"), ("next", "//evil.example/")]).await;
    assert_eq!(reply.header("location"), "/");
}

#[tokio::test]
async fn token_mode_sets_a_session_from_the_link_and_accepts_bearer_for_the_api() {
    let app = App::new(Auth::Token(TOKEN.into())).await;
    let page = app.get("/").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    page.assert_contains(&["token"]);
    assert_eq!(app.get("/?token=wrong").await.status, StatusCode::UNAUTHORIZED);

    let link = app.get(&format!("/transfers?token={TOKEN}&mac=aa:bb:cc:dd:ee:ff")).await;
    assert_eq!(link.status, StatusCode::SEE_OTHER);
    assert_eq!(link.header("location"), "/transfers?mac=aa:bb:cc:dd:ee:ff", "the token leaves the address bar");
    assert_eq!(app.get("/").await.status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/hosts").await.status, StatusCode::OK);

    let api = App::new(Auth::Token(TOKEN.into())).await;
    let bearer = |method: Method, path: &str, token: &str, body: Body| {
        Request::builder().method(method).uri(path).header(AUTHORIZATION, format!("Bearer {token}")).body(body).unwrap()
    };
    assert_eq!(api.send(bearer(Method::GET, "/api/v1/hosts", TOKEN, Body::empty())).await.status, StatusCode::OK);
    assert_eq!(api.send(bearer(Method::GET, "/metrics", TOKEN, Body::empty())).await.status, StatusCode::OK);
    let wrong = api.send(bearer(Method::GET, "/api/v1/hosts", "0123456789abcdef0123456789abcdee", Body::empty())).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    // A bearer token is not sent by browsers on their own: no CSRF token needed.
    let mut create = bearer(Method::POST, "/api/v1/hosts", TOKEN, Body::from(r#"{"mac":"3c:84:6a:12:34:56"}"#));
    create.headers_mut().insert(CONTENT_TYPE, "application/json".parse().unwrap());
    let created = api.send(create).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(api.events().await[0].1, "web 127.0.0.1 (api token)");
    assert_eq!(api.get("/api/v1/hosts").await.status, StatusCode::UNAUTHORIZED, "no cookie without the link");
}

#[tokio::test]
async fn upload_names_that_leave_the_root_are_refused() {
    let app = App::local().await;
    let outside = app.root.path().parent().unwrap().to_path_buf();
    let before: Vec<_> = std::fs::read_dir(&outside).unwrap().filter_map(Result::ok).map(|e| e.file_name()).collect();
    for name in [
        "../escape.bin",
        "..%2Fescape.bin",
        "%2e%2e/escape.bin",
        "%2E%2E%2Fescape.bin",
        "a/../../escape.bin",
        "a%2F..%2F..%2Fescape.bin",
        "..%5Cescape.bin",
        "x%00.bin",
        "line%0Abreak.bin",
        ".lifeboat-upload-1.part",
    ] {
        let reply = app.upload(name, b"evil".to_vec()).await;
        assert!(
            matches!(reply.status, StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND),
            "{name}: {} {}",
            reply.status,
            reply.body
        );
        assert!(reply.json()["error"].is_string(), "{name}");
    }
    let after: Vec<_> = std::fs::read_dir(&outside).unwrap().filter_map(Result::ok).map(|e| e.file_name()).collect();
    assert_eq!(before.len(), after.len(), "nothing was written beside the root");
    assert_eq!(std::fs::read_dir(app.root.path()).unwrap().count(), 0, "nothing was written in the root");
}

#[tokio::test]
async fn uploads_past_the_limit_get_413_and_leave_nothing() {
    let app = App::local().await;
    let declared = app.upload("big.bin", vec![0u8; MAX_UPLOAD as usize + 1]).await;
    assert_eq!(declared.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(declared.json()["error"].as_str().unwrap().contains("upload limit"));

    // A body that does not say its length is counted as it arrives.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..20).map(|_| Ok(vec![1u8; 8192])).collect();
    let csrf = app.csrf().await;
    let request = Request::put("/api/v1/images/streamed.bin")
        .header("x-csrf-token", csrf)
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let streamed = app.send(request).await;
    assert_eq!(streamed.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(std::fs::read_dir(app.root.path()).unwrap().count(), 0, "no file and no temporary file left");

    let exact = app.upload("exact.bin", vec![0u8; MAX_UPLOAD as usize]).await;
    assert_eq!(exact.status, StatusCode::CREATED);
}

#[tokio::test]
async fn bad_macs_are_refused_everywhere() {
    let app = App::local().await;
    for mac in [
        "",
        "3c:84:6a:12:34",
        "3c:84:6a:12:34:56:78",
        "gg:84:6a:12:34:56",
        "3c846a123456",
        "3c:84:6a:12:34:5",
        "💥",
        "' OR 1=1 --",
    ] {
        let reply = app.api(Method::POST, "/api/v1/hosts", Some(json!({"mac": mac}))).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{mac:?}");
        assert_eq!(reply.json()["fields"][0]["field"], "mac");
        let page = app.form("/hosts", &[("mac", mac)]).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{mac:?}");
    }
    assert!(app.store.hosts().await.unwrap().is_empty());
}

#[tokio::test]
async fn html_in_input_is_escaped() {
    let app = App::local().await;
    let reply = app.form("/hosts", &[("mac", "<script>alert(1)</script>")]).await;
    assert!(!reply.body.contains("<script>alert(1)</script>"));
    reply.assert_contains(&["&#60;script&#62;"]);
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_cookies_are_strict() {
    let app = App::local().await;
    for path in ["/", "/api/v1/hosts", "/static/app.js", "/nowhere"] {
        let reply = app.get(path).await;
        let csp = reply.header("content-security-policy");
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(reply.header("x-frame-options"), "DENY", "{path}");
        assert_eq!(reply.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(reply.header("referrer-policy"), "same-origin", "{path}");
    }
    assert_eq!(app.get("/").await.header("cache-control"), "no-store");
    let fresh = App::local().await;
    let cookie = fresh.get("/").await.header("set-cookie").to_owned();
    assert!(cookie.starts_with("lifeboat_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"), "{cookie}");
}

#[tokio::test]
async fn pages_contain_no_inline_script_or_style() {
    let app = App::local().await;
    std::fs::write(app.root.path().join("a.bin"), b"x").unwrap();
    for path in ["/", "/transfers", "/hosts", "/images", "/missing", "/leases", "/events"] {
        let body = app.get(path).await.body;
        assert!(!body.contains("<script>") && !body.contains("style=\"") && !body.contains(" onclick="), "{path}");
        assert!(!body.contains("<style"), "{path}");
    }
}

#[tokio::test]
async fn api_calls_without_a_cookie_jar_create_no_sessions() {
    let app = App::local().await;
    for _ in 0..3 {
        app.forget_cookie();
        assert_eq!(app.get("/metrics").await.header("set-cookie"), "");
        assert_eq!(app.get("/api/v1/hosts").await.status, StatusCode::OK);
    }
    app.forget_cookie();
    assert!(app.get("/api/v1/session").await.header("set-cookie").starts_with("lifeboat_session="));
    // Without a session, a state-changing call has no CSRF token to match.
    app.forget_cookie();
    let request =
        Request::post("/api/v1/services/tftp/start").header("x-csrf-token", "00").body(Body::empty()).unwrap();
    assert_eq!(app.send(request).await.status, StatusCode::FORBIDDEN);
    assert!(lifeboat_web::generate_token().len() == 32);
}

/// Every image route, with the TFTP root gone and then unwritable: the person is told what
/// failed, never where lifeboat keeps its files (that goes to the log).
#[tokio::test]
async fn error_responses_never_show_where_files_live() {
    let app = App::local().await;
    let root = app.root.path().to_path_buf();
    std::fs::write(root.join("fw.bin"), b"firmware").unwrap();

    // Unwritable (as root, writing succeeds anyway: then this part only shows the successes
    // carry no path either).
    let mut permissions = std::fs::metadata(&root).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o555);
    std::fs::set_permissions(&root, permissions.clone()).unwrap();
    sweep_image_routes(&app, "read-only root").await;
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&root, permissions).unwrap();

    // Gone: every route fails, and says so without the path (the images page too, inside a page
    // that lists nothing).
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(sweep_image_routes(&app, "root removed").await, 5, "every image API should fail without its root");
    app.get("/images")
        .await
        .assert_contains(&["cannot list the TFTP root (it does not exist)", "the lifeboat log names the folder"]);
}

/// A service that fails to start may say why with a path (the TFTP root, the upload folder):
/// the command line shows it, the dashboard does not, neither in the start's answer nor in the
/// status it shows afterwards.
#[tokio::test]
async fn a_failed_start_is_explained_without_its_paths() {
    let app = App::local().await;
    let secret = "/srv/secret-root/tftp";
    app.control.lock().tftp_fails =
        Some(format!("the TFTP root {secret} does not exist: create it or choose another with --tftp-root"));

    let started = app.api(Method::POST, "/api/v1/services/tftp/start", None).await;
    assert_eq!(started.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", started.body);
    assert!(started.body.contains("does not exist") && started.body.contains("--tftp-root"), "{}", started.body);
    let listed = app.api(Method::GET, "/api/v1/services", None).await;
    let overview = app.get("/").await;
    for (what, body) in [("start", &started.body), ("services", &listed.body), ("overview", &overview.body)] {
        assert!(!body.contains("secret-root"), "{what} shows the path: {body}");
    }
    assert!(listed.body.contains("the lifeboat log names it"), "{}", listed.body);
}

/// Sends a request to every route that touches the TFTP root and checks that no error shows the
/// root's path; how many failed.
async fn sweep_image_routes(app: &App, label: &str) -> usize {
    let root = app.root.path().to_string_lossy().into_owned();
    let csrf = app.csrf().await;
    let api = |method: Method, path: &str, body: &[u8]| {
        Request::builder()
            .method(method)
            .uri(path)
            .header("x-csrf-token", &csrf)
            .body(Body::from(body.to_vec()))
            .unwrap()
    };
    let form = Request::post("/images/delete")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(encode_form(&[("csrf", &csrf), ("file", "fw.bin")])))
        .unwrap();
    let requests = [
        ("GET /images", Request::get("/images").body(Body::empty()).unwrap()),
        ("GET /api/v1/images", Request::get("/api/v1/images").body(Body::empty()).unwrap()),
        ("PUT /api/v1/images/new.bin", api(Method::PUT, "/api/v1/images/new.bin", b"new")),
        ("PUT /api/v1/images/sub/new.bin", api(Method::PUT, "/api/v1/images/sub/new.bin", b"new")),
        ("DELETE /api/v1/images/fw.bin", api(Method::DELETE, "/api/v1/images/fw.bin", b"")),
        ("POST /images/delete", form),
    ];
    let mut failed = 0;
    for (what, request) in requests {
        let reply = app.send(request).await;
        // (The images page names the root on purpose: the person chose it.)
        if reply.status.is_client_error() || reply.status.is_server_error() {
            assert!(
                !reply.body.contains(&root),
                "{label}, {what} ({}) shows the root's path:\n{}",
                reply.status,
                reply.body
            );
            failed += 1;
        }
    }
    failed
}

/// A script with the API key needs no login and no CSRF token; the key is shown once, only its
/// digest is stored, a wrong one is refused, and a revoked one stops working.
#[tokio::test]
async fn an_api_key_lets_a_script_in_without_a_session_until_it_is_revoked() {
    let app = password_app().await;
    let script = app.browser("127.0.0.1:50002".parse().unwrap());
    let call = |key: &str, method: Method, path: &str, body: Option<serde_json::Value>| {
        let mut request =
            axum::http::Request::builder().method(method).uri(path).header("authorization", format!("Bearer {key}"));
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        request.body(axum::body::Body::from(body.map(|b| b.to_string()).unwrap_or_default())).unwrap()
    };
    assert_eq!(
        script.send(call("lbk_guess", Method::GET, "/api/v1/hosts", None)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A stale key on a public path (a health probe) is as good as none.
    let health = script.send(call("lbk_guess", Method::GET, "/api/v1/health", None)).await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.body);

    log_in(&app, "correct horse").await;
    let created = app.api(Method::POST, "/api/v1/api-key", None).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let key = created.json()["api_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("lbk_") && key.len() == 36, "{key}");
    let stored = app.store.setting(lifeboat_web::API_KEY_SETTING).await.unwrap().unwrap();
    assert!(!stored.contains(&key[4..]), "only a digest is stored");

    let listed = script.send(call(&key, Method::GET, "/api/v1/hosts", None)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let host = json!({"mac": "02:00:00:00:00:51"});
    let added = script.send(call(&key, Method::POST, "/api/v1/hosts", Some(host))).await;
    assert_eq!(added.status, StatusCode::CREATED, "a change without a CSRF token: {}", added.body);
    assert!(script.cookie().is_none(), "a script gets no session");

    let revoked = app.api(Method::DELETE, "/api/v1/api-key", None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
    assert_eq!(script.send(call(&key, Method::GET, "/api/v1/hosts", None)).await.status, StatusCode::UNAUTHORIZED);
    let events: Vec<String> = app.events().await.into_iter().map(|(kind, _, _)| kind).collect();
    assert!(
        events.contains(&"api_key_created".to_owned()) && events.contains(&"api_key_revoked".to_owned()),
        "{events:?}"
    );
}

/// The Settings page shows a new key once.
#[tokio::test]
async fn the_settings_page_shows_a_new_api_key_once() {
    let app = App::local().await;
    let page = app.form("/settings/api-key", &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_contains(&["shown this once", "lbk_", "Replace the API key"]);
    let again = app.get("/settings").await;
    assert!(!again.body.contains("lbk_"), "the key is shown only once");
    again.assert_contains(&["Revoke"]);
}
