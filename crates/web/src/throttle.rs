//! Slowing down password guessing, from one address and from many.
//!
//! **Invariant:** per address, at most [`MAX_IN_FLIGHT`] attempts are under way at once (more
//! get 429 at once, before any work), and each waits before its password is checked for a
//! delay that grows with the address's failures, so one address gets at most
//! `MAX_IN_FLIGHT / delay` checks a second. Across all addresses, more than [`GLOBAL_BUDGET`]
//! failures within [`GLOBAL_WINDOW`] lock password logins for [`LOCKOUT`]; only browsers whose
//! session began before the lockout may still try (one failure ends such a session), a correct
//! password lifts it, and so does `lifeboat passwd` (through the store). The passwords
//! themselves are checked one at a time by the [`Verifier`](crate::password::Verifier). Every
//! table is bounded.
//!
//! Times are tokio's, so tests run them on a paused clock.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// Attempts of one address under way at once; more are refused with 429.
pub(crate) const MAX_IN_FLIGHT: u32 = 2;

/// The delay added before the check per earlier failure of an address.
const STEP: Duration = Duration::from_secs(1);

/// The longest delay before a check.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(10);

/// Failures from all addresses within [`GLOBAL_WINDOW`] that start a lockout.
pub(crate) const GLOBAL_BUDGET: usize = 50;

/// The window of [`GLOBAL_BUDGET`].
pub(crate) const GLOBAL_WINDOW: Duration = Duration::from_secs(600);

/// How long password logins stay locked.
pub(crate) const LOCKOUT: Duration = Duration::from_secs(900);

/// Addresses remembered; the idle ones are forgotten when the table grows past this.
const MAX_ADDRESSES: usize = 10_000;

#[derive(Debug, Default)]
struct Address {
    failures: u32,
    in_flight: u32,
}

#[derive(Debug, Default)]
struct State {
    addresses: HashMap<IpAddr, Address>,
    /// When the recent failures happened, oldest first (at most [`GLOBAL_BUDGET`] kept).
    recent: VecDeque<Instant>,
    /// Since when and until when logins are locked.
    locked: Option<(Instant, Instant)>,
}

/// Failed logins by address and overall.
#[derive(Debug, Default)]
pub(crate) struct LoginThrottle {
    state: Mutex<State>,
    /// When the store was last asked whether `lifeboat passwd` lifted the lockout.
    lift_checked: Mutex<Option<Instant>>,
}

/// How often, during a lockout, the store is asked whether `lifeboat passwd` lifted it.
const LIFT_CHECK: Duration = Duration::from_secs(1);

/// May an attempt go ahead?
#[derive(Debug)]
pub(crate) enum Entry<'a> {
    /// Yes: wait `delay`, then check the password. The attempt counts as under way until the
    /// [`Attempt`] is dropped.
    Go { attempt: Attempt<'a>, delay: Duration },
    /// No: this address already has [`MAX_IN_FLIGHT`] attempts under way.
    Busy,
    /// No: password logins are locked for `remaining`.
    Locked { remaining: Duration },
}

/// One attempt under way.
#[derive(Debug)]
pub(crate) struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    ip: IpAddr,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let mut state = self.throttle.lock();
        if let Some(address) = state.addresses.get_mut(&self.ip) {
            address.in_flight = address.in_flight.saturating_sub(1);
        }
    }
}

