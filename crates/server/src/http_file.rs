//! A boot file sent with `sendfile(2)`: the kernel moves the bytes from the page cache to the
//! socket, with no copy through lifeboat and no hop to a thread pool per chunk.
//!
//! tower-http's `ServeFile` answers the request (status, `Range`, validators, headers). When its
//! answer is a `200` or a `206` of the file lifeboat has open (same length and modification
//! time), [`AttachedFile::attach`] takes the place of its body, and the connection
//! (`http_connections.rs`) sends the range after the head. Otherwise `ServeFile`'s body stays.
//!
//! Through user space (hyper and `ServeFile`'s body), each byte was read into a buffer and
//! copied out again, and each chunk was a hop to tokio's blocking pool: 3–5× nginx's CPU per GiB
//! (BENCHMARKS.md). A file that is not in the page cache makes `sendfile` wait for the disk on
//! the sending thread, so each call moves at most [`STEP`], and the whole range is announced to
//! the kernel first (`POSIX_FADV_WILLNEED`), which reads it ahead in the background. A file
//! `sendfile` cannot read (a file system without the kernel's splice read) goes through user
//! space instead, in chunks read on the blocking pool.

use std::fs::File;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
use nix::sys::sendfile::sendfile64;
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::http_body::Download;

/// The most one `sendfile` call moves.
const STEP: u64 = 1 << 20;

/// A byte range of an open file, to be sent after the response head.
pub(crate) struct SendFile {
    file: File,
    start: u64,
    length: u64,
    download: Option<Download>,
}

/// A [`SendFile`] as a response extension (which must be `Clone` and `Sync`): the connection
/// takes it out once.
#[derive(Clone)]
pub(crate) struct AttachedFile(Arc<Mutex<Option<SendFile>>>);

impl AttachedFile {
    /// `response` (made by `ServeFile` for a `GET`) with `file` attached in place of its body,
    /// when it is a `200` or a `206` of `file` as it is now; `response` unchanged otherwise.
    pub(crate) fn attach(response: Response, file: File) -> Response {
        let Some((start, length)) = answered_range(&response, &file) else { return response };
        let attached = AttachedFile(Arc::new(Mutex::new(Some(SendFile { file, start, length, download: None }))));
        let (mut parts, _servefiles_body) = response.into_parts();
        parts.extensions.insert(attached);
        Response::from_parts(parts, Body::empty())
    }

    /// Gives `download` to the file attached to `response`, which counts what it sends into
    /// it; gives it back when no file is attached (the body is then to be counted).
    pub(crate) fn count_into(response: &Response, download: Download) -> Option<Download> {
        let Some(attached) = response.extensions().get::<AttachedFile>() else { return Some(download) };
        let mut slot = attached.0.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_mut() {
            Some(send) => {
                send.download = Some(download);
                None
            }
            None => Some(download),
        }
    }

    /// Takes the file out of `response`'s extensions.
    pub(crate) fn take(response: &mut Response) -> Option<SendFile> {
        let attached = response.extensions_mut().remove::<AttachedFile>()?;
        let mut slot = attached.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.take()
    }
}

impl SendFile {
    /// Sends the range to `stream`, counting it into the download; a wait of `stall` without
    /// progress ends it. An error means the connection cannot go on.
    pub(crate) async fn send(mut self, stream: &TcpStream, stall: Duration) -> io::Result<()> {
        let mut download = self.download.take();
        let result = send_range(&self.file, self.start, self.length, stream, stall, &mut download).await;
        if let Some(download) = download.as_mut() {
            match &result {
                Ok(()) => download.finish(),
                Err(error) => download.fail(&failure(error, stall)),
            }
        }
        result
    }
}

