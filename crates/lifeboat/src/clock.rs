//! Wall-clock time as the store and the DHCP leases keep it: Unix milliseconds and seconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// `at` in Unix milliseconds (0 before 1970, saturating far in the future).
pub(crate) fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Now, in Unix seconds.
pub(crate) fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
