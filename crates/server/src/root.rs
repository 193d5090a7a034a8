//! From a requested filename to a file under the TFTP root.
//!
//! The name first passes the core's lexical policy (no `..`, no control characters). Then an
//! alias may redirect it; then the exact path is tried, then a case-insensitive match, since
//! firmware written for Windows servers asks for `PXELINUX.0` or `Boot\BCD`. The final path is
//! resolved through every symlink and must still lie inside the root.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use lifeboat_tftp::policy::{self, PathError, RelativePath};

/// The directory served, with its aliases.
#[derive(Debug, Clone)]
pub(crate) struct Root {
    /// Canonical path of the root.
    dir: PathBuf,
    /// Lower-cased requested name → target.
    aliases: BTreeMap<String, PathBuf>,
}

/// Why a request cannot be served from the root.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LookupError {
    #[error("{0}")]
    Refused(#[from] PathError),
    #[error("the path leads outside the TFTP root")]
    OutsideRoot,
    #[error("names starting with .lifeboat-partial- belong to unfinished uploads")]
    Reserved,
    #[error("no such file")]
    NotFound,
    #[error("not a regular file")]
    NotAFile,
    #[error("cannot read: {0}")]
    Io(#[source] io::Error),
}

/// The root directory does not exist or is not a directory.
#[derive(Debug, thiserror::Error)]
#[error("the TFTP root {} is not usable: {source} — create it, or point --tftp-root at the folder with your images", dir.display())]
pub struct RootError {
    pub dir: PathBuf,
    #[source]
    pub source: io::Error,
}

impl Root {
    pub(crate) fn new(dir: &Path, aliases: &BTreeMap<String, PathBuf>) -> Result<Root, RootError> {
        let error = |source| RootError { dir: dir.to_owned(), source };
        let canonical = fs::canonicalize(dir).map_err(error)?;
        if !canonical.is_dir() {
            return Err(error(io::Error::new(io::ErrorKind::NotADirectory, "not a directory")));
        }
        let aliases = aliases.iter().map(|(name, target)| (alias_key(name), canonical.join(target))).collect();
        Ok(Root { dir: canonical, aliases })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The aliases whose file is not there now (the name as configured, and the file it
    /// points to): a device asking for such a name gets "file not found". Blocking.
    pub(crate) fn aliases_without_file(&self) -> Vec<(String, PathBuf)> {
        let mut missing: Vec<(String, PathBuf)> = self
            .aliases
            .iter()
            .filter(|(_, target)| regular_file((*target).clone()).is_err())
            .map(|(name, target)| (name.clone(), target.clone()))
            .collect();
        missing.sort();
        missing
    }

    /// Whether a missing `requested` may be answered with a stand-in (the armed image): a name
    /// TFTP accepts, not a configured alias (its file is missing: the operator should hear
    /// so, not have it replaced) and not a temporary file's name.
    pub(crate) fn may_stand_in(&self, requested: &[u8]) -> bool {
        let Ok(relative) = policy::normalize(requested) else { return false };
        let name = relative.to_string();
        let last = name.rsplit('/').next().unwrap_or_default();
        !self.aliases.contains_key(&alias_key(&name)) && !crate::upload::is_temp_name(last)
    }

    /// Finds the file to serve for `requested`. Does blocking file-system calls.
    pub(crate) fn resolve(&self, requested: &[u8]) -> Result<PathBuf, LookupError> {
        let relative = policy::normalize(requested)?;
        if let Some(target) = self.aliases.get(&alias_key(&relative.to_string())) {
            // An alias is the operator's explicit choice; an absolute target may lie anywhere.
            return regular_file(target.clone());
        }
        let candidate = self.find(&relative).ok_or(LookupError::NotFound)?;
        let real = fs::canonicalize(&candidate).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => LookupError::NotFound,
            _ => LookupError::Io(e),
        })?;
        if !real.starts_with(&self.dir) {
            return Err(LookupError::OutsideRoot);
        }
        // An upload in progress must not be read half-written, by its name or through a link.
        if real.file_name().is_some_and(|name| crate::upload::is_temp_name(&name.to_string_lossy())) {
            return Err(LookupError::Reserved);
        }
        regular_file(real)
    }

    /// The exact path if it exists, else the first case-insensitive match, component by component.
    fn find(&self, relative: &RelativePath) -> Option<PathBuf> {
        let exact = relative.components().iter().fold(self.dir.clone(), |path, part| path.join(part));
        if fs::symlink_metadata(&exact).is_ok() {
            return Some(exact);
        }
        let mut path = self.dir.clone();
        for part in relative.components() {
            let direct = path.join(part);
            if fs::symlink_metadata(&direct).is_ok() {
                path = direct;
                continue;
            }
            let wanted = part.to_lowercase();
            let mut matches: Vec<_> = fs::read_dir(&path)
                .ok()?
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter(|name| name.to_lowercase() == wanted)
                .collect();
            matches.sort();
            path = path.join(matches.first()?);
        }
        Some(path)
    }
}

fn alias_key(name: &str) -> String {
    name.trim_start_matches(['/', '\\']).replace('\\', "/").to_lowercase()
}

fn regular_file(path: PathBuf) -> Result<PathBuf, LookupError> {
    match fs::metadata(&path) {
        Ok(meta) if meta.is_file() => Ok(path),
        Ok(_) => Err(LookupError::NotAFile),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(LookupError::NotFound),
        Err(e) => Err(LookupError::Io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Root) {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("root");
        fs::create_dir_all(root.join("Boot/x64")).unwrap();
        fs::write(root.join("pxelinux.0"), b"pxe").unwrap();
        fs::write(root.join("Boot/x64/BCD"), b"bcd").unwrap();
        fs::write(root.join("openwrt-factory.bin"), b"owrt").unwrap();
        fs::write(base.path().join("secret"), b"secret").unwrap();
        std::os::unix::fs::symlink(base.path().join("secret"), root.join("escape")).unwrap();
        std::os::unix::fs::symlink("pxelinux.0", root.join("inside-link")).unwrap();
        let aliases = BTreeMap::from([("tp_recovery.bin".to_owned(), PathBuf::from("openwrt-factory.bin"))]);
        let root = Root::new(&root, &aliases).unwrap();
        (base, root)
    }

    #[test]
    fn aliases_to_files_that_are_not_there_are_named() {
        let (base, _) = setup();
        let aliases = BTreeMap::from([
            ("tp_recovery.bin".to_owned(), PathBuf::from("openwrt-factory.bin")),
            ("WR841Nv8_tp_recovery.bin".to_owned(), PathBuf::from("not-downloaded-yet.bin")),
            ("boot".to_owned(), PathBuf::from("Boot")),
        ]);
        let root = Root::new(&base.path().join("root"), &aliases).unwrap();
        let missing: Vec<String> = root.aliases_without_file().into_iter().map(|(name, _)| name).collect();
        assert_eq!(missing, ["boot", "wr841nv8_tp_recovery.bin"], "a folder is not a file either");
    }

    fn read(root: &Root, name: &str) -> Result<String, LookupError> {
        root.resolve(name.as_bytes()).map(|p| fs::read_to_string(p).unwrap())
    }

    #[test]
    fn exact_leading_slash_and_backslash_names_resolve() {
        let (_tmp, root) = setup();
        assert_eq!(read(&root, "pxelinux.0").unwrap(), "pxe");
        assert_eq!(read(&root, "/pxelinux.0").unwrap(), "pxe");
        assert_eq!(read(&root, "\\Boot\\x64\\BCD").unwrap(), "bcd");
    }

    #[test]
    fn case_insensitive_match_is_the_fallback() {
        let (_tmp, root) = setup();
        assert_eq!(read(&root, "PXELINUX.0").unwrap(), "pxe");
        assert_eq!(read(&root, "boot/X64/bcd").unwrap(), "bcd");
    }

    #[test]
    fn aliases_map_a_requested_name_to_a_file() {
        let (_tmp, root) = setup();
        assert_eq!(read(&root, "TP_Recovery.bin").unwrap(), "owrt");
        assert_eq!(read(&root, "/tp_recovery.bin").unwrap(), "owrt");
    }

    #[test]
    fn symlinks_out_of_the_root_are_refused_and_inside_ones_followed() {
        let (_tmp, root) = setup();
        assert!(matches!(read(&root, "escape"), Err(LookupError::OutsideRoot)));
        assert_eq!(read(&root, "inside-link").unwrap(), "pxe");
    }

    #[test]
    fn unfinished_uploads_are_never_served() {
        let (_tmp, root) = setup();
        fs::write(root.dir().join(".lifeboat-upload-x1"), b"half").unwrap();
        std::os::unix::fs::symlink(".lifeboat-upload-x1", root.dir().join("looks-fine.bin")).unwrap();
        for name in [".lifeboat-upload-x1", ".LIFEBOAT-UPLOAD-X1", "looks-fine.bin"] {
            assert!(matches!(read(&root, name), Err(LookupError::Reserved)), "{name}");
        }
    }

    #[test]
    fn parent_paths_missing_files_and_directories_are_refused() {
        let (_tmp, root) = setup();
        assert!(matches!(read(&root, "../secret"), Err(LookupError::Refused(PathError::ParentDirectory))));
        assert!(matches!(read(&root, "..\\secret"), Err(LookupError::Refused(PathError::ParentDirectory))));
        assert!(matches!(read(&root, "missing.bin"), Err(LookupError::NotFound)));
        assert!(matches!(read(&root, "Boot"), Err(LookupError::NotAFile)));
    }

    #[test]
    fn a_missing_root_is_a_clear_error() {
        let err = Root::new(Path::new("/nonexistent/lifeboat-root"), &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/lifeboat-root"), "{err}");
        assert!(err.to_string().contains("--tftp-root"), "{err}");
    }
}
