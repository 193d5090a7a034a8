//! The image files under the TFTP root: listing, checked lookup, upload and delete.
//!
//! **Invariant:** nothing here reads, writes or deletes outside the TFTP root: names go through
//! the TFTP server's own filename policy, and every existing path is checked with
//! `lifeboat_files::contained` (symlinks resolved) before it is used. An upload is a
//! `lifeboat_files::AtomicFile`, as a TFTP upload is: a temporary file beside its target, synced,
//! renamed over it only when complete and the folder synced after, so a reader never sees half a
//! file and a power cut does not undo a finished upload; the temporary file is removed on every
//! failure.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use std::io::Write as _;

use axum::body::Body;
use futures_util::StreamExt;
use lifeboat_files::{AtomicFile, CommitError, TEMP_PREFIX, contained, is_temp_name};
use lifeboat_tftp::policy::normalize;
use sha2::{Digest, Sha256};

use crate::error::AppError;

/// A listing stops descending at this depth.
const MAX_DEPTH: usize = 16;

/// A listing stops after this many files.
pub(crate) const MAX_FILES: usize = 10_000;

/// The longest file name accepted, in bytes.
const MAX_NAME: usize = 1024;

/// A file under the TFTP root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageFile {
    /// Relative to the root, `/`-separated.
    pub(crate) file: String,
    pub(crate) size: u64,
    pub(crate) modified_ns: i64,
}

/// What an upload wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Uploaded {
    pub(crate) file: ImageFile,
    pub(crate) sha256: String,
    /// Whether a file of that name was there before.
    pub(crate) replaced: bool,
}

/// Reduce `name` to the form the store and the TFTP server use (`a/b.bin`), or say what is
/// wrong with it.
pub(crate) fn normalize_name(name: &str) -> Result<String, String> {
    if name.len() > MAX_NAME {
        return Err(format!("the name is longer than {MAX_NAME} bytes"));
    }
    let path = normalize(name.as_bytes()).map_err(|e| format!("{name:?} is not a valid file name: {e}"))?;
    if path.components().iter().any(|c| is_temp_name(c)) {
        return Err(format!("{name:?} is not a valid file name: names starting with {TEMP_PREFIX} are reserved"));
    }
    Ok(path.to_string())
}

/// The TFTP root, or the error that says none is configured.
pub(crate) fn root(configured: Option<&Path>) -> Result<&Path, AppError> {
    configured.ok_or_else(|| {
        AppError::Conflict("no TFTP root is configured; start lifeboat with --tftp-root DIR to manage images".into())
    })
}

/// The path of the existing regular file `file` (already normalized) under `root`, after
/// resolving symlinks and checking that it stays inside the root.
pub(crate) fn existing(root: &Path, file: &str) -> Result<PathBuf, AppError> {
    let not_found = || AppError::NotFound(format!("no file {file:?} in the TFTP root"));
    canonical_root(root)?;
    let resolved = match contained(root, &root.join(file)) {
        Ok(Some(resolved)) => resolved,
        Ok(None) => return Err(AppError::Forbidden(format!("{file:?} points outside the TFTP root"))),
        Err(_) => return Err(not_found()),
    };
    match fs::metadata(&resolved) {
        Ok(meta) if meta.is_file() => Ok(root.join(file)),
        Ok(_) => Err(AppError::BadRequest(format!("{file:?} is a directory, not a file"))),
        Err(_) => Err(not_found()),
    }
}

fn canonical_root(root: &Path) -> Result<PathBuf, AppError> {
    fs::canonicalize(root).map_err(|e| {
        tracing::error!(root = %root.display(), error = %e, "dashboard: cannot open the TFTP root");
        AppError::Internal(format!("cannot open the TFTP root ({}); the lifeboat log names the folder", reason(&e)))
    })
}

/// Every regular file under `root` (symlinks to files inside the root included), sorted by name.
/// Stops at [`MAX_FILES`] files and [`MAX_DEPTH`] levels.
pub(crate) fn list(root: &Path) -> io::Result<Vec<ImageFile>> {
    let canonical_root = fs::canonicalize(root)?;
    let mut files = Vec::new();
    let mut pending = vec![(root.to_path_buf(), String::new(), 0usize)];
    while let Some((dir, prefix, depth)) = pending.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
            if is_temp_name(&name) {
                continue;
            }
            let file = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            let kind = entry.file_type()?;
            if kind.is_dir() {
                if depth + 1 < MAX_DEPTH {
                    pending.push((entry.path(), file, depth + 1));
                }
                continue;
            }
            let meta = if kind.is_symlink() {
                match contained(&canonical_root, &entry.path()) {
                    Ok(Some(target)) => fs::metadata(target),
                    _ => continue,
                }
            } else {
                entry.metadata()
            };
            let Ok(meta) = meta else { continue };
            if meta.is_file() {
                files.push(ImageFile { file, size: meta.len(), modified_ns: modified_ns(&meta) });
                if files.len() >= MAX_FILES {
                    pending.clear();
                    break;
                }
            }
        }
    }
    files.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(files)
}

