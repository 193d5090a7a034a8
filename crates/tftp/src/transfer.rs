//! Types shared by both transfer directions: what to send, how a transfer ended, its counters.

use std::time::Duration;

use crate::wire::{ErrorCode, Packet};

/// Something the driver must put on the wire, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// A DATA packet: header [`crate::wire::data_header`]`(block)` followed by `len` bytes of the
    /// stream starting at `offset`. The driver reads those bytes itself, so file data never
    /// passes through the core.
    Data { block: u16, offset: u64, len: usize },
    /// Any other packet (ACK, OACK, ERROR, a request).
    Packet(Packet<'static>),
}

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every block was delivered and acknowledged.
    Complete,
    /// The peer answered our OACK with ERROR 8: it only wanted to learn the options (UEFI
    /// firmware asks for `tsize` this way before the real transfer). Not a failure.
    OptionsDeclined,
    Failed(TransferError),
}

/// Why a transfer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("the peer stopped answering ({retries} retransmissions without reply)")]
    TimedOut { retries: u32 },
    #[error(
        "every block was sent, but the peer never acknowledged the last ones ({retries} retransmissions); it may well have the whole file"
    )]
    LastAckMissing { retries: u32 },
    #[error("the peer never answered (nothing came for {} s)", waited.as_secs())]
    NeverAnswered { waited: Duration },
    #[error("the peer went silent (no progress for {} s)", waited.as_secs())]
    WentSilent { waited: Duration },
    /// `message` is the peer's text as [`peer_text`](crate::text::peer_text) keeps it: cut to a
    /// bounded length; shown escaped, so it cannot start a line of its own in a log.
    #[error("the peer sent ERROR {}: {code} {message:?}", code.as_u16())]
    Peer { code: ErrorCode, message: String },
    #[error("aborted: {message}")]
    Aborted { code: ErrorCode, message: String },
}

impl TransferError {
    /// The peer's ERROR, with its message kept as [`peer_text`](crate::text::peer_text) keeps text.
    pub fn from_peer(code: ErrorCode, message: &str) -> TransferError {
        TransferError::Peer { code, message: crate::text::peer_str(message) }
    }
}

/// Counters of one transfer, for logs and the transfer history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Payload bytes delivered and acknowledged (sender) or received in order (receiver).
    pub bytes: u64,
    /// Blocks sent or acknowledged more than once.
    pub retransmits: u64,
    /// Timeouts that fired.
    pub timeouts: u64,
}

/// The block number a 1-based block index travels under: it wraps from 65535 to 0, as every
/// server and client tried in the field does.
pub(crate) fn wire_block(index: u64) -> u16 {
    (index & 0xffff) as u16
}
