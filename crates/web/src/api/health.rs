//! `GET /api/v1/health`: public, for `lifeboat health` and container health checks.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::state::WebState;

#[derive(Serialize)]
pub(crate) struct HealthJson {
    /// Every service that should run does, and the database takes writes.
    healthy: bool,
    services: Vec<ServiceHealthJson>,
    database: DatabaseHealthJson,
}

#[derive(Serialize)]
pub(crate) struct ServiceHealthJson {
    service: &'static str,
    running: bool,
    /// It should run and does not (see `ServiceStatus::failed`).
    failed: bool,
}

#[derive(Serialize)]
pub(crate) struct DatabaseHealthJson {
    writable: bool,
    /// Why not, without paths.
    error: Option<String>,
}

/// 200 when healthy, 503 when not; the body says what is wrong.
pub(crate) async fn check(State(state): State<WebState>) -> (StatusCode, Json<HealthJson>) {
    let services: Vec<ServiceHealthJson> = state
        .control()
        .services()
        .into_iter()
        .map(|s| ServiceHealthJson { service: s.service.slug(), running: s.running, failed: s.failed })
        .collect();
    let written = state.health().check(state.store().prove_writable(state.now_ms())).await;
    let database = DatabaseHealthJson { writable: written.is_ok(), error: written.err() };
    let healthy = database.writable && services.iter().all(|s| !s.failed);
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(HealthJson { healthy, services, database }))
}
