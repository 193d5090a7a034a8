//! The settings page: set up DHCP in a few fields (interface, range, boot file), or edit the
//! whole document the dashboard stores (the configuration file's shape, as TOML); what the
//! command line and the environment set is shown locked. Saving applies at once (see
//! `Control::apply_settings`); a refusal is shown on the page, next to what it concerns, with
//! what was typed kept.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use crate::actions;
use crate::api_key;
use crate::control::{InterfaceInfo, Lock, SettingsInput, SettingsView};
use crate::error::{AppError, FieldError};
use crate::guard::Caller;
use crate::pages::{Layout, PageResult, done, render, render_status};
use crate::settings::apply_error;
use crate::state::WebState;

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    layout: Layout,
    locked: Vec<Lock>,
    interfaces: Vec<InterfaceInfo>,
    dhcp: DhcpForm,
    document: String,
    effective: String,
    errors: Vec<FieldError>,
    /// The settings cannot be changed here; why.
    unavailable: Option<String>,
    /// An API key exists.
    has_api_key: bool,
    /// A key just created, shown this once.
    new_api_key: Option<String>,
}

impl SettingsPage {
    /// The problems about `key`, joined.
    fn error_for(&self, key: &str) -> String {
        self.errors.iter().filter(|e| e.field == key).map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ")
    }

    /// The problems no field shows.
    fn other_errors(&self) -> Vec<&str> {
        let shown = ["dhcp.interface", "dhcp.range", "dhcp.boot"];
        self.errors.iter().filter(|e| !shown.contains(&e.field.as_ref())).map(|e| e.message.as_str()).collect()
    }

    fn locked_by(&self, key: &str) -> Option<&str> {
        self.locked.iter().find(|l| l.key == key).map(|l| l.by.as_str())
    }
}

/// The few fields that set up DHCP.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DhcpForm {
    #[serde(default)]
    interface: String,
    #[serde(default)]
    range: String,
    #[serde(default)]
    boot: String,
}

impl DhcpForm {
    /// The form filled from the stored document (`dhcp.interface[0]`, `dhcp.range[0]`,
    /// `dhcp.boot`).
    fn from_stored(stored: &serde_json::Value) -> DhcpForm {
        let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
        let dhcp = &stored["dhcp"];
        DhcpForm { interface: text(&dhcp["interface"][0]), range: text(&dhcp["range"][0]), boot: text(&dhcp["boot"]) }
    }
}

async fn build(state: &WebState, caller: &Caller, dhcp: Option<DhcpForm>, document: Option<String>) -> SettingsPage {
    let layout = Layout::new(state, caller, "/settings", "Settings");
    let interfaces = state.control().interfaces().into_iter().filter(|i| i.name != "lo").collect();
    match state.control().settings().await {
        Ok(view) => SettingsPage {
            has_api_key: api_key::exists(state).await,
            new_api_key: None,
            layout,
            locked: view.locked.clone(),
            interfaces,
            dhcp: dhcp.unwrap_or_else(|| DhcpForm::from_stored(&view.stored)),
            document: document.unwrap_or_else(|| view.stored_toml.clone()),
            effective: view.effective_toml,
            errors: view
                .problems
                .iter()
                .map(|p| FieldError {
                    field: "settings".into(),
                    message: format!("the saved settings below do not apply any more: {}", p.message),
                })
                .collect(),
            unavailable: None,
        },
        Err(error) => SettingsPage {
            has_api_key: api_key::exists(state).await,
            new_api_key: None,
            layout,
            locked: Vec::new(),
            interfaces,
            dhcp: dhcp.unwrap_or_default(),
            document: document.unwrap_or_default(),
            effective: String::new(),
            errors: Vec::new(),
            unavailable: Some(apply_error(error).message()),
        },
    }
}

/// `GET /settings`.
pub(crate) async fn page(State(state): State<WebState>, caller: Caller) -> PageResult {
    Ok(render(&build(&state, &caller, None, None).await))
}

