//! The instances page: the lifeboats of the fleet sharing this one's database, their services,
//! and buttons that start or stop a service on any of them.

use askama::Template;
use axum::extract::{Path, State};

use crate::control::{InstanceView, Service};
use crate::error::AppError;
use crate::format;
use crate::guard::Caller;
use crate::pages::{Layout, PageError, PageResult, done, failed, render};
use crate::state::WebState;

pub(crate) struct InstanceRow {
    name: String,
    this: bool,
    up: bool,
    version: String,
    dashboard: String,
    seen: String,
    services: Vec<(String, String)>,
}

impl InstanceRow {
    fn new(view: InstanceView) -> InstanceRow {
        InstanceRow {
            seen: format::time(view.seen_at),
            services: view.services.into_iter().collect(),
            name: view.name,
            this: view.this,
            up: view.up,
            version: view.version,
            dashboard: view.dashboard,
        }
    }
}

#[derive(Template)]
#[template(path = "instances.html")]
struct InstancesPage {
    layout: Layout,
    instances: Vec<InstanceRow>,
    /// Why the list could not be read, when it could not.
    problem: Option<String>,
}

/// `GET /instances`.
pub(crate) async fn page(State(state): State<WebState>, caller: Caller) -> PageResult {
    let (instances, problem) = match state.control().instances().await {
        Ok(instances) => (instances.into_iter().map(InstanceRow::new).collect(), None),
        Err(error) => (Vec::new(), Some(error.to_string())),
    };
    let page = InstancesPage { layout: Layout::new(&state, &caller, "/instances", "Instances"), instances, problem };
    Ok(render(&page))
}

/// `POST /instances/{name}/services/{service}/{start|stop}`.
pub(crate) async fn switch(
    State(state): State<WebState>,
    caller: Caller,
    Path((name, service, action)): Path<(String, String, String)>,
) -> PageResult {
    let service: Service = service.parse().map_err(AppError::from)?;
    let run = match action.as_str() {
        "start" => true,
        "stop" => false,
        _ => return Err(PageError(AppError::NotFound(format!("unknown action {action:?}: use start or stop")))),
    };
    let outcome = state.control().command_instance(name.clone(), service, run, caller.origin.clone()).await;
    Ok(match outcome {
        Ok(()) => {
            let verb = if run { "started" } else { "stopped" };
            done(&state, &caller, "/instances", true, format!("{service} {verb} on {name}."))
        }
        Err(error) => failed(&state, &caller, "/instances", error.into()),
    })
}
