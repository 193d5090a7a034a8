//! A download, counted as it is sent: the transfer's [`Progress`](crate::Progress) follows every
//! chunk, and how the download ended is reported exactly once — complete when the last byte was
//! handed to the connection, failed when sending broke off or the client went away first.
//!
//! A file sent with `sendfile(2)` counts into its [`Download`] directly (`http_file.rs`); any
//! other body is wrapped in a [`CountedBody`].

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use http_body::Frame;

use crate::observer::RunningTransfer;

/// How a download ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpOutcome {
    Complete,
    /// Why, for a person: `the client closed the connection after 1048576 of 33554432 bytes`.
    Failed(String),
}

/// Hears how a download ended, once.
pub(crate) type Ended = Box<dyn FnOnce(&Arc<RunningTransfer>, HttpOutcome, std::time::Duration) + Send>;

/// A download under way: what it has sent, and who hears how it ended. Dropped before it ended,
/// it ends as failed: the connection is gone (or the server stops).
pub(crate) struct Download {
    transfer: Arc<RunningTransfer>,
    /// The response's length (a range's, for a partial answer).
    expected: u64,
    sent: u64,
    started: Instant,
    ended: Option<Ended>,
}

impl Download {
    pub(crate) fn new(transfer: Arc<RunningTransfer>, expected: u64, ended: Ended) -> Download {
        Download { transfer, expected, sent: 0, started: Instant::now(), ended: Some(ended) }
    }

    /// `bytes` more were handed to the connection.
    pub(crate) fn sent(&mut self, bytes: u64) {
        self.sent += bytes;
        self.transfer.progress.add_bytes(bytes);
    }

    /// Sending is over: complete if every byte went, failed otherwise.
    pub(crate) fn finish(&mut self) {
        self.settle("the file changed while it was sent");
    }

    /// Ends the download unless it has ended: complete if every byte went, failed for
    /// `short_why` otherwise.
    fn settle(&mut self, short_why: &str) {
        if self.ended.is_none() {
            return;
        }
        let outcome = if self.sent == self.expected { HttpOutcome::Complete } else { self.broken_off(short_why) };
        self.end(outcome);
    }

    /// Sending broke off for `why` (`the client stopped reading for 30 s`).
    pub(crate) fn fail(&mut self, why: &str) {
        let outcome = self.broken_off(why);
        self.end(outcome);
    }

    fn end(&mut self, outcome: HttpOutcome) {
        if let Some(ended) = self.ended.take() {
            ended(&self.transfer, outcome, self.started.elapsed());
        }
    }

    fn broken_off(&self, why: &str) -> HttpOutcome {
        HttpOutcome::Failed(format!("{why} after {} of {} bytes", self.sent, self.expected))
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        self.settle("the client closed the connection");
    }
}

/// A response body that counts what it yields into a [`Download`].
pub(crate) struct CountedBody {
    inner: Body,
    download: Download,
}

impl CountedBody {
    pub(crate) fn new(inner: Body, download: Download) -> CountedBody {
        CountedBody { inner, download }
    }
}

impl http_body::Body for CountedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    self.download.sent(len);
                }
            }
            Poll::Ready(Some(Err(error))) => self.download.fail(&format!("reading the file failed ({error})")),
            Poll::Ready(None) => self.download.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
