//! Files under a folder lifeboat serves (the TFTP root, the upload folder): the one place that
//! decides whether a path stays inside its folder, and the one way a file is written there.
//!
//! **Invariants:**
//! - [`contained`] resolves every symlink before it compares, so a link that leads out of the
//!   folder is outside it.
//! - [`AtomicFile`] writes into a temporary file named with [`TEMP_PREFIX`] beside its target;
//!   [`AtomicFile::commit`] syncs the data, renames it over the target (or refuses to replace an
//!   existing file) and syncs the folder, so a reader never sees half a file and a power cut
//!   after the commit does not bring the old file (or none) back. Dropped without a commit, the
//!   temporary file is removed.
//! - Names starting with [`TEMP_PREFIX`] are lifeboat's own: no client may read or write one,
//!   and [`remove_leftovers`], called before anything writes to a folder, deletes those a
//!   killed process left.

mod atomic;
mod leftovers;

use std::io;
use std::path::{Path, PathBuf};

pub use atomic::{AtomicFile, CommitError};
pub use leftovers::remove_leftovers;

/// Prefix of temporary files of unfinished writes: uploads, and `lifeboat get`'s downloads.
pub const TEMP_PREFIX: &str = ".lifeboat-partial-";

/// The prefix earlier releases used (for downloads too): still lifeboat's, still cleaned up.
const EARLIER_TEMP_PREFIX: &str = ".lifeboat-upload-";

/// Whether `name` (one path component) is reserved for lifeboat's unfinished writes.
pub fn is_temp_name(name: &str) -> bool {
    [TEMP_PREFIX, EARLIER_TEMP_PREFIX]
        .iter()
        .any(|prefix| name.get(..prefix.len()).is_some_and(|start| start.eq_ignore_ascii_case(prefix)))
}

/// `path` with every symlink resolved, if it lies inside `folder` (also resolved); `None` when
/// it leads outside. Errors are those of resolving: a path that does not exist is `NotFound`.
pub fn contained(folder: &Path, path: &Path) -> io::Result<Option<PathBuf>> {
    let folder = std::fs::canonicalize(folder)?;
    let resolved = std::fs::canonicalize(path)?;
    Ok(resolved.starts_with(&folder).then_some(resolved))
}

/// The names in a folder, sorted (for the tests of this crate).
#[cfg(test)]
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temp_prefix_is_recognized_in_any_case() {
        assert!(is_temp_name(".lifeboat-partial-abc"));
        assert!(is_temp_name(".LIFEBOAT-PARTIAL-abc"));
        assert!(is_temp_name(".lifeboat-upload-abc"), "an earlier release's");
        assert!(is_temp_name(".LIFEBOAT-Upload-abc"));
        assert!(!is_temp_name("lifeboat-upload-abc"));
        assert!(!is_temp_name(".lifeboat"));
        assert!(!is_temp_name("é.lifeboat-upload-"));
    }

    #[test]
    fn symlinks_out_of_the_folder_are_outside_it() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("in.bin"), b"x").unwrap();
        std::fs::write(outside.path().join("secret"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("in.bin"), dir.path().join("inner-link")).unwrap();
        assert!(contained(dir.path(), &dir.path().join("in.bin")).unwrap().is_some());
        assert!(contained(dir.path(), &dir.path().join("inner-link")).unwrap().is_some());
        assert_eq!(contained(dir.path(), &dir.path().join("link")).unwrap(), None);
        assert_eq!(contained(dir.path(), &dir.path().join("../")).unwrap(), None);
        let missing = contained(dir.path(), &dir.path().join("nope")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
