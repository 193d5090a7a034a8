//! The `instances` and `instance_commands` tables: the lifeboats of a fleet that share this
//! database, each with its heartbeat and its services; and the service changes one instance's
//! dashboard asks of another.
//!
//! **Invariant:** an instance writes only its own row of `instances` (named by
//! [`Store::instance`]), and marks done only commands addressed to it. A command is carried out
//! at most once: [`Store::take_commands`] marks what it returns as taken in the same statement.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use sqlx::FromRow;

use crate::error::StoreError;
use crate::store::{Store, with_pool};

/// Longest instance name: a DNS label's length, so a host name always fits.
pub const MAX_INSTANCE_NAME: usize = 63;

/// Whether `name` can name an instance: 1 to 63 letters, digits, `.`, `_` or `-`. The name is
/// shown on pages, used in filters and in URLs, so nothing that needs quoting.
pub fn check_instance_name(name: &str) -> Result<(), String> {
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > MAX_INSTANCE_NAME || !name.chars().all(fine) {
        return Err(format!(
            "instance {name:?}: use 1 to {MAX_INSTANCE_NAME} letters, digits, '.', '_' or '-' (for example rack-3)"
        ));
    }
    Ok(())
}

/// What an instance says about itself with each heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Heartbeat {
    /// Unix ms when this process started.
    pub started_at: i64,
    /// Unix ms of this heartbeat.
    pub at: i64,
    pub version: String,
    /// Where its dashboard listens, e.g. `0.0.0.0:8080`; empty without one.
    pub dashboard: String,
    /// Each service's slug (`tftp`, `dhcp`, `http`) and state (`running`, `stopped`, `failed`,
    /// `not configured`).
    pub services: BTreeMap<String, String>,
    /// The DHCP ranges it serves, as `start-end`, while its DHCP server runs.
    pub dhcp_ranges: Vec<String>,
    /// The IPv4 addresses of its machine: its DHCP replies come from one of them.
    pub addresses: Vec<Ipv4Addr>,
}

/// An instance as the database knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRecord {
    pub name: String,
    /// Its last heartbeat.
    pub beat: Heartbeat,
}

/// A service change asked of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceCommand {
    pub id: i64,
    /// The instance that carries it out.
    pub instance: String,
    /// `tftp`, `dhcp` or `http`.
    pub service: String,
    /// `start` or `stop`.
    pub action: String,
    /// Who asked.
    pub origin: String,
    pub issued_at: i64,
    /// When it was carried out, and what came of it (`Some("")` when it worked).
    pub done_at: Option<i64>,
    pub outcome: Option<String>,
}

#[derive(FromRow)]
struct InstanceRow {
    name: String,
    started_at: i64,
    seen_at: i64,
    version: String,
    dashboard: String,
    services: String,
    dhcp_ranges: String,
    addresses: String,
}

#[derive(FromRow)]
struct CommandRow {
    id: i64,
    instance: String,
    service: String,
    action: String,
    origin: String,
    issued_at: i64,
    done_at: Option<i64>,
    outcome: Option<String>,
}

impl From<CommandRow> for InstanceCommand {
    fn from(row: CommandRow) -> InstanceCommand {
        InstanceCommand {
            id: row.id,
            instance: row.instance,
            service: row.service,
            action: row.action,
            origin: row.origin,
            issued_at: row.issued_at,
            done_at: row.done_at,
            outcome: row.outcome,
        }
    }
}

/// The outcome a taken command holds until its instance writes the real one.
const TAKEN: &str = "taken";

const COMMAND_COLUMNS: &str = "id, instance, service, action, origin, issued_at, done_at, outcome";

