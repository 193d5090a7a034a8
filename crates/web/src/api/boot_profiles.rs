//! `/api/v1/boot-profiles`: what machines boot over HTTP once iPXE runs.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lifeboat_store::BootProfile;
use serde::{Deserialize, Serialize};

use crate::actions;
use crate::api::{ApiJson, ApiPath};
use crate::boot_profile_input::BootProfileInput;
use crate::error::{ApiResult, AppError};
use crate::guard::Caller;
use crate::state::WebState;

#[derive(Serialize)]
pub(crate) struct BootProfileJson {
    name: String,
    kernel: Option<String>,
    initrds: Vec<String>,
    cmdline: String,
    script: Option<String>,
    notes: String,
    created_at: i64,
    updated_at: i64,
}

impl From<BootProfile> for BootProfileJson {
    fn from(p: BootProfile) -> Self {
        let e = p.entry;
        BootProfileJson {
            name: e.name,
            kernel: e.kernel,
            initrds: e.initrds,
            cmdline: e.cmdline,
            script: e.script,
            notes: e.notes,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A boot profile as the API receives it; the name is the path's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BootProfileBody {
    kernel: Option<String>,
    #[serde(default)]
    initrds: Vec<String>,
    #[serde(default)]
    cmdline: String,
    script: Option<String>,
    #[serde(default)]
    notes: String,
}

/// `GET /api/v1/boot-profiles`.
pub(crate) async fn list(State(state): State<WebState>) -> ApiResult<Json<Vec<BootProfileJson>>> {
    Ok(Json(state.store().boot_profiles().await?.into_iter().map(BootProfileJson::from).collect()))
}

/// `GET /api/v1/boot-profiles/{name}`.
pub(crate) async fn one(
    State(state): State<WebState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<BootProfileJson>> {
    let profile = state.store().boot_profile(&name).await?.ok_or_else(|| missing(&name))?;
    Ok(Json(profile.into()))
}

/// `PUT /api/v1/boot-profiles/{name}`: creates or replaces it; 200 with the profile.
pub(crate) async fn put(
    State(state): State<WebState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<BootProfileBody>,
) -> ApiResult<Json<BootProfileJson>> {
    let input = BootProfileInput {
        name,
        kernel: body.kernel.unwrap_or_default(),
        initrds: body.initrds,
        cmdline: body.cmdline,
        script: body.script.unwrap_or_default(),
        notes: body.notes,
    };
    Ok(Json(actions::save_boot_profile(&state, &caller, &input).await?.into()))
}

/// `DELETE /api/v1/boot-profiles/{name}`: 204; 409 while a host boots it.
pub(crate) async fn delete(
    State(state): State<WebState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    actions::delete_boot_profile(&state, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn missing(name: &str) -> AppError {
    AppError::NotFound(format!("there is no boot profile {name:?}"))
}
