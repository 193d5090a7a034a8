//! The hosts pages: the list with the form to add one, the edit page, and their form posts.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Form, response::IntoResponse};
use serde::Deserialize;

use crate::actions;
use crate::boot_profile_input::BootProfileInput;
use crate::error::AppError;
use crate::guard::Caller;
use crate::host_input::{HostInput, split_names};
use crate::images;
use crate::pages::boot_profiles::{BootProfileFormView, BootProfileRow};
use crate::pages::form_problems::FormProblems;
use crate::pages::{Layout, PageError, PageResult, done, render_status};
use crate::state::WebState;

/// A host as the HTML form posts it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct HostFormData {
    #[serde(default)]
    mac: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    names: String,
    #[serde(default)]
    boot_profile: String,
    #[serde(default)]
    notes: String,
}

impl HostFormData {
    fn input(&self) -> HostInput {
        HostInput {
            mac: self.mac.clone(),
            name: self.name.clone(),
            address: self.address.clone(),
            image: self.image.clone(),
            names: split_names(&self.names),
            boot_profile: self.boot_profile.clone(),
            notes: self.notes.clone(),
        }
    }
}

/// What `host_form.html` shows.
pub(crate) struct HostFormView {
    action: String,
    submit: &'static str,
    mac: String,
    name: String,
    address: String,
    image: String,
    names: String,
    boot_profile: String,
    notes: String,
    problems: FormProblems,
    images: Vec<String>,
    /// The names of the boot profiles, for the choice.
    profiles: Vec<String>,
}

impl HostFormView {
    fn new(action: String, submit: &'static str, input: &HostInput, choices: Choices) -> HostFormView {
        let Choices { images, profiles } = choices;
        HostFormView {
            action,
            submit,
            mac: input.mac.clone(),
            name: input.name.clone(),
            address: input.address.clone(),
            image: input.image.clone(),
            names: input.names.join("\n"),
            boot_profile: input.boot_profile.clone(),
            notes: input.notes.clone(),
            problems: FormProblems::default(),
            images,
            profiles,
        }
    }

    /// The host names an image that is not among the TFTP root's files (deleted since, or set
    /// through the API): it stays a choice, marked, so saving the form does not drop it.
    fn image_missing(&self) -> bool {
        !self.image.is_empty() && !self.images.contains(&self.image)
    }

