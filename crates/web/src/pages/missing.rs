//! The missing-files page: names devices asked for and did not get, the one-click alias that
//! serves an image under such a name, and the list of aliases.

use askama::Template;
use axum::Form;
use axum::extract::State;
use serde::Deserialize;

use crate::actions;
use crate::format;
use crate::guard::Caller;
use crate::pages::hosts::image_names;
use crate::pages::{Layout, PageResult, done, failed, render};
use crate::state::WebState;

/// How many missing names the page lists.
const LIMIT: u32 = 200;

pub(crate) struct MissingRow {
    requested: String,
    count: u64,
    time: String,
    ago: String,
    client: String,
    mac: String,
}

pub(crate) struct AliasRow {
    name: String,
    file: String,
    created: String,
    /// From the configuration: shown, not removable here.
    configured: bool,
    /// The file is not there (known for the configuration's aliases).
    missing: bool,
}

#[derive(Template)]
#[template(path = "missing.html")]
struct MissingPage {
    layout: Layout,
    missing: Vec<MissingRow>,
    aliases: Vec<AliasRow>,
    images: Vec<String>,
}

/// `GET /missing`.
pub(crate) async fn page(State(state): State<WebState>, caller: Caller) -> PageResult {
    let now = state.now_ms();
    let missing = state
        .store()
        .missing_files(LIMIT)
        .await?
        .into_iter()
        .map(|m| MissingRow {
            time: format::time(m.last_at),
            ago: format::relative(m.last_at, now),
            client: m.last_client.to_string(),
            mac: m.last_mac.unwrap_or_default(),
            count: m.count,
            requested: m.requested,
        })
        .collect();
    let aliases = state.store().aliases().await?.into_iter().map(|a| AliasRow {
        created: format::time(a.created_at),
        name: a.name,
        file: a.file,
        configured: false,
        missing: false,
    });
    let configured = state.control().configured_aliases().into_iter().map(|a| AliasRow {
        created: String::new(),
        missing: !a.exists,
        name: a.name,
        file: a.file,
        configured: true,
    });
    let aliases = configured.chain(aliases).collect();
    let page = MissingPage {
        layout: Layout::new(&state, &caller, "/missing", "Missing files"),
        missing,
        aliases,
        images: image_names(&state).await,
    };
    Ok(render(&page))
}

#[derive(Debug, Deserialize)]
pub(crate) struct AliasForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    file: String,
}

/// `POST /aliases` with fields `name` and `file`.
pub(crate) async fn add(State(state): State<WebState>, caller: Caller, Form(form): Form<AliasForm>) -> PageResult {
    Ok(match actions::add_alias(&state, &caller, &form.name, &form.file).await {
        Ok(()) => done(&state, &caller, "/missing", true, format!("{} is now served as {}.", form.file, form.name)),
        Err(error) => failed(&state, &caller, "/missing", error),
    })
}

/// `POST /aliases/delete` with field `name`.
pub(crate) async fn delete(State(state): State<WebState>, caller: Caller, Form(form): Form<AliasForm>) -> PageResult {
    Ok(match actions::delete_alias(&state, &caller, &form.name).await {
        Ok(()) => done(&state, &caller, "/missing", true, format!("Alias {} removed.", form.name)),
        Err(error) => failed(&state, &caller, "/missing", error),
    })
}
