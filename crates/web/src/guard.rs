//! The gate in front of every handler: who is asking, may they, and is a state-changing request
//! really from the dashboard's own pages (or from a script with the token or the API key).
//!
//! **Invariant:** a handler runs only for a caller that proved who they are (session cookie
//! after login or token, `Authorization: Bearer TOKEN`, or any local caller in loopback-only
//! mode), except for the login page, the health check and static files. Every POST, PUT, PATCH
//! and DELETE that is not authenticated by a bearer token must come from the same origin (`Origin`,
//! `Sec-Fetch-Site`) and carry the session's CSRF token (header `X-CSRF-Token` or form field
//! `csrf`); loopback-only mode is no exception, and it also refuses any `Host` that is not a
//! loopback name, which defeats DNS rebinding.

use std::net::{IpAddr, SocketAddr};

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, LOCATION, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api_key;
use crate::config::Auth;
use crate::error::{ApiError, AppError};
use crate::pages::PageError;
use crate::password::same_secret;
use crate::session::{Session, cookie_session_id, set_cookie};
use crate::state::WebState;

/// The header that carries the CSRF token for scripts and API clients.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// The form field that carries the CSRF token in HTML forms.
pub(crate) const CSRF_FIELD: &str = "csrf";

/// The largest form body the gate reads to find the CSRF field.
const MAX_FORM: usize = 64 * 1024;

/// Who is making the request; every handler behind the gate can extract it.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) ip: Option<IpAddr>,
    /// For events: `web 10.0.0.5 (admin)`.
    pub(crate) origin: String,
    /// The browser's session; `None` for bearer-token API clients.
    pub(crate) session: Option<Session>,
}

impl Caller {
    /// The CSRF token pages put in their forms.
    pub(crate) fn csrf(&self) -> &str {
        self.session.as_ref().map_or("", |s| s.csrf.as_str())
    }

    /// The session id, for flash messages.
    pub(crate) fn session_id(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.id.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError(AppError::Internal("request did not pass the dashboard's gate".into())))
    }
}

/// Paths anyone may fetch.
fn is_public(path: &str) -> bool {
    path == "/login" || path == SESSION_PATH || path == HEALTH_PATH || path.starts_with("/static/")
}

/// Where API clients get their session's CSRF token (and, before logging in, a session).
pub(crate) const SESSION_PATH: &str = "/api/v1/session";
/// Public: a health check carries no credentials.
pub(crate) const HEALTH_PATH: &str = "/api/v1/health";

/// Paths answered with JSON (or plain text) rather than pages.
pub(crate) fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/metrics"
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The middleware. Install with `axum::middleware::from_fn_with_state`.
pub(crate) async fn gate(State(state): State<WebState>, request: Request, next: Next) -> Response {
    match check(&state, request).await {
        Ok((request, set_cookie_value)) => {
            let mut response = next.run(request).await;
            if let Some(value) = set_cookie_value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                response.headers_mut().append(SET_COOKIE, value);
            }
            response
        }
        Err(refusal) => refusal,
    }
}

