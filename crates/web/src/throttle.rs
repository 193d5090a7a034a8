//! Slowing down password guessing.
//!
//! **Invariant:** at most one password is verified at a time (argon2 is meant to be costly, and
//! the machine may have two cores), and every failed attempt from an address is answered later
//! than the one before it, up to [`MAX_DELAY`]. The table of addresses is bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

/// The delay added per failed attempt of an address.
const STEP: Duration = Duration::from_secs(1);

/// The longest delay before a failed attempt is answered.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(10);

/// Addresses remembered; the table is cleared when it grows past this.
const MAX_ADDRESSES: usize = 10_000;

/// Failed logins by address, and the single verification slot.
#[derive(Debug)]
pub(crate) struct LoginThrottle {
    failures: Mutex<HashMap<IpAddr, u32>>,
    verifying: Semaphore,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle { failures: Mutex::new(HashMap::new()), verifying: Semaphore::new(1) }
    }
}

impl LoginThrottle {
    /// Wait for the verification slot.
    pub(crate) async fn slot(&self) -> Option<SemaphorePermit<'_>> {
        self.verifying.acquire().await.ok()
    }

    /// Count a failed attempt from `ip`; returns how long to wait before answering it.
    pub(crate) fn failed(&self, ip: IpAddr) -> Duration {
        let mut failures = self.lock();
        if failures.len() >= MAX_ADDRESSES && !failures.contains_key(&ip) {
            failures.clear();
        }
        let count = failures.entry(ip).or_insert(0);
        *count = count.saturating_add(1);
        STEP.saturating_mul(*count).min(MAX_DELAY)
    }

    /// Forget the failures of `ip` after a successful login.
    pub(crate) fn succeeded(&self, ip: IpAddr) {
        self.lock().remove(&ip);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, u32>> {
        self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_per_address_up_to_the_cap_and_resets_on_success() {
        let throttle = LoginThrottle::default();
        let a: IpAddr = "10.0.0.5".parse().unwrap();
        let b: IpAddr = "10.0.0.6".parse().unwrap();
        assert_eq!(throttle.failed(a), Duration::from_secs(1));
        assert_eq!(throttle.failed(a), Duration::from_secs(2));
        assert_eq!(throttle.failed(b), Duration::from_secs(1));
        for _ in 0..20 {
            throttle.failed(a);
        }
        assert_eq!(throttle.failed(a), MAX_DELAY);
        throttle.succeeded(a);
        assert_eq!(throttle.failed(a), Duration::from_secs(1));
    }
}
