//! Retransmission timing: an adaptive timeout in the manner of TCP (RFC 6298), bounded by the
//! timeout the client negotiated, and the budgets of silence a transfer accepts.
//!
//! Peer servers wait a fixed second (or five) before they resend a lost block. Measuring the
//! round trip lets a lost packet on a LAN cost a fraction of that, while a slow bootloader still
//! gets the full negotiated timeout after a few backoffs.
//!
//! A peer may ask for `timeout=255`, and eight retries of that would keep a transfer (and its
//! place among the server's transfers) for half an hour. So however long the retransmission
//! timer is, a transfer ends after [`Timing::first_answer`] without a first answer and after
//! [`Timing::max_silence`] without progress.

use std::time::{Duration, Instant};

/// Retransmission settings shared by every transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Timeout before any round trip was measured.
    pub initial: Duration,
    /// Lower bound of the adaptive timeout.
    pub min: Duration,
    /// Upper bound when the client negotiated no `timeout`.
    pub max: Duration,
    /// Consecutive timeouts without progress before the transfer is abandoned.
    pub max_retries: u32,
    /// The longest a transfer waits for the peer's first answer (the ACK of the OACK or of the
    /// first block, the first DATA of an upload), whatever `timeout` the peer negotiated. A
    /// request whose sender never answers (spoofed, or gone at once) holds its place no longer.
    pub first_answer: Duration,
    /// The longest a transfer goes without progress once the peer has answered.
    pub max_silence: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            initial: Duration::from_secs(1),
            min: Duration::from_millis(200),
            max: Duration::from_secs(2),
            max_retries: 8,
            first_answer: Duration::from_secs(10),
            max_silence: Duration::from_secs(20),
        }
    }
}

/// How long a transfer has waited for progress, against the budgets of its [`Timing`].
#[derive(Debug, Clone)]
pub(crate) struct Silence {
    first_answer: Duration,
    max_silence: Duration,
    /// When the current wait began: the first transmission, then the last progress.
    since: Option<Instant>,
    answered: bool,
}

/// A budget of silence that ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SilenceSpent {
    pub(crate) waited: Duration,
    /// Whether the peer had answered at all.
    pub(crate) answered: bool,
}

impl Silence {
    pub(crate) fn new(timing: &Timing) -> Silence {
        Silence { first_answer: timing.first_answer, max_silence: timing.max_silence, since: None, answered: false }
    }

    /// Starts the wait for a first answer at `now`, unless a wait is already running.
    pub(crate) fn start(&mut self, now: Instant) {
        self.since.get_or_insert(now);
    }

    /// The peer made progress at `now`: a new wait begins.
    pub(crate) fn progress(&mut self, now: Instant) {
        self.since = Some(now);
        self.answered = true;
    }

    /// When the current budget runs out.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.since.map(|since| since + self.budget())
    }

    /// The budget that ran out by `now`, if one did.
    pub(crate) fn spent(&self, now: Instant) -> Option<SilenceSpent> {
        let since = self.since?;
        let budget = self.budget();
        (now.saturating_duration_since(since) >= budget)
            .then_some(SilenceSpent { waited: budget, answered: self.answered })
    }

    fn budget(&self) -> Duration {
        if self.answered { self.max_silence } else { self.first_answer }
    }
}

/// The smallest backoff cap of a receiver (see [`RetransmitTimer::for_receiver`]).
const RECEIVER_MIN_CAP: Duration = Duration::from_secs(6);

/// The shortest wait before a tail-loss probe: below this, scheduling noise on the peer would
/// make probes spurious.
const TAIL_PROBE_MIN: Duration = Duration::from_millis(1);

/// The adaptive timeout of one transfer.
#[derive(Debug, Clone)]
pub(crate) struct RetransmitTimer {
    srtt: Option<Duration>,
    rttvar: Duration,
    min: Duration,
    max: Duration,
    initial: Duration,
    /// Doublings since the last progress.
    backoff: u32,
}

impl RetransmitTimer {
    /// `negotiated` is the client's `timeout` option, which becomes the upper bound.
    pub(crate) fn new(timing: &Timing, negotiated: Option<Duration>) -> Self {
        let max = negotiated.unwrap_or(timing.max).max(timing.min);
        RetransmitTimer {
            srtt: None,
            rttvar: Duration::ZERO,
            min: timing.min.min(max),
            max,
            initial: timing.initial.clamp(timing.min.min(max), max),
            backoff: 0,
        }
    }

    /// The timer of a receiver, whose repeated ACKs must leave gaps longer than a lock-step
    /// sender's own timeout: tftp-hpa's client resends a block only after 5 s of silence, and
    /// every repeated ACK restarts that wait, so ACKs repeated every 2 s would starve it.
    pub(crate) fn for_receiver(timing: &Timing, negotiated: Option<Duration>) -> Self {
        let cap = negotiated.unwrap_or(timing.max).max(RECEIVER_MIN_CAP);
        RetransmitTimer::new(timing, Some(cap))
    }

