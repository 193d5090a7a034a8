//! Security headers on every response.
//!
//! **Invariant:** pages run no inline script or style and cannot be framed; responses are not
//! sniffed into another type; the `?token=` of a link never leaks through `Referer` to another
//! site; and nothing but the static files is cached.

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use tower_http::set_header::SetResponseHeaderLayer;

/// Scripts and styles only from the dashboard's own static files.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                              connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `same-origin`, not `no-referrer`: under `no-referrer` Chromium sends `Origin: null` with the
/// dashboard's own form posts, which the cross-site check must refuse (a real browser could then
/// submit no form at all). `same-origin` still sends nothing to other sites.
pub(crate) const REFERRER: &str = "same-origin";

/// Add the headers to every response of `router` that does not set them itself.
pub(crate) fn secure<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(SetResponseHeaderLayer::overriding(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .layer(SetResponseHeaderLayer::overriding(X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(REFERRER_POLICY, HeaderValue::from_static(REFERRER)))
        .layer(SetResponseHeaderLayer::if_not_present(CACHE_CONTROL, HeaderValue::from_static("no-store")))
}
