//! Logging in and out (password mode).
//!
//! An attempt passes the login throttle first (`throttle.rs`): beyond two attempts under way
//! from one address it gets 429 at once, and during a lockout only browsers whose session began
//! before it may try. Then it waits out its address's delay, and only then is the password
//! checked, one at a time. A failed attempt is recorded as an event; a successful one replaces
//! the session by a new one and ends any lockout.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::{LOCATION, RETRY_AFTER, SET_COOKIE};
use axum::response::{IntoResponse, Response};
use lifeboat_store::EventKind;
use serde::Deserialize;

use crate::config::Auth;
use crate::guard::{Caller, safe_next};
use crate::pages::{Layout, PageResult, render_status};
use crate::password::NotChecked;
use crate::session::{clear_cookie, set_cookie};
use crate::state::WebState;
use crate::throttle::{Attempt, Entry};

/// The settings key of a lockout of password logins (its end, Unix ms). The dashboard writes it
/// when a lockout starts; `lifeboat passwd` removes it to lift the lockout.
pub const LOCKOUT_SETTING: &str = "web_login_lockout";

/// The longest password checked; longer ones are refused before argon2 sees them.
const MAX_PASSWORD: usize = 1024;

/// How long the answer to a wrong password waits.
const FAILED_ANSWER_DELAY: Duration = Duration::from_secs(1);

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    error: Option<String>,
    next: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    password: String,
    next: Option<String>,
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned())]).into_response()
}

fn login_page(state: &WebState, caller: &Caller, next: String, error: Option<String>, status: StatusCode) -> Response {
    let mut layout = Layout::new(state, caller, "", "Log in");
    layout.nav.clear();
    render_status(status, &LoginPage { layout, error, next })
}

/// `GET /login?next=`.
pub(crate) async fn page(State(state): State<WebState>, caller: Caller, Query(query): Query<NextQuery>) -> PageResult {
    let next = safe_next(query.next.as_deref());
    let logged_in = caller.session.as_ref().is_some_and(|s| s.logged_in);
    if !matches!(state.config().auth, Auth::Password { .. }) || logged_in {
        return Ok(see_other(&next));
    }
    Ok(login_page(&state, &caller, next, None, StatusCode::OK))
}

/// `POST /login` with fields `password` and `next`.
pub(crate) async fn submit(State(state): State<WebState>, caller: Caller, Form(form): Form<LoginForm>) -> PageResult {
    let next = safe_next(form.next.as_deref());
    let Auth::Password { hash } = &state.config().auth else { return Ok(see_other("/")) };
    if form.password.len() > MAX_PASSWORD {
        let error = format!("Wrong password (a password has at most {MAX_PASSWORD} bytes).");
        return Ok(login_page(&state, &caller, next, Some(error), StatusCode::BAD_REQUEST));
    }
    let ip = caller.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let began = caller.session.as_ref().map(|s| s.began);
    let mut entry = state.logins().enter(ip, began);
    if matches!(entry, Entry::Locked { .. }) && lifted_elsewhere(&state).await {
        entry = state.logins().enter(ip, began);
    }
    let (attempt, delay) = match entry {
        Entry::Go { attempt, delay } => (attempt, delay),
        Entry::Busy => {
            let error = "Another login from your address is still being checked: wait for its answer.";
            return Ok(too_many(&state, &caller, next, error.into(), Duration::from_secs(1)));
        }
        Entry::Locked { remaining } => {
            let error = format!(
                "Too many wrong passwords: logins are locked for {} more minutes. A browser that was already on the \
                 login page can still log in, and `lifeboat passwd --unlock` ends the lockout now.",
                remaining.as_secs().div_ceil(60)
            );
            return Ok(too_many(&state, &caller, next, error, remaining));
        }
    };
    tokio::time::sleep(delay).await;
    let who = format!("web {ip}");
    let matches = match state.verifier().check(form.password, hash.clone()).await {
        Ok(matches) => matches,
        Err(NotChecked::Busy) => {
            let error = "Many logins are being checked now: try again in a moment.";
            return Ok(too_many(&state, &caller, next, error.into(), Duration::from_secs(2)));
        }
        Err(NotChecked::Gone) => false,
    };
    if matches {
        if state.logins().succeeded(&attempt) {
            unlocked(&state, &who, "a correct password ended the lockout of logins").await;
        }
        if let Some(old) = caller.session_id() {
            state.sessions().remove(old);
        }
        let fresh = state.sessions().create(true);
        return Ok((StatusCode::SEE_OTHER, [(LOCATION, next), (SET_COOKIE, set_cookie(&fresh.id))]).into_response());
    }
    state.record(EventKind::LoginFailed, &who, "wrong password".into());
    failed(&state, &caller, &attempt).await;
    // The answer comes late, and the attempt counts as under way until then: an address gets
    // at most MAX_IN_FLIGHT checks a second even before its delays grow.
    tokio::time::sleep(FAILED_ANSWER_DELAY).await;
    drop(attempt);
    Ok(login_page(&state, &caller, next, Some("Wrong password.".into()), StatusCode::UNAUTHORIZED))
}

