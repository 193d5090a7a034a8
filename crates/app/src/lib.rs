//! lifeboat's application layer, as a library: everything between the servers of
//! `lifeboat-server` and the command line.
//!
//! [`App::start`] opens the parts (host directory, lease book, activity, the store's writers),
//! starts the services the configuration turns on and the dashboard, and [`App::wait`] runs them
//! until shutdown and stops them in order. Sockets come from a [`Binder`] and the time of day from
//! a [`Clock`](lifeboat_clock::Clock), so tests run the whole application in process, on
//! loopback and tokio's paused time.
//!
//! Map:
//! - `app.rs`: [`App`], [`AppConfig`], start-up and the orderly stop.
//! - `binder.rs`: [`Binder`], how services get their sockets ([`SystemBinder`] binds for real).
//! - `services.rs`: starting and stopping TFTP and DHCP, stop-when-idle, their status.
//! - `activity.rs`: the TFTP observer: live list, counters, MAC lookup, host images, records.
//! - `dhcp_activity.rs`: the recent DHCP and BOOTP requests and what became of each.
//! - `host_directory.rs`: the dashboard's hosts and aliases as DHCP and TFTP see them.
//! - `lease_book.rs`: the leases DHCP holds, in memory; `lease_store.rs`: the store's lease
//!   writer as the DHCP server's sink.
//! - `dashboard.rs`: the dashboard's [`Control`](lifeboat_web::Control) and its start-up.
//! - `error_text.rs`: an error and its causes on one line.
//! - `settings.rs`: the dashboard's settings: the [`Configurator`] the binary gives, the key they
//!   are stored under; `services.rs` restarts what they change.
//! - `recovery.rs`: the dashboard's recovery (the `lifeboat recover` flow in a running lifeboat).
//! - `doctor/`: the doctor's checks (`lifeboat doctor`, the Doctor page); `profiles.rs`: the
//!   device profiles.
//! - `announcer.rs`: announcing the addresses the services serve on (gratuitous ARP, unsolicited
//!   neighbour advertisements), so neighbours with an old MAC for them switch at once.
//! - `network_setup.rs`: the warning for a container behind a bridge, where DHCP cannot work.

mod activity;
mod address_claims;
mod announcer;
mod app;
mod armed_image;
mod binder;
mod dashboard;
mod dhcp_activity;
pub mod doctor;
mod error_text;
pub mod fleet;
mod host_directory;
mod lease_book;
mod lease_store;
mod network_setup;
mod profiles;
mod recovery;
mod services;
mod settings;
mod wanted_log;

pub use activity::CompletedDownload;
pub use app::{App, AppConfig};
pub use binder::{Binder, Neighbours, SystemBinder};
pub use dashboard::{DashboardConfig, PASSWORD_SETTING};
pub use error_text::error_text;
pub use lifeboat_web::{Lock, SettingsProblem};
pub use network_setup::{NetworkFacts, Served, bridge_warning};
pub use profiles::{Profile, ProfileError, RecoveryMode, Source, built_in_profiles, load_profiles, profile_named};
pub use settings::{Configurator, Configured, SETTINGS_KEY, settings_key};
