//! The API key: one random key for scripts, created on the Settings page and shown once, sent
//! as `Authorization: Bearer KEY`, which needs no session and no CSRF token. Only its SHA-256 is
//! stored (a 128-bit random key needs no slow hash: nobody can guess it, and the digest cannot
//! be turned back into it). Creating a key replaces the one before; it can be revoked.

use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::password::{random_hex, same_secret};
use crate::state::WebState;

/// The settings key of the API key's SHA-256 (hex).
pub const API_KEY_SETTING: &str = "api_key_sha256";

/// The prefix of every key, so that a key found in a script or a log says what it is.
const PREFIX: &str = "lbk_";

fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new key, stored (as its digest) in place of any other; the key itself, to show once.
pub(crate) async fn create(state: &WebState) -> Result<String, AppError> {
    let key = format!("{PREFIX}{}", random_hex(16));
    state.store().set_setting(API_KEY_SETTING, &digest(&key)).await?;
    Ok(key)
}

/// Forget the key; true when there was one.
pub(crate) async fn revoke(state: &WebState) -> Result<bool, AppError> {
    Ok(state.store().remove_setting(API_KEY_SETTING).await?)
}

/// Whether a key exists.
pub(crate) async fn exists(state: &WebState) -> bool {
    matches!(state.store().setting(API_KEY_SETTING).await, Ok(Some(_)))
}

/// Whether `given` is the current key.
pub(crate) async fn matches(state: &WebState, given: &str) -> bool {
    match state.store().setting(API_KEY_SETTING).await {
        Ok(Some(stored)) => same_secret(&digest(given), &stored),
        _ => false,
    }
}
