//! The write-behind lease writer: changes are queued without waiting and committed in groups.
//!
//! **Invariant:** a [`Committed`] resolves to `Ok` only after the transaction holding its change
//! is committed (with `synchronous = FULL`, on disk). Changes are applied in the order they were
//! submitted; every change of a failed transaction gets that transaction's error; no change is
//! silently dropped: one that cannot be written resolves to an error.
//!
//! The task takes the first queued change, then everything else already queued (at most
//! [`MAX_BATCH`]), and applies them in one transaction. While that transaction commits, new
//! changes queue up for the next one, so the number of transactions per change falls as the load
//! rises. It never waits on purpose to gather more: a commit starts as soon as the previous one
//! ends, so no change waits longer than the commit in progress and its own. (A timed gather
//! saved little CPU and, with tokio's millisecond timer, added up to 2 ms to every ACK under
//! load.) The task holds one connection for all its batches.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use sqlx::pool::PoolConnection;
use sqlx::{Postgres, Sqlite};
use tokio::sync::{mpsc, oneshot};

use crate::error::{StoreError, WriteError};
use crate::leases::LeaseChange;
use crate::store::{Pool, Store};

/// Most changes committed in one transaction.
pub const MAX_BATCH: usize = 512;

type Outcome = Result<(), WriteError>;

enum Message {
    Change {
        change: LeaseChange,
        done: oneshot::Sender<Outcome>,
    },
    /// Stop accepting changes, commit the queued ones, then answer.
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// A handle on the lease writer task. Cheap to clone; the task ends when every handle is dropped
/// (after committing what was queued) or on [`LeaseWriter::shutdown`].
#[derive(Debug, Clone)]
pub struct LeaseWriter {
    queue: mpsc::UnboundedSender<Message>,
    counters: Arc<Counters>,
}

/// Counters of a writer since it was spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterStats {
    /// Changes accepted by [`LeaseWriter::submit`].
    pub submitted: u64,
    /// Changes committed.
    pub committed: u64,
    /// Changes whose transaction failed.
    pub failed: u64,
    /// Transactions committed.
    pub transactions: u64,
    /// Transactions that failed.
    pub failed_transactions: u64,
    /// Most changes in one transaction.
    pub largest_batch: u64,
}

#[derive(Debug, Default)]
struct Counters {
    submitted: AtomicU64,
    committed: AtomicU64,
    failed: AtomicU64,
    transactions: AtomicU64,
    failed_transactions: AtomicU64,
    largest_batch: AtomicU64,
}

impl LeaseWriter {
    /// Start the writer task on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime, like [`tokio::spawn`].
    pub fn spawn(store: Store) -> LeaseWriter {
        // Unbounded: submitting never waits, so the DHCP driver never stalls on the disk. The
        // queue only grows while the disk is slower than the clients (each handled packet submits
        // at most one change), and every queued change holds a waiter that will be answered.
        let (queue, receiver) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        tokio::spawn(run(store, receiver, Arc::clone(&counters)));
        LeaseWriter { queue, counters }
    }

    /// Queue `change` for the next transaction. Never waits; the returned future resolves once
    /// the change is committed, or with the error that kept it from being committed. Dropping the
    /// future does not cancel the change.
    pub fn submit(&self, change: LeaseChange) -> Committed {
        let (done, outcome) = oneshot::channel();
        // Counted before the send, so `committed` never runs ahead of `submitted`.
        self.counters.submitted.fetch_add(1, Ordering::Relaxed);
        if let Err(mpsc::error::SendError(message)) = self.queue.send(Message::Change { change, done }) {
            self.counters.submitted.fetch_sub(1, Ordering::Relaxed);
            if let Message::Change { done, .. } = message {
                let _ = done.send(Err(WriteError::Stopped));
            }
        }
        Committed { outcome }
    }

