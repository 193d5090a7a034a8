//! The `settings` table: key/value settings of the dashboard, such as `web_password_hash`.
//!
//! **Invariant:** a key has at most one value; setting it again replaces it.

use crate::error::StoreError;
use crate::store::{Store, with_pool};

impl Store {
    /// The value of `key`, if it was ever set.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        with_pool!(self, pool => {
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(pool).await
        })
        .map_err(|e| self.error("read a setting", e))
    }

    /// Set `key` to `value`, replacing its old value.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(value)
            .execute(pool)
            .await
            .map(drop)
        })
        .map_err(|e| self.error("save a setting", e))?;
        Ok(())
    }

    /// Forget `key`. True when it was set.
    pub async fn remove_setting(&self, key: &str) -> Result<bool, StoreError> {
        let removed = with_pool!(self, pool => {
            sqlx::query("DELETE FROM settings WHERE key = $1").bind(key).execute(pool).await.map(|done| done.rows_affected())
        })
        .map_err(|e| self.error("remove a setting", e))?;
        Ok(removed > 0)
    }
}

/// The setting [`Store::prove_writable`] rewrites: when the database last took a write.
pub const HEALTH_CHECKED_SETTING: &str = "health_checked_at";

impl Store {
    /// Write to the database and commit, as proof that it still takes writes (a full disk, a
    /// read-only mount or a lost file show here): the time `at_unix_ms` becomes the value of
    /// [`HEALTH_CHECKED_SETTING`].
    pub async fn prove_writable(&self, at_unix_ms: i64) -> Result<(), StoreError> {
        self.set_setting(HEALTH_CHECKED_SETTING, &at_unix_ms.to_string()).await
    }
}
