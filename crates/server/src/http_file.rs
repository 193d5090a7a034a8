//! The bytes of a boot file as an HTTP body, read straight into the buffers hyper sends.
//!
//! tower-http's `ServeFile` answers the request (status, `Range`, validators), and its body
//! would read the file too, through `tokio::fs::File`, which reads into a buffer of its own and
//! then copies each chunk into the body's: one more pass over every byte served, 7–9 % of the
//! server's CPU in `perf` during four parallel 64 MiB downloads. [`FileBody`] reads each chunk
//! on tokio's blocking pool into a buffer that then is the chunk, and [`FileBody::replacing`]
//! puts it in place of `ServeFile`'s body only when the file it has open is the one `ServeFile`
//! described (same length and modification time): otherwise `ServeFile`'s own body is kept.
//! Measured with tests/bench/http-bench.sh (20 clients, 64 MiB, runs alternating with the old
//! body): 0.67–0.69 server CPU-seconds per GiB against 0.74–0.80, and 1300 MB/s against 1160–1270.
//!
//! A body holds up to two chunks at once (one hyper is sending, the next being read). Large
//! chunks cost less CPU (each read is a hop to the blocking pool) but 200 machines booting at
//! once would hold 100 MiB, so chunks shrink as downloads grow in number: all bodies together
//! hold about [`BODIES_MEMORY`], each chunk between [`MIN_CHUNK`] and the caller's largest.

use std::fs::File;
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use http_body::{Frame, SizeHint};
use tokio::task::JoinHandle;

/// What the bodies of all downloads hold at once, about: the chunks being sent and read.
const BODIES_MEMORY: usize = 24 << 20;

/// The smallest chunk, however many downloads run.
const MIN_CHUNK: usize = 64 << 10;

/// The bodies streaming now, which share [`BODIES_MEMORY`].
#[derive(Debug, Default)]
pub(crate) struct Streaming(AtomicUsize);

impl Streaming {
    /// The size of the next chunk of a body, at most `largest`.
    fn chunk(&self, largest: usize) -> usize {
        let bodies = self.0.load(Ordering::Relaxed).max(1);
        let share = BODIES_MEMORY / (2 * bodies);
        // Whole pages, so reads stay aligned in the page cache.
        (share.min(largest).max(MIN_CHUNK.min(largest)) & !4095).max(4096)
    }
}

/// A read in flight: it owns the file until it is done.
type PendingRead = JoinHandle<(File, io::Result<Vec<u8>>)>;

/// Bytes `start..start + length` of a file, in chunks of at most `chunk` bytes.
pub(crate) struct FileBody {
    state: State,
    /// Where the first read starts; `None` once the file is there.
    seek_to: Option<u64>,
    /// Bytes not yet yielded.
    left: u64,
    /// The largest chunk.
    largest: usize,
    streaming: Arc<Streaming>,
}

enum State {
    Idle(File),
    Reading(PendingRead),
    Done,
}

impl FileBody {
    /// `file`'s bytes for the `response` `ServeFile` made for a `GET`, as its new body, when
    /// `response` is a `200` or a `206` of `file` as it is now; `response` unchanged otherwise.
    /// Chunks are at most `largest` bytes, less while many bodies share `streaming`.
    pub(crate) fn replacing(response: Response, file: File, largest: usize, streaming: &Arc<Streaming>) -> Response {
        let Some((start, length)) = answered_range(&response, &file) else { return response };
        streaming.0.fetch_add(1, Ordering::Relaxed);
        let body = FileBody {
            state: State::Idle(file),
            seek_to: Some(start),
            left: length,
            largest,
            streaming: Arc::clone(streaming),
        };
        response.map(|_| Body::new(body))
    }
}

/// The bytes `response` promises, `(start, length)`, if `file` is the file it describes.
fn answered_range(response: &Response, file: &File) -> Option<(u64, u64)> {
    let headers = response.headers();
    let length = number(headers.get(header::CONTENT_LENGTH)?.to_str().ok()?)?;
    let (start, total) = match response.status() {
        StatusCode::OK => (0, length),
        StatusCode::PARTIAL_CONTENT => {
            // `bytes FIRST-LAST/TOTAL`: a single range (several ranges are never asked of it).
            let range = headers.get(header::CONTENT_RANGE)?.to_str().ok()?.strip_prefix("bytes ")?;
            let (span, total) = range.split_once('/')?;
            let (first, last) = span.split_once('-')?;
            let (first, last) = (number(first)?, number(last)?);
            (last.checked_sub(first)?.checked_add(1)? == length).then_some(())?;
            (first, number(total)?)
        }
        _ => return None,
    };
    let metadata = file.metadata().ok()?;
    (metadata.is_file() && metadata.len() == total && same_second(headers, metadata.modified().ok()?))
        .then_some((start, length))
}