/// Decide about `request`: the request to pass on (with its [`Caller`]) and a cookie to set, or
/// the response that refuses it.
async fn check(state: &WebState, request: Request) -> Result<(Request, Option<String>), Response> {
    let path = request.uri().path().to_owned();
    let api = is_api(&path);
    let refuse = |error: AppError| -> Response {
        if api { ApiError(error).into_response() } else { PageError(error).into_response() }
    };
    let ip = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    let auth = &state.config().auth;
    if *auth == Auth::LoopbackOnly && !host_is_loopback(&request) {
        return Err(refuse(AppError::Forbidden(format!(
            "this dashboard only answers to a loopback name; open http://{}/",
            state.config().listen
        ))));
    }
    let mut session = cookie_session_id(request.headers()).and_then(|id| state.sessions().get(&id));
    let mut new_cookie = None;
    let mut bearer = false;
    // A script's bearer: the printed token (token mode) or the API key (any mode).
    if let Some(given) = bearer_token(request.headers()) {
        let token_matches = matches!(auth, Auth::Token(token) if same_secret(given, token));
        if token_matches || api_key::matches(state, given).await {
            bearer = true;
        } else if !is_public(&path) {
            let hint = "wrong token or API key: create an API key on the Settings page";
            return Err(refuse(AppError::Unauthorized(hint.into())));
        }
        // A stale key on a public path (a health probe) is as good as none.
    }
    match auth {
        Auth::Token(token) => {
            if bearer {
                // Checked above.
            } else if let Some(given) = query_token(request.uri().query()) {
                if !same_secret(&given, token) || request.method() != Method::GET {
                    return Err(refuse(AppError::Unauthorized(
                        "wrong token: open the link lifeboat printed at start-up".into(),
                    )));
                }
                let fresh = state.sessions().create(true);
                if let Some(old) = &session {
                    state.sessions().remove(&old.id);
                }
                return Err(redirect_without_token(&path, request.uri().query(), &fresh.id));
            }
        }
        // API clients without a cookie jar get no session (they only need one for the CSRF
        // token of state-changing calls, from `SESSION_PATH`): a script polling `/metrics` must
        // not fill the session table.
        Auth::LoopbackOnly if session.is_none() && (!api || path == SESSION_PATH) => {
            let fresh = state.sessions().create(true);
            new_cookie = Some(set_cookie(&fresh.id));
            session = Some(fresh);
        }
        Auth::Password { .. } if session.is_none() && (path == "/login" || path == SESSION_PATH) => {
            let fresh = state.sessions().create(false);
            new_cookie = Some(set_cookie(&fresh.id));
            session = Some(fresh);
        }
        _ => {}
    }
    let logged_in = bearer || *auth == Auth::LoopbackOnly || session.as_ref().is_some_and(|s| s.logged_in);
    if !logged_in && !is_public(&path) {
        return Err(not_logged_in(auth, &path, api));
    }
    let mut request = request;
    if is_unsafe(request.method()) && !bearer {
        same_origin(request.headers()).map_err(refuse)?;
        let (checked, token) = csrf_token(request).await.map_err(refuse)?;
        request = checked;
        let expected = session.as_ref().map(|s| s.csrf.as_str());
        match (token, expected) {
            (Some(token), Some(expected)) if same_secret(&token, expected) => {}
            (None, _) => {
                return Err(refuse(AppError::Forbidden(
                    "the CSRF token is missing: reload the page and try again".into(),
                )));
            }
            _ => {
                return Err(refuse(AppError::Forbidden(
                    "the CSRF token is wrong or expired: reload the page and try again".into(),
                )));
            }
        }
    }
    let who = ip.map_or_else(|| "?".to_owned(), |ip| ip.to_string());
    let user = if bearer { "api token" } else { auth.user() };
    request.extensions_mut().insert(Caller { ip, origin: format!("web {who} ({user})"), session });
    Ok((request, new_cookie))
}

/// The refusal for a caller who did not log in.
fn not_logged_in(auth: &Auth, path: &str, api: bool) -> Response {
    if api {
        let message = match auth {
            Auth::Token(_) => "send the token printed at start-up as `Authorization: Bearer TOKEN`",
            _ => "log in first (POST /login), then send the session cookie",
        };
        return ApiError(AppError::Unauthorized(message.into())).into_response();
    }
    match auth {
        Auth::Password { .. } => {
            let next = if path == "/" { String::new() } else { format!("?next={}", encode_path(path)) };
            (StatusCode::SEE_OTHER, [(LOCATION, format!("/login{next}"))]).into_response()
        }
        _ => PageError(AppError::Unauthorized(
            "this dashboard needs the token that lifeboat printed at start-up: open the link it printed, which ends \
             in ?token=…"
                .into(),
        ))
        .into_response(),
    }
}

/// `303` to the same page without `token=` in the query, setting the new session's cookie.
fn redirect_without_token(path: &str, query: Option<&str>, session_id: &str) -> Response {
    let rest: Vec<&str> =
        query.unwrap_or("").split('&').filter(|pair| !pair.is_empty() && !pair.starts_with("token=")).collect();
    let target = if rest.is_empty() { path.to_owned() } else { format!("{path}?{}", rest.join("&")) };
    let target = if target.starts_with("//") { "/".to_owned() } else { target };
    (StatusCode::SEE_OTHER, [(LOCATION, target), (SET_COOKIE, set_cookie(session_id))]).into_response()
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

fn query_token(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|pair| pair.strip_prefix("token=")).map(str::to_owned)
}

