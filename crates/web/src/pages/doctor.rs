//! The Doctor page: the troubleshooting list of a recovery guide, checked for an interface, a
//! device profile and an image. Checking changes nothing, so the form is a GET and a result
//! can be reloaded or shared as a link.

use askama::Template;
use axum::extract::{Query, State};

use crate::control::InterfaceInfo;
use crate::digests;
use crate::guard::Caller;
use crate::pages::{Layout, PageResult, render};
use crate::recovery::{CheckVerdict, DoctorCheck, DoctorRequest, ProfileChoice, examine};
use crate::state::WebState;

#[derive(Template)]
#[template(path = "doctor.html")]
struct DoctorPage {
    layout: Layout,
    interfaces: Vec<InterfaceInfo>,
    profiles: Vec<ProfileChoice>,
    images: Vec<String>,
    /// What was asked, to keep the form filled in.
    asked: DoctorRequest,
    /// The checks, once run.
    checks: Option<Vec<DoctorCheck>>,
    failed: usize,
}

/// `GET /doctor`, and with `?run=1&interface=…&profile=…&image=…` the checks.
pub(crate) async fn page(
    State(state): State<WebState>,
    caller: Caller,
    Query(asked): Query<DoctorQuery>,
) -> PageResult {
    let request = DoctorRequest {
        interface: asked.interface.filter(|s| !s.is_empty()),
        profile: asked.profile.filter(|s| !s.is_empty()),
        image: asked.image.filter(|s| !s.is_empty()),
    };
    let checks = match asked.run {
        Some(_) => Some(examine(&state, request.clone()).await),
        None => None,
    };
    let failed = checks.iter().flatten().filter(|c| c.verdict == CheckVerdict::Fail).count();
    let images = digests::list_images(&state).await.unwrap_or_default().into_iter().map(|i| i.file.file).collect();
    let page = DoctorPage {
        layout: Layout::new(&state, &caller, "/doctor", "Doctor"),
        interfaces: state.control().interfaces(),
        profiles: state.control().profiles(),
        images,
        asked: request,
        checks,
        failed,
    };
    Ok(render(&page))
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct DoctorQuery {
    interface: Option<String>,
    profile: Option<String>,
    image: Option<String>,
    run: Option<String>,
}
