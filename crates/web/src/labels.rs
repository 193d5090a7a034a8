//! The words and colours the dashboard uses for the store's enums, and their names in URLs and
//! JSON.
//!
//! **Invariant:** slugs are the store's own names (`as_str`), so filters in links and API
//! queries round-trip through `FromStr`.

use lifeboat_store::{Direction, EventKind, TransferOutcome};

/// Every outcome, with its slug and label, in the order the filter menu shows them.
pub(crate) const OUTCOMES: [(&str, &str); 5] = [
    ("complete", "complete"),
    ("failed", "failed"),
    ("not_found", "not found"),
    ("refused", "refused"),
    ("options_declined", "options declined"),
];

pub(crate) fn outcome_slug(outcome: &TransferOutcome) -> &'static str {
    outcome.as_str()
}

pub(crate) fn outcome_label(outcome: &TransferOutcome) -> &'static str {
    match outcome {
        TransferOutcome::Complete => "complete",
        TransferOutcome::Failed => "failed",
        TransferOutcome::Refused => "refused",
        TransferOutcome::NotFound => "not found",
        TransferOutcome::OptionsDeclined => "options declined",
    }
}

/// The CSS class of an outcome's badge.
pub(crate) fn outcome_class(outcome: &TransferOutcome) -> &'static str {
    match outcome {
        TransferOutcome::Complete => "ok",
        TransferOutcome::Failed | TransferOutcome::Refused => "bad",
        TransferOutcome::NotFound => "warn",
        TransferOutcome::OptionsDeclined => "muted",
    }
}

pub(crate) fn parse_outcome(slug: &str) -> Option<TransferOutcome> {
    slug.parse().ok()
}

pub(crate) fn direction_slug(direction: &Direction) -> &'static str {
    direction.as_str()
}

pub(crate) fn event_slug(kind: &EventKind) -> &'static str {
    kind.as_str()
}

/// The slug with spaces, for people.
pub(crate) fn event_label(kind: &EventKind) -> String {
    event_slug(kind).replace('_', " ")
}

pub(crate) fn event_class(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::ServiceStarted => "ok",
        EventKind::ServiceStopped | EventKind::AutoStopped => "muted",
        EventKind::Refused | EventKind::LoginFailed | EventKind::LoginLocked | EventKind::OtherDhcpServer => "bad",
        EventKind::MissingFile | EventKind::Throttled => "warn",
        _ => "run",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_slugs_round_trip() {
        for (slug, label) in OUTCOMES {
            let outcome = parse_outcome(slug).unwrap();
            assert_eq!(outcome_slug(&outcome), slug);
            assert_eq!(outcome_label(&outcome), label);
        }
        assert!(parse_outcome("everything").is_none());
    }
}
