//! The dashboard of lifeboat: server-rendered pages, a JSON API under `/api/v1`, Prometheus
//! metrics and a Server-Sent Events stream of live transfers, over the store and the running
//! services.
//!
//! **Invariant:** this crate holds no protocol logic and no SQL. It reads and changes the world
//! through two doors only: the [`lifeboat_store::Store`] (hosts, aliases, image digests,
//! history, events) and the [`Control`] trait that the binary implements (services, leases, live
//! transfers, counters). Every request passes the gate in [`guard`] first; a dashboard without a
//! password or token listens on loopback only ([`check_listen`]).
//!
//! Map:
//! - [`config`]: [`WebConfig`], [`Auth`], [`check_listen`].
//! - [`control`]: the [`Control`] trait and the data it returns; `recovery`: the recovery
//!   assistant's part of it (profiles, the doctor's checks).
//! - `state`: [`WebState`], shared by every handler.
//! - `guard`: authentication (session, token, loopback), same-origin and CSRF checks.
//! - `session`, `password`, `throttle`: sessions and cookies, argon2 hashes, login slow-down.
//! - `pages`: the HTML pages (askama templates in `web/templates`); `assets`: `web/static`,
//!   compiled in.
//! - `api`: the JSON API; `live`: the SSE stream; `metrics`: `/metrics`.
//! - `actions`: the changes pages and API share (hosts, aliases, images, services), each
//!   recorded as an event; `host_input`, `history`: checking what people type.
//! - `images`, `digests`: files under the TFTP root and their cached SHA-256; `fleet_images`:
//!   which instances of a fleet hold each image, and whether the copies match.
//! - `headers`: CSP, frame and sniffing protection.

mod actions;
mod api;
mod api_key;
mod assets;
mod boot_profile_input;
pub mod config;
pub mod control;
mod digests;
mod error;
mod fleet_images;
mod format;
#[doc(hidden)]
pub mod fuzzing;
mod guard;
mod headers;
mod health;
mod history;
mod host_input;
mod images;
mod labels;
mod live;
mod metrics;
mod pages;
mod password;
mod recovery;
mod redact;
mod session;
mod settings;
mod state;
mod throttle;

use std::future::IntoFuture;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use api_key::API_KEY_SETTING;
pub use config::{Auth, DEFAULT_MAX_UPLOAD, WebConfig, check_listen};
pub use control::{
    AddressClaim, BoxFuture, ClaimError, ClaimedAddressView, ConfiguredAlias, ConfiguredReservation, Control,
    ControlError, DhcpExchange, FleetError, InstanceView, InterfaceInfo, LeaseView, LiveTransfer, Lock, Metrics,
    Service, ServiceStatus, SettingsError, SettingsInput, SettingsProblem, SettingsView, UnknownService,
    WantedAddressView,
};
pub use error::{FieldError, WebError};
pub use fleet_images::keep_digests_current;
pub use pages::login::LOCKOUT_SETTING;
pub use pages::settings_fields::shown_keys as settings_page_keys;
pub use password::{generate_token, hash_password};
pub use recovery::{
    CheckVerdict, DoctorCheck, DoctorRequest, ProfileChoice, RecoveryError, RecoveryLine, RecoveryPhase,
    RecoveryRequest, RecoveryStep, RecoveryView,
};
pub use state::WebState;

use crate::error::{ApiError, AppError};
use crate::pages::PageError;

/// How long [`serve`] lets open requests finish after shutdown was asked (live streams never
/// finish by themselves). Short: a container runtime gives a stopping process a few seconds
/// before it kills it, and lifeboat means to be done within 2.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// The dashboard's routes over `state`, with the gate and the security headers.
pub fn router(state: WebState) -> Router {
    use pages::recovery as recovery_page;
    use pages::{
        addresses, boot_profiles, doctor, events, hosts, images, instances, leases, login, missing, overview, services,
        settings, transfers,
    };
    let routes = Router::new()
        .route("/", get(overview::page))
        .route("/transfers", get(transfers::page))
        .route("/hosts", get(hosts::list).post(hosts::create))
        .route("/hosts/{id}", get(hosts::edit).post(hosts::update))
        .route("/hosts/{id}/delete", post(hosts::delete))
        .route("/boot-profiles", post(boot_profiles::create))
        .route("/boot-profiles/{name}", get(boot_profiles::edit).post(boot_profiles::update))
        .route("/boot-profiles/{name}/delete", post(boot_profiles::delete))
        .route("/images", get(images::page))
        .route("/images/delete", post(images::delete))
        .route("/images/arm", post(images::arm))
        .route("/images/disarm", post(images::disarm))
        .route("/leases", get(leases::page))
        .route("/leases/{address}/release", post(leases::release))
        .route("/addresses/claim", post(addresses::claim))
        .route("/addresses/release", post(addresses::release))
        .route("/missing", get(missing::page))
        .route("/aliases", post(missing::add))
        .route("/aliases/delete", post(missing::delete))
        .route("/events", get(events::page))
        .route("/instances", get(instances::page))
        .route("/instances/{name}/services/{service}/{action}", post(instances::switch))
        .route("/doctor", get(doctor::page))
        .route("/recovery", get(recovery_page::page))
        .route("/recovery/start", post(recovery_page::start))
        .route("/recovery/cancel", post(recovery_page::cancel))
        .route("/settings", get(settings::page).post(settings::save))
        .route("/settings/dhcp", post(settings::set_up_dhcp))
        .route("/settings/fields/{table}", post(settings::save_fields))
        .route("/settings/api-key", post(settings::create_api_key))
        .route("/settings/api-key/delete", post(settings::revoke_api_key))
        .route("/services/{service}/{action}", post(services::switch))
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/metrics", get(metrics::metrics))
        .route("/static/{file}", get(assets::asset))
        .nest("/api/v1", api::routes())
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), guard::gate));
    headers::secure(routes).with_state(state)
}

async fn not_found(request: Request) -> Response {
    let path = request.uri().path();
    let error = AppError::NotFound(format!("nothing at {path}"));
    if guard::is_api(path) { ApiError(error).into_response() } else { PageError(error).into_response() }
}

/// Serve `router` on `listener` until `shutdown` is cancelled; then give open requests a
/// moment and return. Clients' addresses reach the handlers (for events and the login
/// slow-down).
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) -> io::Result<()> {
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned()).into_future();
    tokio::select! {
        result = server => result,
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => Ok(()),
    }
}
