//! The `aliases` table: "serve image X under this name", for any client.
//!
//! **Invariant:** a name has at most one alias; setting it again replaces the file and the
//! creation time.

use sqlx::FromRow;

use crate::error::StoreError;
use crate::store::{Store, with_pool};
use lifeboat_clock::{Clock as _, SystemClock};

/// A name under which a file is served. `created_at` is Unix ms.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Alias {
    /// The name clients ask for.
    pub name: String,
    /// The file served, relative to the TFTP root.
    pub file: String,
    pub created_at: i64,
}

impl Store {
    /// Every alias, ordered by name.
    pub async fn aliases(&self) -> Result<Vec<Alias>, StoreError> {
        with_pool!(self, pool => {
            sqlx::query_as("SELECT name, file, created_at FROM aliases ORDER BY name").fetch_all(pool).await
        })
        .map_err(|e| self.error("read the aliases", e))
    }

    /// Serve `file` under `name` from now on, replacing what `name` served before.
    pub async fn set_alias(&self, name: &str, file: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO aliases (name, file, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET file = excluded.file, created_at = excluded.created_at",
            )
            .bind(name)
            .bind(file)
            .bind(SystemClock.unix_ms())
            .execute(pool)
            .await
            .map(drop)
        })
        .map_err(|e| self.error("save an alias", e))?;
        Ok(())
    }

    /// Delete the alias `name`; `false` if there was none.
    pub async fn delete_alias(&self, name: &str) -> Result<bool, StoreError> {
        let deleted = with_pool!(self, pool => {
            sqlx::query("DELETE FROM aliases WHERE name = $1").bind(name).execute(pool).await.map(|done| done.rows_affected())
        })
        .map_err(|e| self.error("delete an alias", e))?;
        Ok(deleted > 0)
    }
}
