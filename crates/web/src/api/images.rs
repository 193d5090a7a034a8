//! `/api/v1/images`: list, upload (`PUT` with the file as the body), delete; and
//! `/api/v1/armed-image`: the image a device asking for a missing file gets.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use crate::actions;
use crate::api::{ApiJson, ApiPath};
use crate::digests;
use crate::error::ApiResult;
use crate::fleet_images::{self, FleetImage};
use crate::guard::Caller;
use crate::state::WebState;

#[derive(Serialize)]
pub(crate) struct ImageJson {
    file: String,
    size: u64,
    modified_ns: i64,
    /// `null` while it is being computed.
    sha256: Option<String>,
    added_at: Option<i64>,
    in_use: bool,
}

/// `GET /api/v1/images`.
pub(crate) async fn list(State(state): State<WebState>) -> ApiResult<Json<Vec<ImageJson>>> {
    let images = digests::list_images(&state).await?;
    Ok(Json(
        images
            .into_iter()
            .map(|i| ImageJson {
                file: i.file.file,
                size: i.file.size,
                modified_ns: i.file.modified_ns,
                sha256: i.sha256,
                added_at: i.added_at,
                in_use: i.in_use,
            })
            .collect(),
    ))
}

#[derive(Serialize)]
pub(crate) struct FleetImageJson {
    file: String,
    /// Every copy has the same SHA-256.
    matches: bool,
    copies: Vec<CopyJson>,
    /// Instances up now without a (hashed) copy.
    missing_on: Vec<String>,
}

#[derive(Serialize)]
pub(crate) struct CopyJson {
    instance: String,
    size: u64,
    sha256: String,
}

impl From<FleetImage> for FleetImageJson {
    fn from(image: FleetImage) -> FleetImageJson {
        FleetImageJson {
            file: image.file,
            matches: image.matches,
            copies: image
                .copies
                .into_iter()
                .map(|c| CopyJson { instance: c.instance, size: c.size, sha256: c.sha256 })
                .collect(),
            missing_on: image.missing_on,
        }
    }
}

/// `GET /api/v1/fleet/images`: each image of every instance's TFTP root, who holds it, and
/// whether the copies match.
pub(crate) async fn fleet(State(state): State<WebState>) -> ApiResult<Json<Vec<FleetImageJson>>> {
    let images = fleet_images::list(&state).await?;
    Ok(Json(images.into_iter().map(FleetImageJson::from).collect()))
}

#[derive(Serialize)]
pub(crate) struct UploadedJson {
    file: String,
    size: u64,
    sha256: String,
    replaced: bool,
}

/// `PUT /api/v1/images/{name}`: 201 for a new file, 200 for a replaced one; 413 past the upload
/// limit, 409 while a transfer uses the file.
pub(crate) async fn upload(
    State(state): State<WebState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<UploadedJson>)> {
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let uploaded = actions::upload_image(&state, &caller, &name, declared, body).await?;
    let status = if uploaded.replaced { StatusCode::OK } else { StatusCode::CREATED };
    let json = UploadedJson {
        file: uploaded.file.file,
        size: uploaded.file.size,
        sha256: uploaded.sha256,
        replaced: uploaded.replaced,
    };
    Ok((status, Json(json)))
}

/// `DELETE /api/v1/images/{name}`: 204.
pub(crate) async fn delete(
    State(state): State<WebState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    actions::delete_image(&state, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub(crate) struct ArmedJson {
    /// The armed image, relative to the TFTP root; `null` when none is.
    file: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct ArmBody {
    file: String,
}

/// `GET /api/v1/armed-image`.
pub(crate) async fn armed(State(state): State<WebState>) -> Json<ArmedJson> {
    Json(ArmedJson { file: state.control().armed_image() })
}

/// `PUT /api/v1/armed-image` with `{"file": NAME}`: arms an image of the TFTP root.
pub(crate) async fn arm(
    State(state): State<WebState>,
    caller: Caller,
    ApiJson(body): ApiJson<ArmBody>,
) -> ApiResult<Json<ArmedJson>> {
    let file = actions::arm_image(&state, &caller, &body.file).await?;
    Ok(Json(ArmedJson { file: Some(file) }))
}

/// `DELETE /api/v1/armed-image`: 204, or 404 when none is armed.
pub(crate) async fn disarm(State(state): State<WebState>, caller: Caller) -> ApiResult<StatusCode> {
    actions::disarm_image(&state, &caller)?;
    Ok(StatusCode::NO_CONTENT)
}
