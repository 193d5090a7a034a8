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

/// The instance filter of the transfers, events and leases pages (`instance_filter.html`): a
/// choice among the fleet's lifeboats, and an Instance column, shown only on a shared store.
pub(crate) struct InstanceChoice {
    /// Whether the store is shared: the filter and the column are shown only then.
    pub(crate) shared: bool,
    /// The fleet's lifeboats by name, with the chosen one even if it left the fleet.
    pub(crate) names: Vec<String>,
    /// The name asked for, as typed; empty for any instance.
    pub(crate) chosen: String,
}

impl InstanceChoice {
    /// The choice on this dashboard, with `chosen` (the query's `instance`) selected. On a
    /// shared store the names come from the fleet; when they cannot be read, the filter offers
    /// the chosen name alone.
    pub(crate) async fn new(state: &WebState, chosen: &str) -> InstanceChoice {
        let chosen = chosen.trim().to_owned();
        let shared = state.store().is_shared();
        let mut names: Vec<String> = if shared {
            match state.control().instances().await {
                Ok(instances) => instances.into_iter().map(|instance| instance.name).collect(),
                Err(error) => {
                    tracing::warn!(%error, "dashboard: the instance filter lists no instances");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        if shared && lifeboat_store::check_instance_name(&chosen).is_ok() && !names.contains(&chosen) {
            names.push(chosen.clone());
        }
        names.sort();
        InstanceChoice { shared, names, chosen }
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
