//! The errors of the store, worded for the person who runs lifeboat: which file, what went wrong,
//! and what to do about it.
//!
//! **Invariant:** every [`StoreError`] about the database names the file or the PostgreSQL URL
//! (without its password) it is about. Result codes that a person can act on (not a database,
//! disk full, read-only, locked, a server that does not answer) get their own variant; anything else keeps the driver's error as its source. [`StoreError::Conflict`]
//! is the one error about the change instead of the file: it says which existing row is in the
//! way.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sqlx::migrate::MigrateError;

use crate::location::DatabaseLocation;

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
        "database {database} was written by a newer lifeboat: it has schema migration {version}, which this build \
         does not know; run that newer lifeboat or use another database"
    )]
    NewerSchema { database: String, version: i64 },

    #[error(
        "database {database}: schema migration {version} was applied with different contents than this build of \
         lifeboat has; it was made by an incompatible build, so move it aside or use another database"
    )]
    AlteredSchema { database: String, version: i64 },

    #[error("cannot update the schema of database {database}: {source}")]
    Migrate {
        database: String,
        #[source]
        source: MigrateError,
    },

    #[error("database {database}: cannot {action}: the disk is full; free space on its file system")]
    DiskFull {
        database: String,
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error("database {database}: cannot {action}: the database, its file or its file system is read-only")]
    ReadOnly {
        database: String,
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error(
        "database {database}: cannot {action}: another process kept it locked for too long; is another lifeboat \
         using the same file?"
    )]
    Busy {
        database: String,
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error(
        "database {database}: cannot {action}: the PostgreSQL server does not answer ({source}); check that it runs \
         and that this machine can reach it"
    )]
    Unreachable {
        database: String,
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error("database {database}: {source}")]
    BadUrl {
        database: String,
        #[source]
        source: sqlx::Error,
    },

    #[error("database {database}: cannot {action}: {source}")]
    Sql {
        database: String,
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error("database {database}: table {table} holds an invalid row: {detail}")]
    InvalidRow { database: String, table: &'static str, detail: String },

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

// PostgreSQL SQLSTATEs a person can act on (https://www.postgresql.org/docs/current/errcodes-appendix.html).
const PG_DISK_FULL: &str = "53100";
const PG_READ_ONLY_TRANSACTION: &str = "25006";
const PG_LOCK_NOT_AVAILABLE: &str = "55P03";

/// Classify an error of the driver that happened while trying to `action` on `location`.
pub(crate) fn sql_error(location: &DatabaseLocation, action: &'static str, source: sqlx::Error) -> StoreError {
    match location {
        DatabaseLocation::File(path) => sqlite_error(path, action, source),
        DatabaseLocation::Postgres(_) => postgres_error(location.to_string(), action, source),
    }
}

fn sqlite_error(path: &Path, action: &'static str, source: sqlx::Error) -> StoreError {
    let database = path.display().to_string();
    let path = path.to_path_buf();
    match primary_code(&source) {
        Some(SQLITE_NOTADB | SQLITE_CORRUPT) => StoreError::NotADatabase { path, source },
        Some(SQLITE_CANTOPEN) => StoreError::CannotOpen { path, source },
        Some(SQLITE_FULL) => StoreError::DiskFull { database, action, source },
        Some(SQLITE_READONLY) => StoreError::ReadOnly { database, action, source },
        Some(SQLITE_BUSY | SQLITE_LOCKED) => StoreError::Busy { database, action, source },
        _ => StoreError::Sql { database, action, source },
    }
}

fn postgres_error(database: String, action: &'static str, source: sqlx::Error) -> StoreError {
    if is_unreachable(&source) {
        return StoreError::Unreachable { database, action, source };
    }
    let code = source.as_database_error().and_then(|e| e.code()).map(|code| code.into_owned());
    match code.as_deref() {
        Some(PG_DISK_FULL) => StoreError::DiskFull { database, action, source },
        Some(PG_READ_ONLY_TRANSACTION) => StoreError::ReadOnly { database, action, source },
        Some(PG_LOCK_NOT_AVAILABLE) => StoreError::Busy { database, action, source },
        _ => StoreError::Sql { database, action, source },
    }
}

/// Whether `error` says the server could not be reached or the connection to it was lost, as
/// opposed to the server refusing a statement.
pub(crate) fn is_unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exception; 57P01..57P03: the server is shutting down or starting.
        sqlx::Error::Database(database) => database
            .code()
            .is_some_and(|code| code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")),
        _ => false,
    }
}

impl StoreError {
    /// Whether the database could not be reached (the PostgreSQL server is down or the network
    /// to it is): what failed may succeed once it is back.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, StoreError::Unreachable { .. })
    }
}

/// Classify an error of the migrator on `location`.
pub(crate) fn migrate_error(location: &DatabaseLocation, source: MigrateError) -> StoreError {
    let database = location.to_string();
    match source {
        MigrateError::VersionMissing(version) => StoreError::NewerSchema { database, version },
        MigrateError::VersionMismatch(version) => StoreError::AlteredSchema { database, version },
        MigrateError::Execute(source) => sql_error(location, "update the schema", source),
        source => StoreError::Migrate { database, source },
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