/// Sends `length` bytes of `file` from `start` to `stream`, counting them into `download`.
async fn send_range(
    file: &File,
    start: u64,
    length: u64,
    stream: &TcpStream,
    stall: Duration,
    download: &mut Option<Download>,
) -> io::Result<()> {
    let (Ok(first), Ok(count_all)) = (i64::try_from(start), i64::try_from(length)) else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "the range is beyond what sendfile takes"));
    };
    // Only advice: a kernel that ignores it sends all the same.
    let _ = posix_fadvise(file, first, count_all, PosixFadviseAdvice::POSIX_FADV_WILLNEED);
    let end = start + length;
    let mut offset = first;
    while offset.unsigned_abs() < end {
        let count = usize::try_from((end - offset.unsigned_abs()).min(STEP)).unwrap_or(usize::MAX);
        let sending = stream.async_io(Interest::WRITABLE, || {
            sendfile64(stream, file, Some(&mut offset), count).map_err(io::Error::from)
        });
        match tokio::time::timeout(stall, sending).await {
            Ok(Ok(0)) => {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file changed while it was sent"));
            }
            Ok(Ok(sent)) => {
                if let Some(download) = download.as_mut() {
                    download.sent(sent as u64);
                }
            }
            Ok(Err(error)) if sendfile_cannot_read(&error) => {
                return copy_range(file, offset.unsigned_abs(), end, stream, stall, download).await;
            }
            Ok(Err(error)) => return Err(error),
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "stalled")),
        }
    }
    Ok(())
}

/// Whether `sendfile` failed because it cannot read this file (a file system without the
/// kernel's splice read: some FUSE and network file systems) rather than because of the
/// connection.
fn sendfile_cannot_read(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(nix::libc::EINVAL | nix::libc::ENOSYS | nix::libc::EOPNOTSUPP))
}

/// Bytes read from a file at once where `sendfile` cannot read it.
const COPY_CHUNK: usize = 64 * 1024;

/// Sends bytes `offset..end` of `file` through user space: for files `sendfile` cannot read.
/// Reads wait on tokio's blocking pool (such file systems may be slow), writes on the socket.
async fn copy_range(
    file: &File,
    mut offset: u64,
    end: u64,
    stream: &TcpStream,
    stall: Duration,
    download: &mut Option<Download>,
) -> io::Result<()> {
    use std::os::unix::fs::FileExt as _;
    let reader = Arc::new(file.try_clone()?);
    let mut chunk = vec![0u8; COPY_CHUNK];
    while offset < end {
        let wanted = usize::try_from(end - offset).unwrap_or(COPY_CHUNK).min(COPY_CHUNK);
        let reading = Arc::clone(&reader);
        let (returned, read) = tokio::task::spawn_blocking(move || {
            let read = reading.read_at(&mut chunk[..wanted], offset);
            (chunk, read)
        })
        .await
        .map_err(io::Error::other)?;
        chunk = returned;
        let read = read?;
        if read == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file changed while it was sent"));
        }
        let mut written = 0;
        while written < read {
            tokio::time::timeout(stall, stream.writable())
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "stalled"))??;
            match stream.try_write(&chunk[written..read]) {
                Ok(sent) => written += sent,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
        offset += read as u64;
        if let Some(download) = download.as_mut() {
            download.sent(read as u64);
        }
    }
    Ok(())
}

