//! One event loop: a thread that runs many transfers at once. It sleeps in a level-triggered
//! poller on the transfers' sockets and its waker, takes one datagram (a window's worth when
//! receiving) per ready socket per round, fires the cores' deadlines from a heap, and sends
//! through one batch buffer that all its transfers share.
//!
//! **The few-transfers fast path.** While fewer transfers run than there are CPUs, the loop
//! holding a single transfer polls that transfer's socket for its peer's answer before it
//! sleeps, exactly as a transfer on a thread of its own did (the [`Spinner`] budget, a
//! yielding poll, stopped for a peer that answers late): lock-step TFTP runs at the speed of
//! the round trip, and a wake-up on this kind of machine costs more than the trip. Once
//! transfers outnumber CPUs nobody spins, and a loop's wake-up serves every transfer that is
//! ready by then.
//!
//! **Blocking work in the loop, and why it is acceptable.** Preparing a request (opening the
//! file, creating an upload's temporary file, a netascii read's scan of its file) runs here, and
//! so do the reads of served files and the writes of uploads, including the sync and rename of
//! a finished upload. Served files are boot images read by many clients, so reads come from the
//! page cache; writes go to the page cache too. What can stall a loop is a cold read from a slow
//! disk, the first scan of a large netascii file, or the sync of a finished upload: for that
//! time the other transfers of the same loop wait (they lose no packet the kernel's 1 MiB socket
//! buffers can hold, and their clients at worst retransmit); the other loops go on. A stall of
//! that kind costs less than a thread per transfer costs all the time.
//!
//! The observer is called from here: it must not block (see `observer.rs`).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lifeboat_net::{Events, Poller, WAKE_TOKEN};
use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;

use crate::batch::Batch;
use crate::deadlines::Deadlines;
use crate::link::{Link, MAX_DATAGRAM};
use crate::loops::{Inbox, Work};
use crate::served::{Admitted, Drive, Served};
use crate::slots::{Key, Slots};
use crate::spinner::{SPIN, Spinner};
use crate::tftp_server::Shared;

/// Ready sockets taken from the poller per wait.
const EVENTS_PER_WAIT: usize = 256;

/// Most datagrams taken from one socket per round (a receiver's window): enough to take a
/// window in one go, few enough to keep the loop fair.
const MOST_PER_ROUND: usize = 16;

pub(crate) struct EventLoop {
    poller: Poller,
    shared: Arc<Shared>,
    inbox: Arc<Inbox>,
    shutdown: CancellationToken,
    transfers: Slots<Served>,
    /// Single-port transfers by peer: their datagrams come through the inbox.
    by_peer: HashMap<SocketAddr, Key>,
    deadlines: Deadlines,
    /// Datagrams to send, gathered by one transfer at a time.
    batch: Batch,
    /// The datagram being handled.
    input: Vec<u8>,
    events: Events,
    work: Vec<Work>,
    /// The transfer driven last: the one to spin for when it is the loop's only one.
    last_driven: Option<Key>,
    /// Counts this loop as a running task of the server until it ends.
    _running: TaskTrackerToken,
}

impl EventLoop {
    pub(crate) fn new(
        poller: Poller,
        shared: Arc<Shared>,
        inbox: Arc<Inbox>,
        shutdown: CancellationToken,
        running: TaskTrackerToken,
    ) -> EventLoop {
        EventLoop {
            poller,
            shared,
            inbox,
            shutdown,
            transfers: Slots::default(),
            by_peer: HashMap::new(),
            deadlines: Deadlines::default(),
            batch: Batch::with_capacity(MAX_DATAGRAM),
            input: vec![0; MAX_DATAGRAM],
            events: Events::with_capacity(EVENTS_PER_WAIT),
            work: Vec::new(),
            last_driven: None,
            _running: running,
        }
    }