    /// Feeds one round-trip sample of a packet that was sent once (Karn's rule).
    pub(crate) fn on_sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
    }

    pub(crate) fn on_progress(&mut self) {
        self.backoff = 0;
    }

    pub(crate) fn on_timeout(&mut self) {
        self.backoff = self.backoff.saturating_add(1).min(16);
    }

    /// How long after the last block of a window a sender resends that block alone, when no
    /// ACK came: twice the round trip, or more when round trips vary, at least
    /// [`TAIL_PROBE_MIN`]. `None` before any round trip was measured, or when the probe would
    /// not come before the retransmission timeout anyway.
    pub(crate) fn tail_probe_timeout(&self) -> Option<Duration> {
        let srtt = self.srtt?;
        let probe = (srtt * 2).max(srtt + self.rttvar * 4).max(TAIL_PROBE_MIN);
        (probe < self.timeout()).then_some(probe)
    }

    /// How long to wait for the next packet.
    pub(crate) fn timeout(&self) -> Duration {
        let base = match self.srtt {
            Some(srtt) => (srtt + self.rttvar * 4).clamp(self.min, self.max),
            None => self.initial,
        };
        base.saturating_mul(1 << self.backoff).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn starts_at_initial_and_backs_off_to_the_negotiated_timeout() {
        let mut timer = RetransmitTimer::new(&Timing::default(), Some(Duration::from_secs(5)));
        assert_eq!(timer.timeout(), Duration::from_secs(1));
        let mut seen = Vec::new();
        for _ in 0..4 {
            timer.on_timeout();
            seen.push(timer.timeout());
        }
        assert_eq!(seen, [2000 * MS, 4000 * MS, 5000 * MS, 5000 * MS]);
        timer.on_progress();
        assert_eq!(timer.timeout(), Duration::from_secs(1));
    }

    #[test]
    fn fast_lan_round_trips_shrink_the_timeout_to_the_floor() {
        let mut timer = RetransmitTimer::new(&Timing::default(), None);
        for _ in 0..10 {
            timer.on_sample(Duration::from_micros(40));
        }
        assert_eq!(timer.timeout(), 200 * MS);
    }

    #[test]
    fn the_tail_probe_waits_two_round_trips_and_only_when_it_beats_the_timeout() {
        let mut timer = RetransmitTimer::new(&Timing::default(), None);
        assert_eq!(timer.tail_probe_timeout(), None, "nothing measured yet");
        for _ in 0..20 {
            timer.on_sample(3 * MS);
        }
        let probe = timer.tail_probe_timeout().unwrap();
        assert!(probe >= 6 * MS && probe < 7 * MS, "{probe:?}");
        let mut fast = RetransmitTimer::new(&Timing::default(), None);
        fast.on_sample(Duration::from_micros(40));
        assert_eq!(fast.tail_probe_timeout(), Some(MS), "the floor");
        let mut slow = RetransmitTimer::new(&Timing::default(), None);
        slow.on_sample(300 * MS);
        assert_eq!(slow.tail_probe_timeout(), None, "900 ms probe is no earlier than the 900 ms timeout");
    }

    #[test]
    fn slow_round_trips_raise_the_timeout() {
        let mut timer = RetransmitTimer::new(&Timing::default(), None);
        timer.on_sample(300 * MS);
        // srtt 300 ms + 4 × 150 ms variance = 900 ms.
        assert_eq!(timer.timeout(), 900 * MS);
    }

    #[test]
    fn a_receiver_backs_off_past_a_five_second_sender_timeout() {
        let mut timer = RetransmitTimer::for_receiver(&Timing::default(), None);
        let mut waits = vec![timer.timeout()];
        for _ in 0..4 {
            timer.on_timeout();
            waits.push(timer.timeout());
        }
        assert_eq!(waits, [1000 * MS, 2000 * MS, 4000 * MS, 6000 * MS, 6000 * MS]);
    }

    #[test]
    #[allow(clippy::disallowed_methods, reason = "a test is a driver: its fake clock starts from a real instant")]
    fn silence_is_bounded_first_by_the_answer_budget_then_by_the_progress_budget() {
        let timing = Timing::default();
        let start = Instant::now();
        let mut silence = Silence::new(&timing);
        assert_eq!((silence.deadline(), silence.spent(start + 3600 * 1000 * MS)), (None, None), "not started");
        silence.start(start);
        silence.start(start + 5000 * MS);
        assert_eq!(silence.deadline(), Some(start + timing.first_answer), "a second start changes nothing");
        assert_eq!(silence.spent(start + timing.first_answer - MS), None);
        assert_eq!(
            silence.spent(start + timing.first_answer),
            Some(SilenceSpent { waited: timing.first_answer, answered: false })
        );
        silence.progress(start + 1000 * MS);
        assert_eq!(silence.deadline(), Some(start + 1000 * MS + timing.max_silence));
        assert_eq!(
            silence.spent(start + 1000 * MS + timing.max_silence),
            Some(SilenceSpent { waited: timing.max_silence, answered: true })
        );
    }

    #[test]
    fn timeout_never_exceeds_the_cap() {
        let mut timer = RetransmitTimer::new(&Timing::default(), Some(Duration::from_secs(1)));
        timer.on_sample(Duration::from_secs(10));
        assert_eq!(timer.timeout(), Duration::from_secs(1));
        for _ in 0..40 {
            timer.on_timeout();
        }
        assert_eq!(timer.timeout(), Duration::from_secs(1));
    }
}
