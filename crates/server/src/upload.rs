//! Where the bytes of an incoming transfer go: a temporary file in the upload directory that
//! becomes the real file only after the last block, synced to disk. An aborted upload leaves
//! nothing behind; an existing file is replaced only when the operator allowed it.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use lifeboat_tftp::netascii::Decoder;
use lifeboat_tftp::policy::RelativePath;
use tempfile::NamedTempFile;

use crate::digest::{DigestFeed, Tee};

/// Prefix of temporary upload files; left-overs of a killed process are removed at start-up.
/// No client may read or write a file of that name.
pub(crate) const TEMP_PREFIX: &str = ".lifeboat-upload-";

/// How deep into the upload directory's folders [`remove_leftovers`] looks.
const LEFTOVER_DEPTH: usize = 8;
/// The most directory entries [`remove_leftovers`] looks at, so a huge tree cannot stall the
/// start.
const LEFTOVER_ENTRIES: usize = 200_000;

/// Whether `name` (one path component) is reserved for lifeboat's unfinished uploads.
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.get(..TEMP_PREFIX.len()).is_some_and(|start| start.eq_ignore_ascii_case(TEMP_PREFIX))
}

/// Why an upload cannot begin or end.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("a file of that name exists and overwriting is off (--tftp-upload-overwrite)")]
    Exists,
    #[error("the folder for it does not exist in the upload directory")]
    NoSuchFolder,
    #[error("the path leads outside the upload directory")]
    OutsideDir,
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// An upload in progress.
#[derive(Debug)]
pub(crate) struct Upload {
    writer: BufWriter<Tee<NamedTempFile>>,
    target: PathBuf,
    overwrite: bool,
    netascii: Option<Decoder>,
    decoded: Vec<u8>,
}

impl Upload {
    /// Prepares an upload of `relative` into `dir`. Blocking.
    pub(crate) fn begin(
        dir: &Path,
        relative: &RelativePath,
        overwrite: bool,
        netascii: bool,
    ) -> Result<Upload, UploadError> {
        let dir = fs::canonicalize(dir)?;
        let (name, folders) = relative.components().split_last().expect("a relative path has a component");
        let folder = folders.iter().fold(dir.clone(), |path, part| path.join(part));
        let folder = fs::canonicalize(&folder).map_err(|_| UploadError::NoSuchFolder)?;
        if !folder.starts_with(&dir) {
            return Err(UploadError::OutsideDir);
        }
        Upload::to_path(folder.join(name), overwrite, netascii)
    }

    /// Prepares writing to `target`, whose folder must exist (the client's `get -o`). Blocking.
    pub(crate) fn to_path(target: PathBuf, overwrite: bool, netascii: bool) -> Result<Upload, UploadError> {
        if fs::symlink_metadata(&target).is_ok() && !overwrite {
            return Err(UploadError::Exists);
        }
        let folder = folder_of(&target);
        let temp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(&folder)?;
        Ok(Upload {
            writer: BufWriter::with_capacity(256 * 1024, Tee { inner: temp, feed: None }),
            target,
            overwrite,
            netascii: netascii.then(Decoder::default),
            decoded: Vec::new(),
        })
    }

    /// Feeds every byte stored from now on (after netascii decoding: the file's bytes) to a
    /// digest. The feed ends with the upload.
    pub(crate) fn hash_into(&mut self, feed: DigestFeed) {
        self.writer.get_mut().feed = Some(feed);
    }

    pub(crate) fn target(&self) -> &Path {
        &self.target
    }

    /// Stores the next payload bytes, in order. Blocking.
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.netascii {
            Some(decoder) => {
                self.decoded.clear();
                decoder.decode(data, &mut self.decoded);
                self.writer.write_all(&self.decoded)
            }
            None => self.writer.write_all(data),
        }
    }

    /// Syncs the data and gives the file its name. Blocking.
    pub(crate) fn finish(mut self) -> Result<PathBuf, UploadError> {
        if let Some(decoder) = &mut self.netascii {
            self.decoded.clear();
            decoder.finish(&mut self.decoded);
            self.writer.write_all(&self.decoded)?;
        }
        let temp = self.writer.into_inner().map_err(io::IntoInnerError::into_error)?.inner;
        temp.as_file().sync_all()?;
        let persisted = if self.overwrite { temp.persist(&self.target) } else { temp.persist_noclobber(&self.target) };
        persisted.map_err(|e| match e.error.kind() {
            io::ErrorKind::AlreadyExists => UploadError::Exists,
            _ => UploadError::Io(e.error),
        })?;
        // The rename itself must survive a power cut too.
        fs::File::open(folder_of(&self.target))?.sync_all()?;
        Ok(self.target)
    }
}

