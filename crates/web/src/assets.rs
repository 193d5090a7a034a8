//! The static files of the dashboard (stylesheet, script, icon), compiled into the binary so it
//! runs from any directory.
//!
//! **Invariant:** only the files listed here are served; a name is looked up, never joined to
//! a path.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

/// Name, contents, content type.
const FILES: [(&str, &[u8], &str); 3] = [
    ("style.css", include_bytes!("../../../web/static/style.css"), "text/css; charset=utf-8"),
    ("app.js", include_bytes!("../../../web/static/app.js"), "text/javascript; charset=utf-8"),
    ("favicon.svg", include_bytes!("../../../web/static/favicon.svg"), "image/svg+xml"),
];

/// `GET /static/{name}`. Pages link them with `?v=VERSION`, so they may be cached for a while.
pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(file, _, _)| *file == name) {
        Some((_, bytes, content_type)) => {
            ([(CONTENT_TYPE, *content_type), (CACHE_CONTROL, "public, max-age=3600")], *bytes).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}