impl Store {
    /// Write this instance's heartbeat (its row of `instances`, created on the first beat).
    pub async fn beat(&self, beat: &Heartbeat) -> Result<(), StoreError> {
        let services = serde_json::to_string(&beat.services).unwrap_or_else(|_| "{}".to_owned());
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO instances (name, started_at, seen_at, version, dashboard, services, dhcp_ranges, \
                 addresses) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at, seen_at = excluded.seen_at, \
                 version = excluded.version, dashboard = excluded.dashboard, services = excluded.services, \
                 dhcp_ranges = excluded.dhcp_ranges, addresses = excluded.addresses",
            )
            .bind(self.instance())
            .bind(beat.started_at)
            .bind(beat.at)
            .bind(&beat.version)
            .bind(&beat.dashboard)
            .bind(services)
            .bind(beat.dhcp_ranges.join(" "))
            .bind(beat.addresses.iter().map(Ipv4Addr::to_string).collect::<Vec<_>>().join(" "))
            .execute(pool)
            .await
            .map(drop)
        })
        .map_err(|e| self.error("save the heartbeat", e))
    }

    /// Every instance that ever beat on this database, by name.
    pub async fn instances(&self) -> Result<Vec<InstanceRecord>, StoreError> {
        let rows: Vec<InstanceRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT name, started_at, seen_at, version, dashboard, services, dhcp_ranges, addresses \
                 FROM instances ORDER BY name",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.error("read the instances", e))?;
        rows.into_iter()
            .map(|row| {
                let services = serde_json::from_str(&row.services).map_err(|e| {
                    self.invalid_row("instances", format!("{}: services {:?}: {e}", row.name, row.services))
                })?;
                Ok(InstanceRecord {
                    name: row.name,
                    beat: Heartbeat {
                        started_at: row.started_at,
                        at: row.seen_at,
                        version: row.version,
                        dashboard: row.dashboard,
                        services,
                        dhcp_ranges: row.dhcp_ranges.split_whitespace().map(str::to_owned).collect(),
                        // An address this lifeboat cannot read was written by a newer one: skipped.
                        addresses: row.addresses.split_whitespace().filter_map(|a| a.parse().ok()).collect(),
                    },
                })
            })
            .collect()
    }

    /// Ask `instance` to `action` its `service`; the command's id.
    pub async fn issue_command(
        &self,
        instance: &str,
        service: &str,
        action: &str,
        origin: &str,
        at: i64,
    ) -> Result<i64, StoreError> {
        with_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO instance_commands (instance, service, action, origin, issued_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(instance)
            .bind(service)
            .bind(action)
            .bind(origin)
            .bind(at)
            .fetch_one(pool)
            .await
        })
        .map_err(|e| self.error("save a command", e))
    }

    /// The commands addressed to this instance that nobody has taken yet, oldest first, marked
    /// as taken at `at` in the same statement: two loops of one instance never both get one.
    pub async fn take_commands(&self, at: i64) -> Result<Vec<InstanceCommand>, StoreError> {
        let sql = format!(
            "UPDATE instance_commands SET done_at = $1, outcome = '{TAKEN}' \
             WHERE instance = $2 AND done_at IS NULL RETURNING {COMMAND_COLUMNS}"
        );
        let mut rows: Vec<CommandRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(at).bind(self.instance()).fetch_all(pool).await
        })
        .map_err(|e| self.error("take the commands", e))?;
        rows.sort_by_key(|row| row.id);
        Ok(rows.into_iter().map(InstanceCommand::from).collect())
    }

    /// Write what came of command `id`: `""` when it worked, else why not.
    pub async fn finish_command(&self, id: i64, outcome: &str, at: i64) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE instance_commands SET done_at = $1, outcome = $2 WHERE id = $3")
                .bind(at)
                .bind(outcome)
                .bind(id)
                .execute(pool)
                .await
                .map(drop)
        })
        .map_err(|e| self.error("save a command's outcome", e))
    }

    /// Withdraw command `id` if its instance has not taken it yet, with `why` as its outcome:
    /// an instance that comes back later does not carry out what nobody waits for any more.
    /// `true` when it was withdrawn, `false` when it had been taken.
    pub async fn withdraw_command(&self, id: i64, why: &str, at: i64) -> Result<bool, StoreError> {
        let withdrawn = with_pool!(self, pool => {
            sqlx::query("UPDATE instance_commands SET done_at = $1, outcome = $2 WHERE id = $3 AND done_at IS NULL")
                .bind(at)
                .bind(why)
                .bind(id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(|e| self.error("withdraw a command", e))?;
        Ok(withdrawn > 0)
    }

    /// Command `id` as it stands; `None` if there is none.
    pub async fn command(&self, id: i64) -> Result<Option<InstanceCommand>, StoreError> {
        let sql = format!("SELECT {COMMAND_COLUMNS} FROM instance_commands WHERE id = $1");
        let row: Option<CommandRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(pool).await
        })
        .map_err(|e| self.error("read a command", e))?;
        Ok(row.map(InstanceCommand::from))
    }
}

impl InstanceCommand {
    /// Whether the instance has carried it out (taken and finished).
    pub fn is_finished(&self) -> bool {
        self.outcome.as_deref().is_some_and(|outcome| outcome != TAKEN)
    }
}
