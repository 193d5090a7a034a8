//! The images page: the files of the TFTP root with size and SHA-256, upload (by script, to
//! the API) and delete.

use askama::Template;
use axum::Form;
use axum::extract::State;
use serde::Deserialize;

use crate::actions;
use crate::digests::{self, ListedImage};
use crate::error::AppError;
use crate::fleet_images::{self, FleetImage};
use crate::format;
use crate::guard::Caller;
use crate::pages::{Layout, PageResult, done, failed, render};
use crate::state::WebState;

pub(crate) struct ImageRow {
    file: String,
    size: String,
    size_exact: u64,
    modified: String,
    sha256: Option<String>,
    sha_short: String,
    in_use: bool,
}

impl From<ListedImage> for ImageRow {
    fn from(image: ListedImage) -> Self {
        let modified_ms = image.file.modified_ns / 1_000_000;
        ImageRow {
            size: format::bytes(image.file.size),
            size_exact: image.file.size,
            modified: format::time(modified_ms),
            sha_short: image.sha256.as_deref().map(format::short_digest).unwrap_or_default(),
            sha256: image.sha256,
            in_use: image.in_use,
            file: image.file.file,
        }
    }
}

/// An image across the fleet: each instance's copy, and who lacks one.
pub(crate) struct FleetRow {
    file: String,
    matches: bool,
    /// Instance, size and short SHA-256 of each copy.
    copies: Vec<(String, String, String)>,
    missing_on: String,
}

impl From<FleetImage> for FleetRow {
    fn from(image: FleetImage) -> Self {
        FleetRow {
            file: image.file,
            matches: image.matches,
            copies: image
                .copies
                .into_iter()
                .map(|c| (c.instance, format::bytes(c.size), format::short_digest(&c.sha256)))
                .collect(),
            missing_on: image.missing_on.join(", "),
        }
    }
}

#[derive(Template)]
#[template(path = "images.html")]
struct ImagesPage {
    layout: Layout,
    /// Why there is no listing (no TFTP root, unreadable root).
    problem: Option<String>,
    root: String,
    images: Vec<ImageRow>,
    pending: bool,
    max_upload: u64,
    max_upload_text: String,
    /// The image armed for a recovery.
    armed: Option<String>,
    /// In a fleet, every instance's images; `None` outside one.
    fleet: Option<Vec<FleetRow>>,
    /// Why the fleet's images could not be read, when they could not.
    fleet_problem: Option<String>,
}

/// `GET /images`.
pub(crate) async fn page(State(state): State<WebState>, caller: Caller) -> PageResult {
    let (images, problem) = match digests::list_images(&state).await {
        Ok(images) => (images.into_iter().map(ImageRow::from).collect(), None),
        Err(error @ (AppError::Conflict(_) | AppError::Internal(_))) => (Vec::new(), Some(error.message())),
        Err(error) => return Err(error.into()),
    };
    let pending = images.iter().any(|i: &ImageRow| i.sha256.is_none()) || state.digests().busy();
    let max_upload = state.config().max_upload;
    let (fleet, fleet_problem) = if state.store().is_shared() {
        match fleet_images::list(&state).await {
            Ok(images) => (Some(images.into_iter().map(FleetRow::from).collect()), None),
            Err(error) => (None, Some(error.message())),
        }
    } else {
        (None, None)
    };
    let page = ImagesPage {
        layout: Layout::new(&state, &caller, "/images", "Images"),
        problem,
        root: state.config().tftp_root.as_ref().map(|r| r.display().to_string()).unwrap_or_default(),
        images,
        pending,
        max_upload,
        max_upload_text: format::bytes(max_upload),
        armed: state.control().armed_image(),
        fleet,
        fleet_problem,
    };
    Ok(render(&page))
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeleteForm {
    #[serde(default)]
    file: String,
}

/// `POST /images/arm` with field `file`.
pub(crate) async fn arm(State(state): State<WebState>, caller: Caller, Form(form): Form<DeleteForm>) -> PageResult {
    Ok(match actions::arm_image(&state, &caller, &form.file).await {
        Ok(file) => done(
            &state,
            &caller,
            "/images",
            true,
            format!(
                "{file} is armed: a device asking for a file that does not exist gets it, and the name it asked for becomes an alias."
            ),
        ),
        Err(error) => failed(&state, &caller, "/images", error),
    })
}

/// `POST /images/disarm`.
pub(crate) async fn disarm(State(state): State<WebState>, caller: Caller) -> PageResult {
    Ok(match actions::disarm_image(&state, &caller) {
        Ok(()) => done(&state, &caller, "/images", true, "No image is armed now: missing files are missing again."),
        Err(error) => failed(&state, &caller, "/images", error),
    })
}

/// `POST /images/delete` with field `file`.
pub(crate) async fn delete(State(state): State<WebState>, caller: Caller, Form(form): Form<DeleteForm>) -> PageResult {
    Ok(match actions::delete_image(&state, &caller, &form.file).await {
        Ok(file) => done(&state, &caller, "/images", true, format!("{file} deleted.")),
        Err(error) => failed(&state, &caller, "/images", error),
    })
}
