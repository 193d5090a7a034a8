//! The `images` table: a cache of the SHA-256 digests of the files under the TFTP root, per
//! instance (each lifeboat of a fleet has a TFTP root of its own).
//!
//! **Invariant:** a row says what the file's digest was when it had exactly this size and
//! modification time; the caller trusts it only while both still match, and saves a new row
//! (which replaces the old one) when it hashes the file again. An instance reads and writes only
//! its own rows; [`Store::fleet_images`] reads everyone's.

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

/// One instance's copy of an image, as its last listing of its TFTP root found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCopy {
    pub instance: String,
    /// Relative to that instance's TFTP root, `/`-separated.
    pub file: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

#[derive(FromRow)]
struct CopyRow {
    instance: String,
    file: String,
    size: i64,
    sha256: String,
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
    /// The instance this store's image rows belong to: its name in a fleet; on SQLite, whose
    /// database has one lifeboat, the empty name (so a renamed host keeps its digests).
    fn image_owner(&self) -> &str {
        if self.is_shared() { self.instance() } else { "" }
    }

    /// Every cached digest of this instance, ordered by file.
    pub async fn image_digests(&self) -> Result<Vec<ImageDigest>, StoreError> {
        let rows: Vec<ImageRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT file, size, modified_ns, sha256, added_at FROM images WHERE instance = $1 ORDER BY file",
            )
            .bind(self.image_owner())
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
                "INSERT INTO images (instance, file, size, modified_ns, sha256, added_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (instance, file) DO UPDATE SET size = excluded.size, \
                 modified_ns = excluded.modified_ns, sha256 = excluded.sha256, added_at = excluded.added_at",
            )
            .bind(self.image_owner())
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
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM images WHERE instance = $1 AND file = $2")
                .bind(self.image_owner())
                .bind(file)
                .execute(pool)
                .await
                .map(drop)
        })
        .map_err(|e| self.error("forget an image digest", e))?;
        Ok(())
    }

    /// Every instance's hashed images, ordered by file then instance: which lifeboats of the
    /// fleet hold each image, and with what content.
    pub async fn fleet_images(&self) -> Result<Vec<ImageCopy>, StoreError> {
        let rows: Vec<CopyRow> = with_pool!(self, pool => {
            sqlx::query_as("SELECT instance, file, size, sha256 FROM images ORDER BY file, instance")
                .fetch_all(pool)
                .await
        })
        .map_err(|e| self.error("read the fleet's images", e))?;
        rows.into_iter()
            .map(|row| {
                Ok(ImageCopy {
                    size: self.unsigned("images", "size", row.size)?,
                    instance: row.instance,
                    file: row.file,
                    sha256: row.sha256,
                })
            })
            .collect()
    }
}
