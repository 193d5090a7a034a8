//! The log writer: transfer records and events are handed over without waiting and committed in
//! batches by a task of their own.
//!
//! **Invariant:** [`LogWriter::transfer`] and [`LogWriter::event`] never wait and never block: the
//! caller is a TFTP transfer or an HTTP handler, and the history must never slow them down. The
//! queue holds at most its capacity ([`LOG_QUEUE_CAPACITY`] records); beyond that, records are
//! dropped and counted, so memory stays bounded whatever the disk does. Records are committed
//! in the order they were handed over (per table), each batch as soon as the task has it: after a
//! crash, only what was queued in the last moments is missing.
//!
//! Unlike the lease writer, nobody waits for a record to be on disk: a record that cannot be
//! written is counted as failed and logged, and the caller never learns of it. While the
//! database cannot be reached (a PostgreSQL server down or away), the batch in hand is tried
//! again every second and the queue fills meanwhile, up to its capacity, beyond which records are
//! dropped and counted: nothing is lost to an outage shorter than the queue, and memory stays
//! bounded by it. A writer that is shutting down tries once more, then gives up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;
use crate::events::{Event, insert_event_rows};
use crate::store::{BeginWrite as _, Store, with_pool};
use crate::transfers::{TransferRecord, insert_transfer_rows};

/// Records the queue holds before it drops new ones.
pub const LOG_QUEUE_CAPACITY: usize = 100_000;

/// Most queued messages committed in one transaction.
const LOG_BATCH: usize = 2048;

enum Message {
    Transfer(TransferRecord),
    Event(Event),
    /// Answer once everything queued before it is committed (or failed).
    Flush(oneshot::Sender<()>),
    /// Stop accepting records, commit the queued ones, then answer.
    Shutdown(oneshot::Sender<()>),
}

/// A handle on the log writer task. Cheap to clone; the task ends after committing what was
/// queued when every handle is dropped, or on [`LogWriter::shutdown`].
#[derive(Debug, Clone)]
pub struct LogWriter {
    queue: mpsc::Sender<Message>,
    counters: Arc<Counters>,
}

/// Counts of records (transfers and events together) since the writer was spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogStats {
    /// Committed to the database.
    pub written: u64,
    /// Not queued: the queue was full, or the writer had stopped.
    pub dropped: u64,
    /// Queued, but their transaction failed.
    pub failed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    /// Set by [`LogWriter::shutdown`]: an unreachable database is not waited for any more.
    stopping: std::sync::atomic::AtomicBool,
}

/// How long the writer waits before it tries a batch again while the database is unreachable.
const RETRY: std::time::Duration = std::time::Duration::from_secs(1);

impl LogWriter {
    /// Start the writer task on the current tokio runtime, with a queue of
    /// [`LOG_QUEUE_CAPACITY`] records.
    ///
    /// # Panics
    /// Outside a tokio runtime, like [`tokio::spawn`].
    pub fn spawn(store: Store) -> LogWriter {
        LogWriter::spawn_with_capacity(store, LOG_QUEUE_CAPACITY)
    }

    /// Like [`LogWriter::spawn`], with a queue of `capacity` messages (at least 1). A pending
    /// [`LogWriter::flush`] or [`LogWriter::shutdown`] takes a place in the queue too.
    ///
    /// # Panics
    /// Outside a tokio runtime, like [`tokio::spawn`].
    pub fn spawn_with_capacity(store: Store, capacity: usize) -> LogWriter {
        let (queue, receiver) = mpsc::channel(capacity.max(1));
        let counters = Arc::new(Counters::default());
        tokio::spawn(run(store, receiver, Arc::clone(&counters)));
        LogWriter { queue, counters }
    }

    /// Queue a finished transfer. Never waits; if the queue is full it is dropped and counted.
    pub fn transfer(&self, record: TransferRecord) {
        self.submit(Message::Transfer(record));
    }

    /// Queue an event. Never waits; if the queue is full it is dropped and counted.
    pub fn event(&self, event: Event) {
        self.submit(Message::Event(event));
    }

