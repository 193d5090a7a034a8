//! A file that appears under its name only once it is complete and on disk.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::TEMP_PREFIX;

/// Why a commit did not happen.
#[derive(Debug)]
pub enum CommitError {
    /// A file of that name exists and replacing it was not allowed (it may have appeared while
    /// the data was written).
    Exists,
    Io(io::Error),
}

impl std::fmt::Display for CommitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommitError::Exists => f.write_str("a file of that name exists"),
            CommitError::Io(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for CommitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CommitError::Exists => None,
            CommitError::Io(error) => Some(error),
        }
    }
}

impl From<io::Error> for CommitError {
    fn from(error: io::Error) -> Self {
        CommitError::Io(error)
    }
}

/// Data on its way to `target`: written to a temporary file in the same folder. Blocking.
#[derive(Debug)]
pub struct AtomicFile {
    temp: NamedTempFile,
    target: PathBuf,
    replace: bool,
}

impl AtomicFile {
    /// Start writing `target`, whose folder must exist. With `replace`, an existing file is
    /// replaced at the commit; without, it is an error now and at the commit.
    pub fn create(target: PathBuf, replace: bool) -> Result<AtomicFile, CommitError> {
        if !replace && fs::symlink_metadata(&target).is_ok() {
            return Err(CommitError::Exists);
        }
        // Read and write for everyone, less the umask (0644 as a rule), as any new file: the
        // temporary file's own default (0600) would stay with the finished file.
        let temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(folder_of(&target))?;
        Ok(AtomicFile { temp, target, replace })
    }

    /// Where it will appear.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Sync the data, give the file its name, sync the folder. Returns the target.
    pub fn commit(self) -> Result<PathBuf, CommitError> {
        self.temp.as_file().sync_all()?;
        let renamed =
            if self.replace { self.temp.persist(&self.target) } else { self.temp.persist_noclobber(&self.target) };
        renamed.map_err(|e| match e.error.kind() {
            io::ErrorKind::AlreadyExists => CommitError::Exists,
            _ => CommitError::Io(e.error),
        })?;
        // The rename itself must survive a power cut too.
        File::open(folder_of(&self.target))?.sync_all()?;
        Ok(self.target)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

/// The folder holding `path`; `.` for a bare file name.
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names;

    #[test]
    fn the_file_appears_only_at_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = AtomicFile::create(dir.path().join("fw.bin"), false).unwrap();
        file.write_all(b"firmware").unwrap();
        let only = names(dir.path());
        assert!(only.len() == 1 && only[0].starts_with(TEMP_PREFIX), "{only:?}");
        let target = file.commit().unwrap();
        assert_eq!(fs::read(target).unwrap(), b"firmware");
        assert_eq!(names(dir.path()), ["fw.bin"]);
    }

    #[test]
    fn the_file_gets_the_usual_permissions_not_the_temporary_files() {
        use std::os::unix::fs::PermissionsExt as _;
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let umask = status.lines().find_map(|l| l.strip_prefix("Umask:")).expect("Umask in /proc/self/status");
        let umask = u32::from_str_radix(umask.trim(), 8).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let target = AtomicFile::create(dir.path().join("fw.bin"), false).unwrap().commit().unwrap();
        assert_eq!(fs::metadata(target).unwrap().permissions().mode() & 0o777, 0o666 & !umask);
    }

    #[test]
    fn a_dropped_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = AtomicFile::create(dir.path().join("fw.bin"), false).unwrap();
        file.write_all(&[1; 100_000]).unwrap();
        drop(file);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn an_existing_file_is_replaced_only_when_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.bin");
        fs::write(&target, b"keep").unwrap();
        assert!(matches!(AtomicFile::create(target.clone(), false), Err(CommitError::Exists)));
        let mut file = AtomicFile::create(target.clone(), true).unwrap();
        file.write_all(b"new").unwrap();
        file.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");

        // One that appears while the data is written is not clobbered either.
        let late = dir.path().join("race.bin");
        let file = AtomicFile::create(late.clone(), false).unwrap();
        fs::write(&late, b"first").unwrap();
        assert!(matches!(file.commit(), Err(CommitError::Exists)));
        assert_eq!(fs::read(&late).unwrap(), b"first");
    }
}