fn number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// Whether `Last-Modified` is `modified` (HTTP dates have whole seconds).
fn same_second(headers: &HeaderMap, modified: SystemTime) -> bool {
    let Some(stated) = headers.get(header::LAST_MODIFIED).and_then(|v| v.to_str().ok()) else { return false };
    httpdate::parse_http_date(stated).is_ok_and(|stated| stated == truncated(modified))
}

fn truncated(time: SystemTime) -> SystemTime {
    let since = time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(since.as_secs())
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return Poll::Ready(None),
                State::Idle(_) if self.left == 0 => return Poll::Ready(None),
                State::Idle(file) => {
                    let wanted = self.left.min(self.streaming.chunk(self.largest) as u64);
                    let seek_to = self.seek_to.take();
                    // Allocated here, on the thread that also frees it once hyper has sent it:
                    // a buffer from a blocking-pool thread's heap came back to that heap from
                    // another thread, and page faults then cost what the saved copy had saved.
                    let chunk = Vec::with_capacity(usize::try_from(wanted).unwrap_or(usize::MAX));
                    self.state = State::Reading(tokio::task::spawn_blocking(move || {
                        let read = read_chunk(&file, seek_to, wanted, chunk);
                        (file, read)
                    }));
                }
                State::Reading(mut reading) => match Pin::new(&mut reading).poll(cx) {
                    Poll::Pending => {
                        self.state = State::Reading(reading);
                        return Poll::Pending;
                    }
                    Poll::Ready(Ok((file, Ok(chunk)))) => {
                        if chunk.is_empty() {
                            let why = format!("the file ended {} bytes early: it changed while it was sent", self.left);
                            return Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::UnexpectedEof, why))));
                        }
                        self.left -= chunk.len() as u64;
                        self.state = State::Idle(file);
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))));
                    }
                    Poll::Ready(Ok((_, Err(error)))) => return Poll::Ready(Some(Err(error))),
                    Poll::Ready(Err(join)) => return Poll::Ready(Some(Err(io::Error::other(join)))),
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

