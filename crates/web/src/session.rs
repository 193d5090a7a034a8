//! Sessions: a random id in an HttpOnly, SameSite=Strict cookie, mapped in memory to the
//! session's CSRF token, its login and a one-shot message for the next page.
//!
//! **Invariant:** ids and CSRF tokens come from the operating system's random generator (128
//! bits each); the table is bounded ([`MAX_SESSIONS`]) and forgets sessions idle for
//! [`IDLE_TIMEOUT`]; logging in always issues a fresh id, so an id known before the login is
//! worthless after it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

use crate::password::random_hex;

/// The name of the session cookie.
pub(crate) const COOKIE_NAME: &str = "lifeboat_session";

/// Sessions unused for this long are forgotten.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(12 * 3600);

/// At most this many sessions are kept; beyond it, logged-out ones go first, then the oldest.
pub(crate) const MAX_SESSIONS: usize = 10_000;

/// A message shown once on the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Flash {
    pub(crate) ok: bool,
    pub(crate) text: String,
}

/// One browser's session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) csrf: String,
    /// Whether the person proved who they are (always true in loopback-only mode).
    pub(crate) logged_in: bool,
    /// When the session began (tokio's clock, as everything here and the login throttle).
    pub(crate) began: Instant,
    flash: Option<Flash>,
    last_seen: Instant,
}

/// The table of sessions.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    table: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// The session with `id`, if it exists and is not idle too long; marks it used.
    pub(crate) fn get(&self, id: &str) -> Option<Session> {
        let mut table = self.lock();
        let session = table.get_mut(id)?;
        if session.last_seen.elapsed() > IDLE_TIMEOUT {
            table.remove(id);
            return None;
        }
        session.last_seen = Instant::now();
        Some(session.clone())
    }

    /// A new session with fresh random id and CSRF token.
    pub(crate) fn create(&self, logged_in: bool) -> Session {
        let session = Session {
            id: random_hex(16),
            csrf: random_hex(16),
            logged_in,
            began: Instant::now(),
            flash: None,
            last_seen: Instant::now(),
        };
        let mut table = self.lock();
        if table.len() >= MAX_SESSIONS {
            make_room(&mut table);
        }
        table.insert(session.id.clone(), session.clone());
        session
    }

    /// Forget the session `id` (log out, or replaced at login).
    pub(crate) fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Leave a message for the next page of session `id`.
    pub(crate) fn set_flash(&self, id: &str, ok: bool, text: impl Into<String>) {
        if let Some(session) = self.lock().get_mut(id) {
            session.flash = Some(Flash { ok, text: text.into() });
        }
    }

    /// Take the message left for session `id`.
    pub(crate) fn take_flash(&self, id: &str) -> Option<Flash> {
        self.lock().get_mut(id).and_then(|session| session.flash.take())
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves the table consistent (every change is one
        // statement), so a poisoned lock is still usable.
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Drop idle sessions; if that is not enough, logged-out ones; then the least recently used.
fn make_room(table: &mut HashMap<String, Session>) {
    table.retain(|_, s| s.last_seen.elapsed() <= IDLE_TIMEOUT);
    if table.len() >= MAX_SESSIONS {
        table.retain(|_, s| s.logged_in);
    }
    while table.len() >= MAX_SESSIONS {
        let Some(oldest) = table.values().min_by_key(|s| s.last_seen).map(|s| s.id.clone()) else { break };
        table.remove(&oldest);
    }
}

/// The session id in the request's cookies, if any.
pub(crate) fn cookie_session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value that gives the browser session `id`. `Secure` is left out: the
/// dashboard speaks plain HTTP (a TLS proxy in front may add it).
pub(crate) fn set_cookie(id: &str) -> String {
    format!("{COOKIE_NAME}={id}; Path=/; HttpOnly; SameSite=Strict")
}

/// The `Set-Cookie` value that makes the browser forget its session.
pub(crate) fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn sessions_are_random_and_found_again() {
        let sessions = Sessions::default();
        let a = sessions.create(false);
        let b = sessions.create(true);
        assert_ne!(a.id, b.id);
        assert_ne!(a.csrf, b.csrf);
        assert_eq!(a.id.len(), 32);
        assert_eq!(sessions.get(&a.id).unwrap().csrf, a.csrf);
        assert!(sessions.get(&b.id).unwrap().logged_in);
        sessions.remove(&a.id);
        assert!(sessions.get(&a.id).is_none());
        assert!(sessions.get("unknown").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_idle_for_twelve_hours_is_forgotten_and_use_keeps_it() {
        let sessions = Sessions::default();
        let session = sessions.create(true);
        tokio::time::advance(IDLE_TIMEOUT - Duration::from_secs(1)).await;
        assert!(sessions.get(&session.id).is_some(), "used a second before the timeout");
        // That use counts: the timeout starts over.
        tokio::time::advance(IDLE_TIMEOUT - Duration::from_secs(1)).await;
        assert!(sessions.get(&session.id).is_some(), "used again before the new timeout");
        tokio::time::advance(IDLE_TIMEOUT + Duration::from_secs(1)).await;
        assert!(sessions.get(&session.id).is_none(), "idle longer than the timeout");
        assert_eq!(sessions.len(), 0, "and gone from the table");
    }

    #[test]
    fn flash_is_shown_once() {
        let sessions = Sessions::default();
        let s = sessions.create(true);
        sessions.set_flash(&s.id, true, "Host added");
        assert_eq!(sessions.take_flash(&s.id), Some(Flash { ok: true, text: "Host added".into() }));
        assert_eq!(sessions.take_flash(&s.id), None);
    }

    #[test]
    fn table_stays_bounded_and_keeps_logged_in_sessions() {
        let sessions = Sessions::default();
        let keep = sessions.create(true);
        for _ in 0..MAX_SESSIONS + 5 {
            sessions.create(false);
        }
        assert!(sessions.len() <= MAX_SESSIONS);
        assert!(sessions.get(&keep.id).is_some());
    }

    #[test]
    fn cookie_is_found_among_others_and_junk_is_ignored() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("a=1; lifeboat_session=00ff; b=2"));
        assert_eq!(cookie_session_id(&headers).as_deref(), Some("00ff"));
        headers.insert(COOKIE, HeaderValue::from_static("lifeboat_session=<script>"));
        assert_eq!(cookie_session_id(&headers), None);
        assert!(set_cookie("ab").contains("HttpOnly; SameSite=Strict"));
    }
}