/// The modification time of a file in Unix nanoseconds (0 if the file system has none).
pub(crate) fn modified_ns(meta: &fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_nanos()).ok())
        .unwrap_or(0)
}

/// The size and modification time of `path` now.
pub(crate) fn stat(path: &Path) -> io::Result<(u64, i64)> {
    let meta = fs::metadata(path)?;
    Ok((meta.len(), modified_ns(&meta)))
}

/// The SHA-256 of a file, lowercase hex. Reads it whole: call it from a blocking thread.
pub(crate) fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Delete the image `file` (normalized) under `root`.
pub(crate) fn delete(root: &Path, file: &str) -> Result<(), AppError> {
    let path = existing(root, file)?;
    fs::remove_file(&path).map_err(|e| io_error("delete", file, e))
}

/// What went wrong with a file, for the person, without the path some I/O errors carry
/// (tempfile's do): that goes to the log.
pub(crate) fn reason(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "it does not exist".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        kind => kind.to_string(),
    }
}

/// Run file work on a blocking thread; its errors as [`io_error`] says them.
async fn blocking<T: Send + 'static>(
    file: &str,
    action: &str,
    work: impl FnOnce() -> Result<T, CommitError> + Send + 'static,
) -> Result<T, AppError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        // The file is replaced on purpose; nothing else reports that it exists.
        Ok(Err(CommitError::Exists)) => Err(AppError::Conflict(format!("{file:?} exists"))),
        Ok(Err(CommitError::Io(error))) => Err(io_error(action, file, error)),
        Err(error) => Err(AppError::Internal(format!("cannot {action} {file:?}: {error}"))),
    }
}

fn io_error(action: &str, file: &str, error: io::Error) -> AppError {
    tracing::warn!(file, %error, "dashboard: cannot {action} an image");
    match error.kind() {
        io::ErrorKind::PermissionDenied => {
            AppError::Forbidden(format!("cannot {action} {file:?}: lifeboat may not write to the TFTP root"))
        }
        io::ErrorKind::StorageFull => AppError::Internal(format!("cannot {action} {file:?}: the disk is full")),
        _ => AppError::Internal(format!("cannot {action} {file:?} ({}); the lifeboat log says more", reason(&error))),
    }
}

/// Make the directory that will hold `file` (normalized) under `root`: every part of it that
/// exists must resolve inside the root; missing parts are created.
async fn make_parent_dir(root: &Path, file: &str) -> Result<(), AppError> {
    let canonical_root = canonical_root(root)?;
    let mut parts: Vec<&str> = file.split('/').collect();
    parts.pop();
    let mut dir = root.to_path_buf();
    for part in parts {
        dir.push(part);
        match contained(&canonical_root, &dir) {
            Ok(None) => {
                return Err(AppError::Forbidden(format!("{file:?} would be written outside the TFTP root")));
            }
            Ok(Some(resolved)) if !resolved.is_dir() => {
                return Err(AppError::Conflict(format!("{file:?}: {part:?} is a file, not a directory")));
            }
            Ok(Some(_)) => {}
            Err(_) => break,
        }
    }
    let parent = root.join(file).parent().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
    tokio::fs::create_dir_all(&parent).await.map_err(|e| io_error("create the directory of", file, e))
}

