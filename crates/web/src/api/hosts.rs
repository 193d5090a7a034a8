//! `/api/v1/hosts` and `/api/v1/aliases`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lifeboat_store::{Alias, Host};
use serde::{Deserialize, Serialize};

use crate::actions;
use crate::api::{ApiJson, ApiPath};
use crate::control::ConfiguredAlias;
use crate::error::ApiResult;
use crate::guard::Caller;
use crate::host_input::HostInput;
use crate::state::WebState;

#[derive(Serialize)]
pub(crate) struct HostJson {
    id: i64,
    mac: String,
    name: Option<String>,
    address: Option<String>,
    image: Option<String>,
    names: Vec<String>,
    boot_profile: Option<String>,
    notes: String,
    created_at: i64,
    updated_at: i64,
}

impl From<Host> for HostJson {
    fn from(h: Host) -> Self {
        HostJson {
            id: h.id,
            mac: h.entry.mac,
            name: h.entry.name,
            address: h.entry.address.map(|a| a.to_string()),
            image: h.entry.image,
            names: h.entry.names,
            boot_profile: h.entry.boot_profile,
            notes: h.entry.notes,
            created_at: h.created_at,
            updated_at: h.updated_at,
        }
    }
}

/// A host as the API receives it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostBody {
    mac: String,
    name: Option<String>,
    address: Option<String>,
    image: Option<String>,
    #[serde(default)]
    names: Vec<String>,
    boot_profile: Option<String>,
    #[serde(default)]
    notes: String,
}

impl From<HostBody> for HostInput {
    fn from(b: HostBody) -> Self {
        HostInput {
            mac: b.mac,
            name: b.name.unwrap_or_default(),
            address: b.address.unwrap_or_default(),
            image: b.image.unwrap_or_default(),
            names: b.names,
            boot_profile: b.boot_profile.unwrap_or_default(),
            notes: b.notes,
        }
    }
}

/// `GET /api/v1/hosts`.
pub(crate) async fn list(State(state): State<WebState>) -> ApiResult<Json<Vec<HostJson>>> {
    Ok(Json(state.store().hosts().await?.into_iter().map(HostJson::from).collect()))
}

/// `GET /api/v1/hosts/{id}`.
pub(crate) async fn one(State(state): State<WebState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<HostJson>> {
    let host = state.store().host(id).await?.ok_or_else(|| actions::no_host(id))?;
    Ok(Json(host.into()))
}

/// `POST /api/v1/hosts`: 201 with the new host.
pub(crate) async fn create(
    State(state): State<WebState>,
    caller: Caller,
    ApiJson(body): ApiJson<HostBody>,
) -> ApiResult<(StatusCode, Json<HostJson>)> {
    let host = actions::add_host(&state, &caller, &body.into()).await?;
    Ok((StatusCode::CREATED, Json(host.into())))
}

/// `PUT /api/v1/hosts/{id}`: the whole host, replaced.
pub(crate) async fn update(
    State(state): State<WebState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<HostBody>,
) -> ApiResult<Json<HostJson>> {
    let host = actions::update_host(&state, &caller, id, &body.into()).await?;
    Ok(Json(host.into()))
}

/// `DELETE /api/v1/hosts/{id}`: 204.
pub(crate) async fn delete(
    State(state): State<WebState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    actions::delete_host(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub(crate) struct AliasJson {
    name: String,
    file: String,
    /// `null` for an alias of the configuration.
    created_at: Option<i64>,
    /// `dashboard` (changed here) or `configuration` (the command line, the environment, the
    /// file or the settings: changed there).
    source: &'static str,
    /// Whether the file exists under the TFTP root (known for the configuration's aliases).
    #[serde(skip_serializing_if = "Option::is_none")]
    exists: Option<bool>,
}

impl From<Alias> for AliasJson {
    fn from(a: Alias) -> Self {
        AliasJson { name: a.name, file: a.file, created_at: Some(a.created_at), source: "dashboard", exists: None }
    }
}

impl From<ConfiguredAlias> for AliasJson {
    fn from(a: ConfiguredAlias) -> Self {
        AliasJson { name: a.name, file: a.file, created_at: None, source: "configuration", exists: Some(a.exists) }
    }
}

/// Every alias in effect: the configuration's, then the dashboard's.
async fn all_aliases(state: &WebState) -> ApiResult<Vec<AliasJson>> {
    let configured = state.control().configured_aliases().into_iter().map(AliasJson::from);
    let stored = state.store().aliases().await?.into_iter().map(AliasJson::from);
    Ok(configured.chain(stored).collect())
}

#[derive(Serialize)]
pub(crate) struct ReservationJson {
    mac: String,
    address: String,
    name: Option<String>,
    source: &'static str,
}

/// `GET /api/v1/reservations`: the DHCP reservations of the configuration (the dashboard's own
/// are its hosts with an address, `/api/v1/hosts`).
pub(crate) async fn reservations(State(state): State<WebState>) -> Json<Vec<ReservationJson>> {
    let configured = state.control().configured_reservations().into_iter().map(|r| ReservationJson {
        mac: r.mac,
        address: r.address.to_string(),
        name: r.name,
        source: "configuration",
    });
    Json(configured.collect())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AliasBody {
    name: String,
    file: String,
}

/// `GET /api/v1/aliases`.
pub(crate) async fn aliases(State(state): State<WebState>) -> ApiResult<Json<Vec<AliasJson>>> {
    Ok(Json(all_aliases(&state).await?))
}

/// `POST /api/v1/aliases` `{"name": ..., "file": ...}`: 201 with the aliases afterwards.
pub(crate) async fn add_alias(
    State(state): State<WebState>,
    caller: Caller,
    ApiJson(body): ApiJson<AliasBody>,
) -> ApiResult<(StatusCode, Json<Vec<AliasJson>>)> {
    actions::add_alias(&state, &caller, &body.name, &body.file).await?;
    Ok((StatusCode::CREATED, Json(all_aliases(&state).await?)))
}

/// `DELETE /api/v1/aliases/{name}`: 204.
pub(crate) async fn delete_alias(
    State(state): State<WebState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    actions::delete_alias(&state, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
