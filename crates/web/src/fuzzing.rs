//! Thin public doors to the dashboard's parsers of what people type, for the fuzz targets of
//! `crates/fuzz` (target `web_input`). Hidden from the documentation: nothing else may use them.

use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use lifeboat_store::{HostEntry, TransferFilter};

use crate::error::FieldError;
use crate::history::{self, HistoryQuery};
use crate::host_input::{self, HostInput};

/// The host form's fields as typed, checked without a TFTP root (so an image is always refused).
pub fn validate_host(
    mac: &str,
    name: &str,
    address: &str,
    image: &str,
    names: Vec<String>,
    notes: &str,
) -> Result<HostEntry, Vec<FieldError>> {
    let input = HostInput {
        mac: mac.to_owned(),
        name: name.to_owned(),
        address: address.to_owned(),
        image: image.to_owned(),
        names,
        boot_profile: String::new(),
        notes: notes.to_owned(),
    };
    host_input::validate(&input, host_input::ImageCheck::Root(None))
}

/// The names text area, split into names.
pub fn split_names(text: &str) -> Vec<String> {
    host_input::split_names(text)
}

/// The transfer history's query filter, `now` in Unix ms; the error as its debug text.
pub fn history_filter(fields: [&str; 5], now: i64) -> Result<TransferFilter, String> {
    query(fields).filter(now).map_err(|e| format!("{e:?}"))
}

/// The link to the history page with these filters and `before`.
pub fn history_link(fields: [&str; 5], before: Option<i64>) -> String {
    query(fields).link(before)
}

fn query([mac, file, outcome, since, until]: [&str; 5]) -> HistoryQuery {
    HistoryQuery {
        mac: mac.to_owned(),
        file: file.to_owned(),
        outcome: outcome.to_owned(),
        since: since.to_owned(),
        until: until.to_owned(),
        instance: String::new(),
        before: None,
        limit: None,
    }
}

/// A time filter of the history, `now` in Unix ms.
pub fn parse_time(text: &str, now: i64) -> Result<Option<i64>, String> {
    history::parse_time("since", text, now).map_err(|e| format!("{e:?}"))
}

/// An image name reduced to the form the store and the TFTP server use.
pub fn normalize_image_name(name: &str) -> Result<String, String> {
    crate::images::normalize_name(name)
}

/// A `next=` target that stays on this site.
pub fn safe_next(next: Option<&str>) -> String {
    crate::guard::safe_next(next)
}

/// The session id in these `Cookie` header values (values that are not valid in a header are
/// left out, as HTTP parsing would have refused them).
pub fn cookie_session_id(values: &[&[u8]]) -> Option<String> {
    let mut headers = HeaderMap::new();
    for value in values {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(COOKIE, value);
        }
    }
    crate::session::cookie_session_id(&headers)
}
