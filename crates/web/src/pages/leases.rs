//! The leases page: active DHCP/BOOTP leases with their expiry.

use askama::Template;
use axum::extract::State;

use crate::format;
use crate::guard::Caller;
use crate::pages::{Layout, PageResult, render};
use crate::state::WebState;

pub(crate) struct LeaseRow {
    mac: String,
    address: String,
    hostname: String,
    expires: String,
    expires_at: String,
}

#[derive(Template)]
#[template(path = "leases.html")]
struct LeasesPage {
    layout: Layout,
    leases: Vec<LeaseRow>,
}

/// `GET /leases`.
pub(crate) async fn page(State(state): State<WebState>, caller: Caller) -> PageResult {
    let now = state.now_ms();
    let mut leases = state.control().leases();
    leases.sort_by_key(|l| l.address);
    let leases = leases
        .into_iter()
        .map(|l| LeaseRow {
            mac: l.mac,
            address: l.address.to_string(),
            hostname: l.hostname.unwrap_or_default(),
            expires: l.expires_at.map_or_else(|| "never".to_owned(), |at| format::relative(at, now)),
            expires_at: l.expires_at.map(format::time).unwrap_or_default(),
        })
        .collect();
    Ok(render(&LeasesPage { layout: Layout::new(&state, &caller, "/leases", "Leases"), leases }))
}
