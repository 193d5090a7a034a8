//! lifeboat's network edge: UDP sockets and nothing else.
//!
//! **Invariant:** all socket code — and any `unsafe` — of lifeboat lives in this crate, and this
//! crate contains no protocol logic. It opens, configures and binds sockets, and moves
//! datagrams with the packet-info ancillary data the protocol drivers need; it never looks
//! inside a datagram.
//!
//! Code map:
//! - [`PktInfoSocket`] (`sockets.rs`): the listening socket. Each received [`Datagram`] carries
//!   the local address to answer from (`IP_PKTINFO` / `IPV6_RECVPKTINFO`), and
//!   [`PktInfoSocket::send_from`] sets the source of a reply, so a server bound to `0.0.0.0`
//!   answers a request sent to a broadcast address from the interface's unicast address.
//! - [`TransferSocket`] (`transfer_socket.rs`): the socket of one transfer or of the client,
//!   driven from a thread of its own with a short spin before it sleeps, since lock-step TFTP
//!   speed is set by round-trip latency.
//! - [`BindError`] (`error.rs`): bind failures phrased as what to do next.
//!
//! This crate needs no `unsafe`: nix's safe `recvmsg`/`sendmsg` wrappers carry the control
//! messages.

mod error;
mod sockets;
mod transfer_socket;

pub use error::BindError;
pub use sockets::{Datagram, PktInfoSocket};
pub use transfer_socket::TransferSocket;
