//! How numbers and times look on the pages: sizes in KiB/MiB/GiB, times in UTC, ages, rates.
//!
//! **Invariant:** pure functions of their arguments (the current time is passed in), so every
//! page renders the same for the same data.

use std::time::Duration;

/// `1.5 MiB`, `512 B`.
/// "Kept for 365 days, at most 500,000 rows per table": what the history pages say of retention.
pub(crate) fn retention(retention: &lifeboat_store::Retention) -> String {
    let rows = retention.max_rows.to_string();
    let mut grouped = String::new();
    for (i, digit) in rows.chars().enumerate() {
        if i > 0 && (rows.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("kept for {} days, at most {grouped} rows per table", retention.days)
}

pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `2026-11-29 08:52:13` (UTC) for Unix milliseconds.
pub(crate) fn time(ms: i64) -> String {
    if ms < 0 {
        return "—".into();
    }
    let at = lifeboat_clock::from_unix_ms(ms);
    let text = humantime::format_rfc3339_seconds(at).to_string();
    text.trim_end_matches('Z').replacen('T', " ", 1)
}

/// `3 min ago`, `in 2 h 5 min` for Unix milliseconds, seen at `now` (ms).
pub(crate) fn relative(ms: i64, now: i64) -> String {
    let delta = now.saturating_sub(ms);
    let span = duration(Duration::from_millis(delta.unsigned_abs()));
    if delta >= 0 { format!("{span} ago") } else { format!("in {span}") }
}

/// `45 s`, `3 min`, `2 h 5 min`, `3 d 4 h`: two units at most.
pub(crate) fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `1.2 MB/s`: as the log writes it (`lifeboat_tftp::human_rate`).
pub(crate) fn rate(bytes_per_second: u64) -> String {
    lifeboat_tftp::human_rate(bytes_per_second as f64)
}

/// The average rate of `bytes` moved in `ms` milliseconds.
pub(crate) fn average_rate(bytes: u64, ms: i64) -> Option<u64> {
    let ms = u64::try_from(ms).ok().filter(|&ms| ms > 0)?;
    Some(bytes.saturating_mul(1000) / ms)
}

/// The first 12 hex digits of a digest, for tables (the full one goes in a tooltip).
pub(crate) fn short_digest(sha256: &str) -> String {
    sha256.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(8 << 20), "8.0 MiB");
        assert_eq!(bytes(u64::MAX), "16384.0 PiB");
        assert_eq!(rate(2048), "2.0 kB/s");
    }

    #[test]
    fn times_and_ages() {
        assert_eq!(time(0), "1970-01-01 00:00:00");
        assert_eq!(time(1_764_406_333_000), "2025-11-29 08:52:13");
        assert_eq!(time(-1), "—");
        assert_eq!(relative(0, 90_000), "1 min ago");
        assert_eq!(relative(7_500_000, 0), "in 2 h 5 min");
        assert_eq!(duration(Duration::from_secs(3 * 86_400 + 4 * 3600)), "3 d 4 h");
        assert_eq!(average_rate(1000, 500), Some(2000));
        assert_eq!(average_rate(1000, 0), None);
    }
}
