//! What a form shows about its input after a refused save: the messages under each field, and a
//! general one (a conflict with another row) above them.

use axum::http::StatusCode;

use crate::error::{AppError, FieldError};

#[derive(Debug, Default)]
pub(crate) struct FormProblems {
    pub(crate) fields: Vec<FieldError>,
    pub(crate) general: String,
}

impl FormProblems {
    /// The messages about `field`, joined.
    pub(crate) fn about(&self, field: &str) -> String {
        self.fields.iter().filter(|e| e.field == field).map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ")
    }

    /// Take in `error` if it is about the input, with the status to answer; `None` otherwise.
    pub(crate) fn take(&mut self, error: AppError) -> Option<StatusCode> {
        let status = error.status();
        match error {
            AppError::Invalid(fields) => self.fields = fields,
            AppError::Conflict(message) | AppError::BadRequest(message) => self.general = message,
            _ => return None,
        }
        Some(status)
    }
}
