//! The client's opening exchange: send RRQ or WRQ, repeat it until the server answers, check
//! the OACK, and hand over to a [`Receiver`] (get) or [`Sender`] (put).
//!
//! The driver locks onto the address and port of the first answer (the server's transfer ID)
//! and feeds only packets from there to the transfer that follows.

use std::time::Instant;

use crate::options::{ClientOptions, TransferParams};
use crate::receiver::Receiver;
use crate::sender::Sender;
use crate::timing::{RetransmitTimer, Timing};
use crate::transfer::TransferError;
use crate::wire::{ErrorCode, Mode, Packet, Request};

/// What the client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientRequest {
    /// Read `filename` from the server.
    Get { filename: String, mode: Mode, options: ClientOptions },
    /// Write `len` bytes to `filename` on the server.
    Put { filename: String, mode: Mode, options: ClientOptions, len: u64 },
}

/// The transfer that follows a successful opening.
#[derive(Debug)]
pub enum Started {
    /// Receiving. When the server skipped the OACK, the first DATA packet must be fed to the
    /// receiver again by the driver.
    Get {
        receiver: Receiver,
        size: Option<u64>,
        refeed_first_packet: bool,
    },
    Put {
        sender: Sender,
    },
}

/// Why the opening failed. `reply` is a packet to send to the server before giving up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct OpeningFailed {
    pub error: TransferError,
    pub reply: Option<Packet<'static>>,
}

/// The opening state machine.
#[derive(Debug)]
pub struct Opening {
    request: ClientRequest,
    packet: Packet<'static>,
    pending: bool,
    timing: Timing,
    timer: RetransmitTimer,
    deadline: Option<Instant>,
    retries: u32,
}

impl Opening {
    pub fn new(request: ClientRequest, timing: &Timing) -> Opening {
        let (filename, mode, options) = match &request {
            ClientRequest::Get { filename, mode, options } | ClientRequest::Put { filename, mode, options, .. } => {
                (filename, *mode, options)
            }
        };
        let body =
            Request { filename: filename.as_bytes().to_vec().into(), mode, options: options.to_request_options() };
        let packet = match request {
            ClientRequest::Get { .. } => Packet::ReadRequest(body),
            ClientRequest::Put { .. } => Packet::WriteRequest(body),
        };
        let negotiated = options.timeout.map(|s| std::time::Duration::from_secs(s.into()));
        Opening {
            request,
            packet,
            pending: true,
            timing: *timing,
            timer: RetransmitTimer::new(timing, negotiated),
            deadline: None,
            retries: 0,
        }
    }

    /// The request, when it is due.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Packet<'static>> {
        if !std::mem::take(&mut self.pending) {
            return None;
        }
        self.deadline = Some(now + self.timer.timeout());
        Some(self.packet.clone())
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// Repeats the request on timeout; fails after the retry limit.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), OpeningFailed> {
        if self.deadline.is_none_or(|deadline| now < deadline) {
            return Ok(());
        }
        self.retries += 1;
        if self.retries > self.timing.max_retries {
            let error = TransferError::TimedOut { retries: self.timing.max_retries };
            return Err(OpeningFailed { error, reply: None });
        }
        self.timer.on_timeout();
        self.pending = true;
        Ok(())
    }

    /// Feeds the server's first answer. `Ok(None)` means the packet was not an answer.
    pub fn handle(&mut self, packet: &Packet<'_>) -> Result<Option<Started>, OpeningFailed> {
        let options = match &self.request {
            ClientRequest::Get { options, .. } | ClientRequest::Put { options, .. } => *options,
        };
        let (params, size) = match packet {
            Packet::Error { code, message } => {
                let error = TransferError::from_peer(*code, message);
                return Err(OpeningFailed { error, reply: None });
            }
            Packet::OptionAck(oack) => options.accept_oack(oack).map_err(|refusal| {
                let message = refusal.to_string();
                OpeningFailed {
                    reply: Some(Packet::error(ErrorCode::OptionsRefused, message.clone())),
                    error: TransferError::Aborted { code: ErrorCode::OptionsRefused, message },
                }
            })?,
            _ => (TransferParams::default(), None),
        };
        let via_oack = matches!(packet, Packet::OptionAck(_));
        let started = match (&self.request, packet) {
            (ClientRequest::Get { mode, .. }, Packet::OptionAck(_) | Packet::Data { block: 1, .. }) => {
                let opening = via_oack.then_some(Packet::Ack { block: 0 });
                let receiver = Receiver::new(params, opening, None, &self.timing);
                // A server that announced the size must send exactly that much: a download
                // cut short must not look complete. Netascii sizes are not exact (line ends).
                let receiver = match size {
                    Some(size) if *mode == Mode::Octet => receiver.expect_len(size),
                    _ => receiver,
                };
                Started::Get { receiver, size, refeed_first_packet: !via_oack }
            }
            (ClientRequest::Put { len, .. }, Packet::OptionAck(_) | Packet::Ack { block: 0 }) => {
                Started::Put { sender: Sender::new(params, *len, None, &self.timing) }
            }
            _ => return Ok(None),
        };
        Ok(Some(started))
    }
}
