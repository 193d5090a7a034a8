//! The errors of the dashboard: [`WebError`] for the binary (configuration, hashing), and
//! [`AppError`] for requests, rendered as JSON under `/api/v1` and as a page elsewhere.
//!
//! **Invariant:** a response never carries internal details (paths of the database, driver
//! errors): those are logged, and the person gets a message that says what to do.

use std::net::SocketAddr;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lifeboat_store::StoreError;
use serde::Serialize;

use crate::control::{ControlError, UnknownService};

/// Why the dashboard cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(
        "refusing to serve the dashboard on {listen} without a password: anyone on that network could stop the \
         services and replace images; run `lifeboat passwd` to set one, or listen on 127.0.0.1"
    )]
    OpenWithoutPassword { listen: SocketAddr },

    #[error("the dashboard password hash is not a valid argon2 hash ({0}); run `lifeboat passwd` again")]
    BadPasswordHash(String),

    #[error("the password is empty; choose one with at least one character")]
    EmptyPassword,

    #[error("the dashboard token is too short; use at least 16 random characters")]
    WeakToken,

    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// One input field that is wrong, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The form field, or the settings key (`dhcp.range`).
    pub field: std::borrow::Cow<'static, str>,
    pub message: String,
}

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum AppError {
    BadRequest(String),
    /// A query string with fields that cannot be understood: a 400 (a query is not a form), with
    /// the fields at fault.
    BadQuery(Vec<FieldError>),
    Invalid(Vec<FieldError>),
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    Conflict(String),
    TooLarge(String),
    /// Something failed inside; logged where it happened, the message is for the person.
    Internal(String),
}

impl AppError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) | AppError::BadQuery(_) => StatusCode::BAD_REQUEST,
            AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// One line for the person.
    pub(crate) fn message(&self) -> String {
        match self {
            AppError::Invalid(fields) | AppError::BadQuery(fields) => {
                fields.iter().map(|f| f.message.as_str()).collect::<Vec<_>>().join("; ")
            }
            AppError::BadRequest(m)
            | AppError::Unauthorized(m)
            | AppError::Forbidden(m)
            | AppError::NotFound(m)
            | AppError::Conflict(m)
            | AppError::TooLarge(m)
            | AppError::Internal(m) => m.clone(),
        }
    }

    /// The error of an invalid single field.
    pub(crate) fn field(field: &'static str, message: impl Into<String>) -> AppError {
        AppError::Invalid(vec![FieldError { field: field.into(), message: message.into() }])
    }

    /// This error about the fields of a query string: invalid fields are a 400, not a 422.
    pub(crate) fn in_query(self) -> AppError {
        match self {
            AppError::Invalid(fields) => AppError::BadQuery(fields),
            other => other,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { what } => AppError::Conflict(what),
            error if error.is_unreachable() => {
                tracing::warn!(%error, "dashboard: database unreachable");
                AppError::Internal(
                    "the shared database does not answer: TFTP goes on, and DHCP answers the clients it knows; \
                     this page works again once PostgreSQL answers (the lifeboat log says why it does not)"
                        .into(),
                )
            }
            error => {
                tracing::error!(%error, "dashboard: database error");
                AppError::Internal("the database failed; the lifeboat log says why".into())
            }
        }
    }
}

impl From<UnknownService> for AppError {
    fn from(error: UnknownService) -> Self {
        AppError::NotFound(error.to_string())
    }
}

impl From<crate::control::ClaimError> for AppError {
    fn from(error: crate::control::ClaimError) -> Self {
        match error {
            crate::control::ClaimError::Refused(message) => AppError::Conflict(message),
            crate::control::ClaimError::Invalid(message) => AppError::field("address", message),
            crate::control::ClaimError::Failed(message) => AppError::Internal(message),
        }
    }
}

impl From<crate::recovery::RecoveryError> for AppError {
    fn from(error: crate::recovery::RecoveryError) -> Self {
        match error {
            crate::recovery::RecoveryError::Conflict(message) => AppError::Conflict(message),
            crate::recovery::RecoveryError::Invalid(message) => AppError::BadRequest(message),
        }
    }
}

impl From<crate::control::FleetError> for AppError {
    fn from(error: crate::control::FleetError) -> Self {
        use crate::control::FleetError;
        match error {
            FleetError::UnknownInstance(_) => AppError::NotFound(error.to_string()),
            FleetError::Refused { .. } => AppError::Conflict(error.to_string()),
            FleetError::NoAnswer { .. } | FleetError::Unavailable(_) => AppError::Internal(error.to_string()),
        }
    }
}

impl From<ControlError> for AppError {
    fn from(error: ControlError) -> Self {
        match error {
            ControlError::AlreadyRunning(_) | ControlError::NotRunning(_) => AppError::Conflict(error.to_string()),
            ControlError::Unavailable { .. } => AppError::Conflict(error.to_string()),
            ControlError::Failed { .. } => {
                tracing::warn!(%error, "dashboard: service control failed");
                AppError::Internal(crate::redact::without_paths(&error.to_string()))
            }
        }
    }
}

/// An error rendered as `{"error": "...", "fields": [...]}` with its status code.
#[derive(Debug)]
pub(crate) struct ApiError(pub(crate) AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(error: E) -> Self {
        ApiError(error.into())
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: String,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    fields: &'a [FieldError],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let fields: &[FieldError] = match &self.0 {
            AppError::Invalid(fields) | AppError::BadQuery(fields) => fields,
            _ => &[],
        };
        let body = ErrorBody { error: self.0.message(), fields };
        (self.0.status(), Json(body)).into_response()
    }
}

/// The result of an API handler.
pub(crate) type ApiResult<T> = Result<T, ApiError>;
