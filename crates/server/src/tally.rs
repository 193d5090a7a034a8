//! Which requests are recorded one by one (a log line, a row in the history, an event) and which
//! are only counted, per source address.
//!
//! A record costs disk and a person's attention; a request costs the client one datagram. So
//! each source has a budget of records (a token bucket), and requests beyond it are counted
//! and reported together, one summary per source and interval. Strangers outside the
//! allow-list get a budget of one: the first request of a quiet source is reported at once, the
//! rest of that interval in one summary.
//!
//! **Invariant:** memory is bounded: at most [`Budget::sources`] sources are tracked one by one,
//! and requests of further sources share one tally, so a flood of spoofed addresses costs a
//! bounded number of records and summaries per interval.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use lifeboat_tftp::Direction;

/// The budget of one kind of source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Records a quiet source may use at once.
    pub(crate) burst: u32,
    /// One more record every `refill`.
    pub(crate) refill: Duration,
    /// How long requests are counted before they are reported in one summary.
    pub(crate) interval: Duration,
    /// Sources tracked one by one; the requests of any others are tallied together.
    pub(crate) sources: usize,
}

impl Budget {
    /// Clients in the allow-list: a PXE boot asks for a dozen names within a second (pxelinux
    /// tries its configuration file under one name after another), so the burst holds many
    /// boots; a client asking for more than five names a second for long is a flood.
    pub(crate) const ALLOWED: Budget =
        Budget { burst: 60, refill: Duration::from_millis(200), interval: Duration::from_secs(60), sources: 1024 };

    /// Sources outside the allow-list: one report, then a summary per minute; a flood from
    /// many (spoofed) addresses is reported for 64 of them, and summed up for the rest.
    pub(crate) const STRANGER: Budget =
        Budget { burst: 1, refill: Duration::from_secs(60), interval: Duration::from_secs(60), sources: 64 };
}

/// What a source asked for, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    pub direction: Direction,
    /// The requested name, cut to a bounded length ([`lifeboat_tftp::text::peer_text`]).
    pub name: String,
}

/// Why requests were counted rather than recorded one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountReason {
    /// The source is outside the allow-list: dropped without an answer.
    OutsideAllowList,
    /// The source asked more often than its budget of records (they were answered).
    OverBudget,
}

/// Requests of one source (or of the sources beyond [`MAX_SOURCES`]) that were counted, not
/// recorded one by one, since `since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedRequests {
    /// `None` for the sources not tracked one by one (a flood from many addresses).
    pub source: Option<IpAddr>,
    pub reason: CountReason,
    pub count: u64,
    pub since: SystemTime,
    /// The last request counted.
    pub last: Asked,
}

#[derive(Debug)]
struct Source {
    tokens: u32,
    /// When the last token was added (or the source was first seen).
    refilled: Instant,
    /// Requests counted since `counting_since`.
    counted: u64,
    counting_since: Option<Instant>,
    last: Option<Asked>,
}

impl Source {
    fn new(budget: &Budget, now: Instant) -> Source {
        Source { tokens: budget.burst, refilled: now, counted: 0, counting_since: None, last: None }
    }

    /// Earns the tokens of the time since the last refill; none while requests are being
    /// counted, so a source over its budget is summed up for the whole interval (and not told
    /// apart again, as if it had just come, when a token comes back just before its summary).
    fn refill(&mut self, budget: &Budget, now: Instant) {
        if self.counting_since.is_some() {
            self.refilled = now;
            return;
        }
        let elapsed = now.saturating_duration_since(self.refilled);
        let earned = (elapsed.as_nanos() / budget.refill.as_nanos().max(1)).min(u128::from(budget.burst));
        if earned > 0 {
            self.tokens = (self.tokens + earned as u32).min(budget.burst);
            self.refilled =
                if self.tokens == budget.burst { now } else { self.refilled + budget.refill * earned as u32 };
        }
    }

    fn idle(&self, budget: &Budget, now: Instant) -> bool {
        self.counted == 0 && now.saturating_duration_since(self.refilled) >= budget.refill * budget.burst
    }

    /// The summary of what was counted; its start as a time of day, from `now` and `wall_now`
    /// (the same moment on both clocks).
    fn take_counted(
        &mut self,
        source: Option<IpAddr>,
        reason: CountReason,
        now: Instant,
        wall_now: SystemTime,
    ) -> Option<CountedRequests> {
        let started = self.counting_since.take()?;
        let since = wall_now.checked_sub(now.saturating_duration_since(started)).unwrap_or(wall_now);
        let count = std::mem::take(&mut self.counted);
        Some(CountedRequests { source, reason, count, since, last: self.last.clone()? })
    }
}

#[derive(Debug)]
struct Table {
    sources: HashMap<IpAddr, Source>,
    /// The sources beyond [`MAX_SOURCES`], counted together.
    others: Source,
}

/// Per-source budgets of records. Shared by the listening tasks.
#[derive(Debug)]
pub(crate) struct Tally {
    budget: Budget,
    reason: CountReason,
    table: Mutex<Table>,
}

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Record it one by one.
    Record,
    /// Only counted; a summary comes later.
    Counted,
}

impl Tally {
    pub(crate) fn new(budget: Budget, reason: CountReason) -> Tally {
        let table = Table { sources: HashMap::new(), others: Source::new(&budget, Instant::now()) };
        Tally { budget, reason, table: Mutex::new(table) }
    }

