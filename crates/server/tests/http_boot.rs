//! The HTTP boot server in process, on loopback, spoken to over plain TCP: what each answer
//! says (status, length, ranges, validators), and what the observer hears (a transfer per body,
//! complete or failed, a missing file, the script request). Real clients (curl, wget) in
//! namespaces are in tests/tests/http_boot.rs.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lifeboat_server::{
    AllowList, HttpBootConfig, HttpBootObserver, HttpBootServer, HttpOutcome, HttpReport, RefusedRequest,
    RunningTransfer, ScriptRequest,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Witness {
    started: Mutex<Vec<String>>,
    finished: Mutex<Vec<HttpReport>>,
    refused: Mutex<Vec<RefusedRequest>>,
    scripts: Mutex<Vec<ScriptRequest>>,
}

impl HttpBootObserver for Witness {
    fn script(&self, request: &ScriptRequest) -> String {
        self.scripts.lock().unwrap().push(request.clone());
        format!("#!ipxe\necho {}\n", request.mac.clone().unwrap_or_default())
    }
    fn started(&self, transfer: &Arc<RunningTransfer>) {
        self.started.lock().unwrap().push(transfer.requested.clone());
    }
    fn finished(&self, _: &Arc<RunningTransfer>, report: &HttpReport) {
        self.finished.lock().unwrap().push(report.clone());
    }
    fn refused(&self, refusal: &RefusedRequest) {
        self.refused.lock().unwrap().push(refusal.clone());
    }
}

struct Served {
    addr: SocketAddr,
    witness: Arc<Witness>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// 1 MiB of bytes that differ by position, so a wrong range shows.
fn content() -> Vec<u8> {
    (0..1u32 << 20).map(|i| (i % 251) as u8).collect()
}

async fn serve(allow: AllowList) -> Served {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("debian")).unwrap();
    std::fs::write(dir.path().join("debian/vmlinuz"), content()).unwrap();
    std::fs::write(dir.path().join("outside.txt"), b"secret").unwrap();
    let root = dir.path().join("debian");
    let config = HttpBootConfig {
        root: dir.path().to_path_buf(),
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        allow,
        aliases: [("kernel".to_owned(), root.join("vmlinuz"))].into(),
    };
    let witness = Arc::new(Witness::default());
    let server = HttpBootServer::bind(config, Arc::clone(&witness) as Arc<dyn HttpBootObserver>).await.unwrap();
    let addr = server.local_addrs()[0];
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.run(shutdown.clone()));
    Served { addr, witness, shutdown, task, _dir: dir }
}

fn loopback() -> AllowList {
    AllowList::new(vec!["127.0.0.0/8".parse().unwrap()])
}

