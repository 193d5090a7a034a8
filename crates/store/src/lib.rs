//! The persistence of lifeboat, on SQLite (the embedded default, one file) or PostgreSQL (a
//! fleet of lifeboats sharing one database): the only crate with SQL in it.
//!
//! **Invariant:** the database is always at a schema this build knows (or the store does not
//! open), and a write reported as done is durable: SQLite runs with WAL and `synchronous = FULL`,
//! PostgreSQL with `synchronous_commit = on`. A DHCP ACK that depends on a lease is sent only
//! after the lease's [`Committed`] resolves. The protocol cores never see this crate; the drivers load state from
//! it at start-up and feed changes to it. Nothing here waits on the network, and the history
//! writer ([`LogWriter`]) never makes its callers wait on the disk.
//!
//! Map:
//! - [`store`]: [`Store::connect`], file checks, connection settings, migrations from the
//!   workspace's `migrations/sqlite/` and `migrations/postgres/` folders (embedded at compile
//!   time), and `with_pool!`, which runs one query text on either engine.
//! - [`location`]: [`DatabaseLocation`], a file or a `postgres://` URL (shown without password).
//! - [`leases`]: the `leases` table: [`Lease`], [`LeaseChange`], [`Store::load_leases`],
//!   [`Store::apply`], and [`Store::saved_leases`] ([`SavedLease`]) for the dashboard.
//! - [`writer`]: [`LeaseWriter`], the write-behind task that commits queued lease changes in
//!   groups.
//! - [`changes`]: [`Changes`], what other instances commit to a shared PostgreSQL database, heard
//!   through `LISTEN`.
//! - [`hosts`]: the `hosts` table: [`HostEntry`], [`Host`]; duplicate MACs or addresses are a
//!   [`StoreError::Conflict`].
//! - [`images`]: the `images` table, a digest cache: [`ImageDigest`].
//! - [`instances`]: the lifeboats sharing the database, their heartbeats ([`InstanceRecord`])
//!   and the service changes asked of them ([`InstanceCommand`]).
//! - [`aliases`]: the `aliases` table: [`Alias`], a name under which a file is served.
//! - [`boot_profiles`]: the `boot_profiles` table: [`BootProfile`], what iPXE boots over HTTP.
//! - [`transfers`]: the `transfers` table: [`TransferRecord`], [`Store::insert_transfers`].
//! - [`transfer_page`]: [`Store::transfers_page`] with a [`TransferFilter`], keyset paging
//!   through ordered indexes.
//! - [`missing_files`]: the `missing_files` summary of not-found transfers: [`MissingFile`].
//! - [`events`]: the `events` table: [`Event`], [`EventKind`], [`Store::events_page`].
//! - [`settings`]: the `settings` table, key/value strings.
//! - [`retention`]: [`Retention`], [`Store::prune`] and the [`Pruner`] task: the history is kept
//!   for a number of days and rows, and deleted in small batches beyond that.
//! - [`log_writer`]: [`LogWriter`], which commits transfer records and events in batches and
//!   drops (and counts) what does not fit its bounded queue.
//! - [`scratch`]: [`ScratchDatabase`], a PostgreSQL database of its own for a test.
//! - [`page`]: [`Page`], [`MAX_PAGE`]; [`names`]: the text names of stored enums.
//! - [`error`]: [`StoreError`] (says which file and what to do), [`WriteError`].
//!
//! Each table has a module of its own that adds its methods to [`Store`].

pub mod aliases;
pub mod boot_profiles;
pub mod changes;
mod convert;
pub mod error;
pub mod events;
pub mod hosts;
pub mod images;
pub mod instances;
pub mod leases;
pub mod location;
pub mod log_writer;
mod memory;
pub mod missing_files;
pub mod names;
pub mod page;
pub mod retention;
pub mod scratch;
pub mod settings;
pub mod store;
pub mod transfer_page;
pub mod transfers;
pub mod writer;

pub use aliases::Alias;
pub use boot_profiles::{BootProfile, BootProfileEntry, DEFAULT_BOOT_PROFILE};
pub use changes::{Change, Changes};
pub use error::{StoreError, WriteError};
pub use events::{Event, EventKind, StoredEvent};
pub use hosts::{Host, HostEntry};
pub use images::{ImageCopy, ImageDigest};
pub use instances::{Heartbeat, InstanceCommand, InstanceRecord, MAX_INSTANCE_NAME, check_instance_name};
pub use leases::{ClientKey, Lease, LeaseChange, SavedLease};
pub use location::{BadDatabaseUrl, DatabaseLocation};
pub use log_writer::{LOG_QUEUE_CAPACITY, LogStats, LogWriter};
pub use missing_files::MissingFile;
pub use names::UnknownName;
pub use page::{MAX_PAGE, Page};
pub use retention::{PRUNE_BATCH, Pruned, Pruner, Retention};
pub use scratch::{ScratchDatabase, TEST_SERVER_VARIABLE};
pub use store::Store;
pub use transfer_page::TransferFilter;
pub use transfers::{Direction, StoredTransfer, TransferOutcome, TransferProtocol, TransferRecord};
pub use writer::{Committed, LeaseWriter, MAX_BATCH, WriterStats};
