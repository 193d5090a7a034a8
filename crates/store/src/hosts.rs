//! The `hosts` table: devices known by MAC, with the address DHCP gives them, the image DHCP
//! offers and TFTP serves them, and the names under which they ask for it.
//!
//! **Invariant:** no two hosts share a MAC, and no two share an address, and a host's boot
//! profile exists. A change that would
//! break this is refused with [`StoreError::Conflict`] naming the host in the way, and changes
//! nothing; the check and the write run in one write transaction, and the table's unique
//! constraints refuse what another writer slipped in between them (on PostgreSQL, another
//! instance). MACs are stored in lowercase. Ids are never reused.

use std::net::Ipv4Addr;

use sqlx::FromRow;

use crate::error::StoreError;
use crate::store::{BeginWrite as _, Store, with_pool};
use lifeboat_clock::{Clock as _, SystemClock};

/// What a person configures for a device.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostEntry {
    /// `aa:bb:cc:dd:ee:ff`; stored in lowercase.
    pub mac: String,
    pub name: Option<String>,
    /// The address DHCP gives the device.
    pub address: Option<Ipv4Addr>,
    /// The boot file, relative to the TFTP root.
    pub image: Option<String>,
    /// Filenames the device asks for; TFTP serves `image` under each of them.
    pub names: Vec<String>,
    /// The boot profile iPXE on the device boots (a name in `boot_profiles`).
    pub boot_profile: Option<String>,
    pub notes: String,
}

/// A stored host. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub id: i64,
    pub entry: HostEntry,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(FromRow)]
struct HostRow {
    id: i64,
    mac: String,
    name: Option<String>,
    address: Option<String>,
    image: Option<String>,
    names: String,
    boot_profile: Option<String>,
    notes: String,
    created_at: i64,
    updated_at: i64,
}

/// What stands in the way of a host entry: the hosts that have its MAC or address, and whether
/// the boot profile it names exists.
struct Conflicts {
    holders: Vec<HostRow>,
    profile_exists: bool,
}

/// Read the [`Conflicts`] of `$entry` (a `&HostEntry`) inside `$transaction`, leaving out the
/// host `$own` (an `Option<i64>`). A macro rather than a function: it runs on either engine's
/// transaction, inside [`with_pool!`].
macro_rules! find_conflicts {
    ($transaction:ident, $own:expr, $entry:expr) => {
        async {
            let entry: &HostEntry = $entry;
            let profile_exists = match &entry.boot_profile {
                None => true,
                Some(profile) => sqlx::query_scalar::<_, String>("SELECT name FROM boot_profiles WHERE name = $1")
                    .bind(profile)
                    .fetch_optional(&mut *$transaction)
                    .await?
                    .is_some(),
            };
            let holders: Vec<HostRow> = sqlx::query_as(select_hosts!(
                "WHERE (mac = $1 OR address = $2) AND id IS DISTINCT FROM $3 ORDER BY id"
            ))
            .bind(&entry.mac)
            .bind(entry.address.map(|address| address.to_string()))
            .bind($own)
            .fetch_all(&mut *$transaction)
            .await?;
            Ok::<_, sqlx::Error>(Conflicts { holders, profile_exists })
        }
        .await
    };
}

/// `SELECT` of every column of `hosts`, followed by `$rest`.
macro_rules! select_hosts {
    ($rest:literal) => {
        concat!(
            "SELECT id, mac, name, address, image, names, boot_profile, notes, created_at, updated_at FROM hosts ",
            $rest
        )
    };
}

impl Store {
    /// Every host, oldest first.
    pub async fn hosts(&self) -> Result<Vec<Host>, StoreError> {
        let rows: Vec<HostRow> = with_pool!(self, pool => {
            sqlx::query_as(select_hosts!("ORDER BY id")).fetch_all(pool).await
        })
        .map_err(|e| self.error("read the hosts", e))?;
        rows.into_iter().map(|row| self.host_from_row(row)).collect()
    }

    /// The host with this id, if there is one.
    pub async fn host(&self, id: i64) -> Result<Option<Host>, StoreError> {
        let row: Option<HostRow> = with_pool!(self, pool => {
            sqlx::query_as(select_hosts!("WHERE id = $1")).bind(id).fetch_optional(pool).await
        })
        .map_err(|e| self.error("read a host", e))?;
        row.map(|row| self.host_from_row(row)).transpose()
    }

