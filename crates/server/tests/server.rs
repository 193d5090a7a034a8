//! The server and client drivers end to end on loopback, in-process, on ports the system
//! picks. Real third-party clients are exercised in the `tests/` crate inside namespaces.

mod common;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{content, enable_uploads, fetch, peer_error, settings, start, start_observed, upload};
use lifeboat_server::client::{self, ClientError, ClientSettings};
use lifeboat_server::{Progress, RefusedRequest, RunningTransfer, TftpObserver, TransferReport, UploadConfig};
use lifeboat_tftp::{ClientOptions, ErrorCode, Mode, Packet, Timing, TransferError};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn files_of_every_size_arrive_intact_with_and_without_options() {
    let server = start(|c| c.limits.max_blksize = 8192);
    for len in [0, 1, 511, 512, 513, 1468 * 3, 200_000] {
        std::fs::write(server.root().join(format!("f{len}")), content(len)).unwrap();
        for settings in [settings(None, None), settings(Some(1468), None), settings(Some(8192), Some(16))] {
            let got = fetch(&server, &format!("f{len}"), &settings).await.unwrap();
            assert_eq!(got, content(len), "len {len} with {:?}", settings.options);
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn names_resolve_through_aliases_case_and_backslashes() {
    let server = start(|c| {
        c.aliases.insert("wr841nv8_tp_recovery.bin".into(), "openwrt.bin".into());
    });
    std::fs::create_dir_all(server.root().join("Boot")).unwrap();
    std::fs::write(server.root().join("openwrt.bin"), b"openwrt").unwrap();
    std::fs::write(server.root().join("Boot/BCD"), b"bcd").unwrap();
    let s = settings(None, None);
    assert_eq!(fetch(&server, "wr841nv8_tp_recovery.bin", &s).await.unwrap(), b"openwrt");
    assert_eq!(fetch(&server, "\\boot\\bcd", &s).await.unwrap(), b"bcd");
    server.stop().await;
}

#[tokio::test]
async fn hostile_names_and_missing_files_get_clear_errors() {
    let server = start(|_| {});
    let outside = server.dir.path().join("secret");
    std::fs::write(&outside, b"secret").unwrap();
    std::os::unix::fs::symlink(&outside, server.root().join("link")).unwrap();
    let s = settings(None, None);
    for name in ["../secret", "..\\secret", "/../secret", "link", "a\u{1}b"] {
        let (code, message) = peer_error(fetch(&server, name, &s).await);
        assert_eq!(code, ErrorCode::AccessViolation, "{name}: {message}");
        assert!(!message.contains(server.dir.path().to_str().unwrap()), "the error leaks a server path: {message}");
    }
    let (code, _) = peer_error(fetch(&server, "missing.bin", &s).await);
    assert_eq!(code, ErrorCode::FileNotFound);
    server.stop().await;
}

#[tokio::test]
async fn uploads_are_refused_unless_enabled() {
    let server = start(|_| {});
    let local = server.dir.path().join("local.bin");
    std::fs::write(&local, content(1000)).unwrap();
    match upload(&server, &local, "x.bin", &settings(None, None)).await {
        Err(ClientError::Refused {
            error: TransferError::Peer { code: ErrorCode::AccessViolation, message }, ..
        }) => {
            assert!(message.contains("uploads are disabled"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn uploads_land_whole_and_never_overwrite_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(enable_uploads(dir.path(), false, 1 << 20));
    let local = server.dir.path().join("local.bin");
    std::fs::write(&local, content(300_000)).unwrap();
    upload(&server, &local, "backup.bin", &settings(Some(1468), Some(8))).await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("backup.bin")).unwrap(), content(300_000));
    match upload(&server, &local, "backup.bin", &settings(None, None)).await {
        Err(ClientError::Refused { error: TransferError::Peer { code: ErrorCode::FileExists, .. }, .. }) => {}
        other => panic!("{other:?}"),
    }
    // Too large: announced with tsize, refused before any data moves, nothing left behind.
    std::fs::write(&local, content(2 << 20)).unwrap();
    match upload(&server, &local, "big.bin", &settings(Some(1468), None)).await {
        Err(ClientError::Refused { error: TransferError::Peer { code: ErrorCode::DiskFull, .. }, .. }) => {}
        other => panic!("{other:?}"),
    }
    // Too large without tsize: stopped when the limit is crossed.
    let no_tsize = ClientSettings { options: ClientOptions::default(), ..settings(None, None) };
    match upload(&server, &local, "big.bin", &no_tsize).await {
        Err(ClientError::Failed { error: TransferError::Peer { code: ErrorCode::DiskFull, .. }, .. }) => {}
        other => panic!("{other:?}"),
    }
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["backup.bin"]);
    server.stop().await;
}

#[tokio::test]
async fn an_upload_whose_client_vanishes_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(enable_uploads(dir.path(), false, 1 << 20));
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let wrq = b"\x00\x02half.bin\x00octet\x00";
    socket.send_to(wrq, server.addr).await.unwrap();
    let mut buf = [0u8; 600];
    let (len, transfer) = socket.recv_from(&mut buf).await.unwrap();
    assert_eq!(Packet::parse(&buf[..len]).unwrap(), Packet::Ack { block: 0 });
    for block in 1..=3u16 {
        let data = Packet::Data { block, data: vec![block as u8; 512].into() };
        socket.send_to(&data.to_bytes(), transfer).await.unwrap();
        socket.recv_from(&mut buf).await.unwrap();
    }
    // The client dies here. The server gives up after its retries and removes the partial file.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let entries = std::fs::read_dir(dir.path()).unwrap().count();
        if entries == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the partial upload was not removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn a_stranger_gets_error_5_and_the_transfer_goes_on() {
    let server = start(|_| {});
    std::fs::write(server.root().join("f"), content(2000)).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(b"\x00\x01f\x00octet\x00", server.addr).await.unwrap();
    let mut buf = [0u8; 600];
    let mut received = Vec::new();
    let (len, transfer) = client.recv_from(&mut buf).await.unwrap();
    assert_ne!(transfer, server.addr, "the transfer must come from a fresh port");
    let Packet::Data { block: 1, data } = Packet::parse(&buf[..len]).unwrap() else { panic!("no DATA 1") };
    received.extend_from_slice(&data);
    stranger.send_to(&Packet::Ack { block: 1 }.to_bytes(), transfer).await.unwrap();
    let (len, _) = stranger.recv_from(&mut buf).await.unwrap();
    assert!(matches!(Packet::parse(&buf[..len]).unwrap(), Packet::Error { code: ErrorCode::UnknownTransferId, .. }));
    let mut block = 1u16;
    loop {
        client.send_to(&Packet::Ack { block }.to_bytes(), transfer).await.unwrap();
        if received.len() == 2000 {
            break;
        }
        let (len, _) = client.recv_from(&mut buf).await.unwrap();
        let Packet::Data { block: b, data } = Packet::parse(&buf[..len]).unwrap() else { panic!() };
        assert_eq!(b, block + 1, "the stranger's ACK must not have moved the transfer");
        block = b;
        received.extend_from_slice(&data);
    }
    assert_eq!(received, content(2000));
    server.stop().await;
}

#[tokio::test]
async fn single_port_mode_serves_from_the_listening_port() {
    let server = start(|c| c.single_port = true);
    std::fs::write(server.root().join("f"), content(100_000)).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(b"\x00\x01f\x00octet\x00", server.addr).await.unwrap();
    let mut buf = [0u8; 600];
    let (_, from) = client.recv_from(&mut buf).await.unwrap();
    assert_eq!(from, server.addr);
    // And whole transfers, several at once, work in this mode.
    let s = settings(Some(1468), Some(4));
    let plain = settings(None, None);
    let (a, b) = tokio::join!(fetch(&server, "f", &s), fetch(&server, "f", &plain));
    assert_eq!(a.unwrap(), content(100_000));
    assert_eq!(b.unwrap(), content(100_000));
    server.stop().await;
}

#[tokio::test]
async fn netascii_reads_convert_line_ends() {
    let server = start(|_| {});
    let text = b"first line\nsecond\rthird\n".repeat(100);
    std::fs::write(server.root().join("notes.txt"), &text).unwrap();
    let s = ClientSettings { mode: Mode::Netascii, ..settings(Some(512), None) };
    assert_eq!(fetch(&server, "notes.txt", &s).await.unwrap(), text);
    let raw = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    raw.send_to(b"\x00\x01notes.txt\x00netascii\x00", server.addr).await.unwrap();
    let mut buf = [0u8; 600];
    let (len, _) = raw.recv_from(&mut buf).await.unwrap();
    assert!(buf[4..len].starts_with(b"first line\r\nsecond\r\0third"));
    server.stop().await;
}

#[tokio::test]
async fn shutdown_ends_running_transfers_promptly() {
    let server = start(|_| {});
    std::fs::write(server.root().join("f"), content(100_000)).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(b"\x00\x01f\x00octet\x00", server.addr).await.unwrap();
    let mut buf = [0u8; 600];
    let (_, transfer) = client.recv_from(&mut buf).await.unwrap();
    let begun = Instant::now();
    server.shutdown.cancel();
    let (len, from) = client.recv_from(&mut buf).await.unwrap();
    assert_eq!(from, transfer);
    assert!(matches!(Packet::parse(&buf[..len]).unwrap(), Packet::Error { .. }), "the client is told");
    tokio::time::timeout(Duration::from_secs(3), server.task).await.expect("did not stop").unwrap();
    assert!(begun.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn put_waits_for_a_server_that_comes_up_later() {
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("fw.bin");
    std::fs::write(&local, content(50_000)).unwrap();
    let upload_dir = dir.path().join("up");
    std::fs::create_dir(&upload_dir).unwrap();
    let s = ClientSettings { wait: Some(Duration::from_secs(20)), ..settings(Some(1468), None) };
    let put = tokio::task::spawn_blocking({
        let local = local.clone();
        move || client::put(addr, &local, "fw.bin", &s, &Progress::default(), &CancellationToken::new())
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let server = start(|c| {
        c.listen = vec![addr];
        c.upload = Some(UploadConfig { dir: upload_dir.clone(), max_size: 1 << 20, overwrite: false });
    });
    put.await.unwrap().expect("the put should succeed once the server is up");
    assert_eq!(std::fs::read(upload_dir.join("fw.bin")).unwrap(), content(50_000));
    server.stop().await;
}

#[tokio::test]
async fn get_without_a_server_fails_with_a_clear_message() {
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let dir = tempfile::tempdir().unwrap();
    let s = ClientSettings {
        timing: Timing { max_retries: 1, initial: Duration::from_millis(200), ..Timing::default() },
        ..settings(None, None)
    };
    let error =
        client::get(addr, "f", &dir.path().join("f"), &s, &Progress::default(), &CancellationToken::new()).unwrap_err();
    assert!(matches!(error, ClientError::NoAnswer { .. }), "{error:?}");
    assert!(error.to_string().contains("no answer"), "{error}");
    assert!(!dir.path().join("f").exists());
}

#[tokio::test]
async fn a_waiting_client_asks_again_and_again_and_gives_up_at_its_deadline() {
    // Nobody listens on the port: each request draws an ICMP "port unreachable".
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let dir = tempfile::tempdir().unwrap();
    let wait = Duration::from_secs(2);
    let s = ClientSettings { wait: Some(wait), retry_every: Duration::from_millis(200), ..settings(None, None) };
    let progress = Progress::default();
    let begun = Instant::now();
    let error = client::get(addr, "f", &dir.path().join("f"), &s, &progress, &CancellationToken::new()).unwrap_err();
    let waited = begun.elapsed();
    assert!(matches!(error, ClientError::NoAnswer { .. }), "{error:?}");
    // The deadline is kept: not a whole retry cycle (seconds) beyond it.
    assert!(waited >= wait && waited < wait + Duration::from_millis(500), "gave up after {waited:?}");
    assert!(progress.attempts() >= 5, "asked {} times in {waited:?}", progress.attempts());
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "a failed download leaves nothing");
}

#[tokio::test]
async fn a_cancelled_download_stops_at_once_and_leaves_no_file() {
    // A server that answers the request with block 1 of a longer file and then says nothing.
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let download = tokio::task::spawn_blocking({
        let (target, cancel) = (dir.path().join("fw.bin"), cancel.clone());
        move || client::get(addr, "fw.bin", &target, &settings(None, None), &Progress::default(), &cancel)
    });
    let mut buf = [0u8; 600];
    let (_, client) = server.recv_from(&mut buf).unwrap();
    let mut block = vec![0, 3, 0, 1];
    block.extend([7u8; 512]);
    server.send_to(&block, client).unwrap();
    // The client wrote block 1 into its temporary file and waits for block 2.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(dir.path()).unwrap().next().is_none() {
        assert!(Instant::now() < deadline, "the download never began");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| n.starts_with(lifeboat_files::TEMP_PREFIX)), "{names:?}");
    cancel.cancel();
    let error =
        tokio::time::timeout(Duration::from_secs(2), download).await.expect("stops at once").unwrap().unwrap_err();
    assert!(matches!(error, ClientError::Interrupted), "{error:?}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "the unfinished download was left behind");
}

/// Records what the server reports; maps one name to another file for one client address.
#[derive(Default)]
struct Recorder {
    started: Mutex<Vec<(u64, String, Option<u64>)>>,
    finished: Mutex<Vec<(u64, u64, u64, PathBuf)>>,
    durations: Mutex<Vec<Duration>>,
    refused: Mutex<Vec<RefusedRequest>>,
}

impl TftpObserver for Recorder {
    fn substitute(&self, client: IpAddr, requested: &str) -> Option<PathBuf> {
        (client == IpAddr::from([127, 0, 0, 1]) && requested == "tp_recovery.bin").then(|| "images/openwrt.bin".into())
    }
    fn started(&self, transfer: &Arc<RunningTransfer>) {
        let entry = (transfer.id, transfer.requested.clone(), transfer.progress.total());
        self.started.lock().unwrap().push(entry);
    }
    fn finished(&self, transfer: &Arc<RunningTransfer>, report: &TransferReport) {
        let entry = (transfer.id, transfer.progress.bytes(), report.bytes, report.file.clone());
        self.finished.lock().unwrap().push(entry);
        self.durations.lock().unwrap().push(report.duration);
    }
    fn refused(&self, refusal: &RefusedRequest) {
        self.refused.lock().unwrap().push(refusal.clone());
    }
}

#[tokio::test]
async fn the_observer_sees_each_transfer_and_refusal_and_may_choose_the_file() {
    let recorder = Arc::new(Recorder::default());
    let server = start_observed(|_| {}, recorder.clone());
    std::fs::create_dir(server.root().join("images")).unwrap();
    let image = content(100_000);
    std::fs::write(server.root().join("images/openwrt.bin"), &image).unwrap();
    std::fs::write(server.root().join("small.txt"), b"hello").unwrap();

    // The substitute: a name that exists nowhere gets the observer's file.
    assert_eq!(fetch(&server, "tp_recovery.bin", &settings(Some(1468), None)).await.unwrap(), image);
    assert_eq!(fetch(&server, "small.txt", &settings(None, None)).await.unwrap(), b"hello");
    let (code, _) = peer_error(fetch(&server, "missing.bin", &settings(None, None)).await);
    assert_eq!(code, ErrorCode::FileNotFound);
    let (code, _) = peer_error(fetch(&server, "../etc/passwd", &settings(None, None)).await);
    assert_eq!(code, ErrorCode::AccessViolation);
    server.stop().await;

    let started = recorder.started.lock().unwrap().clone();
    let finished = recorder.finished.lock().unwrap().clone();
    assert_eq!(
        started.iter().map(|(_, name, size)| (name.as_str(), *size)).collect::<Vec<_>>(),
        [("tp_recovery.bin", Some(100_000)), ("small.txt", Some(5))]
    );
    assert_ne!(started[0].0, started[1].0, "ids are unique");
    assert_eq!(finished.len(), 2);
    let (id, live_bytes, report_bytes, file) = &finished[0];
    assert_eq!((*id, *live_bytes, *report_bytes), (started[0].0, 100_000, 100_000));
    assert!(file.ends_with("images/openwrt.bin"), "{file:?}");
    let refused = recorder.refused.lock().unwrap().clone();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!((refused[0].requested.as_str(), refused[0].is_missing_file()), ("missing.bin", true));
    assert_eq!((refused[1].requested.as_str(), refused[1].is_missing_file()), ("../etc/passwd", false));
}

#[tokio::test]
async fn an_upload_is_reported_once_stored_not_after_its_dally() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder::default());
    let server = start_observed(enable_uploads(dir.path(), false, 1 << 20), recorder.clone());
    let local = server.dir.path().join("local.bin");
    std::fs::write(&local, content(50_000)).unwrap();
    let sent = Instant::now();
    upload(&server, &local, "backup.bin", &settings(Some(1468), None)).await.unwrap();
    // The server then lingers 6 s for a repeated last block; the report must not wait for that.
    while recorder.finished.lock().unwrap().is_empty() && sent.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let finished = recorder.finished.lock().unwrap().clone();
    assert_eq!(finished.len(), 1, "no report within 3 s of the upload");
    assert_eq!(finished[0].2, 50_000);
    let duration = recorder.durations.lock().unwrap()[0];
    assert!(duration < Duration::from_secs(3), "the reported duration {duration:?} includes the dally");
    server.stop().await;
}

#[tokio::test]
async fn a_substitute_cannot_leave_the_root() {
    struct Escape;
    impl TftpObserver for Escape {
        fn substitute(&self, _: IpAddr, _: &str) -> Option<PathBuf> {
            Some("../outside.bin".into())
        }
    }
    let server = start_observed(|_| {}, Arc::new(Escape));
    std::fs::write(server.dir.path().join("outside.bin"), b"secret").unwrap();
    let (code, _) = peer_error(fetch(&server, "anything.bin", &settings(None, None)).await);
    assert_eq!(code, ErrorCode::AccessViolation);
    server.stop().await;
}
