//! The `images` table: a cache of the SHA-256 digests of the files under the TFTP root.
//!
//! **Invariant:** a row says what the file's digest was when it had exactly this size and
//! modification time; the caller trusts it only while both still match, and saves a new row
//! (which replaces the old one) when it hashes the file again.

use sqlx::FromRow;

use crate::convert::to_sql;
use crate::error::StoreError;
use crate::store::{Store, with_pool};

/// The digest of a file as it was when it was hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDigest {
    /// Relative to the TFTP root, `/`-separated.
    pub file: String,
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub modified_ns: i64,
    /// Lowercase hex.
    pub sha256: String,
    /// When it was first hashed (Unix ms).
    pub added_at: i64,
}

#[derive(FromRow)]
struct ImageRow {
    file: String,
    size: i64,
    modified_ns: i64,
    sha256: String,
    added_at: i64,
}

impl Store {
    /// Every cached digest, ordered by file.
    pub async fn image_digests(&self) -> Result<Vec<ImageDigest>, StoreError> {
        let rows: Vec<ImageRow> = with_pool!(self, pool => {
            sqlx::query_as("SELECT file, size, modified_ns, sha256, added_at FROM images ORDER BY file")
                .fetch_all(pool)
                .await
        })
        .map_err(|e| self.error("read the image digests", e))?;
        rows.into_iter()
            .map(|row| {
                Ok(ImageDigest {
                    size: self.unsigned("images", "size", row.size)?,
                    file: row.file,
                    modified_ns: row.modified_ns,
                    sha256: row.sha256,
                    added_at: row.added_at,
                })
            })
            .collect()
    }

    /// Save the digest of `digest.file`, replacing the one saved before.
    pub async fn save_image_digest(&self, digest: &ImageDigest) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO images (file, size, modified_ns, sha256, added_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (file) DO UPDATE SET size = excluded.size, modified_ns = excluded.modified_ns, \
                 sha256 = excluded.sha256, added_at = excluded.added_at",
            )
            .bind(&digest.file)
            .bind(to_sql(digest.size))
            .bind(digest.modified_ns)
            .bind(&digest.sha256)
            .bind(digest.added_at)
            .execute(pool)
            .await
            .map(drop)
        })
        .map_err(|e| self.error("save an image digest", e))?;
        Ok(())
    }

    /// Forget the digest of `file` (it was deleted). Unknown files are fine.
    pub async fn forget_image(&self, file: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => sqlx::query("DELETE FROM images WHERE file = $1").bind(file).execute(pool).await.map(drop))
            .map_err(|e| self.error("forget an image digest", e))?;
        Ok(())
    }
}