/// The host name of the request (from `Host`, or the URI's authority for HTTP/2), without port.
fn request_host(request: &Request) -> Option<String> {
    let authority = match request.headers().get(HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => host.to_owned(),
        None => request.uri().authority()?.as_str().to_owned(),
    };
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next()?.to_owned()
    } else {
        authority.rsplit_once(':').map_or(authority.as_str(), |(host, _)| host).to_owned()
    };
    Some(host.to_ascii_lowercase())
}

/// Whether the request names the dashboard by a loopback name or address.
fn host_is_loopback(request: &Request) -> bool {
    let Some(host) = request_host(request) else { return false };
    host == "localhost" || host.ends_with(".localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuse requests a browser marks as coming from another site.
fn same_origin(headers: &HeaderMap) -> Result<(), AppError> {
    let cross = || AppError::Forbidden("cross-site request refused: use the dashboard's own pages".into());
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.to_str(), Ok("same-origin" | "none"))
    {
        return Err(cross());
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = origin.to_str().map_err(|_| cross())?;
        let host = headers.get(HOST).and_then(|h| h.to_str().ok()).ok_or_else(cross)?;
        let origin_host = origin.split_once("://").map(|(_, rest)| rest).ok_or_else(cross)?;
        if !origin_host.eq_ignore_ascii_case(host) {
            return Err(cross());
        }
    }
    Ok(())
}

/// The CSRF token of a state-changing request: the header, or the `csrf` field of a form body
/// (which is read and put back).
async fn csrf_token(request: Request) -> Result<(Request, Option<String>), AppError> {
    if let Some(token) = request.headers().get(CSRF_HEADER) {
        let token = token.to_str().ok().map(str::to_owned);
        return Ok((request, token));
    }
    let is_form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok((request, None));
    }
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, MAX_FORM)
        .await
        .map_err(|_| AppError::TooLarge(format!("a form may hold at most {MAX_FORM} bytes")))?;
    let token = std::str::from_utf8(&bytes).ok().and_then(|text| {
        text.split('&').find_map(|pair| pair.strip_prefix(CSRF_FIELD).and_then(|rest| rest.strip_prefix('=')))
    });
    let token = token.map(str::to_owned);
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}

/// Percent-encode what could end a query value.
fn encode_path(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A `next=` target that stays on this site.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        // Browsers drop tabs and newlines from URLs, so `/\t/evil` would become `//evil`: no
        // control characters or spaces at all.
        Some(next)
            if next.starts_with('/')
                && !next.starts_with("//")
                && !next.contains('\\')
                && !next.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            next.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: &str) -> Request {
        Request::builder().uri("/").header(HOST, host).body(Body::empty()).unwrap()
    }

    #[test]
    fn loopback_hosts_are_recognized() {
        for host in ["127.0.0.1:8080", "localhost", "LOCALHOST:80", "[::1]:8080", "127.1.2.3", "x.localhost:1"] {
            assert!(host_is_loopback(&request(host)), "{host}");
        }
        for host in ["evil.example:8080", "10.0.0.1", "[fe80::1]:80", "localhost.evil.example", ""] {
            assert!(!host_is_loopback(&request(host)), "{host}");
        }
    }

    #[test]
    fn next_targets_stay_on_site() {
        assert_eq!(safe_next(Some("/hosts")), "/hosts");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        for sneaky in ["/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/ /evil.example"] {
            assert_eq!(safe_next(Some(sneaky)), "/", "{sneaky:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn origin_must_match_host() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("127.0.0.1:8080"));
        same_origin(&headers).unwrap();
        headers.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        same_origin(&headers).unwrap();
        headers.insert(ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(same_origin(&headers).is_err());
        headers.insert(ORIGIN, HeaderValue::from_static("null"));
        assert!(same_origin(&headers).is_err());
        headers.remove(ORIGIN);
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(same_origin(&headers).is_err());
    }
}
