//! The `boot_profiles` table: what a machine boots over HTTP once iPXE runs — a kernel, its
//! initrds and command line, or an iPXE script template of its own.
//!
//! **Invariant:** a profile that a host boots is never deleted (the delete is refused with
//! [`StoreError::Conflict`] naming the hosts, checked and done in one write transaction), and a host never names a profile that does not exist (see `hosts.rs`). What the
//! fields must look like (names, paths, templates) is checked by the callers before they get
//! here; the store keeps what it is given.

use sqlx::FromRow;

use crate::error::StoreError;
use crate::store::{BeginWrite as _, Store, with_pool};
use lifeboat_clock::{Clock as _, SystemClock};

/// The profile machines without one of their own boot.
pub const DEFAULT_BOOT_PROFILE: &str = "default";

/// What a person configures for a boot profile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BootProfileEntry {
    pub name: String,
    /// The kernel, relative to the boot root.
    pub kernel: Option<String>,
    /// The initrds, relative to the boot root, in the order they are loaded.
    pub initrds: Vec<String>,
    /// The kernel's command line (a template).
    pub cmdline: String,
    /// An iPXE script template; `None`: the script is made from the kernel, initrds and command
    /// line.
    pub script: Option<String>,
    pub notes: String,
}

/// A stored boot profile. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootProfile {
    pub entry: BootProfileEntry,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(FromRow)]
struct BootProfileRow {
    name: String,
    kernel: Option<String>,
    initrds: String,
    cmdline: String,
    script: Option<String>,
    notes: String,
    created_at: i64,
    updated_at: i64,
}

/// `SELECT` of every column of `boot_profiles`, followed by `$rest`.
macro_rules! select_profiles {
    ($rest:literal) => {
        concat!(
            "SELECT name, kernel, initrds, cmdline, script, notes, created_at, updated_at FROM boot_profiles ",
            $rest
        )
    };
}

impl Store {
    /// Every boot profile, by name.
    pub async fn boot_profiles(&self) -> Result<Vec<BootProfile>, StoreError> {
        let rows: Vec<BootProfileRow> =
            with_pool!(self, pool => sqlx::query_as(select_profiles!("ORDER BY name")).fetch_all(pool).await)
                .map_err(|e| self.error("read the boot profiles", e))?;
        rows.into_iter().map(|row| self.profile_from_row(row)).collect()
    }

    /// The boot profile called `name`, if there is one.
    pub async fn boot_profile(&self, name: &str) -> Result<Option<BootProfile>, StoreError> {
        let row: Option<BootProfileRow> = with_pool!(self, pool => {
            sqlx::query_as(select_profiles!("WHERE name = $1")).bind(name).fetch_optional(pool).await
        })
        .map_err(|e| self.error("read a boot profile", e))?;
        row.map(|row| self.profile_from_row(row)).transpose()
    }

    /// Add the profile `entry.name`, or replace it (keeping when it was created).
    pub async fn save_boot_profile(&self, entry: &BootProfileEntry) -> Result<BootProfile, StoreError> {
        let now = SystemClock.unix_ms();
        let created_at: i64 = with_pool!(self, pool => sqlx::query_scalar(
            "INSERT INTO boot_profiles (name, kernel, initrds, cmdline, script, notes, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (name) DO UPDATE SET kernel = excluded.kernel, initrds = excluded.initrds, \
             cmdline = excluded.cmdline, script = excluded.script, notes = excluded.notes, \
             updated_at = excluded.updated_at \
             RETURNING created_at",
        )
        .bind(&entry.name)
        .bind(&entry.kernel)
        .bind(serde_json::Value::from(entry.initrds.clone()).to_string())
        .bind(&entry.cmdline)
        .bind(&entry.script)
        .bind(&entry.notes)
        .bind(now)
        .bind(now)
        .fetch_one(pool)
        .await)
        .map_err(|e| self.error("save a boot profile", e))?;
        Ok(BootProfile { entry: entry.clone(), created_at, updated_at: now })
    }

    /// Delete the profile `name`; `false` if there was none. Refused with
    /// [`StoreError::Conflict`] while a host boots it.
    pub async fn delete_boot_profile(&self, name: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let mut transaction = pool.begin_write().await.map_err(|e| self.error("start a transaction", e))?;
            // On PostgreSQL a host saved by another instance between this check and the delete
            // is caught by the foreign key from hosts, and the delete fails as a conflict.
            let users: Vec<(i64, String)> =
                sqlx::query_as("SELECT id, mac FROM hosts WHERE boot_profile = $1 ORDER BY id LIMIT 4")
                    .bind(name)
                    .fetch_all(&mut *transaction)
                    .await
                    .map_err(|e| self.error("read the hosts", e))?;
            if !users.is_empty() {
                let hosts: Vec<String> = users.iter().map(|(id, mac)| format!("host {id} ({mac})")).collect();
                return Err(StoreError::Conflict {
                    what: format!("boot profile {name:?} is booted by {}; give them another first", hosts.join(", ")),
                });
            }
            let result = sqlx::query("DELETE FROM boot_profiles WHERE name = $1")
                .bind(name)
                .execute(&mut *transaction)
                .await
                .map_err(|e| match e.as_database_error() {
                    Some(database) if database.is_foreign_key_violation() => {
                        StoreError::Conflict { what: format!("boot profile {name:?} is booted by a host") }
                    }
                    _ => self.error("delete a boot profile", e),
                })?;
            transaction.commit().await.map_err(|e| self.error("commit a transaction", e))?;
            Ok(result.rows_affected() > 0)
        })
    }

    fn profile_from_row(&self, row: BootProfileRow) -> Result<BootProfile, StoreError> {
        let initrds = serde_json::from_str::<Vec<String>>(&row.initrds).map_err(|e| {
            self.invalid_row(
                "boot_profiles",
                format!("{:?}: initrds {:?} is not a JSON array: {e}", row.name, row.initrds),
            )
        })?;
        Ok(BootProfile {
            entry: BootProfileEntry {
                name: row.name,
                kernel: row.kernel,
                initrds,
                cmdline: row.cmdline,
                script: row.script,
                notes: row.notes,
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}
