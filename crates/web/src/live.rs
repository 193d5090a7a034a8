//! Transfers in progress: the rows the pages render at load time, the JSON the API and the
//! Server-Sent Events stream send, and the stream itself.
//!
//! **Invariant:** the stream sends a full snapshot of [`crate::Control::live_transfers`] at
//! once and then every [`INTERVAL`]; it holds no lock and stops when the client goes away.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Serialize;

use crate::control::LiveTransfer;
use crate::format;
use crate::labels::{direction_slug, outcome_class, outcome_label, outcome_slug};
use crate::state::WebState;

/// How often the stream sends a snapshot.
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);

/// A live transfer as JSON.
#[derive(Debug, Serialize)]
pub(crate) struct LiveJson {
    id: u64,
    client: String,
    mac: Option<String>,
    requested: String,
    file: Option<String>,
    /// `tftp` or `http`.
    protocol: &'static str,
    direction: &'static str,
    bytes: u64,
    size: Option<u64>,
    started_at: i64,
    rate: u64,
    outcome: Option<&'static str>,
}

impl From<&LiveTransfer> for LiveJson {
    fn from(t: &LiveTransfer) -> Self {
        LiveJson {
            id: t.id,
            client: t.client.to_string(),
            mac: t.mac.clone(),
            requested: t.requested.clone(),
            file: t.file.clone(),
            protocol: t.protocol.as_str(),
            direction: direction_slug(&t.direction),
            bytes: t.bytes,
            size: t.size,
            started_at: t.started_at,
            rate: t.rate,
            outcome: t.outcome.as_ref().map(outcome_slug),
        }
    }
}

/// A live transfer as a table row.
#[derive(Debug)]
pub(crate) struct LiveRow {
    pub(crate) client: String,
    pub(crate) mac: String,
    pub(crate) requested: String,
    pub(crate) file: String,
    pub(crate) protocol: &'static str,
    pub(crate) direction: &'static str,
    pub(crate) percent: Option<u64>,
    pub(crate) bytes: String,
    pub(crate) size: String,
    pub(crate) rate: String,
    pub(crate) eta: String,
    pub(crate) outcome: &'static str,
    pub(crate) outcome_class: &'static str,
}

impl From<&LiveTransfer> for LiveRow {
    fn from(t: &LiveTransfer) -> Self {
        let done = t.outcome.is_some();
        let percent = t.size.filter(|&size| size > 0).map(|size| (t.bytes.saturating_mul(100) / size).min(100));
        let eta = match t.size {
            Some(size) if !done && t.rate > 0 && size > t.bytes => {
                format::duration(Duration::from_secs((size - t.bytes) / t.rate))
            }
            _ => String::new(),
        };
        LiveRow {
            client: t.client.to_string(),
            mac: t.mac.clone().unwrap_or_default(),
            requested: t.requested.clone(),
            file: t.file.clone().unwrap_or_default(),
            protocol: t.protocol.as_str(),
            direction: direction_slug(&t.direction),
            percent,
            bytes: format::bytes(t.bytes),
            size: t.size.map(format::bytes).unwrap_or_default(),
            rate: if done { String::new() } else { format::rate(t.rate) },
            eta,
            outcome: t.outcome.as_ref().map_or("", outcome_label),
            outcome_class: t.outcome.as_ref().map_or("", outcome_class),
        }
    }
}

/// The live transfers as rows.
pub(crate) fn rows(state: &WebState) -> Vec<LiveRow> {
    state.control().live_transfers().iter().map(LiveRow::from).collect()
}

/// The live transfers as JSON values.
pub(crate) fn json(state: &WebState) -> Vec<LiveJson> {
    state.control().live_transfers().iter().map(LiveJson::from).collect()
}

fn snapshot(state: &WebState) -> Event {
    let data = serde_json::to_string(&json(state)).unwrap_or_else(|_| "[]".into());
    Event::default().event("transfers").data(data)
}

/// `GET /api/v1/transfers/live/stream`: a `transfers` event with the full list, every second.
pub(crate) async fn stream(State(state): State<WebState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = futures_util::stream::unfold((state, true), |(state, first)| async move {
        if !first {
            tokio::time::sleep(INTERVAL).await;
        }
        let event = snapshot(&state);
        Some((Ok(event), (state, false)))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}
