//! When an event loop must next call a transfer's `handle_timeout`: a heap of deadlines by
//! transfer key, kept small by pushing only when a deadline moves earlier.
//!
//! A lock-step transfer pushes its retransmission deadline later with every ACK. Re-pushing
//! then would leave one stale entry per block; instead each transfer remembers the deadline
//! it has in the heap (`scheduled`), a later one waits, and when the entry comes due the loop
//! asks the core for its real deadline and schedules that. So the heap holds about one entry
//! per transfer, and a transfer costs a wake-up per retransmission timeout at most, not per
//! block.
//!
//! **Invariant:** a transfer's `scheduled` is never later than the earliest deadline its core
//! has; entries that no longer match a transfer's `scheduled` are stale and only cost a look.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::slots::Key;

#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    heap: BinaryHeap<Reverse<(Instant, Key)>>,
}

impl Deadlines {
    /// Makes sure the transfer `key` is looked at by `at`; `scheduled` is what it has in the heap.
    pub(crate) fn schedule(&mut self, key: Key, at: Instant, scheduled: &mut Option<Instant>) {
        if scheduled.is_none_or(|earlier| at < earlier) {
            self.heap.push(Reverse((at, key)));
            *scheduled = Some(at);
        }
    }

    /// The earliest entry, possibly a stale one (which only wakes the loop early).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Takes the next entry due at `now`: the deadline it was pushed with and the key.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, Key)> {
        if self.next()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(entry)| entry)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_later_deadline_waits_for_the_earlier_entry_and_an_earlier_one_is_pushed() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut deadlines = Deadlines::default();
        let mut scheduled = None;
        deadlines.schedule(7, at(100), &mut scheduled);
        deadlines.schedule(7, at(200), &mut scheduled);
        deadlines.schedule(7, at(300), &mut scheduled);
        assert_eq!((deadlines.len(), scheduled), (1, Some(at(100))), "later deadlines add nothing");
        deadlines.schedule(7, at(50), &mut scheduled);
        assert_eq!((deadlines.len(), scheduled), (2, Some(at(50))));
        assert_eq!(deadlines.pop_due(at(10)), None);
        assert_eq!(deadlines.pop_due(at(60)), Some((at(50), 7)));
        assert_eq!(deadlines.pop_due(at(60)), None);
        assert_eq!(deadlines.next(), Some(at(100)), "the stale entry stays until its time");
    }
}