    fn submit(&self, message: Message) {
        if let Err(error) = self.queue.try_send(message) {
            let dropped = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // At the 1st, 2nd, 4th, 8th, ... drop: a flood of drops is a handful of lines.
            if dropped.is_power_of_two() {
                let reason = match error {
                    mpsc::error::TrySendError::Full(_) => "the queue is full",
                    mpsc::error::TrySendError::Closed(_) => "the writer has stopped",
                };
                tracing::warn!(dropped, "transfer or event record not saved: {reason}");
            }
        }
    }

    /// Wait until everything queued before this call is committed (or has failed). Waits for a
    /// place in the queue if it is full.
    pub async fn flush(&self) {
        let (done, finished) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            // An error means the task is gone; then nothing is left to wait for.
            let _ = finished.await;
        }
    }

    /// Stop accepting records on every handle, commit everything already queued, and wait for
    /// the task to end. Records handed over afterwards are dropped and counted.
    pub async fn shutdown(self) {
        self.counters.stopping.store(true, Ordering::Relaxed);
        let (done, finished) = oneshot::channel();
        if self.queue.send(Message::Shutdown(done)).await.is_ok() {
            let _ = finished.await;
        }
    }

    /// The counts so far.
    pub fn stats(&self) -> LogStats {
        let c = &self.counters;
        LogStats {
            written: c.written.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
        }
    }
}

/// The writer task: commits batches until the queue is closed and empty.
async fn run(store: Store, mut receiver: mpsc::Receiver<Message>, counters: Arc<Counters>) {
    let mut messages = Vec::with_capacity(LOG_BATCH);
    let mut transfers = Vec::new();
    let mut events = Vec::new();
    let mut flushes = Vec::new();
    let mut shutdowns = Vec::new();
    while receiver.recv_many(&mut messages, LOG_BATCH).await > 0 {
        for message in messages.drain(..) {
            match message {
                Message::Transfer(record) => transfers.push(record),
                Message::Event(event) => events.push(event),
                Message::Flush(done) => flushes.push(done),
                Message::Shutdown(done) => {
                    // Later sends fail; what is already queued is still received and committed.
                    receiver.close();
                    shutdowns.push(done);
                }
            }
        }
        if !transfers.is_empty() || !events.is_empty() {
            write_or_keep(&store, &transfers, &events, &counters, &mut flushes).await;
        }
        transfers.clear();
        events.clear();
        for done in flushes.drain(..) {
            // A flush whose caller went away does not want the answer.
            let _ = done.send(());
        }
    }
    for done in shutdowns {
        let _ = done.send(());
    }
}

/// Commit a batch of `records`; while the database cannot be reached (and the writer is not
/// stopping), keep it and try again every [`RETRY`], answering `flushes` meanwhile.
async fn write_or_keep(
    store: &Store,
    transfers: &[TransferRecord],
    events: &[Event],
    counters: &Counters,
    flushes: &mut Vec<oneshot::Sender<()>>,
) {
    let records = u64::try_from(transfers.len() + events.len()).unwrap_or(u64::MAX);
    let mut waiting = false;
    loop {
        match write_batch(store, transfers, events).await {
            Ok(()) => {
                counters.written.fetch_add(records, Ordering::Relaxed);
                if waiting {
                    tracing::info!(records, "the database answers again: transfer history and events saved");
                }
                return;
            }
            Err(error) if error.is_unreachable() && !counters.stopping.load(Ordering::Relaxed) => {
                if !waiting {
                    tracing::warn!(records, %error, "transfer history and events kept in memory until the database answers");
                    waiting = true;
                }
                // Nothing can be made visible meanwhile: those who flush are not kept waiting.
                for done in flushes.drain(..) {
                    let _ = done.send(());
                }
                tokio::time::sleep(RETRY).await;
            }
            Err(error) => {
                tracing::error!(records, %error, "transfer history and events not saved");
                counters.failed.fetch_add(records, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// One transaction with every record of the batch.
async fn write_batch(store: &Store, transfers: &[TransferRecord], events: &[Event]) -> Result<(), StoreError> {
    let instance = store.instance();
    with_pool!(store, pool => {
        let mut transaction = pool.begin_write().await.map_err(|e| store.error("start a transaction", e))?;
        insert_transfer_rows!(transaction, transfers, instance).map_err(|e| store.error("save transfers", e))?;
        insert_event_rows!(transaction, events, instance).map_err(|e| store.error("save events", e))?;
        transaction.commit().await.map_err(|e| store.error("commit a transaction", e))
    })
}
