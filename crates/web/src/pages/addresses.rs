//! The overview's address buttons: "answer at" a wanted address, and give one back.

use std::net::Ipv4Addr;

use axum::Form;
use axum::extract::State;
use serde::Deserialize;

use crate::actions;
use crate::control::AddressClaim;
use crate::guard::Caller;
use crate::pages::{PageResult, done, failed};
use crate::state::WebState;

/// `POST /addresses/claim` (interface, address, prefix).
pub(crate) async fn claim(
    State(state): State<WebState>,
    caller: Caller,
    Form(claim): Form<AddressClaim>,
) -> PageResult {
    Ok(match actions::claim_address(&state, &caller, claim).await {
        Ok(claimed) => done(
            &state,
            &caller,
            "/",
            true,
            format!(
                "{}/{} is on {}: the device can reach lifeboat there.",
                claimed.address, claimed.prefix, claimed.interface
            ),
        ),
        Err(error) => failed(&state, &caller, "/", error),
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReleaseForm {
    address: Ipv4Addr,
}

/// `POST /addresses/release` (address).
pub(crate) async fn release(
    State(state): State<WebState>,
    caller: Caller,
    Form(form): Form<ReleaseForm>,
) -> PageResult {
    Ok(match actions::release_address(&state, &caller, form.address).await {
        Ok(()) => done(&state, &caller, "/", true, format!("{} removed from its interface.", form.address)),
        Err(error) => failed(&state, &caller, "/", error),
    })
}
