//! The Recovery page: pick the interface, the image and the device family; lifeboat waits for
//! the device (saying what it sees on the wire), shows the progress, and when the device has
//! the image stops the server and gives the addresses back. The page reloads itself while a
//! recovery is under way.

use askama::Template;
use axum::Form;
use axum::extract::State;
use serde::Deserialize;

use crate::actions;
use crate::control::InterfaceInfo;
use crate::digests;
use crate::format;
use crate::guard::Caller;
use crate::pages::{Layout, PageResult, done, failed, render};
use crate::recovery::{ProfileChoice, RecoveryPhase, RecoveryRequest, RecoveryView};
use crate::state::WebState;

#[derive(Template)]
#[template(path = "recovery.html")]
struct RecoveryPage {
    layout: Layout,
    view: RecoveryView,
    idle: bool,
    active: bool,
    phase_slug: String,
    /// What was seen, with its time of day.
    seen: Vec<(String, String)>,
    /// Progress in percent, when the size is known.
    percent: Option<u64>,
    moved: String,
    interfaces: Vec<InterfaceInfo>,
    profiles: Vec<ProfileChoice>,
    images: Vec<String>,
    max_upload: u64,
    max_upload_text: String,
}

/// `GET /recovery`.
pub(crate) async fn page(State(state): State<WebState>, caller: Caller) -> PageResult {
    let view = state.control().recovery();
    let percent = view.size.filter(|s| *s > 0).map(|size| (view.bytes.min(size) * 100) / size);
    let moved = match view.size {
        Some(size) => format!("{} of {}", format::bytes(view.bytes), format::bytes(size)),
        None => format::bytes(view.bytes),
    };
    let images = digests::list_images(&state).await.unwrap_or_default().into_iter().map(|i| i.file.file).collect();
    let max_upload = state.config().max_upload;
    let page = RecoveryPage {
        layout: Layout::new(&state, &caller, "/recovery", "Recovery"),
        idle: view.phase == RecoveryPhase::Idle,
        active: view.phase.active(),
        phase_slug: serde_json::to_value(view.phase)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        seen: view.seen.iter().map(|l| (format::time(l.at), l.text.clone())).collect(),
        percent,
        moved,
        view,
        interfaces: state.control().interfaces(),
        profiles: state.control().profiles(),
        images,
        max_upload,
        max_upload_text: format::bytes(max_upload),
    };
    Ok(render(&page))
}

#[derive(Debug, Deserialize)]
pub(crate) struct StartForm {
    interface: String,
    image: String,
    #[serde(default)]
    profile: String,
    #[serde(default)]
    force: Option<String>,
}

/// `POST /recovery/start`.
pub(crate) async fn start(State(state): State<WebState>, caller: Caller, Form(form): Form<StartForm>) -> PageResult {
    let request = RecoveryRequest {
        interface: form.interface,
        image: form.image,
        profile: Some(form.profile).filter(|p| !p.is_empty()),
        force: form.force.is_some(),
    };
    Ok(match actions::start_recovery(&state, &caller, request).await {
        Ok(()) => done(&state, &caller, "/recovery", true, "Recovery started: do what the steps say with the device."),
        Err(error) => failed(&state, &caller, "/recovery", error),
    })
}

/// `POST /recovery/cancel`.
pub(crate) async fn cancel(State(state): State<WebState>, caller: Caller) -> PageResult {
    state.control().cancel_recovery(caller.origin.clone()).await;
    Ok(done(&state, &caller, "/recovery", true, "Recovery cancelled: lifeboat gives back the addresses it took."))
}
