//! The TFTP protocol of lifeboat, with no I/O.
//!
//! **Invariant:** this crate has no sockets, no async runtime, no clock and no file system.
//! Packets and the current time go in; packets to send, byte ranges to read, payload to store
//! and deadlines come out. Every behaviour is therefore testable as a plain function with a
//! fake clock (see `tests/`).
//!
//! Map:
//! - [`wire`]: parse and emit packets; malformed input is a value, never a panic.
//! - [`options`]: RFC 2347/2348/2349/7440 negotiation for server and client.
//! - [`Sender`] / [`Receiver`]: the two halves of a transfer, windowed, with block-number
//!   rollover and adaptive retransmission ([`Timing`]).
//! - [`client`]: the client's opening exchange (request, OACK check, hand-over).
//! - [`netascii`]: line-end conversion by chunks.
//! - [`policy`]: which requested filenames may be served.
//! - [`text`]: a peer's text (filenames, error messages) cut to a bounded length for logs.
//! - [`rate`]: a transfer rate as people read it, the same in the log and on the dashboard.
//!
//! A driver calls the verbs in the manner of quinn-proto: `handle(now, packet)` for input,
//! `poll_transmit(now)` until `None`, `poll_timeout()` to arm a timer and
//! `handle_timeout(now)` when it fires, and `outcome()` to learn how the transfer ended.

// A core never panics on what a peer sends or a driver asks: every failure is a value. Tests may
// unwrap (clippy.toml). The rest of the core's rules (no clock, files, sockets, threads or
// randomness) are in clippy.toml, checked by `cargo clippy`.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod client;
mod direction;
pub mod netascii;
pub mod options;
pub mod policy;
pub mod rate;
mod receiver;
mod refusal;
mod sender;
pub mod text;
mod timing;
mod transfer;
pub mod wire;

pub use direction::{Direction, UnknownDirection};
pub use options::{ClientOptions, Negotiation, ServerLimits, TransferParams, negotiate};
pub use rate::human_rate;
pub use receiver::{Chunk, Receiver, SERVER_DALLY};
pub use refusal::{Refusal, refuse_mode, refuse_upload_size};
pub use sender::Sender;
pub use timing::Timing;
pub use transfer::{Outcome, Stats, TransferError, Transmit};
pub use wire::{ErrorCode, Mode, Packet, ParseError, Request, TftpOption};
