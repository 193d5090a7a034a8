//! The wall clock of the store's own timestamps (`created_at`, `updated_at`): Unix milliseconds.
//!
//! **Invariant:** never panics and never goes below zero: a clock before 1970 reads as 0.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis());
    i64::try_from(millis).unwrap_or(i64::MAX)
}
