//! HTTP/1.1 on the wire for the boot server: request heads in, response heads out.
//!
//! Why not hyper: hyper writes bodies from buffers, so each byte of a kernel would be read into
//! user space and copied out again; the boot server sends files with `sendfile(2)` instead
//! (`http_file.rs`), which needs the socket between the head and the body. What it must
//! understand is small: `GET` and `HEAD` without bodies, keep-alive and pipelined requests.
//! Heads are parsed by httparse, the parser hyper uses; the routing, ranges and validators stay
//! axum's and tower-http's.
//!
//! **Invariant:** a head is at most [`MAX_HEAD`] bytes with at most [`MAX_HEADERS`] fields; a
//! request with a body is answered and its connection closed (the body is never read); a
//! response without a known length is delimited by closing the connection.

use axum::body::Body;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, Request, StatusCode, Uri, Version, response};

/// The longest request head taken.
const MAX_HEAD: usize = 16 * 1024;

/// The most header fields in a request head.
const MAX_HEADERS: usize = 64;

/// A request head read off the connection.
#[derive(Debug)]
pub(crate) struct RequestHead {
    pub(crate) request: Request<Body>,
    /// Bytes of the buffer the head took.
    pub(crate) length: usize,
    /// The connection may carry another request after this one's answer.
    pub(crate) keep_alive: bool,
}

/// Why a request head was not taken; each is answered with its status and the connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadError {
    TooLarge,
    /// Not HTTP/1.x (httparse cannot tell a foreign version from a request line with spaces in
    /// its path), or a field that is not one.
    Malformed,
}

impl HeadError {
    pub(crate) fn status(self) -> StatusCode {
        match self {
            HeadError::TooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            HeadError::Malformed => StatusCode::BAD_REQUEST,
        }
    }
}

/// The request head at the start of `buffer`: `Ok(None)` while it is incomplete.
pub(crate) fn parse_head(buffer: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut fields);
    let length = match parsed.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if buffer.len() >= MAX_HEAD => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed),
    };
    if length > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let version = match parsed.version {
        Some(1) => Version::HTTP_11,
        Some(0) => Version::HTTP_10,
        _ => return Err(HeadError::Malformed),
    };
    let method = Method::from_bytes(parsed.method.unwrap_or_default().as_bytes()).map_err(|_| HeadError::Malformed)?;
    let uri: Uri = parsed.path.unwrap_or_default().parse().map_err(|_| HeadError::Malformed)?;
    let mut request = Request::new(Body::empty());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    for field in parsed.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| HeadError::Malformed)?;
        let value = HeaderValue::from_bytes(field.value).map_err(|_| HeadError::Malformed)?;
        request.headers_mut().append(name, value);
    }
    let keep_alive = keeps_alive(&request) && !has_body(&request);
    Ok(Some(RequestHead { request, length, keep_alive }))
}

/// HTTP/1.1 keeps the connection unless told to close it; HTTP/1.0 is answered and closed.
fn keeps_alive(request: &Request<Body>) -> bool {
    request.version() == Version::HTTP_11
        && !request
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .any(|value| value.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))))
}

/// Whether a body follows the head (which this server never reads).
fn has_body(request: &Request<Body>) -> bool {
    let headers = request.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers.get(header::CONTENT_LENGTH).is_some_and(|length| length.as_bytes() != b"0")
}

/// How the body of a response goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body: an answer to `HEAD`, a `204`, a `304`.
    None,
    /// This many bytes follow.
    Length(u64),
    /// The body ends with the connection.
    UntilClose,
}

/// How a response with `parts` and a body of `body_length` (if known) is framed, for a `HEAD`
/// request or not. Its own `Content-Length` wins over the body's length.
pub(crate) fn framing(parts: &response::Parts, body_length: Option<u64>, head_request: bool) -> Framing {
    let status = parts.status;
    if head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Framing::None;
    }
    let stated = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    match stated.or(body_length) {
        Some(length) => Framing::Length(length),
        None => Framing::UntilClose,
    }
}

