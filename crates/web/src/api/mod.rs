//! The JSON API under `/api/v1`: everything the pages can do, for scripts.
//!
//! **Invariant:** every answer is JSON, errors included (`{"error": "..."}` with the status
//! code that fits, plus `fields` for invalid input); state-changing calls need the session's
//! CSRF token (`X-CSRF-Token`) unless they carry the bearer token.

mod addresses;
mod boot_profiles;
mod extract;
mod health;
mod hosts;
mod images;
mod instances;
mod lists;
mod recovery;
mod services;
mod settings;

use axum::Router;
use axum::routing::{get, post, put};

use crate::live;
use crate::state::WebState;

pub(crate) use extract::{ApiJson, ApiPath, ApiQuery};

/// The routes below `/api/v1`.
pub(crate) fn routes() -> Router<WebState> {
    Router::new()
        .route("/health", get(health::check))
        .route("/openapi.json", get(openapi))
        .route("/session", get(services::session))
        .route("/services", get(services::list))
        .route("/services/{service}/{action}", post(services::switch))
        .route("/instances", get(instances::list))
        .route("/instances/{name}/services/{service}/{action}", post(instances::switch))
        .route("/interfaces", get(services::interfaces))
        .route("/leases", get(lists::leases))
        .route("/leases/{address}", axum::routing::delete(lists::release_lease))
        .route("/dhcp/requests", get(lists::dhcp_requests))
        .route("/addresses/wanted", get(lists::wanted_addresses))
        .route("/addresses/claims", get(addresses::list).post(addresses::claim))
        .route("/addresses/claims/{address}", axum::routing::delete(addresses::release))
        .route("/doctor", get(recovery::doctor))
        .route("/profiles", get(recovery::profiles))
        .route("/recovery", get(recovery::view).post(recovery::start).delete(recovery::cancel))
        .route("/transfers", get(lists::transfers))
        .route("/transfers/live", get(lists::live))
        .route("/transfers/live/stream", get(live::stream))
        .route("/missing", get(lists::missing))
        .route("/events", get(lists::events))
        .route("/hosts", get(hosts::list).post(hosts::create))
        .route("/hosts/{id}", get(hosts::one).put(hosts::update).delete(hosts::delete))
        .route("/aliases", get(hosts::aliases).post(hosts::add_alias))
        .route("/reservations", get(hosts::reservations))
        .route("/boot-profiles", get(boot_profiles::list))
        .route("/boot-profiles/{name}", get(boot_profiles::one).put(boot_profiles::put).delete(boot_profiles::delete))
        .route("/aliases/{*name}", axum::routing::delete(hosts::delete_alias))
        .route("/settings", get(settings::get).put(settings::put))
        .route("/settings/export", get(settings::export))
        .route("/settings/import", put(settings::import))
        .route("/api-key", post(settings::create_api_key).delete(settings::revoke_api_key))
        .route("/images", get(images::list))
        .route("/armed-image", get(images::armed).put(images::arm).delete(images::disarm))
        .route("/images/{*name}", put(images::upload).delete(images::delete))
        .route("/fleet/images", get(images::fleet))
}

/// The OpenAPI 3.1 description of these routes (`crates/web/openapi/api-v1.json`, checked
/// against the running API by `tests/tests/api_schema.rs` with schemathesis).
pub(crate) const OPENAPI: &str = include_str!("../../openapi/api-v1.json");

/// `GET /api/v1/openapi.json`.
async fn openapi() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}
