//! `/api/v1/images`: list, upload (`PUT` with the file as the body), delete.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;

use crate::actions;
use crate::api::ApiPath;
use crate::digests;
use crate::error::ApiResult;
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
