//! One transfer as an event loop holds it: the core's state machine, the link to the peer, the
//! place it was admitted to, and what the log and the observer hear about it. The loop calls
//! [`Served::start`] when the listener hands it a request, [`Served::handle`] for each datagram
//! from the peer, [`Served::handle_timeout`] when a deadline passes, [`Served::drive`] after
//! each of those, and [`Served::end`] once `drive` says the transfer is over.
//!
//! **Invariant:** the same verbs in the same order as the blocking pump of the client, so the
//! core sees exactly what a transfer on a thread of its own would show it: send everything
//! due, report the outcome as soon as it is known (a receiver that dallies for a repeated
//! last block runs on after that), stop once the core says done or, on shutdown, abort (the
//! peer hears why) unless the outcome is known already.
//!
//! Memory of a running transfer: the core, the read-ahead of its file (`source.rs`), a socket;
//! the datagram buffers belong to the loop, since a loop handles one datagram at a time.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use lifeboat_tftp::wire::DATA_HEADER_LEN;
use lifeboat_tftp::{Direction, ErrorCode, Outcome, Packet, Request};
use tokio_util::sync::CancellationToken;

use crate::admission::Ticket;
use crate::batch::Batch;
use crate::link::Link;
use crate::machine::{Machine, pumped, transmit};
use crate::observer::RunningTransfer;
use crate::prepare::{Prepared, prepare};
use crate::pump::Progress;
use crate::report::TransferReport;
use crate::spinner::Spinner;
use crate::tftp_server::{Shared, refused_request};

/// A request that got a place and a link, on its way to a loop.
#[derive(Debug)]
pub(crate) struct Admitted {
    pub(crate) direction: Direction,
    pub(crate) request: Request<'static>,
    /// The requested name as logs and records show it (cut to a bounded length).
    pub(crate) shown: String,
    /// Whether it is recorded one by one (log line, history) or only counted.
    pub(crate) recorded: bool,
    pub(crate) ticket: Ticket,
    pub(crate) link: Link,
}

/// What the loop does with a transfer after [`Served::drive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drive {
    Running,
    /// The core is done with it (or the server is stopping): call [`Served::end`].
    Done,
}

#[derive(Debug)]
pub(crate) struct Served {
    machine: Machine,
    pub(crate) link: Link,
    live: Arc<RunningTransfer>,
    recorded: bool,
    ticket: Ticket,
    size: Option<u64>,
    /// When the loop took it, for the duration in the report.
    began: Instant,
    /// The outcome has been reported.
    reported: bool,
    /// The longest datagram taken from the peer: a DATA packet at the negotiated block size and
    /// one byte more, to notice an oversized block; at least room for an ERROR message.
    pub(crate) capacity: usize,
    /// Whether to poll for the peer's next answer before the loop sleeps.
    pub(crate) spinner: Spinner,
    /// The deadline this transfer has in the loop's heap (see `deadlines.rs`).
    pub(crate) scheduled: Option<Instant>,
}

impl Served {
    /// Finds the file or begins the upload and sets up the core. A request that cannot run is
    /// answered with its error here (and recorded, unless only counted): `None`. Blocking (see
    /// `prepare.rs`).
    pub(crate) fn start(shared: &Shared, admitted: Admitted) -> Option<Served> {
        let Admitted { direction, request, shown, recorded, ticket, link } = admitted;
        let peer = link.peer();
        let started = shared.observer.now();
        let Prepared { machine, file, size } = match prepare(shared, direction, peer, &request) {
            Ok(prepared) => prepared,
            Err(refused) => {
                // Free the client's place first: a client may ask again from the same port at once.
                shared.release(&link, ticket);
                let error = Packet::error(refused.refusal.code(), refused.refusal.message()).to_bytes();
                if recorded {
                    refused.log(peer, &shown, direction);
                    shared.observer.refused(&refused_request(
                        shared.observer.now(),
                        peer,
                        direction,
                        shown,
                        refused.refusal.code(),
                        refused.detail,
                    ));
                }
                let _ = link.send(&error);
                return None;
            }
        };
        let live = Arc::new(RunningTransfer {
            id: shared.next_id.fetch_add(1, Ordering::Relaxed),
            peer,
            direction,
            requested: shown,
            file,
            started,
            progress: Progress::default(),
        });
        if let Some(size) = size {
            live.progress.set_total(size);
        }
        if recorded {
            shared.observer.started(&live);
        }
        let capacity = (usize::from(machine.summary().1.blksize) + DATA_HEADER_LEN + 1).max(600);
        Some(Served {
            machine,
            link,
            live,
            recorded,
            ticket,
            size,
            began: Instant::now(),
            reported: false,
            capacity,
            spinner: Spinner::default(),
            scheduled: None,
        })
    }

