//! `/metrics`: counters of the running lifeboat in the Prometheus text format (version 0.0.4).
//!
//! **Invariant:** every metric has its `# HELP` and `# TYPE` lines once, names follow
//! Prometheus conventions (`_total` for counters), and label values are fixed words, so nothing
//! needs escaping.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use crate::control::Metrics;
use crate::state::WebState;

/// The content type of the text exposition format.
const CONTENT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One metric family with its samples (`labels`, value).
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// The text of all metrics.
pub(crate) fn render(state: &WebState) -> String {
    let Metrics {
        transfers_complete,
        transfers_failed,
        transfers_refused,
        transfers_not_found,
        transfers_options_declined,
        bytes_sent,
        bytes_received,
        refusals,
        tftp_dropped_strangers,
        tftp_unrecorded,
        active_leases,
        active_transfers,
        dhcp_replies,
    } = state.control().metrics();
    let mut out = String::new();
    family(
        &mut out,
        "lifeboat_tftp_transfers_total",
        "counter",
        "TFTP transfers that ended since start, by outcome.",
        &[
            (r#"outcome="complete""#, transfers_complete),
            (r#"outcome="failed""#, transfers_failed),
            (r#"outcome="refused""#, transfers_refused),
            (r#"outcome="not_found""#, transfers_not_found),
            (r#"outcome="options_declined""#, transfers_options_declined),
        ],
    );
    family(
        &mut out,
        "lifeboat_tftp_bytes_total",
        "counter",
        "TFTP payload bytes since start, by direction.",
        &[(r#"direction="sent""#, bytes_sent), (r#"direction="received""#, bytes_received)],
    );
    family(
        &mut out,
        "lifeboat_refusals_total",
        "counter",
        "Requests refused before any transfer (allow-list, limits) since start.",
        &[("", refusals)],
    );
    family(
        &mut out,
        "lifeboat_tftp_requests_counted_total",
        "counter",
        "TFTP requests only counted, not recorded one by one, by reason: from outside the allow-list (dropped without an answer), or beyond the client's budget of records (answered).",
        &[(r#"reason="outside_allow_list""#, tftp_dropped_strangers), (r#"reason="over_budget""#, tftp_unrecorded)],
    );
    family(
        &mut out,
        "lifeboat_dhcp_replies_total",
        "counter",
        "DHCP and BOOTP replies sent since start.",
        &[("", dhcp_replies)],
    );
    family(&mut out, "lifeboat_dhcp_active_leases", "gauge", "DHCP/BOOTP leases active now.", &[("", active_leases)]);
    family(
        &mut out,
        "lifeboat_tftp_active_transfers",
        "gauge",
        "TFTP transfers running now.",
        &[("", active_transfers)],
    );
    let up: Vec<(String, u64)> = state
        .control()
        .services()
        .into_iter()
        .map(|s| (format!(r#"service="{}""#, s.service.slug()), u64::from(s.running)))
        .collect();
    let up: Vec<(&str, u64)> = up.iter().map(|(labels, value)| (labels.as_str(), *value)).collect();
    family(&mut out, "lifeboat_service_up", "gauge", "Whether a service is running (1) or stopped (0).", &up);
    let log = state.log().stats();
    family(
        &mut out,
        "lifeboat_log_records_total",
        "counter",
        "Transfer and event records handed to the database log, by result.",
        &[
            (r#"result="written""#, log.written),
            (r#"result="dropped""#, log.dropped),
            (r#"result="failed""#, log.failed),
        ],
    );
    out
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<WebState>) -> impl IntoResponse {
    ([(CONTENT_TYPE, CONTENT)], render(&state))
}
