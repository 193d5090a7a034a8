//! The leases page: active DHCP/BOOTP leases with their kind and expiry, and the recent DHCP
//! and BOOTP requests with what became of each.

use askama::Template;
use std::net::Ipv4Addr;

use axum::extract::{Path, State};

use lifeboat_store::Host;

use crate::actions;
use crate::control::{ConfiguredReservation, DhcpExchange};
use crate::format;
use crate::guard::Caller;
use crate::pages::{Layout, PageResult, done, failed, render};
use crate::state::WebState;

pub(crate) struct LeaseRow {
    mac: String,
    address: String,
    hostname: String,
    /// `DHCP`, `BOOTP` (no expiry) or `reserved` (with the reservation's name).
    kind: String,
    expires: String,
    expires_at: String,
    /// `3 min ago`, or empty when not heard since lifeboat started.
    last_seen: String,
    last_seen_at: String,
    boot_file: String,
}

/// A recent request, as the page shows it.
pub(crate) struct ExchangeRow {
    pub(crate) ago: String,
    pub(crate) time: String,
    pub(crate) client: String,
    pub(crate) request: String,
    pub(crate) class: String,
    pub(crate) outcome: String,
    pub(crate) ignored: bool,
    pub(crate) boot: String,
}

impl ExchangeRow {
    pub(crate) fn new(e: DhcpExchange, now: i64) -> ExchangeRow {
        let boot = match (e.boot_file, e.boot_rule) {
            (Some(file), Some(rule)) => format!("{file} (by {rule})"),
            (Some(file), None) => file,
            _ => String::new(),
        };
        ExchangeRow {
            ago: format::relative(e.at, now),
            time: format::time(e.at),
            ignored: e.outcome.starts_with("ignored"),
            client: e.client,
            request: e.request,
            class: e.class,
            outcome: e.outcome,
            boot,
        }
    }
}

#[derive(Template)]
#[template(path = "leases.html")]
struct LeasesPage {
    layout: Layout,
    leases: Vec<LeaseRow>,
    exchanges: Vec<ExchangeRow>,
}

/// `GET /leases`.
pub(crate) async fn page(State(state): State<WebState>, caller: Caller) -> PageResult {
    let now = state.now_ms();
    let mut leases = state.control().leases();
    leases.sort_by_key(|l| l.address);
    let reserved = state.control().configured_reservations();
    let hosts = state.store().hosts().await?;
    let leases = leases
        .into_iter()
        .map(|l| LeaseRow {
            kind: reservation_name(&l.mac, &reserved, &hosts).map_or_else(
                || if l.expires_at.is_some() { "DHCP".to_owned() } else { "BOOTP".to_owned() },
                |name| if name.is_empty() { "reserved".to_owned() } else { format!("reserved ({name})") },
            ),
            mac: l.mac,
            address: l.address.to_string(),
            hostname: l.hostname.unwrap_or_default(),
            expires: l.expires_at.map_or_else(|| "never".to_owned(), |at| format::relative(at, now)),
            expires_at: l.expires_at.map(format::time).unwrap_or_default(),
            last_seen: l.last_seen.map(|at| format::relative(at, now)).unwrap_or_default(),
            last_seen_at: l.last_seen.map(format::time).unwrap_or_default(),
            boot_file: l.boot_file.unwrap_or_default(),
        })
        .collect();
    let exchanges = state.control().dhcp_exchanges().into_iter().map(|e| ExchangeRow::new(e, now)).collect();
    Ok(render(&LeasesPage { layout: Layout::new(&state, &caller, "/leases", "Leases"), leases, exchanges }))
}

/// `POST /leases/{address}/release`.
pub(crate) async fn release(
    State(state): State<WebState>,
    caller: Caller,
    Path(address): Path<Ipv4Addr>,
) -> PageResult {
    Ok(match actions::release_lease(&state, &caller, address).await {
        Ok(()) => done(
            &state,
            &caller,
            "/leases",
            true,
            format!(
                "The lease on {address} was released: the address is free again. The device keeps using it until it next renews."
            ),
        ),
        Err(error) => failed(&state, &caller, "/leases", error),
    })
}

/// The name of the reservation of `mac` (empty when it has none), if it has one: from the
/// configuration or a host of the dashboard with an address.
fn reservation_name(mac: &str, configured: &[ConfiguredReservation], hosts: &[Host]) -> Option<String> {
    let from_configuration = configured.iter().find(|r| r.mac.eq_ignore_ascii_case(mac));
    if let Some(r) = from_configuration {
        return Some(r.name.clone().unwrap_or_default());
    }
    let host = hosts.iter().find(|h| h.entry.address.is_some() && h.entry.mac.eq_ignore_ascii_case(mac))?;
    Some(host.entry.name.clone().unwrap_or_default())
}