    pub(crate) fn peer(&self) -> SocketAddr {
        self.link.peer()
    }

    /// How many datagrams the peer may send before it waits for us: the window when we receive.
    pub(crate) fn burst(&self) -> usize {
        match &self.machine {
            Machine::Receive { receiver, .. } => usize::from(receiver.params().windowsize.max(1)),
            Machine::Send { .. } => 1,
        }
    }

    /// A datagram from the peer.
    pub(crate) fn handle(&mut self, datagram: &[u8]) {
        self.machine.handle(Instant::now(), datagram);
    }

    /// The link failed: the transfer ends with the reason.
    pub(crate) fn fail(&mut self, error: &io::Error) {
        self.machine.abort(ErrorCode::NotDefined, format!("network error: {error}"));
    }

    /// The deadline in the heap has passed: let the core look at its timers.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.machine.handle_timeout(now);
    }

    /// When the core wants [`Served::handle_timeout`] next.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.machine.poll_timeout()
    }

    /// Sends what is due, reports an outcome once known, and says whether the transfer is over.
    pub(crate) fn drive(&mut self, shared: &Shared, batch: &mut Batch, shutdown: &CancellationToken) -> Drive {
        loop {
            let now = Instant::now();
            let link = &mut self.link;
            transmit(&mut self.machine, now, batch, &mut |datagrams, segment| {
                match link.send_segments(datagrams, segment) {
                    // A full send buffer drops the datagrams, as a congested network would; the
                    // core retransmits. A loop never waits for room.
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        tracing::debug!(peer = %link.peer(), "send buffer full: datagrams dropped");
                        Ok(())
                    }
                    sent => sent,
                }
            });
            self.live.progress.set_bytes(self.machine.summary().0.bytes);
            if !self.reported && self.machine.outcome().is_some() {
                self.report(shared);
            }
            if self.machine.is_done(now) {
                return Drive::Done;
            }
            if shutdown.is_cancelled() {
                if self.machine.outcome().is_some() {
                    return Drive::Done;
                }
                self.machine.abort(ErrorCode::NotDefined, "the server is shutting down".to_owned());
                continue;
            }
            return Drive::Running;
        }
    }

    /// Reports the outcome if that has not happened yet, and frees the client's place.
    pub(crate) fn end(mut self, shared: &Shared) {
        if !self.reported {
            self.report(shared);
        }
        shared.release(&self.link, self.ticket);
    }

    fn report(&mut self, shared: &Shared) {
        self.reported = true;
        let pumped = pumped(&self.machine, self.began);
        let peer = self.link.peer();
        if pumped.outcome == Outcome::Complete {
            shared.admission.completed(peer.ip());
        }
        if !self.recorded {
            return;
        }
        let live = &self.live;
        let report = TransferReport {
            peer,
            direction: live.direction,
            requested: live.requested.clone(),
            file: live.file.clone(),
            started: live.started,
            size: self.size,
            bytes: pumped.stats.bytes,
            params: pumped.params,
            retransmits: pumped.stats.retransmits,
            timeouts: pumped.stats.timeouts,
            duration: pumped.duration,
            outcome: pumped.outcome,
        };
        report.log();
        shared.observer.finished(live, &report);
    }
}