/// Why a download broke off, for a person.
fn failure(error: &io::Error, stall: Duration) -> String {
    match error.kind() {
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
            "the client closed the connection".to_owned()
        }
        io::ErrorKind::TimedOut => format!("the client took nothing for {} s", stall.as_secs()),
        io::ErrorKind::UnexpectedEof => "the file changed while it was sent".to_owned(),
        _ => format!("sending failed ({error})"),
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
    SystemTime::UNIX_EPOCH + Duration::from_secs(since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt as _;

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

    /// What `send` puts on a connection, read at its other end.
    async fn sent_over_tcp(send: SendFile) -> (io::Result<()>, Vec<u8>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let sending = tokio::spawn(async move {
            let result = send.send(&server, Duration::from_secs(5)).await;
            drop(server);
            result
        });
        let mut received = Vec::new();
        client.read_to_end(&mut received).await.unwrap();
        (sending.await.unwrap(), received)
    }

    #[tokio::test]
    async fn a_whole_file_and_a_range_are_sent_from_the_open_file() {
        let bytes: Vec<u8> = (0..3_000_000u32).map(|n| (n % 251) as u8).collect();
        let (file, date) = file_of(&bytes);
        let whole = served(
            StatusCode::OK,
            &[(header::CONTENT_LENGTH, bytes.len().to_string()), (header::LAST_MODIFIED, date.clone())],
        );
        let mut whole = AttachedFile::attach(whole, file.reopen().unwrap());
        let (result, received) = sent_over_tcp(AttachedFile::take(&mut whole).expect("attached")).await;
        result.unwrap();
        assert!(received == bytes, "the whole file differs");

        let part = served(
            StatusCode::PARTIAL_CONTENT,
            &[
                (header::CONTENT_LENGTH, "1500001".into()),
                (header::CONTENT_RANGE, "bytes 1499999-2999999/3000000".into()),
                (header::LAST_MODIFIED, date),
            ],
        );
        let mut part = AttachedFile::attach(part, file.reopen().unwrap());
        let (result, received) = sent_over_tcp(AttachedFile::take(&mut part).expect("attached")).await;
        result.unwrap();
        assert!(received == bytes[1_499_999..], "the range differs");
    }

    #[tokio::test]
    async fn a_file_sendfile_cannot_read_goes_through_user_space() {
        assert!(sendfile_cannot_read(&io::Error::from_raw_os_error(nix::libc::EINVAL)));
        assert!(!sendfile_cannot_read(&io::Error::from_raw_os_error(nix::libc::EPIPE)));
        let bytes: Vec<u8> = (0..200_000u32).map(|n| (n % 253) as u8).collect();
        let (file, _) = file_of(&bytes);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let source = file.reopen().unwrap();
        let sending = tokio::spawn(async move {
            let result = copy_range(&source, 1000, 150_000, &server, Duration::from_secs(5), &mut None).await;
            drop(server);
            result
        });
        let mut received = Vec::new();
        client.read_to_end(&mut received).await.unwrap();
        sending.await.unwrap().unwrap();
        assert!(received == bytes[1000..150_000], "the copied range differs");
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
            let mut response = AttachedFile::attach(served(StatusCode::OK, &headers), file.reopen().unwrap());
            assert!(AttachedFile::take(&mut response).is_none(), "{headers:?}");
            let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            assert_eq!(body.as_ref(), b"served by ServeFile", "{headers:?}");
        }
        let not_modified = served(StatusCode::NOT_MODIFIED, &[(header::LAST_MODIFIED, date)]);
        let mut response = AttachedFile::attach(not_modified, file.reopen().unwrap());
        assert!(AttachedFile::take(&mut response).is_none());
    }

    #[tokio::test]
    async fn servefiles_own_answers_get_the_file_attached() {
        use tower::ServiceExt as _;
        let (file, _) = file_of(&[1u8; 10_000]);
        for range in [None, Some("bytes=100-"), Some("bytes=-9000")] {
            let mut request = axum::http::Request::new(Body::empty());
            if let Some(range) = range {
                request.headers_mut().insert(header::RANGE, range.parse().unwrap());
            }
            let serve_file = tower_http::services::ServeFile::new(file.path());
            let response = serve_file.oneshot(request).await.unwrap().map(Body::new);
            let mut response = AttachedFile::attach(response, file.reopen().unwrap());
            assert!(AttachedFile::take(&mut response).is_some(), "{range:?}: ServeFile's body was kept");
        }
    }

    #[tokio::test]
    async fn a_file_that_shrinks_before_it_is_sent_ends_with_an_error() {
        let (file, date) = file_of(&[7u8; 10_000]);
        let response =
            served(StatusCode::OK, &[(header::CONTENT_LENGTH, "10000".into()), (header::LAST_MODIFIED, date)]);
        let mut response = AttachedFile::attach(response, file.reopen().unwrap());
        let send = AttachedFile::take(&mut response).expect("attached");
        file.as_file().set_len(5000).unwrap();
        let (result, received) = sent_over_tcp(send).await;
        assert_eq!(received.len(), 5000);
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}
