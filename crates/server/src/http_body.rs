//! The body of an HTTP boot download, counted as it streams: the transfer's [`Progress`] follows
//! every chunk, and how the download ended is reported exactly once — complete when the last
//! byte was handed to the connection, failed when the body broke off or the client went away
//! first (hyper then drops the body unfinished).

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

/// A response body that counts what it yields into `transfer`'s progress.
pub(crate) struct CountedBody {
    inner: Body,
    transfer: Arc<RunningTransfer>,
    /// The response's length (a range's, for a partial answer).
    expected: u64,
    sent: u64,
    started: Instant,
    ended: Option<Ended>,
}

impl CountedBody {
    pub(crate) fn new(inner: Body, transfer: Arc<RunningTransfer>, expected: u64, ended: Ended) -> CountedBody {
        CountedBody { inner, transfer, expected, sent: 0, started: Instant::now(), ended: Some(ended) }
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

impl http_body::Body for CountedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    self.sent += len;
                    self.transfer.progress.add_bytes(len);
                }
            }
            Poll::Ready(Some(Err(error))) => {
                let outcome = self.broken_off(&format!("reading the file failed ({error})"));
                self.end(outcome);
            }
            Poll::Ready(None) => {
                let outcome = if self.sent == self.expected {
                    HttpOutcome::Complete
                } else {
                    self.broken_off("the file changed while it was sent")
                };
                self.end(outcome);
            }
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

impl Drop for CountedBody {
    fn drop(&mut self) {
        // A body dropped before its end: the connection is gone (or the server stops).
        let outcome = if self.sent == self.expected {
            HttpOutcome::Complete
        } else {
            self.broken_off("the client closed the connection")
        };
        self.end(outcome);
    }
}
