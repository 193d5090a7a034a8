//! The transfer history's filters as they arrive in a query string (pages and API alike), and
//! the rows the pages show.
//!
//! **Invariant:** a filter that cannot be understood is an error that names the field, never
//! silently dropped: a person filtering by a mistyped MAC must not see every transfer.

use std::time::Duration;

use lifeboat_dhcp::config::Mac;
use lifeboat_store::{StoredTransfer, TransferFilter, TransferProtocol};
use serde::Deserialize;

use crate::error::AppError;
use crate::format;
use crate::labels::{direction_slug, outcome_class, outcome_label, parse_outcome};

/// The transfer filters of a query string; all text, as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct HistoryQuery {
    #[serde(default)]
    pub(crate) mac: String,
    #[serde(default)]
    pub(crate) file: String,
    #[serde(default)]
    pub(crate) outcome: String,
    #[serde(default)]
    pub(crate) since: String,
    #[serde(default)]
    pub(crate) until: String,
    /// A fleet's instance name: only the transfers it served.
    #[serde(default)]
    pub(crate) instance: String,
    /// The `next_before` of the previous page.
    pub(crate) before: Option<i64>,
    pub(crate) limit: Option<u32>,
}

impl HistoryQuery {
    /// The store's filter for this query, with relative times counted back from `now` (ms).
    pub(crate) fn filter(&self, now: i64) -> Result<TransferFilter, AppError> {
        let mac = match self.mac.trim() {
            "" => None,
            mac => Some(
                mac.parse::<Mac>()
                    .map_err(|_| {
                        AppError::field("mac", format!("{mac:?} is not a MAC address: write it like 3c:84:6a:12:34:56"))
                    })?
                    .to_string(),
            ),
        };
        let file = Some(self.file.trim()).filter(|f| !f.is_empty()).map(str::to_owned);
        let outcome = match self.outcome.trim() {
            "" => None,
            slug => Some(parse_outcome(slug).ok_or_else(|| {
                AppError::field(
                    "outcome",
                    format!("unknown outcome {slug:?}: use complete, failed, not_found, refused or options_declined"),
                )
            })?),
        };
        let since = parse_time("since", &self.since, now)?;
        let until = parse_time("until", &self.until, now)?;
        let instance = parse_instance(&self.instance)?;
        Ok(TransferFilter { mac, file, outcome, since, until, instance })
    }

    /// The query string of this filter without paging, for links (`mac=..&file=..`).
    pub(crate) fn link(&self, before: Option<i64>) -> String {
        let mut pairs: Vec<String> = [
            ("mac", &self.mac),
            ("file", &self.file),
            ("outcome", &self.outcome),
            ("since", &self.since),
            ("until", &self.until),
            ("instance", &self.instance),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v.trim())))
        .collect();
        if let Some(before) = before {
            pairs.push(format!("before={before}"));
        }
        if pairs.is_empty() { "/transfers".into() } else { format!("/transfers?{}", pairs.join("&")) }
    }
}

/// An instance filter of a fleet (transfers, events, leases): empty (any instance) or a name
/// as [`lifeboat_store::check_instance_name`] allows it. Not trimmed: the pages send a name from
/// their list, and the API's description allows nothing around it.
pub(crate) fn parse_instance(text: &str) -> Result<Option<String>, AppError> {
    match text {
        "" => Ok(None),
        name => {
            lifeboat_store::check_instance_name(name).map_err(|why| AppError::field("instance", why))?;
            Ok(Some(name.to_owned()))
        }
    }
}

/// Percent-encode a query value.
pub(crate) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A time filter: empty (none), a duration back from `now` (`2h`, `30min`), a UTC date and
/// time (`2026-11-29 08:00`, `2026-11-29`, RFC 3339), or Unix milliseconds.
pub(crate) fn parse_time(field: &'static str, text: &str, now: i64) -> Result<Option<i64>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(Some(ms));
    }
    if let Ok(ago) = humantime::parse_duration(text) {
        let ago = i64::try_from(ago.as_millis()).unwrap_or(i64::MAX);
        return Ok(Some(now.saturating_sub(ago)));
    }
    let padded = match text.len() {
        10 => format!("{text} 00:00:00"),
        16 => format!("{text}:00"),
        _ => text.to_owned(),
    };
    match humantime::parse_rfc3339_weak(&padded) {
        Ok(at) => Ok(Some(lifeboat_clock::unix_ms(at))),
        Err(_) => Err(AppError::field(
            field,
            format!(
                "{text:?} is not a time: write a duration back from now like 2h or 30min, or a UTC time like 2026-11-29 08:00"
            ),
        )),
    }
}