/// Apply `input`; on success back to the page with a message, otherwise the page again with
/// the problems and what was typed (`dhcp`, `document`).
async fn apply(
    state: &WebState,
    caller: &Caller,
    input: SettingsInput,
    dhcp: Option<DhcpForm>,
    document: Option<String>,
) -> PageResult {
    match state.control().apply_settings(input, caller.origin.clone()).await {
        Ok(_) => Ok(done(state, caller, "/settings", true, "Settings saved and applied.".to_owned())),
        Err(error) => {
            let error = apply_error(error);
            let mut page = build(state, caller, dhcp, document).await;
            let status = error.status();
            page.errors = match error {
                AppError::Invalid(fields) => fields,
                other => vec![FieldError { field: "settings".into(), message: other.message() }],
            };
            Ok(render_status(if status == StatusCode::OK { StatusCode::UNPROCESSABLE_ENTITY } else { status }, &page))
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct DocumentForm {
    #[serde(default)]
    document: String,
}

/// `POST /settings` with the whole document as TOML (field `document`).
pub(crate) async fn save(State(state): State<WebState>, caller: Caller, Form(form): Form<DocumentForm>) -> PageResult {
    let input = SettingsInput::Toml(form.document.clone());
    apply(&state, &caller, input, None, Some(form.document)).await
}

/// `POST /settings/dhcp`: the DHCP fields over the stored document.
pub(crate) async fn set_up_dhcp(
    State(state): State<WebState>,
    caller: Caller,
    Form(form): Form<DhcpForm>,
) -> PageResult {
    let stored: SettingsView = match state.control().settings().await {
        Ok(view) => view,
        Err(error) => return Err(apply_error(error).into()),
    };
    if !stored.problems.is_empty() {
        // The form would build on a document it cannot read: the whole document first.
        let mut page = build(&state, &caller, Some(form), None).await;
        page.errors = stored
            .problems
            .into_iter()
            .map(|p| FieldError {
                field: "settings".into(),
                message: format!("the saved settings do not apply: {}", p.message),
            })
            .collect();
        return Ok(render_status(StatusCode::CONFLICT, &page));
    }
    let mut document = stored.stored;
    if !document.is_object() {
        document = serde_json::json!({});
    }
    let dhcp = document.as_object_mut().expect("an object").entry("dhcp").or_insert_with(|| serde_json::json!({}));
    if let Some(dhcp) = dhcp.as_object_mut() {
        // The form shows a list's first entry: it replaces that one and keeps the others.
        let list = |old: Option<&serde_json::Value>, text: &str| {
            let mut items: Vec<serde_json::Value> = old.and_then(|v| v.as_array().cloned()).unwrap_or_default();
            let text = text.trim();
            match (text.is_empty(), items.is_empty()) {
                (true, false) => {
                    items.remove(0);
                }
                (true, true) => {}
                (false, false) => items[0] = text.into(),
                (false, true) => items.push(text.into()),
            }
            if items.is_empty() { serde_json::Value::Null } else { serde_json::Value::Array(items) }
        };
        let interfaces = list(dhcp.get("interface"), &form.interface);
        let ranges = list(dhcp.get("range"), &form.range);
        dhcp.insert("interface".into(), interfaces);
        dhcp.insert("range".into(), ranges);
        let boot = form.boot.trim();
        dhcp.insert("boot".into(), if boot.is_empty() { serde_json::Value::Null } else { boot.into() });
    }
    apply(&state, &caller, SettingsInput::Json(document), Some(form), None).await
}

/// `POST /settings/api-key`: a new API key, shown on the page this once.
pub(crate) async fn create_api_key(State(state): State<WebState>, caller: Caller) -> PageResult {
    let key = actions::create_api_key(&state, &caller).await?;
    let mut page = build(&state, &caller, None, None).await;
    page.new_api_key = Some(key);
    page.has_api_key = true;
    Ok(render(&page))
}

/// `POST /settings/api-key/delete`.
pub(crate) async fn revoke_api_key(State(state): State<WebState>, caller: Caller) -> PageResult {
    Ok(match actions::revoke_api_key(&state, &caller).await {
        Ok(()) => done(&state, &caller, "/settings", true, "API key revoked.".to_owned()),
        Err(error) => crate::pages::failed(&state, &caller, "/settings", error),
    })
}
