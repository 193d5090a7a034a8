//! The read-only lists of the API: leases, transfers (history and live), missing files, events.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lifeboat_store::{StoredEvent, StoredTransfer};
use serde::Serialize;

use crate::actions;
use crate::api::{ApiPath, ApiQuery};
use crate::error::{ApiResult, AppError};
use crate::guard::Caller;
use crate::history::{HistoryQuery, parse_instance};
use crate::labels::{direction_slug, event_slug, outcome_slug};
use crate::live::{self, LiveJson};
use crate::pages;
use crate::pages::events::EventsQuery;
use crate::pages::leases::{LeasesQuery, ListedLease};
use crate::state::WebState;

/// Items per page unless `limit` says otherwise.
const DEFAULT_LIMIT: u32 = 100;
/// The largest `limit`.
const MAX_LIMIT: u32 = 1000;

fn limit(asked: Option<u32>) -> u32 {
    asked.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

/// A page of a list: pass `next_before` as `before` for the next (older) page.
#[derive(Serialize)]
pub(crate) struct PageJson<T> {
    items: Vec<T>,
    next_before: Option<i64>,
}

#[derive(Serialize)]
pub(crate) struct LeaseJson {
    /// The lifeboat of the fleet that granted or last renewed it.
    instance: String,
    mac: String,
    address: String,
    hostname: Option<String>,
    expires_at: Option<i64>,
    /// When its client was last heard (Unix ms), if since lifeboat started.
    last_seen: Option<i64>,
    /// The boot file its client was last given, if any since lifeboat started.
    boot_file: Option<String>,
}

impl From<ListedLease> for LeaseJson {
    fn from(listed: ListedLease) -> Self {
        let l = listed.view;
        LeaseJson {
            instance: listed.instance,
            mac: l.mac,
            address: l.address.to_string(),
            hostname: l.hostname,
            expires_at: l.expires_at,
            last_seen: l.last_seen,
            boot_file: l.boot_file,
        }
    }
}

/// `GET /api/v1/leases?instance=`: the active leases, of every lifeboat of a fleet's shared
/// store (or of one); on a store of its own, this lifeboat's.
pub(crate) async fn leases(
    State(state): State<WebState>,
    ApiQuery(query): ApiQuery<LeasesQuery>,
) -> ApiResult<Json<Vec<LeaseJson>>> {
    let instance = parse_instance(&query.instance).map_err(AppError::in_query)?;
    let leases = pages::leases::listed(&state, instance.as_deref()).await?;
    Ok(Json(leases.into_iter().map(LeaseJson::from).collect()))
}

/// `DELETE /api/v1/leases/{address}`: 204 once the lease is forgotten (and saved so); 404
/// when there is no lease on the address.
pub(crate) async fn release_lease(
    State(state): State<WebState>,
    caller: Caller,
    ApiPath(address): ApiPath<std::net::Ipv4Addr>,
) -> ApiResult<StatusCode> {
    actions::release_lease(&state, &caller, address).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub(crate) struct TransferJson {
    id: i64,
    started_at: i64,
    ended_at: i64,
    client: String,
    mac: Option<String>,
    requested: String,
    file: Option<String>,
    /// `tftp` or `http`.
    protocol: &'static str,
    direction: &'static str,
    bytes: u64,
    size: Option<u64>,
    blksize: u32,
    windowsize: u32,
    retransmits: u64,
    outcome: &'static str,
    error: Option<String>,
    /// The lifeboat of the fleet that served it.
    instance: String,
}

impl From<StoredTransfer> for TransferJson {
    fn from(t: StoredTransfer) -> Self {
        let r = t.record;
        TransferJson {
            id: t.id,
            started_at: r.started_at,
            ended_at: r.ended_at,
            client: r.client.to_string(),
            mac: r.mac,
            requested: r.requested,
            file: r.file,
            protocol: r.protocol.as_str(),
            direction: direction_slug(&r.direction),
            bytes: r.bytes,
            size: r.size,
            blksize: r.blksize,
            windowsize: r.windowsize,
            retransmits: r.retransmits,
            outcome: outcome_slug(&r.outcome),
            error: r.error,
            instance: t.instance,
        }
    }
}

/// `GET /api/v1/transfers?mac=&file=&outcome=&since=&until=&instance=&before=&limit=`.
pub(crate) async fn transfers(
    State(state): State<WebState>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<PageJson<TransferJson>>> {
    // A query string is not a form: a filter it gets wrong is a 400, with the field.
    let filter = query.filter(state.now_ms()).map_err(AppError::in_query)?;
    let page = state.store().transfers_page(&filter, query.before, limit(query.limit)).await?;
    Ok(Json(PageJson {
        items: page.items.into_iter().map(TransferJson::from).collect(),
        next_before: page.next_before,
    }))
}

/// `GET /api/v1/transfers/live`.
pub(crate) async fn live(State(state): State<WebState>) -> Json<Vec<LiveJson>> {
    Json(live::json(&state))
}

#[derive(Serialize)]
pub(crate) struct MissingJson {
    requested: String,
    count: u64,
    last_at: i64,
    last_client: String,
    last_mac: Option<String>,
}

#[derive(serde::Deserialize)]
pub(crate) struct LimitQuery {
    limit: Option<u32>,
}

/// `GET /api/v1/missing?limit=`.
pub(crate) async fn missing(
    State(state): State<WebState>,
    ApiQuery(query): ApiQuery<LimitQuery>,
) -> ApiResult<Json<Vec<MissingJson>>> {
    let missing = state.store().missing_files(limit(query.limit)).await?;
    Ok(Json(
        missing
            .into_iter()
            .map(|m| MissingJson {
                requested: m.requested,
                count: m.count,
                last_at: m.last_at,
                last_client: m.last_client.to_string(),
                last_mac: m.last_mac,
            })
            .collect(),
    ))
}

#[derive(Serialize)]
pub(crate) struct EventJson {
    id: i64,
    at: i64,
    kind: &'static str,
    origin: String,
    detail: String,
    /// The lifeboat of the fleet it happened on.
    instance: String,
}

impl From<StoredEvent> for EventJson {
    fn from(e: StoredEvent) -> Self {
        EventJson {
            id: e.id,
            at: e.event.at,
            kind: event_slug(&e.event.kind),
            origin: e.event.origin,
            detail: e.event.detail,
            instance: e.instance,
        }
    }
}

/// `GET /api/v1/events?instance=&before=&limit=`.
pub(crate) async fn events(
    State(state): State<WebState>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> ApiResult<Json<PageJson<EventJson>>> {
    let instance = parse_instance(&query.instance).map_err(AppError::in_query)?;
    let page = state.store().events_page(query.before, instance.as_deref(), limit(query.limit)).await?;
    Ok(Json(PageJson { items: page.items.into_iter().map(EventJson::from).collect(), next_before: page.next_before }))
}

#[derive(Serialize)]
pub(crate) struct DhcpExchangeJson {
    at: i64,
    client: String,
    request: String,
    class: String,
    outcome: String,
    boot_file: Option<String>,
    boot_rule: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct WantedAddressJson {
    at: i64,
    interface: String,
    mac: String,
    device: Option<String>,
    wanted: String,
    claim_command: String,
}

/// `GET /api/v1/addresses/wanted`: devices seen looking for an address nobody has, newest first.
pub(crate) async fn wanted_addresses(State(state): State<WebState>) -> Json<Vec<WantedAddressJson>> {
    let wanted = state.control().wanted_addresses().into_iter().map(|w| WantedAddressJson {
        at: w.at,
        interface: w.interface,
        mac: w.mac,
        device: w.device.map(|d| d.to_string()),
        wanted: w.wanted.to_string(),
        claim_command: w.claim_command,
    });
    Json(wanted.collect())
}

/// `GET /api/v1/dhcp/requests`: the recent DHCP and BOOTP requests, newest first.
pub(crate) async fn dhcp_requests(State(state): State<WebState>) -> Json<Vec<DhcpExchangeJson>> {
    let exchanges = state.control().dhcp_exchanges().into_iter().map(|e| DhcpExchangeJson {
        at: e.at,
        client: e.client,
        request: e.request,
        class: e.class,
        outcome: e.outcome,
        boot_file: e.boot_file,
        boot_rule: e.boot_rule,
    });
    Json(exchanges.collect())
}