    /// Stop accepting changes on every handle, commit every change already queued, and wait for
    /// the task to end. Changes submitted afterwards resolve to [`WriteError::Stopped`].
    pub async fn shutdown(self) {
        let (done, finished) = oneshot::channel();
        if self.queue.send(Message::Shutdown { done }).is_ok() {
            // An error means the task is gone already; either way nothing is left to wait for.
            let _ = finished.await;
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> WriterStats {
        let c = &self.counters;
        WriterStats {
            submitted: c.submitted.load(Ordering::Relaxed),
            committed: c.committed.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            transactions: c.transactions.load(Ordering::Relaxed),
            failed_transactions: c.failed_transactions.load(Ordering::Relaxed),
            largest_batch: c.largest_batch.load(Ordering::Relaxed),
        }
    }
}

/// The outcome of one submitted change: resolves once it is committed or has failed.
#[derive(Debug)]
pub struct Committed {
    outcome: oneshot::Receiver<Outcome>,
}

impl Future for Committed {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        Pin::new(&mut self.outcome).poll(cx).map(|received| received.unwrap_or(Err(WriteError::Stopped)))
    }
}

/// The writer task: batches until the queue is closed and empty.
async fn run(store: Store, mut receiver: mpsc::UnboundedReceiver<Message>, counters: Arc<Counters>) {
    let mut messages = Vec::with_capacity(MAX_BATCH);
    let mut changes = Vec::with_capacity(MAX_BATCH);
    let mut waiters = Vec::with_capacity(MAX_BATCH);
    let mut shutdown_waiters = Vec::new();
    // Held across batches (taken again after an error): every batch then runs on the same SQLite
    // thread or PostgreSQL backend, instead of waking whichever connection of the pool comes next.
    let mut connection: Option<HeldConnection> = None;
    while receiver.recv_many(&mut messages, MAX_BATCH).await > 0 {
        for message in messages.drain(..) {
            match message {
                Message::Change { change, done } => {
                    changes.push(change);
                    waiters.push(done);
                }
                Message::Shutdown { done } => {
                    // Later sends fail; what is already queued is still received and committed.
                    receiver.close();
                    shutdown_waiters.push(done);
                }
            }
        }
        if changes.is_empty() {
            continue;
        }
        let outcome = commit(&store, &mut connection, &changes).await;
        if is_conflict(&outcome) && changes.len() > 1 {
            // Another instance holds an address one of the changes wants: the others must not
            // fail with it. Each change then gets a transaction and an answer of its own.
            for (change, waiter) in changes.iter().zip(waiters.drain(..)) {
                let single = commit(&store, &mut connection, std::slice::from_ref(change)).await;
                counters.record(1, single.is_ok());
                report(&single, 1);
                let _ = waiter.send(single);
            }
            changes.clear();
            continue;
        }
        counters.record(changes.len(), outcome.is_ok());
        report(&outcome, changes.len());
        changes.clear();
        for waiter in waiters.drain(..) {
            // A waiter that dropped its future does not want the answer.
            let _ = waiter.send(outcome.clone());
        }
    }
    for waiter in shutdown_waiters {
        let _ = waiter.send(());
    }
}

/// The connection the writer holds, of its store's engine.
enum HeldConnection {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl HeldConnection {
    async fn acquire(store: &Store) -> Result<HeldConnection, StoreError> {
        let held = match store.pool() {
            Pool::Sqlite(pool) => pool.acquire().await.map(HeldConnection::Sqlite),
            Pool::Postgres(pool) => pool.acquire().await.map(HeldConnection::Postgres),
        };
        held.map_err(|e| store.error("open a connection", e))
    }

    async fn apply(&mut self, store: &Store, changes: &[LeaseChange]) -> Result<(), StoreError> {
        match self {
            HeldConnection::Sqlite(connection) => store.apply_on(connection, changes).await,
            HeldConnection::Postgres(connection) => store.apply_on_postgres(connection, changes).await,
        }
    }

    fn close_on_drop(&mut self) {
        match self {
            HeldConnection::Sqlite(connection) => connection.close_on_drop(),
            HeldConnection::Postgres(connection) => connection.close_on_drop(),
        }
    }
}

/// Apply one batch on the writer's connection, taking one first if it has none. A connection
/// that failed is given back to the pool to be closed, so the next batch starts on a fresh one
/// (after a lost PostgreSQL connection, a new one once the server is back). A conflict is the
/// database refusing a change, not a failed connection: the connection is kept.
async fn commit(store: &Store, connection: &mut Option<HeldConnection>, changes: &[LeaseChange]) -> Outcome {
    let held = match connection {
        Some(held) => held,
        None => connection.insert(HeldConnection::acquire(store).await.map_err(|e| WriteError::Commit(Arc::new(e)))?),
    };
    let outcome = held.apply(store, changes).await.map_err(|e| WriteError::Commit(Arc::new(e)));
    if outcome.is_err()
        && !is_conflict(&outcome)
        && let Some(mut failed) = connection.take()
    {
        failed.close_on_drop();
    }
    outcome
}

fn is_conflict(outcome: &Outcome) -> bool {
    matches!(outcome, Err(WriteError::Commit(error)) if matches!(**error, StoreError::Conflict { .. }))
}

fn report(outcome: &Outcome, changes: usize) {
    if let Err(error) = outcome {
        tracing::error!(changes, %error, "lease changes not saved");
    }
}

impl Counters {
    fn record(&self, batch: usize, committed: bool) {
        let batch = u64::try_from(batch).unwrap_or(u64::MAX);
        if committed {
            self.committed.fetch_add(batch, Ordering::Relaxed);
            self.transactions.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(batch, Ordering::Relaxed);
            self.failed_transactions.fetch_add(1, Ordering::Relaxed);
        }
        self.largest_batch.fetch_max(batch, Ordering::Relaxed);
    }
}
