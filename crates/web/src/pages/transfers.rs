//! The transfers page: live transfers and the filtered, paged history.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;

use crate::guard::Caller;
use crate::history::{HistoryQuery, TransferRow};
use crate::labels::OUTCOMES;
use crate::live::{self, LiveRow};
use crate::pages::instances::InstanceChoice;
use crate::pages::{Layout, PageResult, render_status};
use crate::state::WebState;

/// Rows per page.
const PAGE: u32 = 50;

#[derive(Template)]
#[template(path = "transfers.html")]
struct TransfersPage {
    layout: Layout,
    live: Vec<LiveRow>,
    filter: HistoryQuery,
    fleet: InstanceChoice,
    outcomes: Vec<(&'static str, &'static str)>,
    filter_error: String,
    rows: Vec<TransferRow>,
    paged: bool,
    newest_link: String,
    older_link: Option<String>,
    kept: String,
}

/// `GET /transfers?mac=&file=&outcome=&since=&until=&instance=&before=`.
pub(crate) async fn page(
    State(state): State<WebState>,
    caller: Caller,
    Query(query): Query<HistoryQuery>,
) -> PageResult {
    let now = state.now_ms();
    let (rows, older, filter_error, status) = match query.filter(now) {
        Ok(filter) => {
            let page = state.store().transfers_page(&filter, query.before, PAGE).await?;
            let rows = page.items.iter().map(|t| TransferRow::new(t, now)).collect();
            (rows, page.next_before, String::new(), StatusCode::OK)
        }
        Err(error) => (Vec::new(), None, error.message(), StatusCode::BAD_REQUEST),
    };
    let page = TransfersPage {
        layout: Layout::new(&state, &caller, "/transfers", "Transfers"),
        live: live::rows(&state),
        fleet: InstanceChoice::new(&state, &query.instance).await,
        outcomes: OUTCOMES.to_vec(),
        filter_error,
        rows,
        paged: query.before.is_some(),
        newest_link: query.link(None),
        older_link: older.map(|before| query.link(Some(before))),
        filter: query,
        kept: crate::format::retention(&state.config().retention),
    };
    Ok(render_status(status, &page))
}