/// One request on a new connection (`Connection: close`): the head and the body.
async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[&str]) -> (String, Vec<u8>) {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut text = format!("{method} {path} HTTP/1.1\r\nHost: lifeboat\r\nConnection: close\r\n");
        for header in headers {
            text.push_str(header);
            text.push_str("\r\n");
        }
        text.push_str("\r\n");
        stream.write_all(text.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        answer
    };
    let answer = tokio::time::timeout(WAIT, exchange).await.expect("the server answered in time");
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a head");
    (String::from_utf8_lossy(&answer[..split]).into_owned(), answer[split + 4..].to_vec())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// Waits until the observer heard `count` finished downloads.
async fn finished(witness: &Witness, count: usize) -> Vec<HttpReport> {
    tokio::time::timeout(WAIT, async {
        loop {
            let reports = witness.finished.lock().unwrap().clone();
            if reports.len() >= count {
                return reports;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{count} downloads never ended"))
}

#[tokio::test]
async fn a_file_comes_whole_or_by_range_and_each_body_is_one_transfer() {
    let served = serve(loopback()).await;
    let all = content();

    let (head, body) = request(served.addr, "GET", "/debian/vmlinuz", &[]).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(header(&head, "content-length"), Some("1048576"));
    assert!(body == all, "the body differs from the file");
    let etag = header(&head, "etag").expect("an ETag").to_owned();

    let ranges = [
        ("bytes=0-99", 0..100),
        ("bytes=500000-500099", 500_000..500_100),
        ("bytes=1048500-", 1_048_500..1_048_576),
        ("bytes=-10", 1_048_566..1_048_576),
    ];
    for (range, expected) in ranges.clone() {
        let (head, body) = request(served.addr, "GET", "/debian/vmlinuz", &[&format!("Range: {range}")]).await;
        assert!(head.starts_with("HTTP/1.1 206"), "{range}: {head}");
        assert_eq!(body, all[expected.clone()], "{range}");
        let content_range = format!("bytes {}-{}/1048576", expected.start, expected.end - 1);
        assert_eq!(header(&head, "content-range"), Some(content_range.as_str()), "{range}");
    }
    let (head, _) = request(served.addr, "GET", "/debian/vmlinuz", &["Range: bytes=2000000-"]).await;
    assert!(head.starts_with("HTTP/1.1 416"), "{head}");
    // Several ranges at once: the whole file instead.
    let (head, body) = request(served.addr, "GET", "/debian/vmlinuz", &["Range: bytes=0-9,100-109"]).await;
    assert!(head.starts_with("HTTP/1.1 200") && body == all, "{head}");

    let (head, body) = request(served.addr, "HEAD", "/debian/vmlinuz", &[]).await;
    assert!(head.starts_with("HTTP/1.1 200") && body.is_empty(), "{head}");
    assert_eq!(header(&head, "content-length"), Some("1048576"));
    let (head, body) = request(served.addr, "GET", "/debian/vmlinuz", &[&format!("If-None-Match: {etag}")]).await;
    assert!(head.starts_with("HTTP/1.1 304") && body.is_empty(), "{head}");

    let (head, body) = request(served.addr, "GET", "/kernel", &[]).await;
    assert!(head.starts_with("HTTP/1.1 200") && body == all, "an alias is served like its file: {head}");

    let reports = finished(&served.witness, 7).await;
    let sizes: Vec<(u64, u64)> = reports.iter().map(|r| (r.size, r.bytes)).collect();
    let expected: Vec<(u64, u64)> = [1 << 20, 100, 100, 76, 10, 1 << 20, 1 << 20].iter().map(|&n| (n, n)).collect();
    assert_eq!(sizes, expected, "one transfer per body, HEAD and 304 none");
    assert!(reports.iter().all(|r| r.outcome == HttpOutcome::Complete), "{reports:?}");
    assert_eq!(served.witness.started.lock().unwrap().len(), 7);
    served.shutdown.cancel();
    tokio::time::timeout(WAIT, served.task).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_range_under_a_stale_if_range_is_ignored_and_the_whole_file_comes() {
    let served = serve(loopback()).await;
    let all = content();
    let (head, _) = request(served.addr, "HEAD", "/debian/vmlinuz", &[]).await;
    let etag = header(&head, "etag").expect("an ETag").to_owned();
    let date = header(&head, "last-modified").expect("a Last-Modified").to_owned();

    // The validator of the file as it is: the range, as asked.
    for validator in [&etag, &date] {
        let if_range = format!("If-Range: {validator}");
        let (head, body) = request(served.addr, "GET", "/debian/vmlinuz", &["Range: bytes=1000-", &if_range]).await;
        assert!(head.starts_with("HTTP/1.1 206"), "{if_range}: {head}");
        assert_eq!(body, all[1000..], "{if_range}");
    }
    // Another file's (or an older copy's) validator, a weak one, a date in another format: the
    // whole file, with 200.
    let stale = [
        "\"0.00000000-0\"".to_owned(),
        format!("W/{etag}"),
        "Thu, 01 Jan 1970 00:00:00 GMT".to_owned(),
        "not a validator".to_owned(),
    ];
    for validator in stale {
        let if_range = format!("If-Range: {validator}");
        let (head, body) = request(served.addr, "GET", "/debian/vmlinuz", &["Range: bytes=1000-", &if_range]).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{if_range}: {head}");
        assert!(body == all, "{if_range}: the body differs from the file");
    }
    // If-Range without a Range changes nothing.
    let (head, _) = request(served.addr, "GET", "/debian/vmlinuz", &["If-Range: \"x\""]).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let reports = finished(&served.witness, 7).await;
    let sizes: Vec<u64> = reports.iter().map(|r| r.size).collect();
    assert_eq!(sizes, [all.len() as u64 - 1000, all.len() as u64 - 1000, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20]);
}

#[tokio::test]
async fn paths_outside_the_root_or_missing_are_refused_and_reported() {
    let served = serve(loopback()).await;
    for path in ["/debian/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/nothing-here.efi"] {
        let (head, body) = request(served.addr, "GET", path, &[]).await;
        assert!(head.starts_with("HTTP/1.1 404") || head.starts_with("HTTP/1.1 403"), "{path}: {head}");
        assert!(!String::from_utf8_lossy(&body).contains("root:"), "{path} leaked a file");
    }
    let (head, _) = request(served.addr, "POST", "/debian/vmlinuz", &["Content-Length: 0"]).await;
    assert!(head.starts_with("HTTP/1.1 405"), "{head}");
    let refused = served.witness.refused.lock().unwrap().clone();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(refused.iter().any(|r| r.is_missing_file() && r.requested.contains("nothing-here.efi")), "{refused:?}");
    assert!(served.witness.finished.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_source_outside_the_allow_list_gets_403_and_nothing_else() {
    let served = serve(AllowList::new(vec!["10.0.0.0/8".parse().unwrap()])).await;
    let (head, body) = request(served.addr, "GET", "/debian/vmlinuz", &[]).await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert!(body.len() < 200, "only a line of text");
    let (head, _) = request(served.addr, "GET", "/ipxe?mac=52:54:00:00:00:01", &[]).await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert!(served.witness.started.lock().unwrap().is_empty());
    assert!(served.witness.scripts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_client_that_leaves_mid_download_is_a_failed_transfer() {
    let served = serve(loopback()).await;
    // Far more than loopback's socket buffers hold, so the server is still sending when the
    // client goes.
    const BIG: u64 = 64 << 20;
    std::fs::write(served._dir.path().join("big.bin"), vec![0u8; BIG as usize]).unwrap();
    let mut stream = TcpStream::connect(served.addr).await.unwrap();
    stream.write_all(b"GET /big.bin HTTP/1.1\r\nHost: lifeboat\r\n\r\n").await.unwrap();
    let mut first = vec![0u8; 4096];
    let read = tokio::time::timeout(WAIT, stream.read(&mut first)).await.unwrap().unwrap();
    assert!(read > 0);
    // Closed with most of the megabyte unread: the kernel resets the connection.
    drop(stream);
    let reports = finished(&served.witness, 1).await;
    match &reports[0].outcome {
        HttpOutcome::Failed(why) => assert!(why.contains("closed the connection"), "{why}"),
        HttpOutcome::Complete => panic!("a download the client left was recorded as complete"),
    }
    assert!(reports[0].bytes < BIG, "{:?}", reports[0]);
}

#[tokio::test]
async fn the_script_request_carries_mac_profile_and_both_addresses() {
    let served = serve(loopback()).await;
    let (head, body) =
        request(served.addr, "GET", "/ipxe?mac=52%3A54%3A00%3A12%3A34%3A56&profile=debian&x=1", &[]).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(String::from_utf8_lossy(&body), "#!ipxe\necho 52:54:00:12:34:56\n");
    let scripts = served.witness.scripts.lock().unwrap().clone();
    assert_eq!(scripts.len(), 1);
    assert_eq!(scripts[0].mac.as_deref(), Some("52:54:00:12:34:56"));
    assert_eq!(scripts[0].profile.as_deref(), Some("debian"));
    assert_eq!(scripts[0].server, served.addr);
    assert_eq!(scripts[0].client.ip(), served.addr.ip());
}

#[tokio::test]
async fn a_client_that_opens_many_connections_and_says_nothing_holds_only_its_share() {
    let served = serve(loopback()).await;
    // 64 connections that never send a request: the most one address may hold.
    let mut silent = Vec::new();
    for _ in 0..64 {
        silent.push(TcpStream::connect(served.addr).await.unwrap());
    }
    // Accepted in order: once one more from the same address is closed at once, all 64 hold
    // their places.
    let mut extra = TcpStream::connect(served.addr).await.unwrap();
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(WAIT, extra.read(&mut byte)).await.expect("closed in time");
    assert!(matches!(closed, Ok(0) | Err(_)), "the 65th connection was served: {closed:?}");
    drop(silent);
    // The places come back: a download works again (the server notices the closed connections
    // as it reads them, so allow it a moment, bounded).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut stream = TcpStream::connect(served.addr).await.unwrap();
        stream.write_all(b"GET /debian/vmlinuz HTTP/1.1\r\nHost: lifeboat\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut answer)).await;
        if answer.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no place came back after the silent connections closed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads one answer off `stream`: its head, and as many body bytes as its `Content-Length`
/// (none for the answer to a `HEAD`).
async fn read_answer(stream: &mut TcpStream, buffered: &mut Vec<u8>, to_head: bool) -> (String, Vec<u8>) {
    let exchange = async {
        loop {
            if let Some(split) = buffered.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buffered[..split]).into_owned();
                let stated: usize = header(&head, "content-length").map_or(0, |v| v.parse().unwrap());
                let length = if to_head { 0 } else { stated };
                while buffered.len() < split + 4 + length {
                    let mut chunk = [0u8; 65536];
                    let n = stream.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "the connection closed inside a body");
                    buffered.extend_from_slice(&chunk[..n]);
                }
                let body = buffered[split + 4..split + 4 + length].to_vec();
                buffered.drain(..split + 4 + length);
                return (head, body);
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the connection closed before an answer");
            buffered.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(WAIT, exchange).await.expect("an answer in time")
}

#[tokio::test]
async fn pipelined_requests_on_one_connection_are_answered_in_order() {
    let served = serve(loopback()).await;
    let mut stream = TcpStream::connect(served.addr).await.unwrap();
    // Three requests in one write, as a client that pipelines sends them; the connection stays.
    let requests = "GET /debian/vmlinuz HTTP/1.1\r\nHost: a\r\nRange: bytes=10-19\r\n\r\n\
                    HEAD /debian/vmlinuz HTTP/1.1\r\nHost: a\r\n\r\n\
                    GET /ipxe?mac=52:54:00:00:00:01 HTTP/1.1\r\nHost: a\r\n\r\n";
    stream.write_all(requests.as_bytes()).await.unwrap();
    let mut buffered = Vec::new();
    let (head, body) = read_answer(&mut stream, &mut buffered, false).await;
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert_eq!(body, content()[10..20]);
    let (head, _) = read_answer(&mut stream, &mut buffered, true).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // The length a GET would have; no body follows (the next answer's head comes next).
    assert_eq!(header(&head, "content-length"), Some("1048576"), "{head}");
    let (head, body) = read_answer(&mut stream, &mut buffered, false).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, b"#!ipxe\necho 52:54:00:00:00:01\n");
    assert!(header(&head, "connection").is_none(), "the connection should stay open: {head}");
    // And it does: a fourth request on it.
    stream.write_all(b"GET /kernel HTTP/1.1\r\nHost: a\r\n\r\n").await.unwrap();
    let (head, body) = read_answer(&mut stream, &mut buffered, false).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body == content(), "the aliased kernel differs");
}

#[tokio::test]
async fn an_oversized_or_malformed_head_is_refused_and_the_connection_closed() {
    let served = serve(loopback()).await;
    let long = format!("GET / HTTP/1.1\r\nX-Filler: {}\r\n\r\n", "a".repeat(20_000));
    for (text, status) in
        [(long.as_str(), "431"), ("GET /a b c HTTP/1.1\r\n\r\n", "400"), ("GET / HTTP/3.0\r\n\r\n", "400")]
    {
        let mut stream = TcpStream::connect(served.addr).await.unwrap();
        // The server may answer before reading all of a long head; what it did not read is
        // its business.
        let _ = stream.write_all(text.as_bytes()).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut answer)).await.expect("closed in time");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with(&format!("HTTP/1.1 {status} ")), "{text:.40?} got {answer:?}");
        assert!(answer.contains("connection: close"), "{answer}");
    }
    // The server goes on serving.
    let (head, _) = request(served.addr, "GET", "/debian/vmlinuz", &[]).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[tokio::test]
async fn a_request_with_a_body_is_refused_and_its_connection_closed_unread() {
    let served = serve(loopback()).await;
    let mut stream = TcpStream::connect(served.addr).await.unwrap();
    stream.write_all(b"POST /debian/vmlinuz HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nGET /").await.unwrap();
    let mut buffered = Vec::new();
    let (head, _) = read_answer(&mut stream, &mut buffered, false).await;
    assert!(head.starts_with("HTTP/1.1 405"), "{head}");
    assert_eq!(header(&head, "connection"), Some("close"), "{head}");
    assert_eq!(header(&head, "allow"), Some("GET, HEAD"), "{head}");
    assert!(served.witness.started.lock().unwrap().is_empty(), "the five body bytes were taken for a request");
}