/// The folder holding `path`; `.` for a bare file name.
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Removes temporary files a killed process left in `dir` and its folders (up to
/// [`LEFTOVER_DEPTH`] deep, at most [`LEFTOVER_ENTRIES`] entries, never through a symlink).
/// Returns how many. Only `dir` itself must be readable; an unreadable folder below it is
/// skipped.
pub(crate) fn remove_leftovers(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    let mut budget = LEFTOVER_ENTRIES;
    let mut folders = vec![(dir.to_path_buf(), 0)];
    let mut top = true;
    while let Some((folder, depth)) = folders.pop() {
        let entries = match fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(error) if top => return Err(error),
            Err(error) => {
                tracing::warn!(folder = %folder.display(), %error, "cannot look for unfinished uploads here");
                continue;
            }
        };
        top = false;
        for entry in entries {
            let Some(left) = budget.checked_sub(1) else {
                tracing::warn!(dir = %dir.display(), "stopped looking for unfinished uploads after {LEFTOVER_ENTRIES} entries");
                return Ok(removed);
            };
            budget = left;
            let entry = entry?;
            // `file_type` does not follow symlinks: a link to a folder elsewhere is not entered.
            let kind = entry.file_type()?;
            if kind.is_dir() && depth < LEFTOVER_DEPTH {
                folders.push((entry.path(), depth + 1));
            } else if kind.is_file() && is_temp_name(&entry.file_name().to_string_lossy()) {
                fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeboat_tftp::policy::normalize;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_finished_upload_appears_under_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut upload = Upload::begin(dir.path(), &normalize(b"backup.bin").unwrap(), false, false).unwrap();
        upload.write(b"hello ").unwrap();
        upload.write(b"world").unwrap();
        assert_eq!(names(dir.path()).len(), 1, "only the temporary file exists until the end");
        let path = upload.finish().unwrap();
        assert_eq!(fs::read(path).unwrap(), b"hello world");
        assert_eq!(names(dir.path()), ["backup.bin"]);
    }

    #[test]
    fn an_abandoned_upload_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let mut upload = Upload::begin(dir.path(), &normalize(b"x.bin").unwrap(), false, false).unwrap();
        upload.write(&[1; 100_000]).unwrap();
        drop(upload);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn an_existing_file_is_kept_unless_overwrite_is_on() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("x.bin"), b"keep").unwrap();
        let name = normalize(b"x.bin").unwrap();
        assert!(matches!(Upload::begin(dir.path(), &name, false, false), Err(UploadError::Exists)));
        let mut upload = Upload::begin(dir.path(), &name, true, false).unwrap();
        upload.write(b"new").unwrap();
        upload.finish().unwrap();
        assert_eq!(fs::read(dir.path().join("x.bin")).unwrap(), b"new");
    }

    #[test]
    fn a_file_appearing_during_the_upload_is_not_clobbered() {
        let dir = tempfile::tempdir().unwrap();
        let upload = Upload::begin(dir.path(), &normalize(b"race.bin").unwrap(), false, false).unwrap();
        fs::write(dir.path().join("race.bin"), b"first").unwrap();
        assert!(matches!(upload.finish(), Err(UploadError::Exists)));
        assert_eq!(fs::read(dir.path().join("race.bin")).unwrap(), b"first");
    }

    #[test]
    fn netascii_uploads_are_stored_with_unix_line_ends() {
        let dir = tempfile::tempdir().unwrap();
        let mut upload = Upload::begin(dir.path(), &normalize(b"t.txt").unwrap(), false, true).unwrap();
        upload.write(b"a\r").unwrap();
        upload.write(b"\nb\r\0").unwrap();
        let path = upload.finish().unwrap();
        assert_eq!(fs::read(path).unwrap(), b"a\nb\r");
    }

    #[test]
    fn the_digest_is_of_the_stored_file_across_buffer_flushes() {
        use crate::digest::WrittenDigest;
        use sha2::{Digest, Sha256};
        let dir = tempfile::tempdir().unwrap();
        let mut upload = Upload::begin(dir.path(), &normalize(b"t.txt").unwrap(), false, true).unwrap();
        let (digest, feed) = WrittenDigest::start();
        upload.hash_into(feed);
        // 800,000 stored bytes pass the 256 KiB buffer three times.
        for _ in 0..100_000 {
            upload.write(b"line\r\n\r\0!\r\n").unwrap();
        }
        let stored = fs::read(upload.finish().unwrap()).unwrap();
        assert_eq!(stored.len(), 100_000 * b"line\n\r!\n".len());
        assert_eq!(digest.finish(), hex::encode(Sha256::digest(&stored)));
    }

    #[test]
    fn missing_folders_and_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Upload::begin(dir.path(), &normalize(b"no/x.bin").unwrap(), false, false),
            Err(UploadError::NoSuchFolder)
        ));
        fs::write(dir.path().join(format!("{TEMP_PREFIX}abc")), b"").unwrap();
        fs::write(dir.path().join("keep.bin"), b"").unwrap();
        assert_eq!(remove_leftovers(dir.path()).unwrap(), 1);
        assert_eq!(names(dir.path()), ["keep.bin"]);
    }

    #[test]
    fn leftovers_in_folders_are_removed_but_links_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        fs::create_dir_all(&deep).unwrap();
        // An upload into a folder, cut short by a crash, leaves its temporary file there.
        let mut upload = Upload::begin(dir.path(), &normalize(b"a/b/c/fw.bin").unwrap(), false, false).unwrap();
        upload.write(b"half").unwrap();
        std::mem::forget(upload);
        fs::write(dir.path().join("a").join(format!("{TEMP_PREFIX}x")), b"").unwrap();
        fs::write(outside.path().join(format!("{TEMP_PREFIX}theirs")), b"").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        fs::write(deep.join("keep.bin"), b"").unwrap();
        assert_eq!(remove_leftovers(dir.path()).unwrap(), 2);
        assert_eq!(names(&deep), ["keep.bin"]);
        assert_eq!(names(&dir.path().join("a")), ["b"]);
        assert_eq!(names(outside.path()).len(), 1, "a folder behind a symlink is not touched");
    }

    #[test]
    fn the_temp_prefix_is_recognized_in_any_case() {
        assert!(is_temp_name(".lifeboat-upload-abc"));
        assert!(is_temp_name(".LIFEBOAT-Upload-abc"));
        assert!(!is_temp_name("lifeboat-upload-abc"));
        assert!(!is_temp_name(".lifeboat"));
        assert!(!is_temp_name("é.lifeboat-upload-"));
    }
}
