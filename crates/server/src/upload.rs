//! Where the bytes of an incoming transfer go: an [`AtomicFile`] in the upload directory (a
//! temporary file that becomes the real file only after the last block, synced to disk, as the
//! dashboard's uploads do). An aborted upload leaves nothing behind; an existing file is
//! replaced only when the operator allowed it.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use lifeboat_files::{AtomicFile, CommitError, contained};
pub(crate) use lifeboat_files::{is_temp_name, remove_leftovers};
use lifeboat_tftp::netascii::Decoder;
use lifeboat_tftp::policy::RelativePath;

use crate::digest::{DigestFeed, Tee};

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

impl From<CommitError> for UploadError {
    fn from(error: CommitError) -> Self {
        match error {
            CommitError::Exists => UploadError::Exists,
            CommitError::Io(error) => UploadError::Io(error),
        }
    }
}

/// An upload in progress: an [`AtomicFile`] behind a buffer, a digest tap and, for netascii,
/// the line-end decoder.
#[derive(Debug)]
pub(crate) struct Upload {
    writer: BufWriter<Tee<AtomicFile>>,
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
        let folder = match contained(&dir, &folder) {
            Ok(Some(folder)) => folder,
            Ok(None) => return Err(UploadError::OutsideDir),
            Err(_) => return Err(UploadError::NoSuchFolder),
        };
        Upload::to_path(folder.join(name), overwrite, netascii)
    }

    /// Prepares writing to `target`, whose folder must exist (the client's `get -o`). Blocking.
    pub(crate) fn to_path(target: PathBuf, overwrite: bool, netascii: bool) -> Result<Upload, UploadError> {
        let file = AtomicFile::create(target, overwrite)?;
        Ok(Upload {
            writer: BufWriter::with_capacity(256 * 1024, Tee { inner: file, feed: None }),
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
        self.writer.get_ref().inner.target()
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
        let file = self.writer.into_inner().map_err(io::IntoInnerError::into_error)?.inner;
        Ok(file.commit()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeboat_files::TEMP_PREFIX;
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
}
