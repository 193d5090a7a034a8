//! `/api/v1/instances`: the lifeboats of the fleet sharing this one's database, and their
//! services started and stopped from here.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::api::ApiPath;
use crate::control::{InstanceView, Service};
use crate::error::{ApiResult, AppError};
use crate::guard::Caller;
use crate::state::WebState;

#[derive(Serialize)]
pub(crate) struct InstanceJson {
    name: String,
    /// This is the lifeboat that answered.
    this: bool,
    /// `up` while it beats, `gone` once it stopped beating.
    state: &'static str,
    version: String,
    dashboard: String,
    started_at: i64,
    seen_at: i64,
    services: BTreeMap<String, String>,
}

impl From<InstanceView> for InstanceJson {
    fn from(view: InstanceView) -> InstanceJson {
        InstanceJson {
            name: view.name,
            this: view.this,
            state: if view.up { "up" } else { "gone" },
            version: view.version,
            dashboard: view.dashboard,
            started_at: view.started_at,
            seen_at: view.seen_at,
            services: view.services,
        }
    }
}

/// `GET /api/v1/instances`.
pub(crate) async fn list(State(state): State<WebState>) -> ApiResult<Json<Vec<InstanceJson>>> {
    let instances = state.control().instances().await.map_err(AppError::from)?;
    Ok(Json(instances.into_iter().map(InstanceJson::from).collect()))
}

/// `POST /api/v1/instances/{name}/services/{service}/{start|stop}`: the instances afterwards.
pub(crate) async fn switch(
    State(state): State<WebState>,
    caller: Caller,
    ApiPath((name, service, action)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Vec<InstanceJson>>> {
    let service: Service = service.parse().map_err(AppError::from)?;
    let run = match action.as_str() {
        "start" => true,
        "stop" => false,
        _ => return Err(AppError::NotFound(format!("unknown action {action:?}: use start or stop")).into()),
    };
    state.control().command_instance(name, service, run, caller.origin.clone()).await.map_err(AppError::from)?;
    list(State(state)).await
}
