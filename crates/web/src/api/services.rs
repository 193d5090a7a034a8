//! `/api/v1/session`, `/api/v1/services` and `/api/v1/interfaces`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::actions;
use crate::api::ApiPath;
use crate::config::Auth;
use crate::control::{InterfaceInfo, Service, ServiceStatus};
use crate::error::{ApiResult, AppError};
use crate::guard::Caller;
use crate::state::WebState;

#[derive(Serialize)]
pub(crate) struct SessionJson {
    /// Send it as `X-CSRF-Token` with every POST, PUT and DELETE.
    csrf_token: String,
    logged_in: bool,
    auth: &'static str,
}

/// `GET /api/v1/session`: the CSRF token of the caller's session (public: before logging in,
/// it is the token the login form needs).
pub(crate) async fn session(State(state): State<WebState>, caller: Caller) -> Json<SessionJson> {
    let auth = match state.config().auth {
        Auth::LoopbackOnly => "loopback",
        Auth::Password { .. } => "password",
        Auth::Token(_) => "token",
    };
    let logged_in = caller.session.as_ref().is_none_or(|s| s.logged_in);
    Json(SessionJson { csrf_token: caller.csrf().to_owned(), logged_in, auth })
}

#[derive(Serialize)]
pub(crate) struct ServiceJson {
    service: &'static str,
    name: String,
    running: bool,
    failed: bool,
    configured: bool,
    listening: Vec<String>,
    detail: Option<String>,
    /// With `--stop-when-idle`: seconds until it stops itself unless somebody uses it.
    stops_when_idle_in_seconds: Option<u64>,
}

impl From<ServiceStatus> for ServiceJson {
    fn from(s: ServiceStatus) -> Self {
        ServiceJson {
            service: s.service.slug(),
            name: s.service.to_string(),
            running: s.running,
            failed: s.failed,
            configured: s.configured,
            listening: s.listening,
            detail: s.detail,
            stops_when_idle_in_seconds: s.stops_when_idle_in.map(|left| left.as_secs()),
        }
    }
}

fn services(state: &WebState) -> Vec<ServiceJson> {
    state.services().into_iter().map(ServiceJson::from).collect()
}

/// `GET /api/v1/services`.
pub(crate) async fn list(State(state): State<WebState>) -> Json<Vec<ServiceJson>> {
    Json(services(&state))
}

/// `POST /api/v1/services/{service}/{start|stop}`: the services afterwards.
pub(crate) async fn switch(
    State(state): State<WebState>,
    caller: Caller,
    ApiPath((service, action)): ApiPath<(String, String)>,
) -> ApiResult<Json<Vec<ServiceJson>>> {
    let service: Service = service.parse().map_err(AppError::from)?;
    let run = match action.as_str() {
        "start" => true,
        "stop" => false,
        _ => return Err(AppError::NotFound(format!("unknown action {action:?}: use start or stop")).into()),
    };
    actions::switch_service(&state, &caller, service, run).await?;
    Ok(Json(services(&state)))
}

#[derive(Serialize)]
pub(crate) struct InterfaceJson {
    name: String,
    addresses: Vec<String>,
    up: bool,
}

impl From<InterfaceInfo> for InterfaceJson {
    fn from(i: InterfaceInfo) -> Self {
        InterfaceJson { name: i.name, addresses: i.addresses, up: i.up }
    }
}

/// `GET /api/v1/interfaces`.
pub(crate) async fn interfaces(State(state): State<WebState>) -> Json<Vec<InterfaceJson>> {
    Json(state.control().interfaces().into_iter().map(InterfaceJson::from).collect())
}
