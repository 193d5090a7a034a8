//! Fuzz harnesses of lifeboat: one module per target, each with `run(data)`, a pure function
//! that panics when an invariant is violated. The same `run` serves libFuzzer (the cargo-fuzz
//! package in `libfuzzer/`, nightly) and the replay of the committed corpora as ordinary tests
//! (`tests/corpora.rs`, stable). FUZZING.md at the workspace root says how to run them.
//!
//! **Invariant:** no harness does I/O, reads a clock or draws randomness; each bounds its work
//! (input length, steps, packets), so one input runs in milliseconds.
//!
//! What each target checks:
//! - [`tftp_wire`]: `Packet::parse` never panics; what parses emits (appending, exactly
//!   `buffer_len()` bytes) and parses back to an equal packet, and the emitted form is
//!   canonical; a filename the policy accepts is plain components and normalizes to itself.
//! - [`tftp_options`]: `negotiate` grants exactly what RFC 2347/2348/2349/7440 and the server's
//!   limits allow (blksize 8..=65464 and at most the limit, windowsize 1..=65535 and at most
//!   the limit, timeout 1..=255 as asked, tsize by direction), acknowledges only requested
//!   options, once each, in the client's order, with the client's spelling; a client accepts the
//!   OACK (through the wire) granted for its own request, with the same parameters.
//! - [`tftp_sender`]: a `Sender` under arbitrary ACKs, ERRORs, stray packets, timeouts, aborts
//!   and clock jumps follows a model of its rules: every DATA has the right number, offset and
//!   length, lies in the window (acked+1..=acked+windowsize) and the file, and is the next
//!   block or the tail-loss probe; a block goes out again only as a counted retransmission;
//!   acknowledged bytes and retransmissions match the model; after a drain the window is full
//!   and a running transfer has a timer; after the outcome nothing leaves but the one ERROR of
//!   an abort.
//! - [`tftp_receiver`]: a `Receiver` under arbitrary DATA, ERRORs, timeouts and aborts hands out
//!   exactly the chunks the model predicts (contiguous from offset 0, in block order, never
//!   past `max_len` or an announced size, never longer than blksize), completes only on a short
//!   block and at the announced size, sends exactly the ACK or opening packet the rules call
//!   for, and after a failure sends nothing but the one ERROR of an abort.
//! - [`tftp_pair`]: a sender and a receiver over a link with input-chosen loss, duplication and
//!   delay never deliver wrong bytes: a receiver that completes holds the file, a sender that
//!   completes has a receiver that did; each side has a timer until its outcome.
//! - [`dhcp_decode`]: `decode` never panics; what it accepts is a BOOTREQUEST with a client
//!   message type or plain BOOTP, consistent with its bytes; `classify`, the client key and the
//!   encoding of every reply kind never panic, and replies copy xid, hlen and chaddr.
//! - [`dhcp_responder`]: `Responder::handle` over datagram sequences (seeded with the captured
//!   firmware packets) never panics, never gives one client's active lease to another, keeps
//!   its lease table consistent, emits changes only for the requesting client and a change
//!   with every address-granting ACK or BOOTREPLY, and answers only client messages, with a
//!   BOOTREPLY of the right type and xid to the RFC 2131 §4.1 destination.
//! - [`web_input`]: the dashboard's input parsers never panic; a validated host has the typed
//!   MAC in lowercase colon form and normalized, distinct names; `normalize_name` is
//!   idempotent; `safe_next` returns a path starting with `/`, not `//`, without backslash,
//!   whitespace or control characters; history links need no escaping; a session id is hex.

mod clock;
mod encoding;

pub mod dhcp_decode;
pub mod dhcp_responder;
pub mod tftp_options;
pub mod tftp_pair;
pub mod tftp_receiver;
pub mod tftp_sender;
pub mod tftp_wire;
pub mod web_input;

/// A failure a timer can cause: anything but the peer's ERROR or an abort (the kinds of
/// timeout, silence or missing last ACK grow as the core learns to tell them apart).
fn ended_by_timer(outcome: &lifeboat_tftp::Outcome) -> bool {
    use lifeboat_tftp::{Outcome, TransferError};
    matches!(outcome, Outcome::Failed(error) if !matches!(error, TransferError::Peer { .. } | TransferError::Aborted { .. }))
}
