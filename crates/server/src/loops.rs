//! The server's event loops, seen from the listener: a fixed set of threads, one per CPU, and
//! the inbox through which each is handed work (a transfer to start, or in single-port mode a
//! datagram for one of its transfers). A new transfer goes to the loop that holds the fewest,
//! so while fewer transfers run than there are CPUs each has a loop, and a CPU, to itself.
//!
//! **Invariant:** the number of threads is fixed when the server starts; no client, however
//! many, adds one. A transfer stays on the loop it was handed to until it ends.
//!
//! Handing over never loses a wake-up and costs no system call while the loop is awake: the
//! loop says it is about to sleep (`sleeping`) before it looks at its inbox a last time, and a
//! producer that queued work wakes it only when it said so (both sides with sequentially
//! consistent atomics, so one of them always sees the other).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lifeboat_net::{Poller, Waker};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::event_loop::EventLoop;
use crate::served::Admitted;
use crate::tftp_server::Shared;

/// Work handed to a loop.
#[derive(Debug)]
pub(crate) enum Work {
    Start(Box<Admitted>),
    /// A datagram that arrived on the shared listening port for the transfer with this peer.
    Datagram {
        peer: SocketAddr,
        bytes: Vec<u8>,
    },
}

/// Most bytes of single-port datagrams waiting in one inbox. A loop that stalls (a slow disk)
/// while the listener goes on receiving drops the rest, as a congested network would; the
/// protocol recovers.
const MAX_QUEUED_BYTES: usize = 4 << 20;

#[derive(Debug, Default)]
struct Queue {
    work: Vec<Work>,
    /// Bytes of the datagrams in `work`.
    bytes: usize,
}

/// One loop's mailbox, shared by the loop and the listeners.
#[derive(Debug)]
pub(crate) struct Inbox {
    work: Mutex<Queue>,
    has_work: AtomicBool,
    sleeping: AtomicBool,
    waker: Waker,
    /// Transfers this loop holds, those still in its inbox included.
    load: AtomicUsize,
    /// No more work will come: the loop ends once its transfers have.
    closed: AtomicBool,
}

impl Inbox {
    fn new(waker: Waker) -> Inbox {
        Inbox {
            work: Mutex::default(),
            has_work: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            waker,
            load: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        }
    }

    fn push(&self, work: Work) {
        let mut queue = self.work.lock().unwrap_or_else(|p| p.into_inner());
        if let Work::Datagram { bytes, .. } = &work {
            if queue.bytes + bytes.len() > MAX_QUEUED_BYTES {
                return;
            }
            queue.bytes += bytes.len();
        }
        queue.work.push(work);
        self.has_work.store(true, Ordering::SeqCst);
        drop(queue);
        if self.sleeping.load(Ordering::SeqCst) {
            self.wake();
        }
    }

    pub(crate) fn wake(&self) {
        if let Err(error) = self.waker.wake() {
            tracing::error!(%error, "cannot wake a TFTP event loop");
        }
    }

    /// Whether work is waiting (cheap enough to ask while spinning).
    pub(crate) fn has_work(&self) -> bool {
        self.has_work.load(Ordering::SeqCst)
    }

    /// Moves the waiting work into `into`.
    pub(crate) fn take(&self, into: &mut Vec<Work>) {
        if !self.has_work.swap(false, Ordering::SeqCst) {
            return;
        }
        let mut queue = self.work.lock().unwrap_or_else(|p| p.into_inner());
        into.append(&mut queue.work);
        queue.bytes = 0;
    }

    /// The loop is about to sleep: true when it may (no work came meanwhile). Call
    /// [`Inbox::awake`] after the sleep.
    pub(crate) fn may_sleep(&self) -> bool {
        self.sleeping.store(true, Ordering::SeqCst);
        if self.has_work.load(Ordering::SeqCst) || self.is_closed() {
            self.sleeping.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    pub(crate) fn awake(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
    }

    /// A transfer of this loop ended (or never started).
    pub(crate) fn ended(&self) {
        self.load.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

/// The running loops.
#[derive(Debug)]
pub(crate) struct Loops {
    inboxes: Vec<Arc<Inbox>>,
}

impl Loops {
    /// Starts `count` loop threads (at least one). Each holds a token of `tracker` until it
    /// ends, so waiting for the tracker waits for the loops. Fails when not even one starts.
    pub(crate) fn start(
        count: usize,
        shared: &Arc<Shared>,
        shutdown: &CancellationToken,
        tracker: &TaskTracker,
    ) -> io::Result<Loops> {
        let mut inboxes = Vec::new();
        let mut last_error = None;
        // The loops run inside the runtime's context, as the tasks and blocking threads of the
        // rest of lifeboat do: the observer they call reads the runtime's clock (which tests
        // pause and advance), not the system's behind its back.
        let runtime = tokio::runtime::Handle::try_current().ok();
        for index in 0..count.max(1) {
            let started = Poller::new().and_then(|poller| {
                let inbox = Arc::new(Inbox::new(poller.waker()));
                let event_loop =
                    EventLoop::new(poller, Arc::clone(shared), Arc::clone(&inbox), shutdown.clone(), tracker.token());
                let runtime = runtime.clone();
                std::thread::Builder::new().name(format!("tftp-loop-{index}")).spawn(move || {
                    let _context = runtime.as_ref().map(tokio::runtime::Handle::enter);
                    event_loop.run();
                })?;
                Ok(inbox)
            });
            match started {
                Ok(inbox) => inboxes.push(inbox),
                Err(error) => {
                    tracing::error!(%error, "cannot start TFTP event loop {index}");
                    last_error = Some(error);
                }
            }
        }
        match (inboxes.is_empty(), last_error) {
            (true, Some(error)) => Err(error),
            _ => Ok(Loops { inboxes }),
        }
    }

    /// The loop holding the fewest transfers (the first of those on a tie).
    pub(crate) fn least_loaded(&self) -> usize {
        let loads = self.inboxes.iter().map(|inbox| inbox.load.load(Ordering::Relaxed));
        loads.enumerate().min_by_key(|&(_, load)| load).map_or(0, |(index, _)| index)
    }

    /// Hands a new transfer to loop `index` (see [`Loops::least_loaded`]).
    pub(crate) fn start_transfer(&self, index: usize, admitted: Admitted) {
        let inbox = &self.inboxes[index.min(self.inboxes.len() - 1)];
        inbox.load.fetch_add(1, Ordering::Relaxed);
        inbox.push(Work::Start(Box::new(admitted)));
    }

    /// Hands loop `index` a datagram for its transfer with `peer` (single-port mode).
    pub(crate) fn deliver(&self, index: usize, peer: SocketAddr, bytes: Vec<u8>) {
        if let Some(inbox) = self.inboxes.get(index) {
            inbox.push(Work::Datagram { peer, bytes });
        }
    }

    /// Makes every loop look at the shutdown signal now.
    pub(crate) fn wake_all(&self) {
        self.inboxes.iter().for_each(|inbox| inbox.wake());
    }

    /// No more work will come: each loop ends once its transfers have.
    pub(crate) fn close(&self) {
        for inbox in &self.inboxes {
            inbox.closed.store(true, Ordering::SeqCst);
            inbox.wake();
        }
    }
}
