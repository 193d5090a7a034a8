//! The HTML pages: a shared [`Layout`] (navigation, CSRF token, one-shot messages), rendering,
//! the error page, and one module per page.
//!
//! **Invariant:** pages are rendered by askama, which escapes every value; a form that changes
//! something answers with a redirect (303) and a one-shot message, so reloading never repeats it.

pub(crate) mod addresses;
pub(crate) mod boot_profiles;
pub(crate) mod doctor;
pub(crate) mod events;
pub(crate) mod form_problems;
pub(crate) mod hosts;
pub(crate) mod images;
pub(crate) mod instances;
pub(crate) mod leases;
pub(crate) mod login;
pub(crate) mod missing;
pub(crate) mod overview;
pub(crate) mod recovery;
pub(crate) mod services;
pub(crate) mod settings;
pub(crate) mod settings_fields;
pub(crate) mod transfers;

use askama::Template;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{Html, IntoResponse, Response};

use crate::config::Auth;
use crate::error::AppError;
use crate::guard::Caller;
use crate::session::Flash;
use crate::state::WebState;

/// The pages in the navigation bar.
const PAGES: [(&str, &str); 11] = [
    ("/", "Overview"),
    ("/transfers", "Transfers"),
    ("/hosts", "Hosts"),
    ("/images", "Images"),
    ("/recovery", "Recovery"),
    ("/missing", "Missing files"),
    ("/leases", "Leases"),
    ("/events", "Events"),
    ("/instances", "Instances"),
    ("/doctor", "Doctor"),
    ("/settings", "Settings"),
];

/// One link of the navigation bar.
pub(crate) struct NavItem {
    pub(crate) href: &'static str,
    pub(crate) label: &'static str,
    pub(crate) active: bool,
}

/// What `base.html` needs.
pub(crate) struct Layout {
    pub(crate) title: String,
    pub(crate) csrf: String,
    pub(crate) nav: Vec<NavItem>,
    pub(crate) flash: Option<Flash>,
    pub(crate) logout: bool,
    pub(crate) version: &'static str,
    /// Red banners: things a person must act on ([`crate::Control::alerts`]).
    pub(crate) alerts: Vec<String>,
}

impl Layout {
    /// The layout of page `active` (its path) for `caller`; takes the caller's one-shot message.
    pub(crate) fn new(state: &WebState, caller: &Caller, active: &str, title: &str) -> Layout {
        let flash = caller.session_id().and_then(|id| state.sessions().take_flash(id));
        let logged_in = caller.session.as_ref().is_some_and(|s| s.logged_in);
        Layout {
            title: title.to_owned(),
            csrf: caller.csrf().to_owned(),
            nav: nav(active),
            flash,
            logout: logged_in && matches!(state.config().auth, Auth::Password { .. }),
            version: env!("CARGO_PKG_VERSION"),
            alerts: state.control().alerts(),
        }
    }

    /// A layout without session (error pages, the login page).
    pub(crate) fn bare(title: &str) -> Layout {
        Layout {
            title: title.to_owned(),
            csrf: String::new(),
            nav: nav(""),
            flash: None,
            logout: false,
            version: env!("CARGO_PKG_VERSION"),
            alerts: Vec::new(),
        }
    }
}

fn nav(active: &str) -> Vec<NavItem> {
    PAGES.iter().map(|&(href, label)| NavItem { href, label, active: href == active }).collect()
}

/// Render `template` as an HTML response with `status`.
pub(crate) fn render_status(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "dashboard: a page template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered; the lifeboat log says why")
                .into_response()
        }
    }
}

/// Render `template` as a 200 HTML response.
pub(crate) fn render(template: &impl Template) -> Response {
    render_status(StatusCode::OK, template)
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    layout: Layout,
    kind: &'static str,
    heading: String,
    text: String,
}

/// An error shown as a page.
#[derive(Debug)]
pub(crate) struct PageError(pub(crate) AppError);

impl<E: Into<AppError>> From<E> for PageError {
    fn from(error: E) -> Self {
        PageError(error.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let heading = match status {
            StatusCode::UNAUTHORIZED => "Not logged in",
            StatusCode::FORBIDDEN => "Refused",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::INTERNAL_SERVER_ERROR => "Something went wrong",
            _ => "That did not work",
        };
        let page = MessagePage {
            layout: Layout::bare(heading),
            kind: "error",
            heading: heading.into(),
            text: self.0.message(),
        };
        render_status(status, &page)
    }
}

/// The result of a page handler.
pub(crate) type PageResult = Result<Response, PageError>;

/// Leave `text` for the caller's next page and send them to `to` (303).
pub(crate) fn done(state: &WebState, caller: &Caller, to: &str, ok: bool, text: impl Into<String>) -> Response {
    if let Some(id) = caller.session_id() {
        state.sessions().set_flash(id, ok, text);
    }
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned())]).into_response()
}

/// The answer to a form whose action failed: back to `to` with the error, or the error page
/// when it is not something the person can fix there.
pub(crate) fn failed(state: &WebState, caller: &Caller, to: &str, error: AppError) -> Response {
    match error {
        AppError::Internal(_) => PageError(error).into_response(),
        error => done(state, caller, to, false, error.message()),
    }
}
