//! How long a transfer polls for its peer's answer before it sleeps (see
//! `lifeboat_net::TransferSocket`): only while answers keep coming within the budget, and only
//! while every transfer can have a CPU to itself (the caller passes a zero budget otherwise).
//! The client's pump and the server's event loops share it.

use std::time::Duration;

/// The longest a transfer polls for the peer's next packet before it sleeps (see
/// `lifeboat_net::TransferSocket`). A lock-step answer on a LAN comes within tens of
/// microseconds, but the ACK of a window comes only after the peer has taken in the whole
/// window: 150–250 µs for 16 blocks of 1468 bytes here. Spinning that long spares the
/// wake-up of a sleeping thread, which costs tens of microseconds on a virtual machine, once
/// per window. Measured with atftp, window 16, 1468: about 140 MB/s with a 100 µs spin,
/// 150–230 MB/s with 1 ms, no better with 2 ms. The [`Spinner`] stops spinning for a peer that
/// answers later than this, so a slow device costs no CPU.
pub(crate) const SPIN: Duration = Duration::from_millis(1);

/// Decides how long to spin before sleeping: only while answers have been arriving within the
/// spin budget, so a slow peer or a busy machine costs no CPU. Every 64th wait probes again.
#[derive(Debug, Default)]
pub(crate) struct Spinner {
    /// The last answer came within the budget.
    paying_off: bool,
    waits: u32,
    budget: Duration,
}

impl Spinner {
    pub(crate) fn next(&mut self, budget: Duration) -> Duration {
        self.budget = budget;
        self.waits = self.waits.wrapping_add(1);
        if self.paying_off || self.waits.is_multiple_of(64) { budget } else { Duration::ZERO }
    }

    pub(crate) fn observe(&mut self, waited: Duration, answered: bool) {
        self.paying_off = answered && waited <= self.budget;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    #[test]
    fn spins_while_answers_come_within_the_budget() {
        let mut spinner = Spinner { paying_off: true, ..Spinner::default() };
        assert_eq!(spinner.next(SPIN), SPIN);
        spinner.observe(200 * US, true);
        assert_eq!(spinner.next(SPIN), SPIN, "a window's ACK after 200 µs is worth the spin");
    }

    #[test]
    fn a_late_answer_or_none_stops_the_spin_until_the_next_probe() {
        for (waited, answered) in [(SPIN + US, true), (SPIN / 2, false)] {
            let mut spinner = Spinner { paying_off: true, ..Spinner::default() };
            spinner.next(SPIN);
            spinner.observe(waited, answered);
            let spins: Vec<usize> = (1..=128).filter(|_| !spinner.next(SPIN).is_zero()).collect();
            assert_eq!(spins.len(), 2, "only the probes spin after waiting {waited:?} (answered: {answered})");
        }
    }

    #[test]
    fn a_probe_that_pays_off_resumes_spinning() {
        let mut spinner = Spinner::default();
        while spinner.next(SPIN).is_zero() {
            spinner.observe(5 * SPIN, true);
        }
        spinner.observe(30 * US, true);
        assert_eq!(spinner.next(SPIN), SPIN);
    }

    #[test]
    fn a_busy_server_never_spins() {
        let mut spinner = Spinner { paying_off: true, ..Spinner::default() };
        for _ in 0..128 {
            assert!(spinner.next(Duration::ZERO).is_zero());
            spinner.observe(Duration::ZERO, true);
        }
    }
}