    /// The same for a boot profile that is not (or no longer) there.
    fn profile_missing(&self) -> bool {
        !self.boot_profile.is_empty() && !self.profiles.contains(&self.boot_profile)
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

/// One host in the list.
pub(crate) struct HostRow {
    id: i64,
    mac: String,
    name: String,
    address: String,
    image: String,
    names: Vec<String>,
    boot_profile: String,
    notes: String,
}

#[derive(Template)]
#[template(path = "hosts.html")]
struct HostsPage {
    layout: Layout,
    hosts: Vec<HostRow>,
    form: HostFormView,
    profiles: Vec<BootProfileRow>,
    profile_form: BootProfileFormView,
    /// The configuration's reservations: in effect, changed where they are set.
    reservations: Vec<crate::control::ConfiguredReservation>,
}

#[derive(Template)]
#[template(path = "host_edit.html")]
struct HostEditPage {
    layout: Layout,
    id: i64,
    mac: String,
    form: HostFormView,
}

/// What the host form offers to choose from.
pub(crate) struct Choices {
    images: Vec<String>,
    profiles: Vec<String>,
}

impl Choices {
    pub(crate) async fn of(state: &WebState) -> Result<Choices, AppError> {
        let profiles = state.store().boot_profiles().await?.into_iter().map(|p| p.entry.name).collect();
        Ok(Choices { images: image_names(state).await, profiles })
    }
}

/// The names of the image files, for the form's suggestions (empty without a TFTP root).
pub(crate) async fn image_names(state: &WebState) -> Vec<String> {
    let Some(root) = state.config().tftp_root.clone() else { return Vec::new() };
    tokio::task::spawn_blocking(move || images::list(&root))
        .await
        .ok()
        .and_then(Result::ok)
        .map(|files| files.into_iter().map(|f| f.file).collect())
        .unwrap_or_default()
}

pub(crate) async fn hosts_page(
    state: &WebState,
    caller: &Caller,
    form: Option<HostFormView>,
    profile_form: Option<BootProfileFormView>,
    status: StatusCode,
) -> PageResult {
    let form = match form {
        Some(form) => form,
        None => HostFormView::new("/hosts".into(), "Add host", &HostInput::default(), Choices::of(state).await?),
    };
    let profile_form = match profile_form {
        Some(form) => form,
        None => BootProfileFormView::new(true, &BootProfileInput::default(), image_names(state).await),
    };
    let hosts = state
        .store()
        .hosts()
        .await?
        .into_iter()
        .map(|h| HostRow {
            id: h.id,
            mac: h.entry.mac,
            name: h.entry.name.unwrap_or_default(),
            address: h.entry.address.map(|a| a.to_string()).unwrap_or_default(),
            image: h.entry.image.unwrap_or_default(),
            names: h.entry.names,
            boot_profile: h.entry.boot_profile.unwrap_or_default(),
            notes: h.entry.notes,
        })
        .collect();
    let profiles = state.store().boot_profiles().await?.into_iter().map(BootProfileRow::from).collect();
    let reservations = state.control().configured_reservations();
    let layout = Layout::new(state, caller, "/hosts", "Hosts");
    let page = HostsPage { layout, hosts, form, profiles, profile_form, reservations };
    Ok(render_status(status, &page))
}

/// `GET /hosts`.
pub(crate) async fn list(State(state): State<WebState>, caller: Caller) -> PageResult {
    hosts_page(&state, &caller, None, None, StatusCode::OK).await
}

/// `POST /hosts`.
pub(crate) async fn create(
    State(state): State<WebState>,
    caller: Caller,
    Form(data): Form<HostFormData>,
) -> PageResult {
    let input = data.input();
    match actions::add_host(&state, &caller, &input).await {
        Ok(host) => Ok(done(&state, &caller, "/hosts", true, format!("Host {} added.", host.entry.mac))),
        Err(error) => {
            let mut form = HostFormView::new("/hosts".into(), "Add host", &input, Choices::of(&state).await?);
            match form.show(error) {
                Some(status) => hosts_page(&state, &caller, Some(form), None, status).await,
                None => Err(PageError(AppError::Internal("the host could not be saved".into()))),
            }
        }
    }
}

async fn edit_page(state: &WebState, caller: &Caller, id: i64, form: HostFormView, status: StatusCode) -> Response {
    let page =
        HostEditPage { layout: Layout::new(state, caller, "/hosts", "Edit host"), id, mac: form.mac.clone(), form };
    render_status(status, &page)
}

/// `GET /hosts/{id}`.
pub(crate) async fn edit(State(state): State<WebState>, caller: Caller, Path(id): Path<i64>) -> PageResult {
    let host = state.store().host(id).await?.ok_or_else(|| actions::no_host(id))?;
    let input = HostInput::from_entry(&host.entry);
    let form = HostFormView::new(format!("/hosts/{id}"), "Save changes", &input, Choices::of(&state).await?);
    Ok(edit_page(&state, &caller, id, form, StatusCode::OK).await)
}

/// `POST /hosts/{id}`.
pub(crate) async fn update(
    State(state): State<WebState>,
    caller: Caller,
    Path(id): Path<i64>,
    Form(data): Form<HostFormData>,
) -> PageResult {
    let input = data.input();
    match actions::update_host(&state, &caller, id, &input).await {
        Ok(host) => Ok(done(&state, &caller, "/hosts", true, format!("Host {} saved.", host.entry.mac))),
        Err(error @ (AppError::NotFound(_) | AppError::Internal(_))) => Err(PageError(error)),
        Err(error) => {
            let choices = Choices::of(&state).await?;
            let mut form = HostFormView::new(format!("/hosts/{id}"), "Save changes", &input, choices);
            let status = form.show(error).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            Ok(edit_page(&state, &caller, id, form, status).await)
        }
    }
}

/// `POST /hosts/{id}/delete`.
pub(crate) async fn delete(State(state): State<WebState>, caller: Caller, Path(id): Path<i64>) -> PageResult {
    match actions::delete_host(&state, &caller, id).await {
        Ok(()) => Ok(done(&state, &caller, "/hosts", true, "Host deleted.")),
        Err(error) => Ok(crate::pages::failed(&state, &caller, "/hosts", error).into_response()),
    }
}
