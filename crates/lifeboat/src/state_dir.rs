//! Where the database lives when neither `--db` (or `LIFEBOAT_DB`) nor `db` in the configuration
//! file says: a state directory of its own, `/var/lib/lifeboat/` for root and the XDG state
//! directory otherwise, created readable by its owner only. (Until 0.1 the default was
//! `lifeboat.db` in the working directory, so a stray database appeared wherever lifeboat was
//! started; one found there is still used, with a warning, for one release.)

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use lifeboat_store::DatabaseLocation;

/// The database's file name in the state directory.
pub(crate) const DB_FILE: &str = "lifeboat.db";

/// What the choice of the state directory depends on, read from the process by
/// [`Environment::current`]; a plain value, so the rule is tested without touching the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Environment {
    pub(crate) working_dir: PathBuf,
    pub(crate) root: bool,
    pub(crate) xdg_state_home: Option<PathBuf>,
    pub(crate) home: Option<PathBuf>,
}

impl Environment {
    pub(crate) fn current() -> Environment {
        Environment {
            working_dir: std::env::current_dir().unwrap_or_default(),
            root: nix::unistd::geteuid().is_root(),
            xdg_state_home: std::env::var_os("XDG_STATE_HOME").map(PathBuf::from),
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }
}

/// `/var/lib/lifeboat` for root (the FHS place for a service's state); otherwise
/// `$XDG_STATE_HOME/lifeboat`, or `~/.local/state/lifeboat` (the XDG default). `None` when a user
/// has neither an absolute `XDG_STATE_HOME` nor a `HOME`.
pub(crate) fn state_dir(env: &Environment) -> Option<PathBuf> {
    if env.root {
        return Some(PathBuf::from("/var/lib/lifeboat"));
    }
    // The XDG spec: a relative path in the variable is invalid and ignored.
    let xdg = env.xdg_state_home.as_ref().filter(|p| p.is_absolute());
    let base = match (xdg, &env.home) {
        (Some(xdg), _) => xdg.clone(),
        (None, Some(home)) if home.is_absolute() => home.join(".local/state"),
        _ => return None,
    };
    Some(base.join("lifeboat"))
}

/// `db` when one was given (`--db`, `LIFEBOAT_DB`, the file), else [`default_db`] for this
/// process.
pub(crate) fn given_or_default(db: Option<DatabaseLocation>) -> anyhow::Result<DatabaseLocation> {
    match db {
        Some(db) => Ok(db),
        None => default_db(&Environment::current()).map(DatabaseLocation::File),
    }
}

/// The database to use when none was given: `lifeboat.db` in the working directory if one is
/// there (the old default; a warning says where it belongs now), else `lifeboat.db` in the state
/// directory, which is created (mode 0700) when missing.
pub(crate) fn default_db(env: &Environment) -> anyhow::Result<PathBuf> {
    let dir = state_dir(env).context(
        "no place for the database: HOME is not set; pass --db FILE (or set LIFEBOAT_DB, or db in the configuration file)",
    )?;
    let old = env.working_dir.join(DB_FILE);
    if old.is_file() {
        tracing::warn!(
            "using {}, the default of lifeboat 0.1; the default is now {}: move the file there or pass --db",
            old.display(),
            dir.join(DB_FILE).display()
        );
        return Ok(old);
    }
    create_private_dir(&dir)?;
    Ok(dir.join(DB_FILE))
}

/// Creates `dir` and its missing parents; the last one readable by its owner only (it holds the
/// dashboard's password hash and the lease table).
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {} for the database; pass --db FILE", parent.display()))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot create {} for the database; pass --db FILE", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn env(root: bool, xdg: Option<&str>, home: Option<&str>) -> Environment {
        let working_dir = PathBuf::from("/nonexistent-working-dir");
        Environment { working_dir, root, xdg_state_home: xdg.map(PathBuf::from), home: home.map(PathBuf::from) }
    }

    #[test]
    fn root_keeps_its_state_in_var_lib() {
        let dir = state_dir(&env(true, Some("/x"), Some("/root")));
        assert_eq!(dir, Some(PathBuf::from("/var/lib/lifeboat")));
    }

    #[test]
    fn a_user_gets_the_xdg_state_directory() {
        let dir = |xdg, home| state_dir(&env(false, xdg, home));
        assert_eq!(dir(Some("/s"), Some("/home/a")), Some(PathBuf::from("/s/lifeboat")));
        assert_eq!(dir(None, Some("/home/a")), Some(PathBuf::from("/home/a/.local/state/lifeboat")));
        assert_eq!(
            dir(Some("rel"), Some("/home/a")),
            Some(PathBuf::from("/home/a/.local/state/lifeboat")),
            "relative XDG is ignored"
        );
        assert_eq!(dir(None, None), None);
        assert_eq!(dir(None, Some("")), None, "an empty HOME is no home");
    }

    #[test]
    fn the_state_directory_is_created_private() {
        let base = tempfile::tempdir().unwrap();
        let xdg = base.path().join("state");
        let db = default_db(&env(false, xdg.to_str(), None)).unwrap();
        assert_eq!(db, xdg.join("lifeboat").join(DB_FILE));
        let mode = std::fs::metadata(xdg.join("lifeboat")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert_eq!(default_db(&env(false, xdg.to_str(), None)).unwrap(), db, "a second start finds it");
    }

    #[test]
    fn a_database_in_the_working_directory_is_still_used() {
        let base = tempfile::tempdir().unwrap();
        std::fs::write(base.path().join(DB_FILE), b"").unwrap();
        let xdg = base.path().join("state");
        let found =
            default_db(&Environment { working_dir: base.path().to_path_buf(), ..env(false, xdg.to_str(), None) });
        assert_eq!(found.unwrap(), base.path().join(DB_FILE));
        assert!(!xdg.exists(), "no state directory is made for nothing");
    }

    #[test]
    fn without_a_home_the_message_says_what_to_pass() {
        let error = format!("{:#}", default_db(&env(false, None, None)).unwrap_err());
        assert!(error.contains("--db FILE") && error.contains("LIFEBOAT_DB"), "{error}");
    }
}
