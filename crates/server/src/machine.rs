//! A transfer's state machine with the file it reads or writes, and the two verbs every driver
//! needs on it: send what is due ([`transmit`]) and say where it stands ([`pumped`]). Both the
//! server's event loops and the client's blocking pump drive it; nothing in here decides
//! anything about the protocol: the core does, this only reads and writes the file for it.

use std::io;
use std::time::{Duration, Instant};

use lifeboat_tftp::wire::data_header;
use lifeboat_tftp::{ErrorCode, Outcome, Packet, Receiver, Sender, Stats, TransferError, TransferParams, Transmit};

use crate::batch::Batch;
use crate::source::Source;
use crate::upload::Upload;

/// A transfer's state machine with the file it reads or writes.
#[derive(Debug)]
pub(crate) enum Machine {
    Send { sender: Sender, source: Source },
    Receive { receiver: Receiver, sink: Option<Upload> },
}

/// How a pumped transfer ended.
#[derive(Debug)]
pub(crate) struct Pumped {
    pub outcome: Outcome,
    pub stats: Stats,
    pub params: TransferParams,
    pub duration: Duration,
}

impl Machine {
    pub(crate) fn outcome(&self) -> Option<&Outcome> {
        match self {
            Machine::Send { sender, .. } => sender.outcome(),
            Machine::Receive { receiver, .. } => receiver.outcome(),
        }
    }

    /// The core says the transfer may be dropped (a receiver may dally first).
    pub(crate) fn is_done(&self, now: Instant) -> bool {
        match self {
            Machine::Send { sender, .. } => sender.outcome().is_some(),
            Machine::Receive { receiver, .. } => receiver.is_done(now),
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Machine::Send { sender, .. } => sender.poll_timeout(),
            Machine::Receive { receiver, .. } => receiver.poll_timeout(),
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        match self {
            Machine::Send { sender, .. } => sender.handle_timeout(now),
            Machine::Receive { receiver, .. } => receiver.handle_timeout(now),
        }
    }

    pub(crate) fn abort(&mut self, code: ErrorCode, message: String) {
        match self {
            Machine::Send { sender, .. } => sender.abort(code, message),
            Machine::Receive { receiver, sink } => {
                // Gone before the peer hears of the failure: nothing of it is left to see.
                *sink = None;
                receiver.abort(code, message);
            }
        }
    }

    /// Appends the next datagram to send to `out`; false when nothing is due.
    fn poll_datagram(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        let transmit = match self {
            Machine::Send { sender, .. } => sender.poll_transmit(now),
            Machine::Receive { receiver, .. } => receiver.poll_transmit(now),
        };
        match transmit {
            None => false,
            Some(Transmit::Packet(packet)) => {
                packet.emit(out);
                true
            }
            Some(Transmit::Data { block, offset, len }) => {
                let Machine::Send { source, sender } = self else { unreachable!("only a sender emits data") };
                out.extend_from_slice(&data_header(block));
                if let Err(error) = source.read(offset, len, out) {
                    out.truncate(start);
                    sender.abort(ErrorCode::NotDefined, format!("cannot read the file: {error}"));
                    return self.poll_datagram(now, out);
                }
                true
            }
        }
    }

    /// Feeds a datagram from the peer; payload goes to the sink.
    pub(crate) fn handle(&mut self, now: Instant, datagram: &[u8]) {
        let Ok(packet) = Packet::parse(datagram) else {
            tracing::debug!(len = datagram.len(), "malformed datagram from the peer ignored");
            return;
        };
        match self {
            Machine::Send { sender, .. } => sender.handle(now, &packet),
            Machine::Receive { receiver, sink } => {
                let written = match (receiver.handle(now, &packet), sink.as_mut()) {
                    (Some(chunk), Some(upload)) => upload.write(chunk.data),
                    _ => Ok(()),
                };
                if let Err(error) = written {
                    let (code, message) = storage_error(&error);
                    *sink = None;
                    receiver.abort(code, message);
                    return;
                }
                if matches!(receiver.outcome(), Some(Outcome::Failed(_))) {
                    // Refused by the core (too large, say): drop the temporary file before the
                    // ERROR leaves, so a client that sees the error sees nothing left behind.
                    *sink = None;
                    return;
                }
                // The final ACK leaves only once the file is safely on disk under its name.
                if receiver.outcome() == Some(&Outcome::Complete)
                    && let Some(upload) = sink.take()
                    && let Err(error) = upload.finish()
                {
                    receiver.abort(ErrorCode::NotDefined, format!("cannot store the file: {error}"));
                }
            }
        }
    }

    pub(crate) fn summary(&self) -> (Stats, TransferParams) {
        match self {
            Machine::Send { sender, .. } => (sender.stats(), sender.params()),
            Machine::Receive { receiver, .. } => (receiver.stats(), receiver.params()),
        }
    }
}

fn storage_error(error: &io::Error) -> (ErrorCode, String) {
    match error.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            (ErrorCode::DiskFull, "no space left on the receiving side".to_owned())
        }
        _ => (ErrorCode::NotDefined, format!("cannot write the file: {error}")),
    }
}

/// Sends every datagram `machine` has due at `now`: a window's blocks are gathered in `batch`
/// and leave together through `send` (back-to-back datagrams and the segment length). A send
/// that fails ends the transfer; `send` decides what counts as failing (a loop treats a full
/// buffer as a lost packet). `batch` is empty again on return.
pub(crate) fn transmit(
    machine: &mut Machine,
    now: Instant,
    batch: &mut Batch,
    send: &mut dyn FnMut(&[u8], usize) -> io::Result<()>,
) {
    loop {
        let start = batch.len();
        if !machine.poll_datagram(now, batch.buffer()) {
            break;
        }
        if !batch.admit(start) {
            let sent = send(&batch.bytes()[..start], batch.segment());
            fail_on(machine, sent);
            batch.restart(start);
        }
    }
    if !batch.is_empty() {
        let sent = send(batch.bytes(), batch.segment());
        fail_on(machine, sent);
    }
    batch.clear();
}

/// A failed send ends the transfer (unless it has ended already).
fn fail_on(machine: &mut Machine, sent: io::Result<()>) {
    if let Err(error) = sent {
        tracing::debug!(%error, "send failed");
        if machine.outcome().is_none() {
            machine.abort(ErrorCode::NotDefined, format!("network error: {error}"));
        }
    }
}

/// Where `machine` stands, for the report.
pub(crate) fn pumped(machine: &Machine, started: Instant) -> Pumped {
    let (stats, params) = machine.summary();
    let outcome = machine.outcome().cloned().unwrap_or(Outcome::Failed(TransferError::Aborted {
        code: ErrorCode::NotDefined,
        message: "stopped".to_owned(),
    }));
    Pumped { outcome, stats, params, duration: started.elapsed() }
}
