//! Logging in and out (password mode).
//!
//! A failed attempt is recorded as an event and answered only after a delay that grows with
//! each failure from the same address; a successful one replaces the session by a new one.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::response::{IntoResponse, Response};
use lifeboat_store::EventKind;
use serde::Deserialize;

use crate::config::Auth;
use crate::guard::{Caller, safe_next};
use crate::pages::{Layout, PageResult, render_status};
use crate::password::verify_password;
use crate::session::{clear_cookie, set_cookie};
use crate::state::WebState;

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
    let matches = {
        let _slot = state.logins().slot().await;
        let (password, hash) = (form.password.clone(), hash.clone());
        tokio::task::spawn_blocking(move || verify_password(&password, &hash)).await.unwrap_or(false)
    };
    let ip = caller.ip;
    if matches {
        if let Some(ip) = ip {
            state.logins().succeeded(ip);
        }
        if let Some(old) = caller.session_id() {
            state.sessions().remove(old);
        }
        let fresh = state.sessions().create(true);
        return Ok((StatusCode::SEE_OTHER, [(LOCATION, next), (SET_COOKIE, set_cookie(&fresh.id))]).into_response());
    }
    let who = ip.map_or_else(|| "?".to_owned(), |ip| ip.to_string());
    state.record(EventKind::LoginFailed, &format!("web {who}"), "wrong password".into());
    let delay = ip.map_or(crate::throttle::MAX_DELAY, |ip| state.logins().failed(ip));
    tokio::time::sleep(delay).await;
    Ok(login_page(&state, &caller, next, Some("Wrong password.".into()), StatusCode::UNAUTHORIZED))
}

/// `POST /logout`.
pub(crate) async fn logout(State(state): State<WebState>, caller: Caller) -> Response {
    if let Some(id) = caller.session_id() {
        state.sessions().remove(id);
    }
    let to = if matches!(state.config().auth, Auth::Password { .. }) { "/login" } else { "/" };
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned()), (SET_COOKIE, clear_cookie())]).into_response()
}
