//! The boot profiles on the Hosts page: the list, the form to add one (on the Hosts page), the
//! edit page, and their form posts. A template error shows under its field with its line.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lifeboat_store::BootProfile;
use serde::Deserialize;

use crate::actions;
use crate::boot_profile_input::BootProfileInput;
use crate::error::AppError;
use crate::guard::Caller;
use crate::host_input::split_names;
use crate::pages::form_problems::FormProblems;
use crate::pages::hosts::{hosts_page, image_names};
use crate::pages::{Layout, PageError, PageResult, done, render_status};
use crate::state::WebState;

/// A boot profile as the HTML form posts it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct BootProfileFormData {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kernel: String,
    #[serde(default)]
    initrds: String,
    #[serde(default)]
    cmdline: String,
    #[serde(default)]
    script: String,
    #[serde(default)]
    notes: String,
}

impl BootProfileFormData {
    fn input(&self) -> BootProfileInput {
        BootProfileInput {
            name: self.name.clone(),
            kernel: self.kernel.clone(),
            initrds: split_names(&self.initrds),
            cmdline: self.cmdline.clone(),
            script: self.script.clone(),
            notes: self.notes.clone(),
        }
    }
}

/// What `boot_profile_form.html` shows.
pub(crate) struct BootProfileFormView {
    /// A new profile (the name can be typed) or an existing one (the name is fixed).
    pub(crate) new: bool,
    pub(crate) name: String,
    pub(crate) kernel: String,
    pub(crate) initrds: String,
    pub(crate) cmdline: String,
    pub(crate) script: String,
    pub(crate) notes: String,
    pub(crate) problems: FormProblems,
    pub(crate) images: Vec<String>,
}

impl BootProfileFormView {
    pub(crate) fn new(new: bool, input: &BootProfileInput, images: Vec<String>) -> BootProfileFormView {
        BootProfileFormView {
            new,
            name: input.name.clone(),
            kernel: input.kernel.clone(),
            initrds: input.initrds.join("\n"),
            cmdline: input.cmdline.clone(),
            script: input.script.clone(),
            notes: input.notes.clone(),
            problems: FormProblems::default(),
            images,
        }
    }

    pub(crate) fn submit(&self) -> &'static str {
        if self.new { "Add boot profile" } else { "Save changes" }
    }

    pub(crate) fn kernel_missing(&self) -> bool {
        !self.kernel.is_empty() && !self.images.contains(&self.kernel)
    }

    /// The messages about `field`, joined.
    pub(crate) fn error(&self, field: &str) -> String {
        self.problems.about(field)
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.problems.fields.is_empty()
    }

    /// Show `error` on the form; `None` if it is not about the input.
    fn show(&mut self, error: AppError) -> Option<StatusCode> {
        self.problems.take(error)
    }
}

/// One boot profile in the list.
pub(crate) struct BootProfileRow {
    pub(crate) name: String,
    /// `kernel debian/vmlinuz, 2 initrds` or `iPXE script (12 lines)`.
    pub(crate) boots: String,
    pub(crate) cmdline: String,
    pub(crate) notes: String,
}

impl From<BootProfile> for BootProfileRow {
    fn from(p: BootProfile) -> Self {
        let e = p.entry;
        let boots = match (&e.script, &e.kernel) {
            (Some(script), _) => format!("iPXE script ({} lines)", script.lines().count()),
            (None, Some(kernel)) => match e.initrds.len() {
                0 => format!("kernel {kernel}"),
                1 => format!("kernel {kernel}, initrd {}", e.initrds[0]),
                n => format!("kernel {kernel}, {n} initrds"),
            },
            (None, None) => "nothing".to_owned(),
        };
        BootProfileRow { name: e.name, boots, cmdline: e.cmdline, notes: e.notes }
    }
}

#[derive(Template)]
#[template(path = "boot_profile_edit.html")]
struct BootProfileEditPage {
    layout: Layout,
    profile_form: BootProfileFormView,
}

async fn edit_page(state: &WebState, caller: &Caller, form: BootProfileFormView, status: StatusCode) -> Response {
    let page =
        BootProfileEditPage { layout: Layout::new(state, caller, "/hosts", "Edit boot profile"), profile_form: form };
    render_status(status, &page)
}

/// `POST /boot-profiles`: a new profile, from the form on the Hosts page.
pub(crate) async fn create(
    State(state): State<WebState>,
    caller: Caller,
    Form(data): Form<BootProfileFormData>,
) -> PageResult {
    let input = data.input();
    if let Some(existing) = state.store().boot_profile(input.name.trim()).await? {
        let mut form = BootProfileFormView::new(true, &input, image_names(&state).await);
        form.problems.general = format!("a boot profile {:?} exists already: edit it instead", existing.entry.name);
        return hosts_page(&state, &caller, None, Some(form), StatusCode::CONFLICT).await;
    }
    match actions::save_boot_profile(&state, &caller, &input).await {
        Ok(p) => Ok(done(&state, &caller, "/hosts#profiles", true, format!("Boot profile {} added.", p.entry.name))),
        Err(error) => {
            let mut form = BootProfileFormView::new(true, &input, image_names(&state).await);
            match form.show(error) {
                Some(status) => hosts_page(&state, &caller, None, Some(form), status).await,
                None => Err(PageError(AppError::Internal("the boot profile could not be saved".into()))),
            }
        }
    }
}

/// `GET /boot-profiles/{name}`.
pub(crate) async fn edit(State(state): State<WebState>, caller: Caller, Path(name): Path<String>) -> PageResult {
    let profile =
        state.store().boot_profile(&name).await?.ok_or_else(|| {
            AppError::NotFound(format!("there is no boot profile {name:?}; it may have been deleted"))
        })?;
    let form =
        BootProfileFormView::new(false, &BootProfileInput::from_entry(&profile.entry), image_names(&state).await);
    Ok(edit_page(&state, &caller, form, StatusCode::OK).await)
}

/// `POST /boot-profiles/{name}`.
pub(crate) async fn update(
    State(state): State<WebState>,
    caller: Caller,
    Path(name): Path<String>,
    Form(data): Form<BootProfileFormData>,
) -> PageResult {
    let input = BootProfileInput { name, ..data.input() };
    match actions::save_boot_profile(&state, &caller, &input).await {
        Ok(p) => Ok(done(&state, &caller, "/hosts#profiles", true, format!("Boot profile {} saved.", p.entry.name))),
        Err(error @ AppError::Internal(_)) => Err(PageError(error)),
        Err(error) => {
            let mut form = BootProfileFormView::new(false, &input, image_names(&state).await);
            let status = form.show(error).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            Ok(edit_page(&state, &caller, form, status).await)
        }
    }
}

/// `POST /boot-profiles/{name}/delete`.
pub(crate) async fn delete(State(state): State<WebState>, caller: Caller, Path(name): Path<String>) -> PageResult {
    match actions::delete_boot_profile(&state, &caller, &name).await {
        Ok(()) => Ok(done(&state, &caller, "/hosts#profiles", true, format!("Boot profile {name} deleted."))),
        Err(error) => Ok(crate::pages::failed(&state, &caller, "/hosts#profiles", error).into_response()),
    }
}
