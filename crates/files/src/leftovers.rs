//! Temporary files a killed process left behind.

use std::fs;
use std::io;
use std::path::Path;

use crate::is_temp_name;

/// How deep into the folder's subfolders [`remove_leftovers`] looks.
const DEPTH: usize = 8;
/// The most directory entries [`remove_leftovers`] looks at, so a huge tree cannot stall the
/// start.
const ENTRIES: usize = 200_000;
/// Removes temporary files in `dir` and its folders (up to [`DEPTH`] deep, at most [`ENTRIES`]
/// entries, never through a symlink). Returns how many. Only `dir` itself must be readable; an
/// unreadable folder below it is skipped, and a file that vanishes meanwhile is no error.
///
/// Call it before anything writes there: a write under way in the same folder (a dashboard
/// upload into the upload folder while TFTP starts) would lose its temporary file and fail at
/// its commit.
pub fn remove_leftovers(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    let mut budget = ENTRIES;
    let mut folders = vec![(dir.to_path_buf(), 0)];
    let mut top = true;
    while let Some((folder, depth)) = folders.pop() {
        let entries = match fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(error) if top => return Err(error),
            Err(error) => {
                tracing::warn!(folder = %folder.display(), %error, "cannot look for unfinished writes here");
                continue;
            }
        };
        top = false;
        for entry in entries {
            let Some(left) = budget.checked_sub(1) else {
                tracing::warn!(dir = %dir.display(), "stopped looking for unfinished writes after {ENTRIES} entries");
                return Ok(removed);
            };
            budget = left;
            let entry = entry?;
            // `file_type` does not follow symlinks: a link to a folder elsewhere is not entered.
            let kind = entry.file_type()?;
            if kind.is_dir() && depth < DEPTH {
                folders.push((entry.path(), depth + 1));
            } else if kind.is_file() && is_temp_name(&entry.file_name().to_string_lossy()) {
                match fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                    Err(error) => return Err(error),
                }
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TEMP_PREFIX;
    use crate::names;

    #[test]
    fn leftovers_in_folders_are_removed_but_links_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        fs::create_dir_all(&deep).unwrap();
        fs::write(deep.join(format!("{TEMP_PREFIX}half")), b"half").unwrap();
        fs::write(dir.path().join("a").join(format!("{TEMP_PREFIX}x")), b"").unwrap();
        fs::write(dir.path().join(format!("{TEMP_PREFIX}top")), b"").unwrap();
        fs::write(outside.path().join(format!("{TEMP_PREFIX}theirs")), b"").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        fs::write(deep.join("keep.bin"), b"").unwrap();
        assert_eq!(remove_leftovers(dir.path()).unwrap(), 3);
        assert_eq!(names(&deep), ["keep.bin"]);
        assert_eq!(names(&dir.path().join("a")), ["b"]);
        assert_eq!(names(outside.path()).len(), 1, "a folder behind a symlink is not touched");
    }
}