    /// Runs until the server is closed and every transfer of this loop has ended.
    pub(crate) fn run(mut self) {
        loop {
            self.take_work();
            self.fire_deadlines(Instant::now());
            if self.transfers.is_empty() && self.inbox.is_closed() && !self.inbox.has_work() {
                return;
            }
            if self.spin() {
                continue;
            }
            let timeout = self.deadlines.next().map(|at| at.saturating_duration_since(Instant::now()));
            let timeout = if self.inbox.may_sleep() { timeout } else { Some(Duration::ZERO) };
            let waited = self.poller.wait(&mut self.events, timeout);
            self.inbox.awake();
            if let Err(error) = waited {
                tracing::error!(%error, "a TFTP event loop cannot wait for its sockets");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            let ready: Vec<Key> = self.events.tokens().filter(|&token| token != WAKE_TOKEN).collect();
            for key in ready {
                self.receive(key);
            }
        }
    }

    /// Starts the transfers handed over and delivers the datagrams of single-port ones.
    fn take_work(&mut self) {
        self.inbox.take(&mut self.work);
        if self.shutdown.is_cancelled() {
            // Every transfer must hear it now, not at its next deadline.
            for key in self.transfers.keys() {
                self.drive(key);
            }
        }
        for work in std::mem::take(&mut self.work) {
            match work {
                Work::Start(admitted) => self.start(*admitted),
                Work::Datagram { peer, bytes } => {
                    let Some(&key) = self.by_peer.get(&peer) else { continue };
                    if let Some(served) = self.transfers.get_mut(key) {
                        served.handle(&bytes);
                        self.drive(key);
                    }
                }
            }
        }
    }

    fn start(&mut self, admitted: Admitted) {
        let Some(served) = Served::start(&self.shared, admitted) else {
            self.inbox.ended();
            return;
        };
        let peer = served.peer();
        let shared_port = matches!(served.link, Link::Shared { .. });
        let key = self.transfers.insert(served);
        if shared_port {
            self.by_peer.insert(peer, key);
        } else if let Some(Served { link: Link::Own { socket, .. }, .. }) = self.transfers.get(key)
            && let Err(error) = self.poller.add(socket, key)
        {
            tracing::error!(%peer, %error, "cannot watch the socket of a transfer");
            if let Some(served) = self.transfers.get_mut(key) {
                served.fail(&error);
            }
        }
        self.drive(key);
    }

    /// Takes what the peer of transfer `key` sent (its socket is readable).
    fn receive(&mut self, key: Key) {
        let Some(served) = self.transfers.get_mut(key) else { return };
        let most = served.burst().min(MOST_PER_ROUND);
        for _ in 0..most {
            let Some(served) = self.transfers.get_mut(key) else { return };
            let capacity = served.capacity.min(self.input.len());
            match served.link.try_recv(&mut self.input[..capacity]) {
                Ok(Some(len)) => served.handle(&self.input[..len]),
                Ok(None) => return,
                Err(error) => served.fail(&error),
            }
            if self.drive(key) == Drive::Done {
                return;
            }
        }
    }

    /// Lets the cores whose deadlines passed look at their timers.
    fn fire_deadlines(&mut self, now: Instant) {
        while let Some((at, key)) = self.deadlines.pop_due(now) {
            let Some(served) = self.transfers.get_mut(key) else { continue };
            if served.scheduled != Some(at) {
                continue;
            }
            served.scheduled = None;
            if served.poll_timeout().is_some_and(|due| due <= now) {
                served.handle_timeout(now);
            }
            self.drive(key);
        }
    }

    /// Drives transfer `key` (see [`Served::drive`]), then schedules its next deadline or, when
    /// it is over, ends it.
    fn drive(&mut self, key: Key) -> Drive {
        let Some(served) = self.transfers.get_mut(key) else { return Drive::Done };
        let drive = served.drive(&self.shared, &mut self.batch, &self.shutdown);
        match drive {
            Drive::Running => {
                self.last_driven = Some(key);
                if let Some(at) = served.poll_timeout() {
                    self.deadlines.schedule(key, at, &mut served.scheduled);
                }
            }
            Drive::Done => self.end(key),
        }
        drive
    }

    fn end(&mut self, key: Key) {
        let Some(served) = self.transfers.remove(key) else { return };
        match &served.link {
            Link::Own { socket, .. } => {
                // Closing the socket would stop the watch too; saying so keeps the poller exact.
                let _ = self.poller.remove(socket);
            }
            Link::Shared { peer, .. } => {
                self.by_peer.remove(peer);
            }
        }
        served.end(&self.shared);
        self.inbox.ended();
    }

    /// The fast path: while every transfer can have a CPU of its own, a loop with one transfer
    /// polls its socket for the peer's answer before sleeping. True when something was handled
    /// (the loop then goes round again).
    fn spin(&mut self) -> bool {
        if self.transfers.len() != 1 || self.shutdown.is_cancelled() {
            return false;
        }
        let key = match self.last_driven.filter(|&key| self.transfers.get(key).is_some()) {
            Some(key) => key,
            None => match self.transfers.keys().first() {
                Some(&key) => key,
                None => return false,
            },
        };
        let cores = self.shared.cores;
        let running = self.shared.admission.running();
        let deadline = self.deadlines.next();
        let Some(served) = self.transfers.get_mut(key) else { return false };
        if !matches!(served.link, Link::Own { .. }) {
            return false;
        }
        let budget = served.spinner.next(if running < cores { SPIN } else { Duration::ZERO });
        if budget.is_zero() {
            return false;
        }
        let capacity = served.capacity.min(self.input.len());
        let began = Instant::now();
        let answered = spin_for_answer(&served.link, &mut self.input[..capacity], budget, deadline, &self.inbox);
        match answered {
            Spun::Answer(len) => {
                served.spinner.observe(began.elapsed(), true);
                served.handle(&self.input[..len]);
            }
            Spun::Failed(error) => {
                served.spinner.observe(began.elapsed(), false);
                served.fail(&error);
            }
            Spun::Nothing => {
                observe_silence(&mut served.spinner, began.elapsed());
                return false;
            }
        }
        self.drive(key);
        true
    }
}

/// What a spin found.
enum Spun {
    /// The peer's datagram, of this length.
    Answer(usize),
    Failed(io::Error),
    /// Nothing within the budget, or other work came first.
    Nothing,
}

/// Polls `link` for the peer's next datagram for up to `budget`, yielding the CPU between polls
/// (when the peer is a process on this machine that waits for this very CPU, a plain spin
/// would hold it off for the whole budget). Stops early at `deadline` or when the loop is
/// handed work.
fn spin_for_answer(link: &Link, buf: &mut [u8], budget: Duration, deadline: Option<Instant>, inbox: &Inbox) -> Spun {
    let began = Instant::now();
    let until = deadline.map_or(began + budget, |at| at.min(began + budget));
    loop {
        match link.try_recv(buf) {
            Ok(Some(len)) => return Spun::Answer(len),
            Ok(None) => {}
            Err(error) => return Spun::Failed(error),
        }
        if Instant::now() >= until || inbox.has_work() {
            return Spun::Nothing;
        }
        std::thread::yield_now();
    }
}

/// A spin that found nothing: the answer, whenever it comes, came later than the budget.
fn observe_silence(spinner: &mut Spinner, spun: Duration) {
    spinner.observe(spun.max(SPIN) + Duration::from_nanos(1), false);
}
