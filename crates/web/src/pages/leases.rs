//! The leases page: active DHCP/BOOTP leases with their kind and expiry (on a fleet's shared
//! store, those of every lifeboat or of one), and the recent DHCP and BOOTP requests with what
//! became of each.

use askama::Template;
use std::collections::HashMap;
use std::net::Ipv4Addr;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use lifeboat_dhcp::config::hardware_text;
use serde::Deserialize;

use lifeboat_store::{Host, SavedLease};

use crate::actions;
use crate::control::{ConfiguredReservation, DhcpExchange, LeaseView};
use crate::error::AppError;
use crate::format;
use crate::guard::Caller;
use crate::history::parse_instance;
use crate::pages::instances::InstanceChoice;
use crate::pages::{Layout, PageResult, done, failed, render_status};
use crate::state::WebState;

/// The query of the page and of `GET /api/v1/leases`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LeasesQuery {
    /// A fleet's instance name, as typed: only the leases it granted or last renewed.
    #[serde(default)]
    pub(crate) instance: String,
}

/// An active lease as the dashboard lists it, with the lifeboat that granted or last renewed it.
#[derive(Debug)]
pub(crate) struct ListedLease {
    pub(crate) view: LeaseView,
    pub(crate) instance: String,
}

/// The active leases, ordered by address, of the instance named `instance` (of any when
/// `None`). On a shared store, the saved leases of the fleet, active at the dashboard's clock;
/// this instance's carry what its memory knows of their clients (when last heard, the boot
/// file). On a store of its own, this instance's leases in memory, as DHCP serves them.
pub(crate) async fn listed(state: &WebState, instance: Option<&str>) -> Result<Vec<ListedLease>, AppError> {
    let this = state.store().instance();
    let mut listed = if state.store().is_shared() {
        let now = u64::try_from(state.now_ms() / 1000).unwrap_or(0);
        let saved = state.store().saved_leases(instance, now).await?;
        let mut mine: HashMap<Ipv4Addr, LeaseView> =
            state.control().leases().into_iter().map(|view| (view.address, view)).collect();
        saved.into_iter().map(|lease| from_saved(lease, this, &mut mine)).collect()
    } else if instance.is_none_or(|name| name == this) {
        let own = state.control().leases().into_iter();
        own.map(|view| ListedLease { view, instance: this.to_owned() }).collect()
    } else {
        Vec::new()
    };
    listed.sort_by(|a, b| (a.view.address, &a.instance).cmp(&(b.view.address, &b.instance)));
    Ok(listed)
}

/// A saved lease as listed; when `this` instance holds it, with what `mine` (its leases in
/// memory, by address) knows of its client.
fn from_saved(saved: SavedLease, this: &str, mine: &mut HashMap<Ipv4Addr, LeaseView>) -> ListedLease {
    let lease = saved.lease;
    let mac = hardware_text(&lease.mac);
    let known = mine.remove(&lease.address).filter(|view| saved.instance == this && view.mac == mac);
    let (last_seen, boot_file) = known.map_or((None, None), |view| (view.last_seen, view.boot_file));
    let view = LeaseView {
        mac,
        address: lease.address,
        hostname: lease.hostname,
        expires_at: lease.expires.map(|secs| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)),
        last_seen,
        boot_file,
    };
    ListedLease { view, instance: saved.instance }
}

pub(crate) struct LeaseRow {
    /// The lifeboat that granted or last renewed it.
    instance: String,
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
    fleet: InstanceChoice,
    filter_error: String,
    leases: Vec<LeaseRow>,
    exchanges: Vec<ExchangeRow>,
}

/// `GET /leases?instance=`.
pub(crate) async fn page(
    State(state): State<WebState>,
    caller: Caller,
    Query(query): Query<LeasesQuery>,
) -> PageResult {
    let now = state.now_ms();
    let (leases, filter_error, status) = match parse_instance(&query.instance) {
        Ok(instance) => {
            let leases = listed(&state, instance.as_deref()).await?;
            let reserved = state.control().configured_reservations();
            let hosts = state.store().hosts().await?;
            let rows = leases.into_iter().map(|lease| LeaseRow::new(lease, now, &reserved, &hosts)).collect();
            (rows, String::new(), StatusCode::OK)
        }
        Err(error) => (Vec::new(), error.message(), StatusCode::BAD_REQUEST),
    };
    let exchanges = state.control().dhcp_exchanges().into_iter().map(|e| ExchangeRow::new(e, now)).collect();
    let page = LeasesPage {
        layout: Layout::new(&state, &caller, "/leases", "Leases"),
        fleet: InstanceChoice::new(&state, &query.instance).await,
        filter_error,
        leases,
        exchanges,
    };
    Ok(render_status(status, &page))
}

impl LeaseRow {
    /// `listed` as the page shows it at `now` (Unix ms), its kind told by the reservations of
    /// the configuration and the hosts of the dashboard.
    fn new(listed: ListedLease, now: i64, reserved: &[ConfiguredReservation], hosts: &[Host]) -> LeaseRow {
        let l = listed.view;
        LeaseRow {
            kind: reservation_name(&l.mac, reserved, hosts).map_or_else(
                || if l.expires_at.is_some() { "DHCP".to_owned() } else { "BOOTP".to_owned() },
                |name| if name.is_empty() { "reserved".to_owned() } else { format!("reserved ({name})") },
            ),
            instance: listed.instance,
            mac: l.mac,
            address: l.address.to_string(),
            hostname: l.hostname.unwrap_or_default(),
            expires: l.expires_at.map_or_else(|| "never".to_owned(), |at| format::relative(at, now)),
            expires_at: l.expires_at.map(format::time).unwrap_or_default(),
            last_seen: l.last_seen.map(|at| format::relative(at, now)).unwrap_or_default(),
            last_seen_at: l.last_seen.map(format::time).unwrap_or_default(),
            boot_file: l.boot_file.unwrap_or_default(),
        }
    }
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
