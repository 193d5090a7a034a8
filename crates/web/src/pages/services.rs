//! The start and stop buttons of the overview.

use axum::extract::{Path, State};
use axum::response::Response;

use crate::actions;
use crate::control::Service;
use crate::error::AppError;
use crate::guard::Caller;
use crate::pages::{PageError, PageResult, done, failed};
use crate::state::WebState;

/// `POST /services/{service}/{action}` with `action` `start`, `stop` or
/// `stop-after-transfers`.
pub(crate) async fn switch(
    State(state): State<WebState>,
    caller: Caller,
    Path((service, action)): Path<(String, String)>,
) -> PageResult {
    let service: Service = service.parse().map_err(AppError::from)?;
    if action == "stop-after-transfers" {
        let stopping = state.control().stop_after_transfers(service, caller.origin.clone()).await;
        return Ok(match stopping {
            Ok(()) => done(
                &state,
                &caller,
                "/",
                true,
                format!("{service} takes no new transfers and stops when the running ones end."),
            ),
            Err(error) => failed(&state, &caller, "/", error.into()),
        });
    }
    let run = match action.as_str() {
        "start" => true,
        "stop" => false,
        _ => return Err(PageError(AppError::NotFound(format!("unknown action {action:?}: use start or stop")))),
    };
    let response: Response = match actions::switch_service(&state, &caller, service, run).await {
        Ok(()) => {
            let verb = if run { "started" } else { "stopped" };
            done(&state, &caller, "/", true, format!("{service} {verb}."))
        }
        Err(error) => failed(&state, &caller, "/", error),
    };
    Ok(response)
}
