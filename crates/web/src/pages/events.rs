//! The events page: services started and stopped (and by whom), refusals, changes, failed logins.

use askama::Template;
use axum::extract::{Query, State};
use serde::Deserialize;

use crate::format;
use crate::guard::Caller;
use crate::labels::{event_class, event_label};
use crate::pages::{Layout, PageResult, render};
use crate::state::WebState;

/// Events per page.
const PAGE: u32 = 100;

pub(crate) struct EventRow {
    time: String,
    kind: String,
    class: &'static str,
    origin: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    layout: Layout,
    events: Vec<EventRow>,
    paged: bool,
    older: Option<i64>,
    kept: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventsQuery {
    pub(crate) before: Option<i64>,
    pub(crate) limit: Option<u32>,
}

/// `GET /events?before=`.
pub(crate) async fn page(
    State(state): State<WebState>,
    caller: Caller,
    Query(query): Query<EventsQuery>,
) -> PageResult {
    let page = state.store().events_page(query.before, PAGE).await?;
    let events = page
        .items
        .into_iter()
        .map(|e| EventRow {
            time: format::time(e.event.at),
            kind: event_label(&e.event.kind),
            class: event_class(&e.event.kind),
            origin: e.event.origin,
            detail: e.event.detail,
        })
        .collect();
    let page = EventsPage {
        layout: Layout::new(&state, &caller, "/events", "Events"),
        events,
        paged: query.before.is_some(),
        older: page.next_before,
        kept: format::retention(&state.config().retention),
    };
    Ok(render(&page))
}
