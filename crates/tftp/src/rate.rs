//! How a transfer rate is written for people: the same in the log, on the command line and on
//! the dashboard. Decimal units (MB/s, kB/s), as network tools print them.

/// `12.3 MB/s`, `950.0 kB/s`.
pub fn human_rate(bytes_per_second: f64) -> String {
    if bytes_per_second >= 1e6 {
        format!("{:.1} MB/s", bytes_per_second / 1e6)
    } else {
        format!("{:.1} kB/s", bytes_per_second / 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn megabytes_and_kilobytes_per_second() {
        assert_eq!(human_rate(2_000_000.0), "2.0 MB/s");
        assert_eq!(human_rate(123_456_789.0), "123.5 MB/s");
        assert_eq!(human_rate(950_000.0), "950.0 kB/s");
        assert_eq!(human_rate(0.0), "0.0 kB/s");
    }
}
