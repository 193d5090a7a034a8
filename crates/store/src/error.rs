//! The errors of the store, worded for the person who runs lifeboat: which file, what went wrong,
//! and what to do about it.
//!
//! **Invariant:** every [`StoreError`] about the database names the file it is about. SQLite
//! result codes that a person can act on (not a database, disk full, read-only, locked) get their
//! own variant; anything else keeps the driver's error as its source. [`StoreError::Conflict`]
//! is the one error about the change instead of the file: it says which existing row is in the
//! way.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sqlx::migrate::MigrateError;

/// Why opening, reading or writing the database failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: the directory {dir} does not exist; create it or use another database file")]
    MissingDirectory { path: PathBuf, dir: PathBuf },

    #[error("cannot open database {path}: it is a directory; give the path of a file inside it")]
    IsDirectory { path: PathBuf },

    #[error(
        "cannot open database {path}: permission denied; run lifeboat as a user that may read and write the file \
         and create files in its directory"
    )]
    PermissionDenied {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot open database {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "cannot open database {path}: SQLite cannot open it or the -wal/-shm files beside it; check that the \
         directory is writable"
    )]
    CannotOpen {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },

    #[error(
        "{path} is not a SQLite database, or it is damaged; move it aside (lifeboat then starts a new one) or use \
         another database file"
    )]
    NotADatabase {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },

    #[error(
        "database {path} was written by a newer lifeboat: it has schema migration {version}, which this build does \
         not know; run that newer lifeboat or use another database file"
    )]
    NewerSchema { path: PathBuf, version: i64 },

    #[error(
        "database {path}: schema migration {version} was applied with different contents than this build of lifeboat \
         has; it was made by an incompatible build, so move it aside or use another database file"
    )]
    AlteredSchema { path: PathBuf, version: i64 },

    #[error("cannot update the schema of database {path}: {source}")]
    Migrate {
        path: PathBuf,
        #[source]
        source: MigrateError,
    },

    #[error("database {path}: cannot {action}: the disk is full; free space on its file system")]
    DiskFull {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error("database {path}: cannot {action}: the file or its file system is read-only")]
    ReadOnly {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error(
        "database {path}: cannot {action}: another process kept it locked for too long; is another lifeboat using \
         the same file?"
    )]
    Busy {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error("database {path}: cannot {action}: {source}")]
    Sql {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error("database {path}: table {table} holds an invalid row: {detail}")]
    InvalidRow { path: PathBuf, table: &'static str, detail: String },

    /// The change would give a value that must be unique (a host's MAC or address) to a second
    /// row. `what` is a sentence for the person who made the change, e.g. `address 10.0.0.5 is
    /// already used by host 3 "pxe-1" (52:54:00:12:34:56)`.
    #[error("{what}")]
    Conflict { what: String },
}

/// Why a change handed to a writer was not saved. Clonable, so every waiter of a failed
/// transaction gets the same error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("change not saved: {0}")]
    Commit(#[source] Arc<StoreError>),

    #[error("change not saved: the database writer has stopped")]
    Stopped,
}

// SQLite primary result codes (https://sqlite.org/rescode.html); extended codes keep them in the
// low byte.
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_READONLY: i32 = 8;
const SQLITE_CORRUPT: i32 = 11;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;
const SQLITE_NOTADB: i32 = 26;

/// Classify an error of the SQLite driver that happened while trying to `action` on `path`.
pub(crate) fn sql_error(path: &Path, action: &'static str, source: sqlx::Error) -> StoreError {
    let path = path.to_path_buf();
    match primary_code(&source) {
        Some(SQLITE_NOTADB | SQLITE_CORRUPT) => StoreError::NotADatabase { path, source },
        Some(SQLITE_CANTOPEN) => StoreError::CannotOpen { path, source },
        Some(SQLITE_FULL) => StoreError::DiskFull { path, action, source },
        Some(SQLITE_READONLY) => StoreError::ReadOnly { path, action, source },
        Some(SQLITE_BUSY | SQLITE_LOCKED) => StoreError::Busy { path, action, source },
        _ => StoreError::Sql { path, action, source },
    }
}

/// Classify an error of the migrator on `path`.
pub(crate) fn migrate_error(path: &Path, source: MigrateError) -> StoreError {
    let path = path.to_path_buf();
    match source {
        MigrateError::VersionMissing(version) => StoreError::NewerSchema { path, version },
        MigrateError::VersionMismatch(version) => StoreError::AlteredSchema { path, version },
        MigrateError::Execute(source) => sql_error(&path, "update the schema", source),
        source => StoreError::Migrate { path, source },
    }
}

/// Classify an I/O error met while checking or creating the database file itself.
pub(crate) fn file_error(path: &Path, source: io::Error) -> StoreError {
    let path = path.to_path_buf();
    match source.kind() {
        io::ErrorKind::PermissionDenied => StoreError::PermissionDenied { path, source },
        io::ErrorKind::IsADirectory => StoreError::IsDirectory { path },
        _ => StoreError::Io { path, source },
    }
}

fn primary_code(error: &sqlx::Error) -> Option<i32> {
    let code = error.as_database_error()?.code()?;
    code.parse::<i32>().ok().map(|extended| extended & 0xff)
}