impl LoginThrottle {
    /// An attempt from `ip`; `session_since` is when the caller's session began.
    pub(crate) fn enter(&self, ip: IpAddr, session_since: Option<Instant>) -> Entry<'_> {
        let now = Instant::now();
        let mut state = self.lock();
        if let Some((since, until)) = state.locked {
            if now >= until {
                state.locked = None;
            } else if session_since.is_none_or(|began| began >= since) {
                return Entry::Locked { remaining: until - now };
            }
        }
        if state.addresses.len() >= MAX_ADDRESSES && !state.addresses.contains_key(&ip) {
            state.addresses.retain(|_, a| a.in_flight > 0);
        }
        let address = state.addresses.entry(ip).or_default();
        if address.in_flight >= MAX_IN_FLIGHT {
            return Entry::Busy;
        }
        address.in_flight += 1;
        let delay = STEP.saturating_mul(address.failures).min(MAX_DELAY);
        Entry::Go { attempt: Attempt { throttle: self, ip }, delay }
    }

    /// The attempt failed. Returns the lockout's end if this failure started one.
    pub(crate) fn failed(&self, attempt: &Attempt<'_>) -> Option<Duration> {
        let now = Instant::now();
        let mut state = self.lock();
        let address = state.addresses.entry(attempt.ip).or_default();
        address.failures = address.failures.saturating_add(1);
        state.recent.push_back(now);
        while state.recent.front().is_some_and(|at| now.duration_since(*at) > GLOBAL_WINDOW)
            || state.recent.len() > GLOBAL_BUDGET
        {
            state.recent.pop_front();
        }
        if state.locked.is_none() && state.recent.len() >= GLOBAL_BUDGET {
            state.locked = Some((now, now + LOCKOUT));
            state.recent.clear();
            return Some(LOCKOUT);
        }
        None
    }

    /// The attempt succeeded: the address starts afresh, and a lockout ends. True when a
    /// lockout ended.
    pub(crate) fn succeeded(&self, attempt: &Attempt<'_>) -> bool {
        let mut state = self.lock();
        if let Some(address) = state.addresses.get_mut(&attempt.ip) {
            address.failures = 0;
        }
        state.recent.clear();
        state.locked.take().is_some()
    }

    /// Whether logins are locked now.
    pub(crate) fn is_locked(&self) -> bool {
        self.lock().locked.is_some_and(|(_, until)| Instant::now() < until)
    }

    /// Whether it is time to ask the store again whether the lockout was lifted (at most once
    /// a [`LIFT_CHECK`], however many callers are refused meanwhile).
    pub(crate) fn time_to_check_lift(&self) -> bool {
        let now = Instant::now();
        let mut checked = self.lift_checked.lock().unwrap_or_else(|p| p.into_inner());
        if checked.is_some_and(|at| now.duration_since(at) < LIFT_CHECK) {
            return false;
        }
        *checked = Some(now);
        true
    }

    /// End a lockout (`lifeboat passwd` lifted it). True when one was on.
    pub(crate) fn lift(&self) -> bool {
        let mut state = self.lock();
        state.recent.clear();
        state.locked.take().is_some()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change is complete before the lock is released: a poisoned table is consistent.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    fn go(entry: Entry<'_>) -> (Attempt<'_>, Duration) {
        match entry {
            Entry::Go { attempt, delay } => (attempt, delay),
            other => panic!("expected to go ahead, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn at_most_two_attempts_of_an_address_are_under_way() {
        let throttle = LoginThrottle::default();
        let (a, _) = go(throttle.enter(ip(1), None));
        let (_b, _) = go(throttle.enter(ip(1), None));
        assert!(matches!(throttle.enter(ip(1), None), Entry::Busy));
        go(throttle.enter(ip(2), None));
        drop(a);
        go(throttle.enter(ip(1), None));
    }

    #[tokio::test(start_paused = true)]
    async fn the_delay_before_the_check_grows_with_failures_and_resets_on_success() {
        let throttle = LoginThrottle::default();
        let delays: Vec<Duration> = (0..13)
            .map(|_| {
                let (attempt, delay) = go(throttle.enter(ip(1), None));
                throttle.failed(&attempt);
                delay
            })
            .collect();
        assert_eq!(delays[..4], [Duration::ZERO, STEP, STEP * 2, STEP * 3]);
        assert_eq!(delays[12], MAX_DELAY);
        let (attempt, _) = go(throttle.enter(ip(1), None));
        assert!(!throttle.succeeded(&attempt));
        drop(attempt);
        assert_eq!(go(throttle.enter(ip(1), None)).1, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn many_failures_from_many_addresses_lock_new_sessions_out() {
        let throttle = LoginThrottle::default();
        let before = Instant::now();
        tokio::time::advance(Duration::from_secs(1)).await;
        let mut started = None;
        for i in 0..GLOBAL_BUDGET {
            let (attempt, _) = go(throttle.enter(ip(i as u8), None));
            started = throttle.failed(&attempt);
        }
        assert_eq!(started, Some(LOCKOUT), "the last failure of the budget starts the lockout");
        assert!(throttle.is_locked());
        assert!(matches!(throttle.enter(ip(200), None), Entry::Locked { .. }), "a new caller");
        assert!(matches!(throttle.enter(ip(200), Some(Instant::now())), Entry::Locked { .. }), "a new session");
        // A browser whose session began before the lockout may still try, and a correct
        // password lifts the lockout for everyone.
        let (attempt, _) = go(throttle.enter(ip(201), Some(before)));
        assert!(throttle.succeeded(&attempt));
        go(throttle.enter(ip(202), None));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lockout_ends_by_itself_or_when_lifted() {
        let throttle = LoginThrottle::default();
        for i in 0..GLOBAL_BUDGET {
            let (attempt, _) = go(throttle.enter(ip(i as u8), None));
            throttle.failed(&attempt);
        }
        let Entry::Locked { remaining } = throttle.enter(ip(250), None) else { panic!("not locked") };
        assert_eq!(remaining, LOCKOUT);
        tokio::time::advance(LOCKOUT).await;
        go(throttle.enter(ip(250), None));
        for i in 0..GLOBAL_BUDGET {
            let (attempt, _) = go(throttle.enter(ip(100 + i as u8), None));
            throttle.failed(&attempt);
        }
        assert!(throttle.lift());
        assert!(!throttle.is_locked());
    }

    #[tokio::test(start_paused = true)]
    async fn failures_spread_over_more_than_the_window_never_lock() {
        let throttle = LoginThrottle::default();
        for i in 0..(3 * GLOBAL_BUDGET) {
            let (attempt, _) = go(throttle.enter(ip((i % 200) as u8), None));
            assert_eq!(throttle.failed(&attempt), None, "failure {i}");
            drop(attempt);
            tokio::time::advance(GLOBAL_WINDOW / GLOBAL_BUDGET as u32 + Duration::from_secs(1)).await;
        }
    }
}
