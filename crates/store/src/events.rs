//! The `events` table: what happened, for the events page (services started and stopped,
//! refusals, configuration changes and who made them, failed logins).
//!
//! **Invariant:** events are only inserted, each with a larger id than every event before it, and
//! read newest first by id; events inserted in one call keep their order.

use sqlx::FromRow;

use crate::error::StoreError;
use crate::names::stored_names;
use crate::page::{Page, into_page, page_rows};
use crate::store::{BeginWrite as _, Store, with_pool};

stored_names! {
    /// What kind of thing happened.
    pub enum EventKind ("event kind") {
        ServiceStarted => "service_started",
        ServiceStopped => "service_stopped",
        /// A service stopped by itself (e.g. its interface went away).
        AutoStopped => "auto_stopped",
        /// A request was refused by policy, or requests from outside the allow-list were dropped.
        Refused => "refused",
        /// A client asked more often than its budget of records: its requests were answered but
        /// only counted.
        Throttled => "throttled",
        /// A client asked for a file that does not exist.
        MissingFile => "missing_file",
        /// Another DHCP server answers on a segment lifeboat serves.
        OtherDhcpServer => "other_dhcp_server",
        HostAdded => "host_added",
        HostChanged => "host_changed",
        HostDeleted => "host_deleted",
        ImageUploaded => "image_uploaded",
        ImageDeleted => "image_deleted",
        AliasAdded => "alias_added",
        AliasDeleted => "alias_deleted",
        BootProfileSaved => "boot_profile_saved",
        BootProfileDeleted => "boot_profile_deleted",
        LoginFailed => "login_failed",
        /// Too many failed logins: password logins are locked for a while.
        LoginLocked => "login_locked",
        /// A lockout of password logins ended early (a correct password, `lifeboat passwd`).
        LoginUnlocked => "login_unlocked",
        /// Settings saved from the dashboard.
        SettingsChanged => "settings_changed",
        /// An API key for scripts was created (replacing any other) or revoked.
        ApiKeyCreated => "api_key_created",
        ApiKeyRevoked => "api_key_revoked",
        /// A DHCP lease was released from the dashboard.
        LeaseReleased => "lease_released",
        /// A device asks (by ARP) for an address nobody on its segment has: it is waiting for a
        /// server there.
        AddressWanted => "address_wanted",
        /// lifeboat added an address to an interface to answer there, or removed it again.
        AddressClaimed => "address_claimed",
        AddressReleased => "address_released",
        /// An image was armed for a recovery (a device asking for a missing file gets it), or
        /// disarmed.
        ImageArmed => "image_armed",
        ImageDisarmed => "image_disarmed",
        /// A recovery started from the dashboard, and how it ended.
        RecoveryStarted => "recovery_started",
        RecoveryEnded => "recovery_ended",
    }
}

/// Something that happened. `at` is Unix ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: i64,
    pub kind: EventKind,
    /// Who or what caused it, e.g. `web 10.0.0.5 (admin)` or `tftp`.
    pub origin: String,
    pub detail: String,
}

/// An event as it is stored, with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: i64,
    /// The lifeboat it happened on ('' for events from before instances had names).
    pub instance: String,
    pub event: Event,
}

/// One page of events of every instance, newest first: those before id `$1`, at most `$2`.
pub(crate) const EVENTS_PAGE_QUERY: &str = "SELECT id, at, kind, origin, detail, instance FROM events \
     WHERE id < $1 ORDER BY id DESC LIMIT $2";

/// One page of the events of the instance `$1`, newest first: those before id `$2`, at most
/// `$3`. A query of its own, so that it walks the index on (instance, id) instead of every
/// instance's events.
pub(crate) const INSTANCE_EVENTS_PAGE_QUERY: &str = "SELECT id, at, kind, origin, detail, instance FROM events \
     WHERE instance = $1 AND id < $2 ORDER BY id DESC LIMIT $3";

#[derive(FromRow)]
struct EventRow {
    id: i64,
    at: i64,
    kind: String,
    origin: String,
    detail: String,
    instance: String,
}

impl Store {
    /// Insert `events` in one transaction, in order. The [`LogWriter`](crate::LogWriter) is the
    /// usual way in.
    pub async fn insert_events(&self, events: &[Event]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let instance = self.instance();
        with_pool!(self, pool => {
            let mut transaction = pool.begin_write().await.map_err(|e| self.error("start a transaction", e))?;
            insert_event_rows!(transaction, events, instance).map_err(|e| self.error("save events", e))?;
            transaction.commit().await.map_err(|e| self.error("commit a transaction", e))
        })
    }

    /// The events before id `before` (or the newest when `None`) that happened on the lifeboat
    /// named `instance` (on any when `None`), newest first, at most `limit` (clamped to
    /// `1..=MAX_PAGE`).
    pub async fn events_page(
        &self,
        before: Option<i64>,
        instance: Option<&str>,
        limit: u32,
    ) -> Result<Page<StoredEvent>, StoreError> {
        let rows = page_rows(limit);
        let before = before.unwrap_or(i64::MAX);
        let fetch = i64::try_from(rows + 1).unwrap_or(i64::MAX);
        let found: Vec<EventRow> = with_pool!(self, pool => {
            match instance {
                None => sqlx::query_as(EVENTS_PAGE_QUERY).bind(before).bind(fetch).fetch_all(pool).await,
                Some(instance) => {
                    sqlx::query_as(INSTANCE_EVENTS_PAGE_QUERY).bind(instance).bind(before).bind(fetch).fetch_all(pool).await
                }
            }
        })
        .map_err(|e| self.error("read the events", e))?;
        let items = found.into_iter().map(|row| self.event_from_row(row)).collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(items, rows, |event| event.id))
    }

    fn event_from_row(&self, row: EventRow) -> Result<StoredEvent, StoreError> {
        let kind =
            row.kind.parse::<EventKind>().map_err(|e| self.invalid_row("events", format!("id {}: {e}", row.id)))?;
        Ok(StoredEvent {
            id: row.id,
            instance: row.instance,
            event: Event { at: row.at, kind, origin: row.origin, detail: row.detail },
        })
    }
}

/// Rows per statement: 5 parameters each.
pub(crate) const ROWS_PER_STATEMENT: usize = 1000;

/// Insert `$events` (a `&[Event]`) in order inside `$transaction`, as multi-row statements, with
/// the instance name `$instance`. A macro rather than a function: it runs on either engine's
/// transaction, inside [`with_pool!`]. Evaluates to `Result<(), sqlx::Error>`.
macro_rules! insert_event_rows {
    ($transaction:ident, $events:expr, $instance:expr) => {
        async {
            let events: &[$crate::events::Event] = $events;
            let instance: &str = $instance;
            for chunk in events.chunks($crate::events::ROWS_PER_STATEMENT) {
                let mut query = sqlx::QueryBuilder::new("INSERT INTO events (at, kind, origin, detail, instance) ");
                query.push_values(chunk, |mut row, event| {
                    row.push_bind(event.at)
                        .push_bind(event.kind.as_str())
                        .push_bind(event.origin.clone())
                        .push_bind(event.detail.clone())
                        .push_bind(instance.to_owned());
                });
                query.build().execute(&mut *$transaction).await?;
            }
            Ok::<(), sqlx::Error>(())
        }
        .await
    };
}
pub(crate) use insert_event_rows;
