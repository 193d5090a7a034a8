//! Wall-clock time for lifeboat's shells: what the store records, when a lease expires, what the
//! dashboard shows. One trait, so a test can run the whole application on tokio's paused time
//! ([`FollowsTokio`]) while production reads the system clock ([`SystemClock`]).
//!
//! Durations (timeouts, idle times, rates) are measured with `tokio::time::Instant`, which
//! pauses with the runtime in tests; this crate is only for the time of day.
//!
//! **Invariant:** the protocol cores never see a clock: their drivers pass the time in.

use std::fmt::Debug;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the time of day comes from.
pub trait Clock: Debug + Send + Sync + 'static {
    /// The time of day now.
    fn now(&self) -> SystemTime;

    /// Now, in Unix milliseconds (how the store keeps times).
    fn unix_ms(&self) -> i64 {
        unix_ms(self.now())
    }

    /// Now, in Unix seconds (how DHCP leases keep their ends).
    fn unix_seconds(&self) -> u64 {
        unix_seconds(self.now())
    }
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that starts at a given time of day and then runs with tokio's clock: when a test
/// pauses and advances tokio's time, the time of day advances with it.
#[derive(Debug, Clone, Copy)]
pub struct FollowsTokio {
    start_of_day: SystemTime,
    start: tokio::time::Instant,
}

impl FollowsTokio {
    /// A clock that reads `start_of_day` now.
    pub fn starting_at(start_of_day: SystemTime) -> FollowsTokio {
        FollowsTokio { start_of_day, start: tokio::time::Instant::now() }
    }
}

impl Clock for FollowsTokio {
    fn now(&self) -> SystemTime {
        self.start_of_day + self.start.elapsed()
    }
}

/// `at` in Unix milliseconds: 0 before 1970, saturating far in the future.
pub fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `at` in Unix seconds: 0 before 1970.
pub fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The time of day of Unix milliseconds `ms` (negative ones are 1970).
pub fn from_unix_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_saturate_instead_of_panicking() {
        assert_eq!(unix_ms(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_millis(2_500)), 2);
        assert_eq!(unix_ms(from_unix_ms(1_700_000_000_123)), 1_700_000_000_123);
        assert_eq!(from_unix_ms(-5), UNIX_EPOCH);
    }

    #[tokio::test(start_paused = true)]
    async fn the_time_of_day_follows_paused_tokio_time() {
        let clock = FollowsTokio::starting_at(from_unix_ms(1_000_000));
        assert_eq!(clock.unix_ms(), 1_000_000);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.unix_ms(), 1_090_000);
        assert_eq!(clock.unix_seconds(), 1_090);
    }
}
