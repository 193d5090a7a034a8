//! A fake clock: one real `Instant` taken at the start, plus offsets the input chooses.

use std::time::{Duration, Instant};

pub(crate) struct Clock {
    now: Instant,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock { now: Instant::now() }
    }

    pub(crate) fn now(&self) -> Instant {
        self.now
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// Moves to `at` unless that is in the past: time never goes backwards.
    pub(crate) fn advance_to(&mut self, at: Instant) {
        self.now = self.now.max(at);
    }
}
