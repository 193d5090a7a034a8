//! The fleet's images: which lifeboats sharing this database hold each image in their TFTP
//! roots, and whether their copies have the same content.
//!
//! Each instance hashes its own root (`digests.rs`) and saves the digests as its own rows; in a
//! fleet it lists its root every [`REFRESH_EVERY`] as well, so the others see its copies even
//! when nobody opens its dashboard.

use std::time::Duration;

use lifeboat_store::ImageCopy;
use tokio_util::sync::CancellationToken;

use crate::digests;
use crate::error::AppError;
use crate::state::WebState;

/// How often an instance of a fleet lists its TFTP root, hashing what changed.
pub(crate) const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// One image across the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FleetImage {
    /// Relative to the TFTP roots, `/`-separated.
    pub(crate) file: String,
    /// Each instance that holds it (and has hashed it), by name.
    pub(crate) copies: Vec<ImageCopy>,
    /// Instances up now that hold no copy (or have not hashed it yet).
    pub(crate) missing_on: Vec<String>,
    /// Whether every copy has the same SHA-256.
    pub(crate) matches: bool,
}

/// Every image of every instance's TFTP root, as their last listings found them. Outside a
/// fleet, this instance's images.
pub(crate) async fn list(state: &WebState) -> Result<Vec<FleetImage>, AppError> {
    let store = state.store();
    let mut copies = store.fleet_images().await?;
    let up = if store.is_shared() {
        let instances = state.control().instances().await.map_err(AppError::from)?;
        instances.into_iter().filter(|i| i.up).map(|i| i.name).collect()
    } else {
        // A database of one lifeboat keeps its images under no name.
        for copy in &mut copies {
            copy.instance = store.instance().to_owned();
        }
        vec![store.instance().to_owned()]
    };
    Ok(inventory(copies, &up))
}

/// Group `copies` (ordered by file) by file; `up` names the instances running now.
fn inventory(copies: Vec<ImageCopy>, up: &[String]) -> Vec<FleetImage> {
    let mut images: Vec<FleetImage> = Vec::new();
    for copy in copies {
        match images.last_mut() {
            Some(image) if image.file == copy.file => image.copies.push(copy),
            _ => images.push(FleetImage {
                file: copy.file.clone(),
                copies: vec![copy],
                missing_on: Vec::new(),
                matches: true,
            }),
        }
    }
    for image in &mut images {
        image.matches = image.copies.windows(2).all(|pair| pair[0].sha256 == pair[1].sha256);
        image.missing_on =
            up.iter().filter(|name| !image.copies.iter().any(|c| &c.instance == *name)).cloned().collect();
    }
    images
}

/// In a fleet, list this instance's TFTP root now and every [`REFRESH_EVERY`] until `shutdown`,
/// so its digests stay current for the other instances' dashboards.
pub async fn keep_digests_current(state: WebState, shutdown: CancellationToken) {
    if !state.store().is_shared() || state.config().tftp_root.is_none() {
        return;
    }
    loop {
        if let Err(error) = digests::list_images(&state).await {
            tracing::debug!("listing the TFTP root for the fleet's images failed: {}", error.message());
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(REFRESH_EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(instance: &str, file: &str, sha256: &str) -> ImageCopy {
        ImageCopy { instance: instance.into(), file: file.into(), size: 1, sha256: sha256.into() }
    }

    #[test]
    fn copies_group_by_file_with_who_lacks_one_and_whether_they_match() {
        let up = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let images = inventory(
            vec![
                copy("a", "openwrt.bin", "11"),
                copy("b", "openwrt.bin", "11"),
                copy("a", "uboot.img", "22"),
                copy("gone", "uboot.img", "33"),
            ],
            &up,
        );
        let summary: Vec<(&str, usize, Vec<String>, bool)> =
            images.iter().map(|i| (i.file.as_str(), i.copies.len(), i.missing_on.clone(), i.matches)).collect();
        assert_eq!(
            summary,
            [
                ("openwrt.bin", 2, vec!["c".to_owned()], true),
                ("uboot.img", 2, vec!["b".to_owned(), "c".to_owned()], false),
            ]
        );
        assert!(inventory(Vec::new(), &up).is_empty());
    }
}
