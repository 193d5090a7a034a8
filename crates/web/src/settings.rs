//! What the pages and the API share about settings: how a refusal becomes an error.

use crate::control::SettingsError;
use crate::error::{AppError, FieldError};

/// A refusal as the error a person sees: invalid settings per key (422), settings a service did
/// not start with (409), settings this lifeboat cannot change (503-like: a conflict).
pub(crate) fn apply_error(error: SettingsError) -> AppError {
    match error {
        SettingsError::Invalid(problems) => AppError::Invalid(
            problems
                .into_iter()
                .map(|p| FieldError {
                    field: p.key.unwrap_or_else(|| "settings".to_owned()).into(),
                    message: p.message,
                })
                .collect(),
        ),
        SettingsError::NotApplied(message) => {
            AppError::Conflict(format!("not applied, the previous settings still run: {message}"))
        }
        SettingsError::Unavailable(message) => AppError::Conflict(message),
    }
}
