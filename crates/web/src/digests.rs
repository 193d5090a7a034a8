//! The images page's view of the TFTP root: each file with its SHA-256, taken from the store's
//! digest cache while the file's size and modification time still match, else computed in the
//! background.
//!
//! **Invariant:** a listing never waits for a digest: stale or missing ones are queued, and one
//! file is hashed at a time (images can be gigabytes, the machine may have two cores). A digest is
//! only saved if the file did not change while it was read.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use lifeboat_store::ImageDigest;
use tokio::sync::Semaphore;

use crate::error::AppError;
use crate::images::{self, ImageFile, MAX_FILES};
use crate::state::WebState;

/// An image as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedImage {
    pub(crate) file: ImageFile,
    /// `None` while it is being computed.
    pub(crate) sha256: Option<String>,
    /// When lifeboat first saw the file (Unix ms), if it has a digest.
    pub(crate) added_at: Option<i64>,
    pub(crate) in_use: bool,
}

/// The files being hashed, and the single hashing slot.
#[derive(Debug)]
pub(crate) struct Digests {
    pending: Mutex<HashSet<String>>,
    slot: Arc<Semaphore>,
}

impl Default for Digests {
    fn default() -> Self {
        Digests { pending: Mutex::new(HashSet::new()), slot: Arc::new(Semaphore::new(1)) }
    }
}

impl Digests {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether any digest is still being computed.
    pub(crate) fn busy(&self) -> bool {
        !self.lock().is_empty()
    }
}

/// The files under the TFTP root with their digests (queued where unknown).
pub(crate) async fn list_images(state: &WebState) -> Result<Vec<ListedImage>, AppError> {
    let root = images::root(state.config().tftp_root.as_deref())?.to_path_buf();
    let listing_root = root.clone();
    let files = tokio::task::spawn_blocking(move || images::list(&listing_root))
        .await
        .map_err(|e| AppError::Internal(format!("listing the TFTP root failed: {e}")))?
        .map_err(|e| {
            tracing::error!(root = %root.display(), error = %e, "dashboard: cannot list the TFTP root");
            AppError::Internal(format!(
                "cannot list the TFTP root ({}); the lifeboat log names the folder",
                images::reason(&e)
            ))
        })?;
    let mut cached: HashMap<String, ImageDigest> =
        state.store().image_digests().await?.into_iter().map(|d| (d.file.clone(), d)).collect();
    let mut listed = Vec::with_capacity(files.len());
    for file in files {
        let digest = cached.remove(&file.file);
        let fresh = digest.as_ref().filter(|d| d.size == file.size && d.modified_ns == file.modified_ns);
        let sha256 = fresh.map(|d| d.sha256.clone());
        if sha256.is_none() {
            queue(state, &root, &file, digest.as_ref().map(|d| d.added_at));
        }
        let in_use = state.control().file_in_use(std::path::Path::new(&file.file));
        listed.push(ListedImage { sha256, added_at: digest.map(|d| d.added_at), in_use, file });
    }
    // Digests of files that are gone; a truncated listing cannot tell which those are.
    if listed.len() < MAX_FILES {
        for gone in cached.into_keys() {
            state.store().forget_image(&gone).await?;
        }
    }
    Ok(listed)
}

/// Hash `file` in the background unless it is queued already.
fn queue(state: &WebState, root: &std::path::Path, file: &ImageFile, added_at: Option<i64>) {
    if !state.digests().lock().insert(file.file.clone()) {
        return;
    }
    let state = state.clone();
    let path = root.join(&file.file);
    let name = file.file.clone();
    tokio::spawn(async move {
        let slot = state.digests().slot.clone().acquire_owned().await;
        let result = hash_unchanged(path).await;
        drop(slot);
        match result {
            Some((size, modified_ns, sha256)) => {
                let digest = ImageDigest {
                    file: name.clone(),
                    size,
                    modified_ns,
                    sha256,
                    added_at: added_at.unwrap_or_else(|| state.now_ms()),
                };
                if let Err(error) = state.store().save_image_digest(&digest).await {
                    tracing::warn!(file = %name, %error, "dashboard: cannot save an image digest");
                }
            }
            None => tracing::debug!(file = %name, "dashboard: image changed or vanished while hashed"),
        }
        state.digests().lock().remove(&name);
    });
}

/// The size, modification time and SHA-256 of `path`, if it did not change while it was read.
async fn hash_unchanged(path: PathBuf) -> Option<(u64, i64, String)> {
    tokio::task::spawn_blocking(move || {
        let before = images::stat(&path).ok()?;
        let sha256 = images::sha256_file(&path).ok()?;
        let after = images::stat(&path).ok()?;
        (before == after).then_some((after.0, after.1, sha256))
    })
    .await
    .ok()
    .flatten()
}

/// Remember the digest of a file the dashboard just wrote.
pub(crate) async fn save_uploaded(state: &WebState, uploaded: &images::Uploaded) -> Result<(), AppError> {
    let digest = ImageDigest {
        file: uploaded.file.file.clone(),
        size: uploaded.file.size,
        modified_ns: uploaded.file.modified_ns,
        sha256: uploaded.sha256.clone(),
        added_at: state.now_ms(),
    };
    state.store().save_image_digest(&digest).await?;
    Ok(())
}