/// The response head: status line, `parts`' headers (but the framing ones, written here),
/// `Date`, the length `framing` gives, and `Connection: close` when the connection ends after this response.
pub(crate) fn response_head(parts: &response::Parts, framing: Framing, keep_alive: bool, date: &str) -> Vec<u8> {
    let mut head = Vec::with_capacity(512);
    let reason = parts.status.canonical_reason().unwrap_or("");
    head.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", parts.status.as_u16()).as_bytes());
    for (name, value) in &parts.headers {
        if [header::CONNECTION, header::TRANSFER_ENCODING, header::CONTENT_LENGTH, header::DATE].contains(name) {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(format!("date: {date}\r\n").as_bytes());
    let length = match framing {
        Framing::Length(length) => Some(length),
        // A `HEAD` answer states the length a `GET` would have, as the router stated it (its
        // body is empty).
        Framing::None if parts.status != StatusCode::NOT_MODIFIED && parts.status != StatusCode::NO_CONTENT => {
            parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
        }
        Framing::None | Framing::UntilClose => None,
    };
    if let Some(length) = length {
        head.extend_from_slice(format!("content-length: {length}\r\n").as_bytes());
    }
    if !keep_alive || framing == Framing::UntilClose {
        head.extend_from_slice(b"connection: close\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// A response head with no headers but its length, for a request that was not taken.
pub(crate) fn error_response(status: StatusCode, date: &str) -> Vec<u8> {
    let text = format!("lifeboat: {}\n", status.canonical_reason().unwrap_or("error"));
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\ndate: {date}\r\nconnection: close\r\n\r\n{text}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        text.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> RequestHead {
        parse_head(text.as_bytes()).unwrap().expect("a complete head")
    }

    #[test]
    fn a_get_with_its_headers_and_what_follows_it() {
        let pipelined = "GET /debian/vmlinuz?x=1 HTTP/1.1\r\nHost: 10.0.0.1:4080\r\nRange: bytes=0-99\r\n\r\nGET /next HTTP/1.1\r\n";
        let head = parsed(pipelined);
        assert_eq!(head.request.method(), Method::GET);
        assert_eq!(head.request.uri().path(), "/debian/vmlinuz");
        assert_eq!(head.request.uri().query(), Some("x=1"));
        assert_eq!(head.request.headers()[header::RANGE], "bytes=0-99");
        assert!(head.keep_alive);
        assert_eq!(&pipelined[head.length..], "GET /next HTTP/1.1\r\n");
    }

    #[test]
    fn a_head_in_pieces_is_incomplete_until_its_blank_line() {
        assert!(parse_head(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap().is_none());
        assert!(parse_head(b"").unwrap().is_none());
    }

    #[test]
    fn close_http_1_0_and_bodies_end_the_connection() {
        for text in [
            "GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n",
            "GET / HTTP/1.0\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert!(!parsed(text).keep_alive, "{text:?}");
        }
        assert!(parsed("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").keep_alive);
    }

    #[test]
    fn oversized_malformed_and_foreign_heads_are_refused() {
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(parse_head(long.as_bytes()).unwrap_err(), HeadError::TooLarge);
        let many: String = (0..=MAX_HEADERS).map(|n| format!("X-{n}: 1\r\n")).collect();
        assert_eq!(parse_head(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()).unwrap_err(), HeadError::TooLarge);
        for text in
            ["GET / HTTP/1.1\r\nBad Header: 1\r\n\r\n", "\u{0}\u{1} / HTTP/1.1\r\n\r\n", "GET /a b HTTP/1.1\r\n\r\n"]
        {
            assert_eq!(parse_head(text.as_bytes()).unwrap_err(), HeadError::Malformed, "{text:?}");
        }
        assert_eq!(parse_head(b"GET / HTTP/2.0\r\n\r\n").unwrap_err(), HeadError::Malformed);
    }

    fn parts(status: StatusCode, headers: &[(HeaderName, &str)]) -> response::Parts {
        let mut response = axum::http::Response::new(());
        *response.status_mut() = status;
        for (name, value) in headers {
            response.headers_mut().insert(name, HeaderValue::from_str(value).unwrap());
        }
        response.into_parts().0
    }

    const DATE: &str = "Mon, 07 Dec 2026 10:00:00 GMT";

    #[test]
    fn a_response_head_states_its_length_date_and_whether_the_connection_closes() {
        let ok = parts(
            StatusCode::OK,
            &[(header::CONTENT_LENGTH, "42"), (header::ETAG, "\"x\""), (header::CONNECTION, "upgrade")],
        );
        let stated = framing(&ok, None, false);
        assert_eq!(stated, Framing::Length(42));
        let head = String::from_utf8(response_head(&ok, stated, true, DATE)).unwrap();
        assert_eq!(head, format!("HTTP/1.1 200 OK\r\netag: \"x\"\r\ndate: {DATE}\r\ncontent-length: 42\r\n\r\n"));

        let script = parts(StatusCode::OK, &[]);
        assert_eq!(framing(&script, Some(7), false), Framing::Length(7));
        let unknown = framing(&script, None, false);
        assert_eq!(unknown, Framing::UntilClose);
        let head = String::from_utf8(response_head(&script, unknown, true, DATE)).unwrap();
        assert!(head.ends_with("connection: close\r\n\r\n") && !head.contains("content-length"), "{head}");
    }

    #[test]
    fn head_answers_state_the_length_and_not_modified_has_none() {
        let ok = parts(StatusCode::OK, &[(header::CONTENT_LENGTH, "42")]);
        let framing_of_head = framing(&ok, Some(0), true);
        assert_eq!(framing_of_head, Framing::None);
        let head = String::from_utf8(response_head(&ok, framing_of_head, false, DATE)).unwrap();
        assert!(head.contains("content-length: 42\r\n") && head.contains("connection: close\r\n"), "{head}");

        let not_modified = parts(StatusCode::NOT_MODIFIED, &[(header::ETAG, "\"x\"")]);
        assert_eq!(framing(&not_modified, Some(0), false), Framing::None);
        let head = String::from_utf8(response_head(&not_modified, Framing::None, true, DATE)).unwrap();
        assert!(!head.contains("content-length"), "{head}");
    }
}
