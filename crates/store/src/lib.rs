//! The SQLite persistence of lifeboat: the only crate with SQL in it.
//!
//! **Invariant:** the database on disk is always at a schema this build knows (or the store does
//! not open), every connection runs with WAL and `synchronous = FULL`, and a write reported as
//! done is on disk: a DHCP ACK that depends on a lease is sent only after the lease's
//! [`Committed`] resolves. The protocol cores never see this crate; the drivers load state from
//! it at start-up and feed changes to it.
//!
//! Map:
//! - [`store`]: [`Store::open`], file checks, connection settings, migrations from the
//!   workspace's `migrations/` folder (embedded at compile time).
//! - [`leases`]: the `leases` table: [`Lease`], [`LeaseChange`], [`Store::load_leases`],
//!   [`Store::apply`].
//! - [`writer`]: [`LeaseWriter`], the write-behind task that commits queued lease changes in
//!   groups.
//! - [`error`]: [`StoreError`] (says which file and what to do), [`WriteError`].
//!
//! Each table has a module of its own that adds its methods to [`Store`].

pub mod error;
pub mod leases;
pub mod store;
pub mod writer;

pub use error::{StoreError, WriteError};
pub use leases::{Lease, LeaseChange};
pub use store::Store;
pub use writer::{Committed, LeaseWriter, MAX_BATCH, WriterStats};