    /// Add a host. Fails with [`StoreError::Conflict`] if another host has its MAC or address.
    pub async fn insert_host(&self, entry: &HostEntry) -> Result<Host, StoreError> {
        let entry = normalized(entry);
        let now = SystemClock.unix_ms();
        let id: i64 = with_pool!(self, pool => {
            let mut transaction = pool.begin_write().await.map_err(|e| self.error("start a transaction", e))?;
            let found = find_conflicts!(transaction, None::<i64>, &entry).map_err(|e| self.error("read the hosts", e))?;
            self.check_unique(found, &entry)?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO hosts (mac, name, address, image, names, boot_profile, notes, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(&entry.mac)
            .bind(&entry.name)
            .bind(entry.address.map(|address| address.to_string()))
            .bind(&entry.image)
            .bind(names_json(&entry.names))
            .bind(&entry.boot_profile)
            .bind(&entry.notes)
            .bind(now)
            .bind(now)
            .fetch_one(&mut *transaction)
            .await
            .map_err(|e| self.host_write_error(e))?;
            transaction.commit().await.map_err(|e| self.host_write_error(e))?;
            id
        });
        Ok(Host { id, entry, created_at: now, updated_at: now })
    }

    /// Replace the host `id` with `entry`; `None` if there is no such host. Fails with
    /// [`StoreError::Conflict`] if another host has the new MAC or address.
    pub async fn update_host(&self, id: i64, entry: &HostEntry) -> Result<Option<Host>, StoreError> {
        let entry = normalized(entry);
        let now = SystemClock.unix_ms();
        let created_at: i64 = with_pool!(self, pool => {
            let mut transaction = pool.begin_write().await.map_err(|e| self.error("start a transaction", e))?;
            let created_at: Option<i64> = sqlx::query_scalar("SELECT created_at FROM hosts WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *transaction)
                .await
                .map_err(|e| self.error("read a host", e))?;
            let Some(created_at) = created_at else {
                return Ok(None);
            };
            let found = find_conflicts!(transaction, Some(id), &entry).map_err(|e| self.error("read the hosts", e))?;
            self.check_unique(found, &entry)?;
            sqlx::query(
                "UPDATE hosts SET mac = $1, name = $2, address = $3, image = $4, names = $5, boot_profile = $6, \
                 notes = $7, updated_at = $8 WHERE id = $9",
            )
            .bind(&entry.mac)
            .bind(&entry.name)
            .bind(entry.address.map(|address| address.to_string()))
            .bind(&entry.image)
            .bind(names_json(&entry.names))
            .bind(&entry.boot_profile)
            .bind(&entry.notes)
            .bind(now)
            .bind(id)
            .execute(&mut *transaction)
            .await
            .map_err(|e| self.host_write_error(e))?;
            transaction.commit().await.map_err(|e| self.host_write_error(e))?;
            created_at
        });
        Ok(Some(Host { id, entry, created_at, updated_at: now }))
    }

    /// Delete the host `id`; `false` if there was no such host.
    pub async fn delete_host(&self, id: i64) -> Result<bool, StoreError> {
        let deleted = with_pool!(self, pool => {
            sqlx::query("DELETE FROM hosts WHERE id = $1").bind(id).execute(pool).await.map(|done| done.rows_affected())
        })
        .map_err(|e| self.error("delete a host", e))?;
        Ok(deleted > 0)
    }

    /// Refuse `entry` if a host other than its own has its MAC or its address (`found.holders`,
    /// read by [`find_conflicts!`]), or if the boot profile it names does not exist.
    fn check_unique(&self, found: Conflicts, entry: &HostEntry) -> Result<(), StoreError> {
        if let Some(profile) = &entry.boot_profile
            && !found.profile_exists
        {
            return Err(StoreError::Conflict { what: format!("there is no boot profile {profile:?}") });
        }
        let holders = found.holders;
        if holders.is_empty() {
            return Ok(());
        }
        let mut problems = Vec::new();
        for holder in &holders {
            if holder.mac == entry.mac {
                problems.push(format!("MAC {} is already used by {}", entry.mac, describe(holder, false)));
            }
            if let Some(address) = entry.address
                && holder.address.as_deref() == Some(address.to_string().as_str())
            {
                problems.push(format!("address {address} is already used by {}", describe(holder, true)));
            }
        }
        Err(StoreError::Conflict { what: problems.join("; ") })
    }

    /// A failed insert or update of a host. A unique violation is a conflict that the check
    /// before the write could not see (another process wrote between them without locking).
    fn host_write_error(&self, error: sqlx::Error) -> StoreError {
        match error.as_database_error() {
            Some(database) if database.is_unique_violation() => {
                StoreError::Conflict { what: "the MAC or the address is already used by another host".to_owned() }
            }
            Some(database) if database.is_foreign_key_violation() => {
                StoreError::Conflict { what: "its boot profile was deleted meanwhile".to_owned() }
            }
            _ => self.error("save a host", error),
        }
    }

    fn host_from_row(&self, row: HostRow) -> Result<Host, StoreError> {
        let id = row.id;
        let bad = |detail: String| self.invalid_row("hosts", format!("id {id}: {detail}"));
        let address = row
            .address
            .map(|text| text.parse::<Ipv4Addr>().map_err(|_| bad(format!("address {text:?} is not an IPv4 address"))))
            .transpose()?;
        let names = serde_json::from_str::<Vec<String>>(&row.names)
            .map_err(|e| bad(format!("names {:?} is not a JSON array of strings: {e}", row.names)))?;
        Ok(Host {
            id,
            entry: HostEntry {
                mac: row.mac,
                name: row.name,
                address,
                image: row.image,
                names,
                boot_profile: row.boot_profile,
                notes: row.notes,
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The entry as it is stored: the MAC in lowercase.
fn normalized(entry: &HostEntry) -> HostEntry {
    HostEntry { mac: entry.mac.to_ascii_lowercase(), ..entry.clone() }
}

fn names_json(names: &[String]) -> String {
    serde_json::Value::from(names.to_vec()).to_string()
}

/// `host 3 "pxe-1"`, followed by the MAC in parentheses when `with_mac`.
fn describe(host: &HostRow, with_mac: bool) -> String {
    let mut text = format!("host {}", host.id);
    if let Some(name) = &host.name {
        text.push_str(&format!(" {name:?}"));
    }
    if with_mac {
        text.push_str(&format!(" ({})", host.mac));
    }
    text
}
