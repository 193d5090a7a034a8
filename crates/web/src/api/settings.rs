//! `/api/v1/settings`: the settings saved from the dashboard, over the configuration file and
//! under the command line (see `Control::settings`). `PUT` takes the configuration file's shape
//! as JSON; `/export` gives what is in effect as TOML, `/import` takes such a file.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::IntoResponse;
use serde::Serialize;

use crate::actions;
use crate::api::ApiJson;
use crate::control::{SettingsInput, SettingsView};
use crate::error::{ApiResult, AppError};
use crate::guard::Caller;
use crate::settings::apply_error;
use crate::state::WebState;

#[derive(Serialize)]
pub(crate) struct SettingsJson {
    /// What the dashboard saved (the configuration file's shape).
    stored: serde_json::Value,
    /// The configuration file with the dashboard's settings over it.
    effective: serde_json::Value,
    /// Keys set by the command line or the environment: `{"key": "dhcp.range", "by": "..."}`.
    locked: Vec<LockJson>,
}

#[derive(Serialize)]
struct LockJson {
    key: String,
    by: String,
}

impl From<SettingsView> for SettingsJson {
    fn from(view: SettingsView) -> Self {
        SettingsJson {
            stored: view.stored,
            effective: view.effective,
            locked: view.locked.into_iter().map(|l| LockJson { key: l.key, by: l.by }).collect(),
        }
    }
}

/// `GET /api/v1/settings`.
pub(crate) async fn get(State(state): State<WebState>) -> ApiResult<Json<SettingsJson>> {
    let view = state.control().settings().await.map_err(apply_error)?;
    Ok(Json(view.into()))
}

/// `PUT /api/v1/settings`: replace the dashboard's settings; 422 with `fields` when invalid,
/// 409 when a service did not start with them (the previous ones still run).
pub(crate) async fn put(
    State(state): State<WebState>,
    caller: Caller,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<Json<SettingsJson>> {
    let view = state.control().apply_settings(SettingsInput::Json(body), caller.origin.clone()).await;
    Ok(Json(view.map_err(apply_error)?.into()))
}

/// `GET /api/v1/settings/export`: what is in effect, as a configuration file.
pub(crate) async fn export(State(state): State<WebState>) -> ApiResult<impl IntoResponse> {
    let view = state.control().settings().await.map_err(apply_error)?;
    let headers = [(CONTENT_TYPE, "application/toml"), (CONTENT_DISPOSITION, "attachment; filename=\"lifeboat.toml\"")];
    Ok((headers, view.effective_toml))
}

/// `PUT /api/v1/settings/import`: a configuration file (TOML) becomes the dashboard's settings.
pub(crate) async fn import(
    State(state): State<WebState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<Json<SettingsJson>> {
    let text =
        String::from_utf8(body.to_vec()).map_err(|_| AppError::BadRequest("the file is not UTF-8 text".into()))?;
    let view = state.control().apply_settings(SettingsInput::Toml(text), caller.origin.clone()).await;
    Ok(Json(view.map_err(apply_error)?.into()))
}

#[derive(Serialize)]
pub(crate) struct ApiKeyJson {
    /// Shown this once: send it as `Authorization: Bearer KEY`.
    api_key: String,
}

/// `POST /api/v1/api-key`: a new API key in place of any other (201).
pub(crate) async fn create_api_key(
    State(state): State<WebState>,
    caller: Caller,
) -> ApiResult<(axum::http::StatusCode, Json<ApiKeyJson>)> {
    let api_key = actions::create_api_key(&state, &caller).await?;
    Ok((axum::http::StatusCode::CREATED, Json(ApiKeyJson { api_key })))
}

/// `DELETE /api/v1/api-key`: 204.
pub(crate) async fn revoke_api_key(State(state): State<WebState>, caller: Caller) -> ApiResult<axum::http::StatusCode> {
    actions::revoke_api_key(&state, &caller).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