    /// Counts a request of `source` for `asked` at `now`: within the source's budget it is to be
    /// recorded; beyond, it is counted for the next summary.
    pub(crate) fn note(&self, source: IpAddr, asked: Asked, now: Instant) -> Verdict {
        let budget = &self.budget;
        let mut table = self.lock();
        if !table.sources.contains_key(&source) && table.sources.len() >= budget.sources {
            table.sources.retain(|_, s| !s.idle(budget, now));
        }
        let Table { sources, others } = &mut *table;
        let tracked = sources.len() < budget.sources || sources.contains_key(&source);
        let entry = if tracked { sources.entry(source).or_insert_with(|| Source::new(budget, now)) } else { others };
        entry.refill(budget, now);
        if tracked && entry.tokens > 0 {
            entry.tokens -= 1;
            return Verdict::Record;
        }
        entry.counted += 1;
        entry.counting_since.get_or_insert(now);
        entry.last = Some(asked);
        Verdict::Counted
    }

    /// The summaries whose interval has ended by `now` (every one with `flush`); `wall_now` is
    /// `now` as a time of day, to date them.
    pub(crate) fn due(&self, now: Instant, wall_now: SystemTime, flush: bool) -> Vec<CountedRequests> {
        let interval = self.budget.interval;
        let ended =
            |s: &Source| s.counting_since.is_some_and(|at| flush || now.saturating_duration_since(at) >= interval);
        let reason = self.reason;
        let mut table = self.lock();
        let mut due: Vec<CountedRequests> = table
            .sources
            .iter_mut()
            .filter(|(_, s)| ended(s))
            .filter_map(|(ip, s)| s.take_counted(Some(*ip), reason, now, wall_now))
            .collect();
        if ended(&table.others) {
            due.extend(table.others.take_counted(None, reason, now, wall_now));
        }
        due
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // Every change is complete before the lock is released: a poisoned table is consistent.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    fn asked(name: &str) -> Asked {
        Asked { direction: Direction::Read, name: name.to_owned() }
    }

    #[test]
    fn a_burst_is_recorded_then_requests_are_counted_until_the_budget_refills() {
        let budget = Budget { burst: 3, refill: 100 * MS, interval: 1000 * MS, sources: 16 };
        let tally = Tally::new(budget, CountReason::OverBudget);
        let start = Instant::now();
        let verdicts: Vec<Verdict> = (0..5).map(|i| tally.note(ip(1), asked(&format!("f{i}")), start)).collect();
        assert_eq!(verdicts, [Verdict::Record, Verdict::Record, Verdict::Record, Verdict::Counted, Verdict::Counted]);
        assert_eq!(tally.note(ip(2), asked("other"), start), Verdict::Record, "other sources keep their budget");
        assert_eq!(
            tally.note(ip(1), asked("later"), start + 500 * MS),
            Verdict::Counted,
            "while counting, the budget does not refill"
        );

        assert!(tally.due(start + 999 * MS, SystemTime::UNIX_EPOCH, false).is_empty(), "the interval has not ended");
        // Dated on the caller's clock: counting began (at `start`) a second before this moment.
        let wall_now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let due = tally.due(start + 1000 * MS, wall_now, false);
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].source, due[0].count, due[0].last.name.as_str()), (Some(ip(1)), 3, "later"));
        assert_eq!(due[0].since, wall_now - 1000 * MS);
        assert!(tally.due(start + 5000 * MS, SystemTime::UNIX_EPOCH, false).is_empty(), "a summary is given once");
        assert_eq!(tally.note(ip(1), asked("again"), start + 1300 * MS), Verdict::Record, "a refill after it");
    }

    #[test]
    fn a_stranger_is_reported_once_then_summarized_per_interval() {
        let tally = Tally::new(Budget::STRANGER, CountReason::OutsideAllowList);
        let start = Instant::now();
        assert_eq!(tally.note(ip(9), asked("a"), start), Verdict::Record);
        for i in 1..2000u64 {
            assert_eq!(tally.note(ip(9), asked("a"), start + MS * i as u32), Verdict::Counted);
        }
        let due = tally.due(start + Duration::from_secs(61), SystemTime::UNIX_EPOCH, false);
        assert_eq!(due.iter().map(|c| c.count).collect::<Vec<_>>(), [1999]);
    }

    #[test]
    fn a_flood_of_sources_is_bounded_and_tallied_together() {
        let budget = Budget::STRANGER;
        let tally = Tally::new(budget, CountReason::OutsideAllowList);
        let now = Instant::now();
        let mut recorded = 0;
        for i in 0..(budget.sources as u32 + 5000) {
            let source = IpAddr::from((0xc633_6400u32 + i).to_be_bytes());
            recorded += usize::from(tally.note(source, asked("x"), now) == Verdict::Record);
        }
        assert_eq!(recorded, budget.sources, "one record per tracked source");
        assert_eq!(tally.lock().sources.len(), budget.sources);
        let due = tally.due(now, SystemTime::UNIX_EPOCH, true);
        assert_eq!(due.len(), 1, "the untracked sources make one summary");
        assert_eq!((due[0].source, due[0].count), (None, 5000));
    }

    #[test]
    fn idle_sources_make_room_for_new_ones() {
        let budget = Budget { burst: 2, refill: 10 * MS, interval: 100 * MS, sources: 1024 };
        let tally = Tally::new(budget, CountReason::OverBudget);
        let start = Instant::now();
        for i in 0..budget.sources as u32 {
            tally.note(IpAddr::from(i.to_be_bytes()), asked("x"), start);
        }
        // 20 ms later every source has its two tokens back and counted nothing: all are idle.
        assert_eq!(tally.note(ip(200), asked("x"), start + 20 * MS), Verdict::Record);
        assert!(tally.lock().sources.len() < 10);
    }
}