impl Drop for FileBody {
    fn drop(&mut self) {
        self.streaming.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Up to `wanted` bytes from `file`'s position (after moving it to `seek_to`), read into the spare
/// capacity of `chunk`: `Read::read_to_end` on a `File` does not zero the buffer first.
fn read_chunk(mut file: &File, seek_to: Option<u64>, wanted: u64, mut chunk: Vec<u8>) -> io::Result<Vec<u8>> {
    if let Some(offset) = seek_to {
        file.seek(SeekFrom::Start(offset))?;
    }
    file.take(wanted).read_to_end(&mut chunk)?;
    Ok(chunk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt as _;

    fn served(status: StatusCode, headers: &[(header::HeaderName, String)]) -> Response {
        let mut response = Response::new(Body::from("served by ServeFile"));
        *response.status_mut() = status;
        for (name, value) in headers {
            response.headers_mut().insert(name, value.parse().unwrap());
        }
        response
    }

    fn file_of(bytes: &[u8]) -> (tempfile::NamedTempFile, String) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, bytes).unwrap();
        let modified = file.as_file().metadata().unwrap().modified().unwrap();
        (file, httpdate::fmt_http_date(modified))
    }

    async fn body_of(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec()
    }

    #[tokio::test]
    async fn a_whole_file_and_a_range_come_from_the_open_file_in_chunks() {
        let bytes: Vec<u8> = (0..100_000u32).map(|n| (n % 251) as u8).collect();
        let (file, date) = file_of(&bytes);
        let whole =
            served(StatusCode::OK, &[(header::CONTENT_LENGTH, "100000".into()), (header::LAST_MODIFIED, date.clone())]);
        let whole = FileBody::replacing(whole, file.reopen().unwrap(), 4096, &Arc::default());
        assert_eq!(body_of(whole).await, bytes);

        let part = served(
            StatusCode::PARTIAL_CONTENT,
            &[
                (header::CONTENT_LENGTH, "50001".into()),
                (header::CONTENT_RANGE, "bytes 49999-99999/100000".into()),
                (header::LAST_MODIFIED, date),
            ],
        );
        let part = FileBody::replacing(part, file.reopen().unwrap(), 4096, &Arc::default());
        assert_eq!(body_of(part).await, bytes[49_999..]);
    }

    #[test]
    fn chunks_shrink_as_bodies_grow_in_number() {
        let streaming = Streaming::default();
        let largest = 256 << 10;
        let chunks: Vec<usize> = [0, 1, 20, 64, 100, 200, 10_000]
            .into_iter()
            .map(|bodies| {
                streaming.0.store(bodies, Ordering::Relaxed);
                streaming.chunk(largest)
            })
            .collect();
        assert_eq!(chunks, [largest, largest, largest, 192 << 10, 120 << 10, MIN_CHUNK, MIN_CHUNK]);
        streaming.0.store(1, Ordering::Relaxed);
        assert_eq!(streaming.chunk(3000), 4096, "a chunk is a whole page");
    }

    #[tokio::test]
    async fn a_body_counts_itself_while_it_streams() {
        let (file, date) = file_of(&[1u8; 100]);
        let streaming = Arc::new(Streaming::default());
        let response = served(StatusCode::OK, &[(header::CONTENT_LENGTH, "100".into()), (header::LAST_MODIFIED, date)]);
        let response = FileBody::replacing(response, file.reopen().unwrap(), 4096, &streaming);
        assert_eq!(streaming.0.load(Ordering::Relaxed), 1);
        drop(response);
        assert_eq!(streaming.0.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn servefiles_own_answers_are_replaced() {
        use tower::ServiceExt as _;
        let (file, _) = file_of(&[1u8; 10_000]);
        for range in [None, Some("bytes=100-"), Some("bytes=-9000")] {
            let mut request = axum::http::Request::new(Body::empty());
            if let Some(range) = range {
                request.headers_mut().insert(header::RANGE, range.parse().unwrap());
            }
            let serve_file = tower_http::services::ServeFile::new(file.path()).with_buf_chunk_size(1000);
            let response = serve_file.oneshot(request).await.unwrap().map(Body::new);
            let response = FileBody::replacing(response, file.reopen().unwrap(), 8192, &Arc::default());
            let mut frames = response.into_body().into_data_stream();
            let first = frames.next().await.unwrap().unwrap();
            assert_eq!(first.len(), 8192, "{range:?}: ServeFile's body (chunks of 1000) was kept");
        }
    }

    #[tokio::test]
    async fn another_file_than_the_one_described_keeps_servefiles_body() {
        let (file, date) = file_of(b"twelve bytes");
        for headers in [
            vec![(header::CONTENT_LENGTH, "13".to_owned()), (header::LAST_MODIFIED, date.clone())],
            vec![
                (header::CONTENT_LENGTH, "12".to_owned()),
                (header::LAST_MODIFIED, "Thu, 01 Jan 1970 00:00:00 GMT".into()),
            ],
            vec![(header::CONTENT_LENGTH, "12".to_owned())],
        ] {
            let response =
                FileBody::replacing(served(StatusCode::OK, &headers), file.reopen().unwrap(), 4096, &Arc::default());
            assert_eq!(body_of(response).await, b"served by ServeFile", "{headers:?}");
        }
        let not_modified = served(StatusCode::NOT_MODIFIED, &[(header::LAST_MODIFIED, date)]);
        let response = FileBody::replacing(not_modified, file.reopen().unwrap(), 4096, &Arc::default());
        assert_eq!(body_of(response).await, b"served by ServeFile");
    }

    #[tokio::test]
    async fn a_file_that_shrinks_while_it_is_sent_ends_the_body_with_an_error() {
        let (file, date) = file_of(&[7u8; 10_000]);
        let response =
            served(StatusCode::OK, &[(header::CONTENT_LENGTH, "10000".into()), (header::LAST_MODIFIED, date)]);
        let response = FileBody::replacing(response, file.reopen().unwrap(), 4096, &Arc::default());
        let mut body = response.into_body().into_data_stream();
        let first = body.next().await.unwrap().unwrap();
        assert_eq!(first.len(), 4096);
        file.as_file().set_len(5000).unwrap();
        let second = body.next().await.unwrap().unwrap();
        assert_eq!(second.len(), 5000 - 4096);
        let error = body.next().await.unwrap().unwrap_err();
        assert!(error.to_string().contains("ended 5000 bytes early"), "{error}");
    }
}
