//! The settings page: set up DHCP in a few fields (interface, range, boot file), set any TFTP
//! key and the other DHCP keys field by field (`settings_fields.rs`), or edit the whole
//! document the dashboard stores (the configuration file's shape, as TOML); what the
//! command line and the environment set is shown locked. Saving applies at once (see
//! `Control::apply_settings`); a refusal is shown on the page, next to what it concerns, with
//! what was typed kept.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::actions;
use crate::api_key;
use crate::control::{InterfaceInfo, Lock, SettingsInput, SettingsView};
use crate::error::{AppError, FieldError};
use crate::guard::Caller;
use crate::pages::settings_fields::{self, FieldKind, SECTIONS, SectionSpec};
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
    sections: Vec<SectionView>,
    document: String,
    effective: String,
    errors: Vec<FieldError>,
    /// The problems belong to the whole document (its form came back): all shown above it,
    /// none next to the fields of the other forms.
    errors_at_top: bool,
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
        if self.errors_at_top {
            return String::new();
        }
        self.errors.iter().filter(|e| e.field == key).map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ")
    }

    /// The problems no field shows.
    fn other_errors(&self) -> Vec<&str> {
        if self.errors_at_top {
            return self.errors.iter().map(|e| e.message.as_str()).collect();
        }
        let shown: Vec<String> = ["dhcp.interface", "dhcp.range", "dhcp.boot"]
            .map(str::to_owned)
            .into_iter()
            .chain(settings_fields::shown_keys())
            .collect();
        self.errors
            .iter()
            .filter(|e| !shown.iter().any(|k| k == e.field.as_ref()))
            .map(|e| e.message.as_str())
            .collect()
    }

    fn locked_by(&self, key: &str) -> Option<&str> {
        self.locked.iter().find(|l| l.key == key).map(|l| l.by.as_str())
    }
}

/// The few fields that set up DHCP.
#[derive(Debug, Clone, Default, Deserialize)]
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

/// A section of fields, as the page shows it.
struct SectionView {
    table: &'static str,
    title: &'static str,
    fields: Vec<FieldView>,
}

/// One field: its key, what it holds and what is in effect.
struct FieldView {
    /// `tftp.max_blksize`: the form field's name.
    key: String,
    /// The element's id (`tftp-max_blksize`: no dot, which CSS selectors would need escaped).
    id: String,
    label: &'static str,
    hint: &'static str,
    /// `text`, `number`, `switch`, `lines` or `pairs`.
    kind: &'static str,
    /// What the dashboard's settings hold (or what was typed, when the form comes back).
    value: String,
    /// What is in effect now, shown when the field is empty.
    in_effect: String,
}

impl SectionView {
    /// The section's fields from the stored and the effective document; `typed` (a form that
    /// came back) wins over the stored values.
    fn new(
        spec: &SectionSpec,
        stored: &serde_json::Value,
        effective: &serde_json::Value,
        typed: &[(String, String)],
    ) -> SectionView {
        let fields = spec
            .fields
            .iter()
            .map(|field| {
                let key = format!("{}.{}", spec.table, field.name);
                let value = typed.iter().find(|(name, _)| *name == key).map_or_else(
                    || settings_fields::field_text(field.kind, &stored[spec.table][field.name]),
                    |(_, text)| text.clone(),
                );
                let in_effect = settings_fields::field_text(field.kind, &effective[spec.table][field.name]);
                FieldView {
                    id: key.replace('.', "-"),
                    key,
                    label: field.label,
                    hint: field.hint,
                    kind: match field.kind {
                        FieldKind::Text => "text",
                        FieldKind::Number => "number",
                        FieldKind::Switch => "switch",
                        FieldKind::Lines => "lines",
                        FieldKind::Pairs => "pairs",
                    },
                    value,
                    in_effect,
                }
            })
            .collect();
        SectionView { table: spec.table, title: spec.title, fields }
    }
}

/// What a form that comes back with problems keeps of what was typed.
#[derive(Default)]
struct Typed {
    dhcp: Option<DhcpForm>,
    document: Option<String>,
    fields: Vec<(String, String)>,
}

