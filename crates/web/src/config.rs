//! How the dashboard is set up: where it listens and how people prove who they are.
//!
//! **Invariant:** a dashboard without a password or token only ever listens on a loopback
//! address; [`check_listen`] is the single place that decides it.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use lifeboat_store::Retention;

use crate::error::WebError;

/// The default limit of one upload: 4 GiB.
pub const DEFAULT_MAX_UPLOAD: u64 = 4 << 30;

/// The dashboard's settings, given by the binary.
#[derive(Clone)]
pub struct WebConfig {
    /// Where the dashboard listens (the binary binds it; used for [`check_listen`]).
    pub listen: SocketAddr,
    pub auth: Auth,
    /// The TFTP root: where images are listed, uploaded and deleted. `None`: no images.
    pub tftp_root: Option<PathBuf>,
    /// The largest upload accepted, in bytes; larger ones get 413.
    pub max_upload: u64,
    /// How long the history is kept (the pages say so).
    pub retention: Retention,
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("listen", &self.listen)
            .field("auth", &self.auth)
            .field("tftp_root", &self.tftp_root)
            .field("max_upload", &self.max_upload)
            .field("retention", &self.retention)
            .finish()
    }
}

/// How a person proves they may use the dashboard.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// No login: anyone who can reach the address may use it. Only allowed on loopback.
    LoopbackOnly,
    /// A login page asks for the password; `hash` is its argon2 PHC string
    /// ([`crate::hash_password`]).
    Password { hash: String },
    /// A random token printed at start-up: `?token=` once sets the session cookie, and API
    /// clients send `Authorization: Bearer TOKEN`.
    Token(String),
}

impl Auth {
    /// The user name recorded in events for this mode.
    pub(crate) fn user(&self) -> &'static str {
        match self {
            Auth::LoopbackOnly => "local",
            Auth::Password { .. } => "admin",
            Auth::Token(_) => "token",
        }
    }
}

/// Never prints the secret.
impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::LoopbackOnly => f.write_str("LoopbackOnly"),
            Auth::Password { .. } => f.write_str("Password { .. }"),
            Auth::Token(_) => f.write_str("Token(..)"),
        }
    }
}

/// Refuse a configuration that would open the dashboard to the network without a password or
/// token, or one whose secret is unusable.
pub fn check_listen(config: &WebConfig) -> Result<(), WebError> {
    match &config.auth {
        Auth::LoopbackOnly if !config.listen.ip().is_loopback() => {
            Err(WebError::OpenWithoutPassword { listen: config.listen })
        }
        Auth::Password { hash } => {
            crate::password::check_hash(hash)?;
            Ok(())
        }
        Auth::Token(token) if token.len() < crate::password::MIN_TOKEN_LEN => Err(WebError::WeakToken),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listen: &str, auth: Auth) -> WebConfig {
        WebConfig {
            listen: listen.parse().unwrap(),
            auth,
            tftp_root: None,
            max_upload: DEFAULT_MAX_UPLOAD,
            retention: Retention::DEFAULT,
        }
    }

    #[test]
    fn loopback_only_is_refused_on_any_other_address() {
        for listen in ["0.0.0.0:8080", "10.0.0.1:8080", "[::]:8080", "[fe80::1]:80"] {
            let err = check_listen(&config(listen, Auth::LoopbackOnly)).unwrap_err();
            assert!(matches!(err, WebError::OpenWithoutPassword { .. }), "{listen}: {err}");
            assert!(err.to_string().contains("lifeboat passwd"), "{err}");
        }
    }

    #[test]
    fn loopback_only_is_fine_on_loopback() {
        for listen in ["127.0.0.1:8080", "127.3.2.1:1", "[::1]:8080"] {
            check_listen(&config(listen, Auth::LoopbackOnly)).unwrap();
        }
    }

    #[test]
    fn token_and_password_open_any_address() {
        let token = Auth::Token("a".repeat(32));
        check_listen(&config("0.0.0.0:8080", token)).unwrap();
        let hash = crate::hash_password("correct horse").unwrap();
        check_listen(&config("0.0.0.0:8080", Auth::Password { hash })).unwrap();
    }

    #[test]
    fn broken_hash_and_short_token_are_refused() {
        let broken = Auth::Password { hash: "not a hash".into() };
        assert!(matches!(check_listen(&config("0.0.0.0:8080", broken)), Err(WebError::BadPasswordHash(_))));
        let short = Auth::Token("abc".into());
        assert!(matches!(check_listen(&config("0.0.0.0:8080", short)), Err(WebError::WeakToken)));
    }

    #[test]
    fn debug_hides_secrets() {
        let shown = format!("{:?}", config("127.0.0.1:1", Auth::Token("secret-token-value".into())));
        assert!(!shown.contains("secret-token-value"), "{shown}");
    }
}
