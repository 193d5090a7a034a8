//! The state every handler shares: the store, the log writer, the running services and the
//! dashboard's own bookkeeping (sessions, login throttle, digest jobs).
//!
//! **Invariant:** cloning is cheap (one `Arc`), and all mutable parts are behind their own locks,
//! none of which is held across an `.await`.

use lifeboat_clock::Clock;
use lifeboat_store::{Event, EventKind, LogWriter, Store};
use std::sync::Arc;

use crate::config::WebConfig;
use crate::control::Control;
use crate::digests::Digests;
use crate::health::WriteProofs;
use crate::password::Verifier;
use crate::session::Sessions;
use crate::throttle::LoginThrottle;

/// Everything the dashboard's handlers need. Build it with [`WebState::new`] and give it to
/// [`crate::router`].
#[derive(Clone)]
pub struct WebState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    log: LogWriter,
    control: Arc<dyn Control>,
    config: WebConfig,
    clock: Arc<dyn Clock>,
    sessions: Sessions,
    logins: LoginThrottle,
    verifier: Verifier,
    digests: Digests,
    health: WriteProofs,
}

impl WebState {
    /// The state over an open store, its log writer (events go through it), the running
    /// services and the clock that dates what the dashboard records. Call
    /// [`crate::check_listen`] on `config` before serving.
    pub fn new(
        store: Store,
        log: LogWriter,
        control: Arc<dyn Control>,
        config: WebConfig,
        clock: Arc<dyn Clock>,
    ) -> WebState {
        let inner = Inner {
            store,
            log,
            control,
            config,
            clock,
            sessions: Sessions::default(),
            logins: LoginThrottle::default(),
            verifier: Verifier::start(),
            digests: Digests::default(),
            health: WriteProofs::default(),
        };
        WebState { inner: Arc::new(inner) }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn log(&self) -> &LogWriter {
        &self.inner.log
    }

    pub(crate) fn control(&self) -> &dyn Control {
        self.inner.control.as_ref()
    }

    /// The services as the dashboard shows them: why one failed to start, without the paths
    /// the error may name (the log has them).
    pub(crate) fn services(&self) -> Vec<crate::control::ServiceStatus> {
        let mut services = self.inner.control.services();
        for service in &mut services {
            service.detail = service.detail.as_deref().map(crate::redact::without_paths);
        }
        services
    }

    pub(crate) fn config(&self) -> &WebConfig {
        &self.inner.config
    }

    pub(crate) fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    pub(crate) fn logins(&self) -> &LoginThrottle {
        &self.inner.logins
    }

    pub(crate) fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    pub(crate) fn digests(&self) -> &Digests {
        &self.inner.digests
    }

    pub(crate) fn health(&self) -> &WriteProofs {
        &self.inner.health
    }

    /// Record an event through the log writer (never waits).
    pub(crate) fn record(&self, kind: EventKind, origin: &str, detail: String) {
        self.inner.log.event(Event { at: self.now_ms(), kind, origin: origin.to_owned(), detail });
    }

    /// Now, in Unix milliseconds.
    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.clock.unix_ms()
    }
}
