//! `/api/v1/doctor`: the doctor's checks, and `/api/v1/profiles`: the device profiles.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::api::ApiQuery;
use crate::recovery::{CheckVerdict, DoctorCheck, DoctorRequest, ProfileChoice, examine};
use crate::state::WebState;

#[derive(Serialize)]
pub(crate) struct DoctorJson {
    /// No check failed.
    healthy: bool,
    checks: Vec<DoctorCheck>,
}

/// `GET /api/v1/doctor?interface=…&profile=…&image=…`.
pub(crate) async fn run(State(state): State<WebState>, ApiQuery(request): ApiQuery<DoctorRequest>) -> Json<DoctorJson> {
    let checks = examine(&state, request).await;
    Json(DoctorJson { healthy: !checks.iter().any(|c| c.verdict == CheckVerdict::Fail), checks })
}

/// `GET /api/v1/profiles`.
pub(crate) async fn profiles(State(state): State<WebState>) -> Json<Vec<ProfileChoice>> {
    Json(state.control().profiles())
}
