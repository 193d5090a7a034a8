//! Password hashes (argon2, PHC strings) and the comparison of secrets.
//!
//! **Invariant:** a password is only ever compared through argon2's verifier, a token only in
//! constant time. Passwords are checked by one [`Verifier`] thread, one at a time, never on the
//! async workers, in one block of memory the thread keeps: argon2 fills about 19 MiB per check,
//! and a check runs to its end even when the client gave up, so a flood of logins can neither
//! run several at once nor grow memory. (With argon2 allocating its own memory for each check,
//! the allocator kept it: six failed logins took lifeboat from 16 to 114 MiB.)

use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHasher, Version};
use tokio::sync::oneshot;

use crate::error::WebError;

/// Checks waiting for the verifier, beyond the one it runs.
const QUEUE: usize = 16;

/// The most memory a hash may ask argon2 for, in 1 KiB blocks (256 MiB; `lifeboat passwd`
/// makes hashes of 19 MiB).
const MAX_BLOCKS: usize = 256 * 1024;

/// A password and the hash to check it against, and where the answer goes.
struct Check {
    password: String,
    hash: String,
    answer: oneshot::Sender<bool>,
}

/// The thread that checks passwords, one at a time. It ends when the verifier is dropped.
#[derive(Debug)]
pub(crate) struct Verifier {
    checks: SyncSender<Check>,
}

/// Why a password was not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotChecked {
    /// [`QUEUE`] checks are waiting already.
    Busy,
    /// The verifier thread is gone (it could not start).
    Gone,
}

impl Verifier {
    pub(crate) fn start() -> Verifier {
        let (checks, queue) = sync_channel::<Check>(QUEUE);
        let started = std::thread::Builder::new().name("password-check".into()).spawn(move || {
            let mut memory = Vec::new();
            for check in queue {
                let matches = matches_with(check.password.as_bytes(), &check.hash, &mut memory);
                // A client that gave up does not want the answer; the check ran anyway.
                let _ = check.answer.send(matches);
            }
        });
        if let Err(error) = started {
            tracing::error!("cannot start the password checker, so no login can succeed: {error}");
        }
        Verifier { checks }
    }

    /// Whether `password` matches `hash`, checked in turn on the verifier thread.
    pub(crate) async fn check(&self, password: String, hash: String) -> Result<bool, NotChecked> {
        let (answer, answered) = oneshot::channel();
        match self.checks.try_send(Check { password, hash, answer }) {
            Ok(()) => answered.await.map_err(|_| NotChecked::Gone),
            Err(TrySendError::Full(_)) => Err(NotChecked::Busy),
            Err(TrySendError::Disconnected(_)) => Err(NotChecked::Gone),
        }
    }
}

/// The shortest token accepted for [`crate::Auth::Token`].
pub(crate) const MIN_TOKEN_LEN: usize = 16;

/// Hash `plain` into an argon2id PHC string (`$argon2id$v=19$...`) with a random salt, for
/// `lifeboat passwd`. Takes a noticeable fraction of a second by design.
pub fn hash_password(plain: &str) -> Result<String, WebError> {
    if plain.is_empty() {
        return Err(WebError::EmptyPassword);
    }
    let hash = Argon2::default().hash_password(plain.as_bytes()).map_err(|e| WebError::Hash(e.to_string()))?;
    Ok(hash.to_string())
}

/// A random token for [`crate::Auth::Token`]: 128 bits, hex-encoded (32 characters), for the
/// binary to print at start-up as a link ending in `?token=`.
pub fn generate_token() -> String {
    random_hex(16)
}

/// Check that `hash` is a PHC string argon2 can verify against.
pub(crate) fn check_hash(hash: &str) -> Result<(), WebError> {
    let parsed = PasswordHash::new(hash).map_err(|e| WebError::BadPasswordHash(e.to_string()))?;
    if !parsed.algorithm.as_str().starts_with("argon2") {
        return Err(WebError::BadPasswordHash(format!("algorithm {} is not argon2", parsed.algorithm)));
    }
    Ok(())
}

/// Whether `plain` matches `hash`. Slow on purpose: the [`Verifier`] calls it.
#[cfg(test)]
fn verify_password(plain: &str, hash: &str) -> bool {
    matches_with(plain.as_bytes(), hash, &mut Vec::new())
}

/// Whether `password` matches the PHC string `phc`, with argon2 working in `memory` (grown to
/// the size the hash asks for, and kept for the next check).
fn matches_with(password: &[u8], phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else { return false };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else { return false };
    let Ok(version) = hash.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
    let Ok(params) = Params::try_from(&hash) else { return false };
    if params.block_count() > MAX_BLOCKS {
        return false;
    }
    memory.resize(params.block_count(), Block::default());
    let mut computed = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    argon2.hash_password_into_with_memory(password, salt, &mut computed, &mut memory[..]).is_ok()
        && same_bytes(&computed, expected.as_bytes())
}

/// Compare two secrets without leaking where they differ (the length may leak).
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    same_bytes(a.as_bytes(), b.as_bytes())
}

fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random secret of `bytes` random bytes, hex-encoded.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The operating system's generator only fails on systems lifeboat does not run on; a
    // predictable session id would be worse than stopping.
    getrandom::fill(&mut buf).expect("the operating system's random generator failed");
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_the_password_and_nothing_else() {
        let hash = hash_password("correct horse battery staple").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        check_hash(&hash).unwrap();
        assert!(verify_password("correct horse battery staple", &hash));
        assert!(!verify_password("correct horse battery stapl", &hash));
        assert!(!verify_password("", &hash));
    }

    #[tokio::test]
    async fn the_verifier_checks_in_turn_and_says_when_it_is_full() {
        let hash = hash_password("pw").unwrap();
        let verifier = Verifier::start();
        assert_eq!(verifier.check("pw".into(), hash.clone()).await, Ok(true));
        assert_eq!(verifier.check("nope".into(), hash.clone()).await, Ok(false));
        let many = (0..QUEUE + 8).map(|_| verifier.check("nope".into(), hash.clone()));
        let answers = futures_util::future::join_all(many).await;
        assert!(answers.contains(&Err(NotChecked::Busy)), "{answers:?}");
        assert!(answers.iter().filter(|a| **a == Ok(false)).count() >= QUEUE, "{answers:?}");
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_salt() {
        assert_ne!(hash_password("pw").unwrap(), hash_password("pw").unwrap());
    }

    #[test]
    fn empty_password_is_refused() {
        assert!(matches!(hash_password(""), Err(WebError::EmptyPassword)));
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert_eq!(random_hex(16).len(), 32);
        assert!(generate_token().len() >= MIN_TOKEN_LEN);
        assert_ne!(random_hex(16), random_hex(16));
    }
}