/// Counts a failure; a failure that starts a lockout is recorded and stored, so that
/// `lifeboat passwd --unlock` can lift it. During a lockout, a session that fails is ended.
async fn failed(state: &WebState, caller: &Caller, attempt: &Attempt<'_>) {
    if let Some(lockout) = state.logins().failed(attempt) {
        let minutes = lockout.as_secs() / 60;
        let detail = format!("too many wrong passwords: password logins are locked for {minutes} minutes");
        state.record(EventKind::LoginLocked, "web", detail);
        tracing::warn!("too many wrong passwords: dashboard logins are locked for {minutes} minutes");
        let until = state.now_ms().saturating_add(i64::try_from(lockout.as_millis()).unwrap_or(i64::MAX));
        if let Err(error) = state.store().set_setting(LOCKOUT_SETTING, &until.to_string()).await {
            tracing::warn!("the lockout was not saved, so `lifeboat passwd --unlock` cannot lift it: {error}");
        }
    } else if state.logins().is_locked()
        && let Some(id) = caller.session_id()
    {
        state.sessions().remove(id);
    }
}

/// During a lockout, asks the store (at most once a second) whether `lifeboat passwd` lifted it.
async fn lifted_elsewhere(state: &WebState) -> bool {
    if !state.logins().time_to_check_lift() {
        return false;
    }
    match state.store().setting(LOCKOUT_SETTING).await {
        Ok(None) if state.logins().lift() => {
            let detail = "`lifeboat passwd` ended the lockout of logins";
            state.record(EventKind::LoginUnlocked, "command line", detail.into());
            tracing::info!("{detail}");
            true
        }
        _ => false,
    }
}

async fn unlocked(state: &WebState, who: &str, detail: &str) {
    state.record(EventKind::LoginUnlocked, who, detail.to_owned());
    tracing::info!("{detail} ({who})");
    if let Err(error) = state.store().remove_setting(LOCKOUT_SETTING).await {
        tracing::warn!("the ended lockout is still in the database: {error}");
    }
}

/// 429 with the login page saying why, and when to try again.
fn too_many(state: &WebState, caller: &Caller, next: String, error: String, retry: Duration) -> Response {
    let mut response = login_page(state, caller, next, Some(error), StatusCode::TOO_MANY_REQUESTS);
    response.headers_mut().insert(RETRY_AFTER, retry.as_secs().max(1).into());
    response
}

/// `POST /logout`.
pub(crate) async fn logout(State(state): State<WebState>, caller: Caller) -> Response {
    if let Some(id) = caller.session_id() {
        state.sessions().remove(id);
    }
    let to = if matches!(state.config().auth, Auth::Password { .. }) { "/login" } else { "/" };
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned()), (SET_COOKIE, clear_cookie())]).into_response()
}
