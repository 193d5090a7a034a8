//! Password hashes (argon2, PHC strings) and the comparison of secrets.
//!
//! **Invariant:** a password is only ever compared through argon2's verifier, a token only in
//! constant time; hashing runs on a blocking thread, never on the async workers.

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use crate::error::WebError;

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

/// Whether `plain` matches `hash`. Slow on purpose; call it from a blocking thread.
pub(crate) fn verify_password(plain: &str, hash: &str) -> bool {
    Argon2::default().verify_password(plain.as_bytes(), hash).is_ok()
}

/// Compare two secrets without leaking where they differ (the length may leak).
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
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