/// A stored transfer as a table row.
#[derive(Debug)]
pub(crate) struct TransferRow {
    pub(crate) time: String,
    pub(crate) ago: String,
    pub(crate) client: String,
    pub(crate) mac: String,
    pub(crate) requested: String,
    pub(crate) file: String,
    pub(crate) direction: &'static str,
    pub(crate) outcome: &'static str,
    pub(crate) outcome_class: &'static str,
    pub(crate) error: String,
    pub(crate) bytes: String,
    pub(crate) duration: String,
    pub(crate) rate: String,
    pub(crate) blocks: String,
    pub(crate) retransmits: u64,
    /// `tftp` or `http`.
    pub(crate) protocol: &'static str,
    /// The lifeboat of the fleet that served it.
    pub(crate) instance: String,
}

impl TransferRow {
    pub(crate) fn new(stored: &StoredTransfer, now: i64) -> TransferRow {
        let t = &stored.record;
        let elapsed = t.ended_at.saturating_sub(t.started_at);
        let bytes = match t.size {
            Some(size) if size != t.bytes => format!("{} of {}", format::bytes(t.bytes), format::bytes(size)),
            _ => format::bytes(t.bytes),
        };
        TransferRow {
            time: format::time(t.started_at),
            ago: format::relative(t.started_at, now),
            client: t.client.ip().to_string(),
            mac: t.mac.clone().unwrap_or_default(),
            requested: t.requested.clone(),
            file: t.file.clone().unwrap_or_default(),
            direction: direction_slug(&t.direction),
            outcome: outcome_label(&t.outcome),
            outcome_class: outcome_class(&t.outcome),
            error: t.error.clone().unwrap_or_default(),
            bytes,
            duration: format::duration(Duration::from_millis(elapsed.unsigned_abs())),
            rate: format::average_rate(t.bytes, elapsed).filter(|_| t.bytes > 0).map(format::rate).unwrap_or_default(),
            blocks: if t.protocol == TransferProtocol::Tftp {
                format!("{} / {}", t.blksize, t.windowsize)
            } else {
                String::new()
            },
            retransmits: t.retransmits,
            protocol: t.protocol.as_str(),
            instance: stored.instance.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_every_accepted_form() {
        let now = 1_000_000_000_000;
        assert_eq!(parse_time("since", "", now).unwrap(), None);
        assert_eq!(parse_time("since", "2h", now).unwrap(), Some(now - 7_200_000));
        assert_eq!(parse_time("since", "1970-01-02", now).unwrap(), Some(86_400_000));
        assert_eq!(parse_time("since", "1970-01-01 00:01", now).unwrap(), Some(60_000));
        assert_eq!(parse_time("since", "1970-01-01T00:00:01Z", now).unwrap(), Some(1000));
        assert_eq!(parse_time("since", "12345", now).unwrap(), Some(12345));
        assert!(parse_time("since", "yesterday-ish", now).is_err());
    }

    #[test]
    fn filter_checks_mac_and_outcome() {
        let mut query =
            HistoryQuery { mac: "3C-84-6A-12-34-56".into(), outcome: "not_found".into(), ..Default::default() };
        let filter = query.filter(0).unwrap();
        assert_eq!(filter.mac.as_deref(), Some("3c:84:6a:12:34:56"));
        query.mac = "3c:84".into();
        assert!(matches!(query.filter(0), Err(AppError::Invalid(_))));
        query.mac.clear();
        query.outcome = "sideways".into();
        assert!(matches!(query.filter(0), Err(AppError::Invalid(_))));
    }

    #[test]
    fn instance_filters_are_names_or_empty() {
        assert_eq!(parse_instance("").unwrap(), None);
        // Found by schemathesis: a form feed before a name was trimmed away and the name taken.
        for padded in [" ", "\u{c}Z", " rack-3", "rack-3\n"] {
            assert!(matches!(parse_instance(padded), Err(AppError::Invalid(_))), "{padded:?}");
        }
        assert_eq!(parse_instance("rack-3").unwrap().as_deref(), Some("rack-3"));
        assert!(matches!(parse_instance("rack 3"), Err(AppError::Invalid(fields)) if fields[0].field == "instance"));
    }

    #[test]
    fn links_keep_filters_and_encode_them() {
        let query = HistoryQuery { file: "a b&c".into(), ..Default::default() };
        assert_eq!(query.link(Some(7)), "/transfers?file=a%20b%26c&before=7");
        assert_eq!(HistoryQuery::default().link(None), "/transfers");
    }
}
