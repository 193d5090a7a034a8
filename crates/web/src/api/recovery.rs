//! The recovery assistant's API: `/api/v1/doctor` (the doctor's checks), `/api/v1/profiles`
//! (the device profiles) and `/api/v1/recovery` (the dashboard's recovery).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::actions;
use crate::api::{ApiJson, ApiQuery};
use crate::error::ApiResult;
use crate::guard::Caller;
use crate::recovery::{
    CheckVerdict, DoctorCheck, DoctorRequest, ProfileChoice, RecoveryRequest, RecoveryView, examine,
};
use crate::state::WebState;

#[derive(Serialize)]
pub(crate) struct DoctorJson {
    /// No check failed.
    healthy: bool,
    checks: Vec<DoctorCheck>,
}

/// `GET /api/v1/doctor?interface=…&profile=…&image=…`.
pub(crate) async fn doctor(
    State(state): State<WebState>,
    ApiQuery(request): ApiQuery<DoctorRequest>,
) -> Json<DoctorJson> {
    let checks = examine(&state, request).await;
    Json(DoctorJson { healthy: !checks.iter().any(|c| c.verdict == CheckVerdict::Fail), checks })
}

/// `GET /api/v1/profiles`.
pub(crate) async fn profiles(State(state): State<WebState>) -> Json<Vec<ProfileChoice>> {
    Json(state.control().profiles())
}

/// `GET /api/v1/recovery`.
pub(crate) async fn view(State(state): State<WebState>) -> Json<RecoveryView> {
    Json(state.control().recovery())
}

/// `POST /api/v1/recovery`: 202 once it is under way (it goes on in the background).
pub(crate) async fn start(
    State(state): State<WebState>,
    caller: Caller,
    ApiJson(request): ApiJson<RecoveryRequest>,
) -> ApiResult<(StatusCode, Json<RecoveryView>)> {
    actions::start_recovery(&state, &caller, request).await?;
    Ok((StatusCode::ACCEPTED, Json(state.control().recovery())))
}

/// `DELETE /api/v1/recovery`: cancel the one under way (204 either way).
pub(crate) async fn cancel(State(state): State<WebState>, caller: Caller) -> StatusCode {
    state.control().cancel_recovery(caller.origin.clone()).await;
    StatusCode::NO_CONTENT
}