async fn build(state: &WebState, caller: &Caller, typed: Typed) -> SettingsPage {
    let Typed { dhcp, document, fields } = typed;
    let errors_at_top = document.is_some();
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
            sections: SECTIONS
                .iter()
                .map(|spec| SectionView::new(spec, &view.stored, &view.effective, &fields))
                .collect(),
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
            errors_at_top,
            unavailable: None,
        },
        Err(error) => SettingsPage {
            has_api_key: api_key::exists(state).await,
            new_api_key: None,
            layout,
            locked: Vec::new(),
            interfaces,
            dhcp: dhcp.unwrap_or_default(),
            sections: Vec::new(),
            document: document.unwrap_or_default(),
            effective: String::new(),
            errors: Vec::new(),
            errors_at_top,
            unavailable: Some(apply_error(error).message()),
        },
    }
}

/// `GET /settings`.
pub(crate) async fn page(State(state): State<WebState>, caller: Caller) -> PageResult {
    Ok(render(&build(&state, &caller, Typed::default()).await))
}

/// Apply `input`; on success back to the page with a message, otherwise the page again with
/// the problems and what was typed.
async fn apply(state: &WebState, caller: &Caller, input: SettingsInput, typed: Typed) -> PageResult {
    match state.control().apply_settings(input, caller.origin.clone()).await {
        Ok(_) => Ok(done(state, caller, "/settings", true, "Settings saved and applied.".to_owned())),
        Err(error) => {
            let error = apply_error(error);
            let mut page = build(state, caller, typed).await;
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
    apply(&state, &caller, input, Typed { document: Some(form.document), ..Typed::default() }).await
}

/// `POST /settings/dhcp`: the DHCP fields over the stored document.
pub(crate) async fn set_up_dhcp(
    State(state): State<WebState>,
    caller: Caller,
    Form(form): Form<DhcpForm>,
) -> PageResult {
    let mut document =
        match stored_document(&state, &caller, || Typed { dhcp: Some(form.clone()), ..Typed::default() }).await {
            Ok(document) => document,
            Err(page) => return page,
        };
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
    apply(&state, &caller, SettingsInput::Json(document), Typed { dhcp: Some(form), ..Typed::default() }).await
}

/// `POST /settings/fields/{table}`: one section's fields over the stored document.
pub(crate) async fn save_fields(
    State(state): State<WebState>,
    caller: Caller,
    Path(table): Path<String>,
    Form(posted): Form<Vec<(String, String)>>,
) -> PageResult {
    let Some(section) = settings_fields::section(&table) else {
        return Err(AppError::NotFound(format!("there is no settings section {table:?}")).into());
    };
    let typed = || Typed { fields: posted.clone(), ..Typed::default() };
    let stored = match stored_document(&state, &caller, typed).await {
        Ok(document) => document,
        Err(page) => return page,
    };
    match settings_fields::merge(section, &posted, stored) {
        Ok(document) => apply(&state, &caller, SettingsInput::Json(document), typed()).await,
        Err(problems) => {
            let mut page = build(&state, &caller, typed()).await;
            page.errors = problems;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

/// The stored document, for a form to change; or, when it does not apply any more (the file
/// or the command line changed since), the page saying so with what was typed (`typed`): a
/// form must not build on a document it cannot read. The whole document is fixed first.
async fn stored_document(
    state: &WebState,
    caller: &Caller,
    typed: impl FnOnce() -> Typed,
) -> Result<serde_json::Value, PageResult> {
    let view: SettingsView = match state.control().settings().await {
        Ok(view) => view,
        Err(error) => return Err(Err(apply_error(error).into())),
    };
    if view.problems.is_empty() {
        return Ok(view.stored);
    }
    let mut page = build(state, caller, typed()).await;
    page.errors = view
        .problems
        .into_iter()
        .map(|p| FieldError {
            field: "settings".into(),
            message: format!("the saved settings do not apply: {}", p.message),
        })
        .collect();
    Err(Ok(render_status(StatusCode::CONFLICT, &page)))
}

/// `POST /settings/api-key`: a new API key, shown on the page this once.
pub(crate) async fn create_api_key(State(state): State<WebState>, caller: Caller) -> PageResult {
    let key = actions::create_api_key(&state, &caller).await?;
    let mut page = build(&state, &caller, Typed::default()).await;
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
