//! Password guessing against the login page: many attempts at once from one address, and many
//! failures from many addresses, while the person who knows the password still gets in.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::App;
use lifeboat_web::{Auth, LOCKOUT_SETTING, hash_password};

const PASSWORD: &str = "correct horse";

async fn password_app() -> App {
    App::new(Auth::Password { hash: hash_password(PASSWORD).unwrap() }).await
}

fn client(n: u32) -> SocketAddr {
    SocketAddr::from(((0x0a00_0000u32 + n).to_be_bytes(), 40_000))
}

/// A browser that opens the login page and sends `password`; the status of the answer.
async fn attempt(browser: &App, password: &str) -> StatusCode {
    browser.get("/login").await;
    browser.form("/login", &[("password", password), ("next", "/")]).await.status
}

/// Fifty addresses, one wrong guess each, in waves of eight: fewer at once than the password
/// checker queues (16). More would get 429 "busy" whenever the machine checks slower than they
/// arrive, as on a loaded CI machine: right, but not what these tests are about. Their statuses.
async fn fifty_wrong_guesses(app: &App) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for wave in (0..50u32).collect::<Vec<_>>().chunks(8) {
        let guesses = wave.iter().map(|i| {
            let browser = app.browser(client(100 + i));
            async move { attempt(&browser, "guess").await }
        });
        statuses.extend(futures_util::future::join_all(guesses).await);
    }
    statuses
}

async fn events_of(app: &App, kind: &str) -> usize {
    app.flush().await;
    app.events().await.iter().filter(|(k, _, _)| k == kind).count()
}

#[tokio::test]
async fn many_attempts_at_once_from_one_address_get_429_and_only_two_are_checked() {
    let app = password_app().await;
    let attacker = app.browser(client(66));
    attacker.get("/login").await;
    let started = Instant::now();
    let attempts = (0..300).map(|_| attacker.form("/login", &[("password", "guess"), ("next", "/")]));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts).await.iter().map(|r| r.status).collect();
    let checked = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((checked, refused), (2, 298), "{statuses:?}");
    assert_eq!(events_of(&app, "login_failed").await, 2, "only the checked attempts are failures");
    assert!(started.elapsed() >= Duration::from_secs(1), "the wrong guesses were answered at once");

    // The person who knows the password, from their own address, gets in at once.
    let admin = app.browser(client(1));
    let started = Instant::now();
    assert_eq!(attempt(&admin, PASSWORD).await, StatusCode::SEE_OTHER);
    assert!(started.elapsed() < Duration::from_secs(5), "the right password took {:?}", started.elapsed());
    assert_eq!(admin.get("/hosts").await.status, StatusCode::OK, "logged in");
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_checked_ever_later() {
    let app = password_app().await;
    let guesser = app.browser(client(7));
    let mut waits = Vec::new();
    for _ in 0..4 {
        let started = Instant::now();
        assert_eq!(attempt(&guesser, "guess").await, StatusCode::UNAUTHORIZED);
        waits.push(started.elapsed());
    }
    // 1 s after each failure, plus 1 s more before each check per earlier failure.
    for (i, wait) in waits.iter().enumerate() {
        let least = Duration::from_secs(1 + i as u64);
        assert!(*wait >= least, "attempt {i} was answered after {wait:?}, before {least:?}");
    }
}

#[tokio::test]
async fn many_failures_lock_logins_for_new_browsers_until_the_right_password_is_given() {
    let app = password_app().await;
    // A browser that was on the login page before the attack began.
    let admin = app.browser(client(1));
    admin.get("/login").await;
    let statuses = fifty_wrong_guesses(&app).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    assert_eq!(events_of(&app, "login_locked").await, 1);
    assert!(app.store.setting(LOCKOUT_SETTING).await.unwrap().is_some(), "the lockout is stored for `lifeboat passwd`");

    // A new browser is locked out, even with the right password, and told why and what to do.
    let newcomer = app.browser(client(200));
    newcomer.get("/login").await;
    let reply = newcomer.form("/login", &[("password", PASSWORD), ("next", "/")]).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    reply.assert_contains(&["locked", "lifeboat passwd --unlock"]);
    assert!(!reply.header("retry-after").is_empty());

    // The browser that was already there gets in, and that ends the lockout for everyone.
    assert_eq!(admin.form("/login", &[("password", PASSWORD), ("next", "/")]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(events_of(&app, "login_unlocked").await, 1);
    assert_eq!(app.store.setting(LOCKOUT_SETTING).await.unwrap(), None);
    assert_eq!(attempt(&newcomer, PASSWORD).await, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn lifeboat_passwd_lifts_a_lockout_by_removing_it_from_the_store() {
    let app = password_app().await;
    fifty_wrong_guesses(&app).await;
    let newcomer = app.browser(client(200));
    assert_eq!(attempt(&newcomer, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
    // What `lifeboat passwd --unlock` does, from another process.
    assert!(app.store.remove_setting(LOCKOUT_SETTING).await.unwrap());
    // The dashboard looks at the store at most once a second while locked.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match attempt(&newcomer, PASSWORD).await {
            StatusCode::SEE_OTHER => break,
            StatusCode::TOO_MANY_REQUESTS if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            other => panic!("after the lockout was lifted the right password got {other}"),
        }
    }
    assert_eq!(events_of(&app, "login_unlocked").await, 1);
}

#[tokio::test]
async fn an_enormous_password_is_refused_without_being_hashed() {
    let app = password_app().await;
    let started = Instant::now();
    let browser = app.browser(client(9));
    browser.get("/login").await;
    let reply = browser.form("/login", &[("password", &"x".repeat(50_000)), ("next", "/")]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(started.elapsed() < Duration::from_millis(900), "it was slowed down like a checked password");
}
