//! The DHCP and BOOTP protocol of lifeboat, with no I/O.
//!
//! **Invariant:** this crate has no sockets, no async runtime, no clock, no randomness and no
//! database. Datagrams go in; decoded, validated requests and their classification come out.
//! Malformed input is an ordinary error value, never a panic.
//!
//! Map:
//! - [`wire`]: validate and decode a received datagram (magic cookie, option walk, op).
//! - [`classify`]: which firmware sent it (option 93, 60, 77, 175; BOOTP).
//! - [`boot`]: `--boot`/`--dhcp-boot` parsing and the choice of a boot file.

pub mod boot;
pub mod classify;
pub mod wire;

pub use classify::{Client, classify};
pub use wire::{DecodeError, Kind, RawOption, Request, decode};
