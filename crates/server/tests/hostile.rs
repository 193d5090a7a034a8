//! The TFTP server against clients that want to hurt it, in process on loopback: strangers
//! outside the allow-list, a client asking for names as fast as it can, requests that never
//! answer, uploads of reserved names or of fewer bytes than they announced, packets that would
//! start a loop in single-port mode. Each must cost a bounded number of records and places, and
//! lose nothing for the clients that play by the rules.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{content, enable_uploads, fetch, settings, start, start_observed};
use lifeboat_server::{
    AllowList, CountReason, CountedRequests, RefusedRequest, RunningTransfer, TftpObserver, TransferReport,
};
use lifeboat_tftp::{ErrorCode, Outcome, Packet, Timing, TransferError};
use tokio::net::UdpSocket;

/// How long a test waits for something that must happen.
const WAIT: Duration = Duration::from_secs(10);
/// How long a test listens to be sure no answer comes. The server answers on loopback within
/// milliseconds, so a quarter of a second without a datagram is silence.
const SILENCE: Duration = Duration::from_millis(250);

/// Everything the server reports, and the clients it calls known.
#[derive(Default)]
struct Witness {
    refused: Mutex<Vec<RefusedRequest>>,
    counted: Mutex<Vec<CountedRequests>>,
    /// Requests announced one by one as they were counted.
    counting: Mutex<Vec<CountReason>>,
    finished: Mutex<Vec<TransferReport>>,
    known: Vec<IpAddr>,
}

impl TftpObserver for Witness {
    fn finished(&self, _: &Arc<RunningTransfer>, report: &TransferReport) {
        self.finished.lock().unwrap().push(report.clone());
    }
    fn refused(&self, refusal: &RefusedRequest) {
        self.refused.lock().unwrap().push(refusal.clone());
    }
    fn counted(&self, requests: &CountedRequests) {
        self.counted.lock().unwrap().push(requests.clone());
    }
    fn counting(&self, reason: CountReason) {
        self.counting.lock().unwrap().push(reason);
    }
    fn is_known(&self, client: IpAddr) -> bool {
        self.known.contains(&client)
    }
}

