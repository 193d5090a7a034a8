//! Pool pressure: what keeps a flood of DISCOVERs from made-up MACs from emptying a pool.
//!
//! Every DISCOVER that gets an OFFER holds an address for a while, and a per-MAC rate limit
//! does nothing against a new MAC per DISCOVER: about one a second kept a 51-address pool
//! empty for the clients that mattered. So, per scope:
//! - a scope is *under pressure* when a quarter of its pool is offered and not yet taken
//!   ([`pressure_threshold`]), and stays so until [`PRESSURE_LINGER`] seconds have passed
//!   without that or a new client held back (else a sustained flood would get a burst of
//!   offers at full rate each time the offers made before the pressure lapse); offers then
//!   hold their address for a short while only, new clients (no lease, no reservation) are
//!   answered at most [`Pressure::per_second`] a second, for all scopes together, and the
//!   offers to them are logged in the periodic warning rather than one line each;
//! - outstanding offers are capped at half the pool ([`offer_cap`]), and at
//!   [`MAX_OUTSTANDING_OFFERS`] over all scopes: beyond that, and when no address is free, the
//!   oldest unclaimed offer gives its address to the new client, if it is at least
//!   [`MIN_REUSE_AGE`] old (a client REQUESTs within milliseconds of its OFFER: an offer that
//!   old will not be claimed, and a young one is a client in the middle of its exchange, such as
//!   one of fifty lab machines powered on at once);
//! - clients with a reservation or a lease (renewing, rebooting) are never held back.
//!
//! The warning that a pool has no free address, or that new clients were held back, is logged at
//! most once every [`NOTICE_EVERY`] seconds, with the number of times it was held back since.
//!
//! **Invariant:** all of it is arithmetic on the time passed in: no clock, no randomness.

use crate::explain::Level;

/// Outstanding offers over all scopes beyond which the oldest is reused, whatever the pools.
pub const MAX_OUTSTANDING_OFFERS: usize = 65_536;

/// How old (seconds) an unclaimed offer must be before its address goes to another client.
pub const MIN_REUSE_AGE: u64 = 2;

/// How long (seconds) a scope stays under pressure after the last sign of it.
pub const PRESSURE_LINGER: u64 = 60;

/// The shortest time between two warnings about pool pressure, in seconds.
pub const NOTICE_EVERY: u64 = 10;

/// Outstanding offers that put a pool of `size` addresses under pressure: a quarter of it.
pub fn pressure_threshold(size: u64) -> usize {
    usize::try_from(size / 4).unwrap_or(usize::MAX).max(4)
}

/// The most offers outstanding in a pool of `size` addresses: half of it.
pub fn offer_cap(size: u64) -> usize {
    usize::try_from(size / 2).unwrap_or(usize::MAX).max(8)
}

/// The budget of new clients under pressure and the warnings' rate.
#[derive(Debug, Clone)]
pub(crate) struct Pressure {
    pub(crate) per_second: u32,
    /// The second being counted and the new clients answered in it.
    second: u64,
    answered: u32,
    /// When the last warning was logged, and the warnings held back since.
    warned_at: Option<u64>,
    held_back: u64,
    /// Offers to new clients made under pressure since the last warning (logged at debug).
    offered_quietly: u64,
    /// Per scope (by index), until when it is under pressure.
    until: Vec<u64>,
}

impl Pressure {
    pub(crate) fn new(per_second: u32) -> Pressure {
        Pressure {
            per_second,
            second: 0,
            answered: 0,
            warned_at: None,
            held_back: 0,
            offered_quietly: 0,
            until: Vec::new(),
        }
    }

    /// Whether scope `group` is under pressure at `now`, `crowded` saying whether its offers
    /// are a quarter of its pool; a crowded scope stays under pressure for
    /// [`PRESSURE_LINGER`] seconds more.
    pub(crate) fn under_pressure(&mut self, group: usize, crowded: bool, now: u64) -> bool {
        if self.until.len() <= group {
            self.until.resize(group + 1, 0);
        }
        if crowded {
            self.until[group] = now + PRESSURE_LINGER;
        }
        now < self.until[group]
    }

    /// A new client of scope `group` was held back at `now`: the flood goes on.
    pub(crate) fn held_back(&mut self, group: usize, now: u64) {
        self.under_pressure(group, true, now);
    }

    /// An offer to a new client was made under pressure, and is logged at debug level.
    pub(crate) fn offered_quietly(&mut self) {
        self.offered_quietly += 1;
    }

    /// Offers made quietly since the last warning, taken.
    pub(crate) fn take_offered_quietly(&mut self) -> u64 {
        std::mem::take(&mut self.offered_quietly)
    }

    /// Whether one more new client may be answered at `now` (seconds) while under pressure.
    pub(crate) fn admit_new_client(&mut self, now: u64) -> bool {
        if now != self.second {
            self.second = now;
            self.answered = 0;
        }
        if self.answered >= self.per_second {
            return false;
        }
        self.answered += 1;
        true
    }

    /// The level of a warning about pressure at `now`, and how many were held back before it:
    /// one warning per [`NOTICE_EVERY`] seconds, the rest at debug level.
    pub(crate) fn notice(&mut self, now: u64) -> (Level, u64) {
        if self.warned_at.is_some_and(|at| now < at.saturating_add(NOTICE_EVERY)) {
            self.held_back += 1;
            return (Level::Debug, 0);
        }
        self.warned_at = Some(now);
        (Level::Warn, std::mem::take(&mut self.held_back))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_scale_with_the_pool_and_have_a_floor() {
        assert_eq!((pressure_threshold(51), offer_cap(51)), (12, 25));
        assert_eq!((pressure_threshold(65_534), offer_cap(65_534)), (16_383, 32_767));
        assert_eq!((pressure_threshold(3), offer_cap(3)), (4, 8));
    }

    #[test]
    fn new_clients_are_counted_per_second() {
        let mut p = Pressure::new(3);
        assert_eq!((0..5).map(|_| p.admit_new_client(100)).collect::<Vec<_>>(), [true, true, true, false, false]);
        assert!(p.admit_new_client(101), "a new second");
        assert!(!Pressure::new(0).admit_new_client(1));
    }

    #[test]
    fn pressure_lingers_after_its_last_sign() {
        let mut p = Pressure::new(1);
        assert!(!p.under_pressure(0, false, 100));
        assert!(p.under_pressure(0, true, 100));
        assert!(p.under_pressure(0, false, 100 + PRESSURE_LINGER - 1));
        assert!(!p.under_pressure(0, false, 100 + PRESSURE_LINGER));
        p.held_back(1, 200);
        assert!(p.under_pressure(1, false, 250) && !p.under_pressure(0, false, 250), "per scope");
    }

    #[test]
    fn one_warning_every_ten_seconds_with_the_count_held_back() {
        let mut p = Pressure::new(1);
        assert_eq!(p.notice(100), (Level::Warn, 0));
        for now in 100..110 {
            assert_eq!(p.notice(now), (Level::Debug, 0));
        }
        assert_eq!(p.notice(110), (Level::Warn, 10));
        assert_eq!(p.notice(111), (Level::Debug, 0));
    }
}
