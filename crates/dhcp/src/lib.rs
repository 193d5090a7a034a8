//! The DHCP and BOOTP protocol of lifeboat, with no I/O.
//!
//! **Invariant:** this crate has no sockets, no async runtime, no clock, no randomness and no
//! database. Datagrams and the time go in; replies, where to send them, and lease changes to
//! persist come out.
//! Malformed input is an ordinary error value, never a panic.
//!
//! Map:
//! - [`responder`]: [`Responder::handle`], one datagram in, a reply and a lease change out.
//! - [`wire`]: validate and decode a received datagram (magic cookie, option walk, op).
//! - [`classify`]: which firmware sent it (option 93, 60, 77, 175; BOOTP).
//! - [`boot`]: `--dhcp-boot-rule`/`--dhcp-boot` parsing and the choice of a boot file.
//! - [`config`]: `--dhcp-range`, `--dhcp-reservation`, `--dhcp-option` and lease-time parsing.
//! - [`scope`]: ranges tied to the interface (or relay subnet) that serves them.
//! - [`lease`]: the lease table (bound leases, offers, quarantined addresses).
//! - [`allocate`]: a free address for a client, from a stable start position.
//! - [`reply`]: DHCP and BOOTP reply encoding; [`destination`]: where a reply goes.
//! - [`probe`]: the DISCOVER that looks for other DHCP servers before we serve a segment.
//! - [`explain`]: the log line of each exchange; [`rate_limit`]: per-client flood limit;
//!   [`pressure`]: what keeps a flood of new clients from emptying a pool.
//! - [`wanted`]: from ARP, the addresses devices look for that nobody has (a bootloader
//!   waiting for its TFTP server at a fixed address).

// A core never panics on what a peer sends or a driver asks: every failure is a value. Tests may
// unwrap (clippy.toml). The rest of the core's rules (no clock, files, sockets, threads or
// randomness) are in clippy.toml, checked by `cargo clippy`.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod allocate;
pub mod boot;
pub mod classify;
pub mod config;
pub mod destination;
pub mod explain;
pub mod lease;
pub mod pressure;
pub mod probe;
pub mod rate_limit;
pub mod reply;
pub mod responder;
pub mod scope;
pub mod share;
pub mod wanted;
pub mod wire;

pub use classify::{Client, classify};
pub use config::Mac;
pub use destination::{Arrival, Destination};
pub use explain::{Explanation, Level};
pub use lease::{ClientKey, Lease, LeaseChange, UnsavedBind};
pub use responder::{Counters, Handled, Reply, Responder, Settings};
pub use share::LoadShare;
pub use wanted::{ArpSeen, WantedAddress, WantedAddresses};
pub use wire::{DecodeError, Kind, RawOption, Request, decode};