/// Write `body` as the image `file` (normalized) under `root`: refuse more than `max` bytes
/// (413), and refuse to replace the file while `in_use(file)` says a transfer uses it (409).
pub(crate) async fn upload(
    root: &Path,
    file: &str,
    body: Body,
    max: u64,
    in_use: impl Fn(&str) -> bool,
) -> Result<Uploaded, AppError> {
    let too_large = || AppError::TooLarge(format!("{file:?} is larger than the upload limit of {max} bytes"));
    let in_use_error =
        || AppError::Conflict(format!("{file:?} is being transferred right now; try again when it ends"));
    if in_use(file) {
        return Err(in_use_error());
    }
    make_parent_dir(root, file).await?;
    let target = root.join(file);
    let replaced = match tokio::fs::symlink_metadata(&target).await {
        Ok(meta) if meta.is_dir() => return Err(AppError::Conflict(format!("{file:?} is a directory"))),
        Ok(_) => true,
        Err(_) => false,
    };
    // The file is written on blocking threads, a chunk at a time (dropped on any error, it
    // removes its temporary file).
    let mut out = blocking(file, "write", {
        let target = target.clone();
        move || AtomicFile::create(target, true)
    })
    .await?;
    let mut hasher = Sha256::new();
    let mut written: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| AppError::BadRequest(format!("the upload of {file:?} broke off: {e}")))?;
        written = written.saturating_add(chunk.len() as u64);
        if written > max {
            return Err(too_large());
        }
        hasher.update(&chunk);
        out = blocking(file, "write", move || out.write_all(&chunk).map(|()| out).map_err(CommitError::Io)).await?;
    }
    if in_use(file) {
        return Err(in_use_error());
    }
    blocking(file, "write", move || out.commit()).await?;
    let (size, modified_ns) = stat(&target).map_err(|e| io_error("read", file, e))?;
    Ok(Uploaded {
        file: ImageFile { file: file.to_owned(), size, modified_ns },
        sha256: hex::encode(hasher.finalize()),
        replaced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized_like_tftp_names() {
        assert_eq!(normalize_name("/openwrt.bin").unwrap(), "openwrt.bin");
        assert_eq!(normalize_name("boot\\x64\\wdsnbp.com").unwrap(), "boot/x64/wdsnbp.com");
        for bad in ["../etc/passwd", "a/../../b", "..", "", "/", "a\0b", "a\nb", ".lifeboat-upload-x.part"] {
            assert!(normalize_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(normalize_name(&"a".repeat(2000)).is_err());
    }

    #[test]
    fn listing_walks_subdirectories_and_skips_escaping_symlinks_and_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), b"x").unwrap();
        fs::write(dir.path().join("a.bin"), b"abc").unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/b.bin"), b"12345").unwrap();
        fs::write(dir.path().join(".lifeboat-upload-1234.part"), b"half").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("escape")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("a.bin"), dir.path().join("inside")).unwrap();
        let names: Vec<(String, u64)> = list(dir.path()).unwrap().into_iter().map(|f| (f.file, f.size)).collect();
        assert_eq!(names, [("a.bin".into(), 3), ("inside".into(), 3), ("sub/b.bin".into(), 5)]);
    }

    #[test]
    fn existing_refuses_symlinks_out_of_the_root_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("escape")).unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("ok.bin"), b"x").unwrap();
        assert!(matches!(existing(dir.path(), "escape"), Err(AppError::Forbidden(_))));
        assert!(matches!(existing(dir.path(), "sub"), Err(AppError::BadRequest(_))));
        assert!(matches!(existing(dir.path(), "missing"), Err(AppError::NotFound(_))));
        assert_eq!(existing(dir.path(), "ok.bin").unwrap(), dir.path().join("ok.bin"));
    }

    #[tokio::test]
    async fn upload_writes_atomically_and_cleans_up_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let done = upload(dir.path(), "sub/new.bin", Body::from("hello"), 100, |_| false).await.unwrap();
        assert_eq!(fs::read(dir.path().join("sub/new.bin")).unwrap(), b"hello");
        assert_eq!(done.sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert!(!done.replaced);

        let err = upload(dir.path(), "big.bin", Body::from(vec![0u8; 101]), 100, |_| false).await.unwrap_err();
        assert!(matches!(err, AppError::TooLarge(_)), "{err:?}");
        let err = upload(dir.path(), "sub/new.bin", Body::from("x"), 100, |_| true).await.unwrap_err();
        assert!(matches!(err, AppError::Conflict(_)), "{err:?}");
        assert_eq!(fs::read(dir.path().join("sub/new.bin")).unwrap(), b"hello");
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary files left behind");
        assert!(!dir.path().join("big.bin").exists());
    }

    #[tokio::test]
    async fn upload_through_a_symlinked_directory_out_of_the_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("evil")).unwrap();
        let err = upload(dir.path(), "evil/x.bin", Body::from("x"), 100, |_| false).await.unwrap_err();
        assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    }
}