impl Witness {
    async fn wait_for(&self, what: &str, done: impl Fn(&Witness) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(self) {
            assert!(Instant::now() < deadline, "{what} did not happen within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn socket_on(ip: [u8; 4]) -> UdpSocket {
    UdpSocket::bind(SocketAddr::from((ip, 0))).await.unwrap()
}

/// The next datagram within `within`, parsed (owned).
async fn next_packet(socket: &UdpSocket, within: Duration) -> Option<(Packet<'static>, SocketAddr)> {
    let mut buf = vec![0u8; 70_000];
    let (len, from) = tokio::time::timeout(within, socket.recv_from(&mut buf)).await.ok()?.unwrap();
    Some((Packet::parse(&buf[..len]).expect("the server sent a malformed packet").into_owned(), from))
}

fn rrq(name: &str, options: &str) -> Vec<u8> {
    let mut datagram = b"\x00\x01".to_vec();
    datagram.extend_from_slice(name.as_bytes());
    datagram.extend_from_slice(b"\x00octet\x00");
    datagram.extend(options.split(' ').filter(|w| !w.is_empty()).flat_map(|w| [w.as_bytes(), b"\0"].concat()));
    datagram
}

#[tokio::test]
async fn strangers_get_no_answer_and_one_report_per_source_and_interval() {
    let witness = Arc::new(Witness::default());
    // The default allow-list: private ranges only, so loopback is a stranger.
    let server = start_observed(|c| c.allow = AllowList::default(), witness.clone());
    std::fs::write(server.root().join("f"), b"x").unwrap();
    let stranger = socket_on([127, 0, 0, 1]).await;
    let long_name = "n".repeat(60_000);
    stranger.send_to(&rrq(&long_name, ""), server.addr).await.unwrap();
    witness.wait_for("the first report", |w| !w.counted.lock().unwrap().is_empty()).await;
    for _ in 0..99 {
        stranger.send_to(&rrq("f", ""), server.addr).await.unwrap();
    }
    assert!(next_packet(&stranger, SILENCE).await.is_none(), "a stranger was answered");
    server.stop().await;

    let counted = witness.counted.lock().unwrap().clone();
    let summary: Vec<(u64, CountReason)> = counted.iter().map(|c| (c.count, c.reason)).collect();
    assert_eq!(summary, [(1, CountReason::OutsideAllowList), (99, CountReason::OutsideAllowList)]);
    assert!(counted[0].last.name.len() < 300, "a 60,000-byte name was kept whole");
    assert_eq!(counted[1].last.name, "f");
    assert!(witness.refused.lock().unwrap().is_empty(), "strangers are not recorded one by one");
    let counting = witness.counting.lock().unwrap().clone();
    assert_eq!(counting, vec![CountReason::OutsideAllowList; 100], "each is counted as it comes (for /metrics)");
}

#[tokio::test]
async fn a_chatty_client_is_answered_every_time_but_recorded_only_within_its_budget() {
    let witness = Arc::new(Witness::default());
    let server = start_observed(|_| {}, witness.clone());
    let client = socket_on([127, 0, 0, 1]).await;
    const REQUESTS: usize = 300;
    for i in 0..REQUESTS {
        client.send_to(&rrq(&format!("missing-{i}.bin"), ""), server.addr).await.unwrap();
        let (packet, _) = next_packet(&client, WAIT).await.expect("every request is answered");
        assert!(matches!(packet, Packet::Error { code: ErrorCode::FileNotFound, .. }), "{packet:?}");
    }
    server.stop().await;
    let recorded = witness.refused.lock().unwrap().len();
    let counted: u64 = witness.counted.lock().unwrap().iter().map(|c| c.count).sum();
    assert!((60..100).contains(&recorded), "{recorded} of {REQUESTS} requests were recorded one by one");
    assert_eq!(recorded as u64 + counted, REQUESTS as u64, "every request is recorded or counted");
    assert_eq!(witness.counting.lock().unwrap().len() as u64, counted, "and counted as it comes");
    assert!(witness.counted.lock().unwrap().iter().all(|c| c.reason == CountReason::OverBudget));
}

#[tokio::test]
async fn a_request_nobody_answers_ends_after_the_first_answer_budget_whatever_its_timeout() {
    let witness = Arc::new(Witness::default());
    let first_answer = Duration::from_millis(400);
    let server = start_observed(|c| c.timing = Timing { first_answer, ..Timing::default() }, witness.clone());
    std::fs::write(server.root().join("f"), content(100_000)).unwrap();
    let client = socket_on([127, 0, 0, 1]).await;
    let asked = Instant::now();
    client.send_to(&rrq("f", "timeout 255 blksize 1468"), server.addr).await.unwrap();
    witness.wait_for("the end of the unanswered transfer", |w| !w.finished.lock().unwrap().is_empty()).await;
    let ended_after = asked.elapsed();
    let report = witness.finished.lock().unwrap()[0].clone();
    assert_eq!(report.outcome, Outcome::Failed(TransferError::NeverAnswered { waited: first_answer }));
    assert!(ended_after < first_answer + Duration::from_secs(1), "it ended after {ended_after:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_flood_of_new_clients_leaves_places_for_known_ones() {
    let known = IpAddr::from([127, 0, 0, 2]);
    let witness = Arc::new(Witness { known: vec![known], ..Witness::default() });
    let server = start_observed(
        |c| {
            c.max_transfers = 4;
            c.max_transfers_per_client = 8;
        },
        witness.clone(),
    );
    std::fs::write(server.root().join("f"), content(5000)).unwrap();
    // Three new clients take the three places outside the reserve and never answer.
    let mut flood = Vec::new();
    for _ in 0..3 {
        let socket = socket_on([127, 0, 0, 1]).await;
        socket.send_to(&rrq("f", "timeout 255"), server.addr).await.unwrap();
        let (packet, _) = next_packet(&socket, WAIT).await.expect("a place, and the first answer");
        assert!(matches!(packet, Packet::OptionAck(_)), "{packet:?}");
        flood.push(socket);
    }
    let one_more = socket_on([127, 0, 0, 1]).await;
    one_more.send_to(&rrq("f", ""), server.addr).await.unwrap();
    match next_packet(&one_more, WAIT).await {
        Some((Packet::Error { message, .. }, _)) => assert!(message.contains("server busy"), "{message}"),
        other => panic!("a fourth new client should be told the server is busy, got {other:?}"),
    }
    // The known device gets the reserved place at once, and a client that completed a
    // transfer is known from then on: it is served too once a place is free again.
    let known_client = socket_on([127, 0, 0, 2]).await;
    known_client.send_to(&rrq("f", ""), server.addr).await.unwrap();
    match next_packet(&known_client, WAIT).await {
        Some((Packet::Data { block: 1, .. }, _)) => {}
        other => panic!("the known client was not served: {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn single_port_mode_never_answers_an_error_an_oack_or_its_own_address() {
    let server = start(|c| c.single_port = true);
    let peer = socket_on([127, 0, 0, 1]).await;
    let packets = [
        Packet::error(ErrorCode::UnknownTransferId, "unknown transfer ID"),
        Packet::OptionAck(vec![lifeboat_tftp::TftpOption::new("blksize", "512")]),
        // Stray DATA and ACKs would get ERROR 5, but never to one of this machine's addresses:
        // a spoofed source would make the server talk to itself.
        Packet::Ack { block: 7 },
        Packet::Data { block: 3, data: vec![0; 10].into() },
    ];
    for packet in &packets {
        for _ in 0..20 {
            peer.send_to(&packet.to_bytes(), server.addr).await.unwrap();
        }
    }
    assert_eq!(next_packet(&peer, SILENCE).await, None, "the server answered");
    // It still serves.
    std::fs::write(server.root().join("f"), content(3000)).unwrap();
    assert_eq!(fetch(&server, "f", &settings(None, None)).await.unwrap(), content(3000));
    server.stop().await;
}

#[tokio::test]
async fn uploads_of_reserved_names_are_refused_and_reads_of_them_too() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(enable_uploads(dir.path(), true, 1 << 20));
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let client = socket_on([127, 0, 0, 1]).await;
    for name in [".lifeboat-upload-abc", "sub/.lifeboat-upload-x", ".LIFEBOAT-UPLOAD-y"] {
        let mut wrq = b"\x00\x02".to_vec();
        wrq.extend_from_slice(name.as_bytes());
        wrq.extend_from_slice(b"\x00octet\x00");
        client.send_to(&wrq, server.addr).await.unwrap();
        match next_packet(&client, WAIT).await {
            Some((Packet::Error { code: ErrorCode::AccessViolation, message }, _)) => {
                assert!(message.contains("reserved"), "{name}: {message}")
            }
            other => panic!("{name}: expected ERROR 2, got {other:?}"),
        }
    }
    std::fs::write(server.root().join(".lifeboat-upload-half"), b"half").unwrap();
    client.send_to(&rrq(".lifeboat-upload-half", ""), server.addr).await.unwrap();
    assert!(matches!(
        next_packet(&client, WAIT).await,
        Some((Packet::Error { code: ErrorCode::AccessViolation, .. }, _))
    ));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "only the folder: nothing was created");
    server.stop().await;
}

#[tokio::test]
async fn an_upload_shorter_than_its_tsize_fails_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let witness = Arc::new(Witness::default());
    let upload_dir = dir.path().to_owned();
    let server = start_observed(enable_uploads(&upload_dir, false, 1 << 20), witness.clone());
    let client = socket_on([127, 0, 0, 1]).await;
    client.send_to(b"\x00\x02fw.bin\x00octet\x00tsize\x003000\x00", server.addr).await.unwrap();
    let (oack, transfer) = next_packet(&client, WAIT).await.expect("an OACK");
    assert!(matches!(oack, Packet::OptionAck(_)), "{oack:?}");
    // Two full blocks, then a short last one: 1524 bytes of the 3000 announced.
    for (block, len) in [(1u16, 512usize), (2, 512), (3, 500)] {
        let data = Packet::Data { block, data: vec![block as u8; len].into() };
        client.send_to(&data.to_bytes(), transfer).await.unwrap();
        let (answer, _) = next_packet(&client, WAIT).await.expect("an answer to each block");
        if block < 3 {
            assert_eq!(answer, Packet::Ack { block });
        } else {
            let Packet::Error { code, message } = answer else { panic!("the short upload got {answer:?}") };
            assert_eq!(code, ErrorCode::IllegalOperation);
            assert!(message.contains("3000"), "{message}");
        }
    }
    witness.wait_for("the report of the upload", |w| !w.finished.lock().unwrap().is_empty()).await;
    assert!(matches!(witness.finished.lock().unwrap()[0].outcome, Outcome::Failed(_)));
    assert_eq!(std::fs::read_dir(&upload_dir).unwrap().count(), 0, "a short upload left a file behind");
    server.stop().await;
}
