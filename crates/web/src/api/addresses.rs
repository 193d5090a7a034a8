//! `/api/v1/addresses/claims`: the addresses lifeboat takes on an interface to answer where a
//! device looks for its server.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::actions;
use crate::api::{ApiJson, ApiPath};
use crate::control::{AddressClaim, ClaimedAddressView};
use crate::error::ApiResult;
use crate::guard::Caller;
use crate::state::WebState;

#[derive(Serialize)]
pub(crate) struct ClaimJson {
    interface: String,
    address: String,
    prefix: u8,
    since: i64,
}

impl From<ClaimedAddressView> for ClaimJson {
    fn from(view: ClaimedAddressView) -> Self {
        ClaimJson {
            interface: view.interface,
            address: view.address.to_string(),
            prefix: view.prefix,
            since: view.since,
        }
    }
}

/// `GET /api/v1/addresses/claims`.
pub(crate) async fn list(State(state): State<WebState>) -> Json<Vec<ClaimJson>> {
    Json(state.control().claimed_addresses().await.into_iter().map(ClaimJson::from).collect())
}

/// `POST /api/v1/addresses/claims`: 201 once the address is on the interface.
pub(crate) async fn claim(
    State(state): State<WebState>,
    caller: Caller,
    ApiJson(claim): ApiJson<AddressClaim>,
) -> ApiResult<(StatusCode, Json<ClaimJson>)> {
    let claimed = actions::claim_address(&state, &caller, claim).await?;
    Ok((StatusCode::CREATED, Json(claimed.into())))
}

/// `DELETE /api/v1/addresses/claims/{address}`: 204, or 404 when lifeboat holds no such address.
pub(crate) async fn release(
    State(state): State<WebState>,
    caller: Caller,
    ApiPath(address): ApiPath<std::net::Ipv4Addr>,
) -> ApiResult<StatusCode> {
    actions::release_address(&state, &caller, address).await?;
    Ok(StatusCode::NO_CONTENT)
}
