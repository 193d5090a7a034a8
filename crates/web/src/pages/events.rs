//! The events page: services started and stopped (and by whom), refusals, changes, failed logins;
//! on a fleet's shared store, of every lifeboat or of one.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use lifeboat_store::StoredEvent;
use serde::Deserialize;

use crate::format;
use crate::guard::Caller;
use crate::history::{encode, parse_instance};
use crate::labels::{event_class, event_label};
use crate::pages::instances::InstanceChoice;
use crate::pages::{Layout, PageResult, render_status};
use crate::state::WebState;

/// Events per page.
const PAGE: u32 = 100;

pub(crate) struct EventRow {
    time: String,
    kind: String,
    class: &'static str,
    origin: String,
    detail: String,
    /// The lifeboat it happened on.
    instance: String,
}

impl EventRow {
    fn new(stored: StoredEvent) -> EventRow {
        let event = stored.event;
        EventRow {
            time: format::time(event.at),
            kind: event_label(&event.kind),
            class: event_class(&event.kind),
            origin: event.origin,
            detail: event.detail,
            instance: stored.instance,
        }
    }
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    layout: Layout,
    fleet: InstanceChoice,
    filter_error: String,
    events: Vec<EventRow>,
    paged: bool,
    newest_link: String,
    older_link: Option<String>,
    kept: String,
}

/// The query of the page and of `GET /api/v1/events`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventsQuery {
    /// The `next_before` of the previous page.
    pub(crate) before: Option<i64>,
    pub(crate) limit: Option<u32>,
    /// A fleet's instance name, as typed: only the events that happened on it.
    #[serde(default)]
    pub(crate) instance: String,
}

impl EventsQuery {
    /// The page of this query's events before id `before` (the newest with `None`).
    fn link(&self, before: Option<i64>) -> String {
        let mut pairs = Vec::new();
        if !self.instance.trim().is_empty() {
            pairs.push(format!("instance={}", encode(self.instance.trim())));
        }
        if let Some(before) = before {
            pairs.push(format!("before={before}"));
        }
        if pairs.is_empty() { "/events".to_owned() } else { format!("/events?{}", pairs.join("&")) }
    }
}

/// `GET /events?instance=&before=`.
pub(crate) async fn page(
    State(state): State<WebState>,
    caller: Caller,
    Query(query): Query<EventsQuery>,
) -> PageResult {
    let (events, older, filter_error, status) = match parse_instance(&query.instance) {
        Ok(instance) => {
            let page = state.store().events_page(query.before, instance.as_deref(), PAGE).await?;
            (page.items.into_iter().map(EventRow::new).collect(), page.next_before, String::new(), StatusCode::OK)
        }
        Err(error) => (Vec::new(), None, error.message(), StatusCode::BAD_REQUEST),
    };
    let page = EventsPage {
        layout: Layout::new(&state, &caller, "/events", "Events"),
        fleet: InstanceChoice::new(&state, &query.instance).await,
        filter_error,
        events,
        paged: query.before.is_some(),
        newest_link: query.link(None),
        older_link: older.map(|before| query.link(Some(before))),
        kept: format::retention(&state.config().retention),
    };
    Ok(render_status(status, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_the_instance_filter() {
        let query = EventsQuery { instance: " rack-3 ".into(), ..Default::default() };
        assert_eq!(query.link(Some(42)), "/events?instance=rack-3&before=42");
        assert_eq!(query.link(None), "/events?instance=rack-3");
        assert_eq!(EventsQuery::default().link(Some(7)), "/events?before=7");
        assert_eq!(EventsQuery::default().link(None), "/events");
    }
}
