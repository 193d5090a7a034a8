//! Files being served, shared by every transfer that reads them.
//!
//! Fifty devices pulling the same image hold one descriptor between them. An entry is keyed by
//! path and checked against the file's identity (device, inode, size, mtime) on every open, so
//! an image replaced on disk is picked up by the next transfer while running ones finish
//! reading the old copy.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

/// One open file, read with positioned reads so transfers never share a cursor.
#[derive(Debug)]
pub(crate) struct SharedFile {
    file: File,
    len: u64,
    identity: Identity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl Identity {
    fn of(meta: &std::fs::Metadata) -> Identity {
        Identity { dev: meta.dev(), ino: meta.ino(), len: meta.len(), modified: meta.modified().ok() }
    }
}

impl SharedFile {
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Fills `buf` from `offset`. The file shrinking under a transfer is an error.
    pub(crate) fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
}

/// The table of open files.
#[derive(Debug, Default)]
pub(crate) struct OpenFiles {
    files: Mutex<HashMap<PathBuf, Weak<SharedFile>>>,
}

impl OpenFiles {
    /// Opens `path`, or shares the descriptor a running transfer already has. Blocking.
    pub(crate) fn open(&self, path: &Path) -> io::Result<Arc<SharedFile>> {
        let current = Identity::of(&std::fs::metadata(path)?);
        let mut files = self.files.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(shared) = files.get(path).and_then(Weak::upgrade)
            && shared.identity == current
        {
            return Ok(shared);
        }
        let file = File::open(path)?;
        let identity = Identity::of(&file.metadata()?);
        let shared = Arc::new(SharedFile { file, len: identity.len, identity });
        files.retain(|_, weak| weak.strong_count() > 0);
        files.insert(path.to_owned(), Arc::downgrade(&shared));
        Ok(shared)
    }

    /// How many files are open right now.
    #[cfg(test)]
    pub(crate) fn open_count(&self) -> usize {
        let files = self.files.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        files.values().filter(|weak| weak.strong_count() > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_of_one_file_share_one_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image.bin");
        std::fs::write(&path, b"0123456789").unwrap();
        let files = OpenFiles::default();
        let a = files.open(&path).unwrap();
        let b = files.open(&path).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(files.open_count(), 1);
        let mut buf = [0u8; 4];
        b.read_exact_at(&mut buf, 3).unwrap();
        assert_eq!(&buf, b"3456");
        drop((a, b));
        assert_eq!(files.open_count(), 0);
    }

    #[test]
    fn a_replaced_file_is_opened_afresh_while_the_old_copy_stays_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image.bin");
        std::fs::write(&path, b"old!").unwrap();
        let files = OpenFiles::default();
        let old = files.open(&path).unwrap();
        let replacement = dir.path().join("new.bin");
        std::fs::write(&replacement, b"new image").unwrap();
        std::fs::rename(&replacement, &path).unwrap();
        let new = files.open(&path).unwrap();
        assert!(!Arc::ptr_eq(&old, &new));
        assert_eq!(new.len(), 9);
        let mut buf = [0u8; 4];
        old.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"old!");
    }
}
