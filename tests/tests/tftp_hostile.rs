//! `lifeboat serve` against attackers on the recovery subnet, in namespaces: a flood of refused
//! requests with enormous names, requests that ask `timeout=255` and never answer, spoofed
//! datagrams that would start a loop between two single-port servers, a forged log line in an
//! ERROR, uploads of reserved names, a crash in the middle of an upload into a folder, and an
//! upload shorter than the size it announced. Each ends in a bounded cost and a clear record,
//! and the clients that play by the rules are served throughout.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use lifeboat_e2e::sockets::udp_datagrams_sent;
use lifeboat_e2e::{Child, Client, Pair, dir_names, random_file, require_netns, sha256_file, spawn_lifeboat_serve};

const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
const REPLY: Duration = Duration::from_secs(3);

fn rrq(name: &[u8], options: &[(&str, &str)]) -> Vec<u8> {
    let mut datagram = b"\x00\x01".to_vec();
    datagram.extend_from_slice(name);
    datagram.extend_from_slice(b"\x00octet\x00");
    for (key, value) in options {
        datagram.extend_from_slice(format!("{key}\0{value}\0").as_bytes());
    }
    datagram
}

fn wrq(name: &str, options: &[(&str, &str)]) -> Vec<u8> {
    let mut datagram = rrq(name.as_bytes(), options);
    datagram[1] = 2;
    datagram
}

fn data(block: u16, payload: &[u8]) -> Vec<u8> {
    [&[0, 3], &block.to_be_bytes()[..], payload].concat()
}

/// The next datagram on `socket` within [`REPLY`], and who sent it.
fn answer(socket: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 70_000];
    let (len, from) = socket.recv_from(&mut buf).ok()?;
    buf.truncate(len);
    Some((buf, from))
}

fn db_size(dir: &Path) -> u64 {
    ["lifeboat.db", "lifeboat.db-wal"].iter().filter_map(|f| std::fs::metadata(dir.join(f)).ok()).map(|m| m.len()).sum()
}

#[track_caller]
fn wait_for_log(server: &mut Child, part: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(line) = server.stdout().lines().find(|l| l.contains(part)) {
            return line.to_owned();
        }
        server.assert_running("lifeboat serve");
        assert!(Instant::now() < deadline, "{part:?} was not logged:\n{}", server.stdout());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn two_thousand_refused_requests_with_huge_names_cost_almost_no_disk_or_log() {
    require_netns!("tftp");
    let pair = Pair::new();
    // A public address on the client's side, outside the default allow-list.
    let stranger_ip = Ipv4Addr::new(198, 51, 100, 2);
    pair.client.run_ok(&["ip", "addr", "add", &format!("{stranger_ip}/24"), "dev", &pair.client_dev], REPLY);
    pair.server.run_ok(&["ip", "addr", "add", "198.51.100.1/24", "dev", &pair.server_dev], REPLY);
    let root = tempfile::tempdir().unwrap();
    let ok_sha = random_file(root.path().join("ok.bin"), 30_000, 1);
    let mut server = spawn_lifeboat_serve(&pair.server, root.path(), pair.server_addr(), &["--no-web"]);
    wait_for_log(&mut server, "TFTP listening");
    // The history writer commits what start-up wrote; measure from there.
    std::thread::sleep(Duration::from_millis(500));
    let db_before = db_size(pair.server.scratch());
    let log_before = server.stdout().len();

    let stranger = pair.client.udp_socket(SocketAddr::from((stranger_ip, 0)), Duration::from_millis(200));
    let name = vec![b'n'; 60_000];
    let to = SocketAddr::from((pair.server_ip, 69));
    let started = Instant::now();
    for i in 0..2000 {
        let mut request = rrq(&name, &[]);
        request[2..8].copy_from_slice(format!("{i:06}").as_bytes());
        stranger.send_to(&request, to).unwrap();
        // About 500 a second: the server's receive buffer keeps up with 60 KB datagrams.
        if i % 50 == 49 {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert!(answer(&stranger).is_none(), "a stranger outside the allow-list was answered");
    eprintln!("2000 requests of 60 KB sent in {:?}", started.elapsed());

    // The good client is served meanwhile, and the stranger was reported once (a summary follows
    // after the minute).
    let local = tempfile::tempdir().unwrap();
    let out =
        Client::TftpHpa.get(&pair.client, pair.server_addr(), "ok.bin", &local.path().join("ok.bin"), CLIENT_TIMEOUT);
    assert!(out.success(), "{out}");
    assert_eq!(sha256_file(local.path().join("ok.bin")), ok_sha);
    let line = wait_for_log(&mut server, "dropped without an answer");
    assert!(line.contains(&stranger_ip.to_string()) && line.len() < 1000, "{line}");
    let stopped = server.terminate(Duration::from_secs(5));
    assert!(stopped.success(), "{stopped}");
    let db_growth = db_size(pair.server.scratch()).saturating_sub(db_before);
    let log_growth = stopped.stdout.len() - log_before;
    eprintln!("database +{db_growth} bytes, log +{log_growth} bytes");
    assert!(db_growth < 2 << 20, "the database grew by {db_growth} bytes");
    assert!(log_growth < 20_000, "the log grew by {log_growth} bytes:\n{}", &stopped.stdout[log_before..]);
    assert_eq!(stopped.stdout.matches("dropped without an answer").count(), 2, "one report, one summary at the end");
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn requests_that_ask_timeout_255_and_never_answer_leave_a_known_client_served() {
    require_netns!("tftp");
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let sha = random_file(root.path().join("fw.bin"), 200_000, 2);
    // 64 more addresses for the attacker on the client's side.
    for host in 100..164u8 {
        let address = format!("{}/24", Ipv4Addr::from([10, 77, pair.server_ip.octets()[2], host]));
        pair.client.run_ok(&["ip", "addr", "add", &address, "dev", &pair.client_dev], REPLY);
    }
    let mut server = spawn_lifeboat_serve(&pair.server, root.path(), pair.server_addr(), &["--no-web"]);
    // The device being recovered fetched its file once before: it is known now.
    let local = tempfile::tempdir().unwrap();
    let out = Client::TftpHpa.get(&pair.client, pair.server_addr(), "fw.bin", &local.path().join("a"), CLIENT_TIMEOUT);
    assert!(out.success(), "{out}");

    let to = SocketAddr::from((pair.server_ip, 69));
    let mut holders = Vec::new();
    for i in 0..300u32 {
        let ip = Ipv4Addr::from([10, 77, pair.server_ip.octets()[2], 100 + (i % 64) as u8]);
        let socket = pair.client.udp_socket(SocketAddr::from((ip, 0)), Duration::from_millis(50));
        socket.send_to(&rrq(b"fw.bin", &[("timeout", "255"), ("blksize", "1468")]), to).unwrap();
        holders.push(socket);
    }
    let busy = wait_for_log(&mut server, "server busy");
    eprintln!("{busy}");
    let asked = Instant::now();
    let out = Client::TftpHpa.get(&pair.client, pair.server_addr(), "fw.bin", &local.path().join("b"), CLIENT_TIMEOUT);
    let took = asked.elapsed();
    assert!(out.success(), "the known client was not served during the flood:\n{out}\n{}", server.stdout());
    assert_eq!(sha256_file(local.path().join("b")), sha);
    assert!(took < Duration::from_secs(20), "the known client waited {took:?}");
    eprintln!("the known client was served in {took:?} while 300 requests held their places");
    // The held places are free again within the first-answer budget.
    let freed = wait_for_log(&mut server, "never answered");
    assert!(freed.contains("fw.bin"), "{freed}");
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn a_spoofed_error_never_starts_a_loop_between_two_single_port_servers() {
    require_netns!("tftp");
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let a = SocketAddrV4::new(pair.server_ip, 69);
    let b = SocketAddrV4::new(pair.client_ip, 69);
    let mut server_a =
        spawn_lifeboat_serve(&pair.server, root.path(), pair.server_addr(), &["--tftp-single-port", "--no-web"]);
    let mut server_b = spawn_lifeboat_serve(
        &pair.client,
        root.path(),
        std::net::IpAddr::V4(pair.client_ip),
        &["--tftp-single-port", "--no-web"],
    );
    let error = b"\x00\x05\x00\x05unknown transfer ID\x00";
    let quiet = |what: &str, send: &dyn Fn()| {
        let (a_before, b_before) = (udp_datagrams_sent(&pair.server), udp_datagrams_sent(&pair.client));
        send();
        std::thread::sleep(Duration::from_secs(2));
        let (a_sent, b_sent) =
            (udp_datagrams_sent(&pair.server) - a_before, udp_datagrams_sent(&pair.client) - b_before);
        eprintln!("{what}: A sent {a_sent}, B sent {b_sent} datagrams in 2 s");
        (a_sent, b_sent)
    };
    // An ERROR that claims to come from B's listening port, to A's; and one that claims to come
    // from A's own port. Neither is ever answered.
    assert_eq!(quiet("spoofed ERROR B->A", &|| pair.client.send_spoofed(b, a, error)), (0, 0));
    assert_eq!(quiet("spoofed ERROR A->A", &|| pair.client.send_spoofed(a, a, error)), (0, 0));
    // A stray ACK is answered once with ERROR 5, which B never answers.
    let (a_sent, b_sent) = quiet("spoofed ACK B->A", &|| pair.client.send_spoofed(b, a, b"\x00\x04\x00\x07"));
    assert!(a_sent <= 1 && b_sent == 0, "A sent {a_sent}, B sent {b_sent}");
    server_a.assert_running("server A");
    server_b.assert_running("server B");
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn a_newline_in_a_clients_error_cannot_forge_a_log_line() {
    require_netns!();
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    random_file(root.path().join("big.bin"), 100_000, 3);
    let mut server = spawn_lifeboat_serve(&pair.server, root.path(), pair.server_addr(), &["--no-web"]);
    let client = pair.client.udp_socket(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), REPLY);
    client.send_to(&rrq(b"big.bin", &[]), (pair.server_ip, 69)).unwrap();
    let (_, transfer) = answer(&client).expect("DATA 1");
    let forged = "INFO sent /srv/tftp/forged.bin to 10.0.0.99:1234 -- complete";
    let error = [&b"\x00\x05\x00\x00bye\n"[..], forged.as_bytes(), b"\x00"].concat();
    client.send_to(&error, transfer).unwrap();
    let line = wait_for_log(&mut server, "forged.bin");
    assert!(line.contains("FAILED") && line.contains("bye\\nINFO"), "the failure is one escaped line: {line}");
    assert!(
        !server.stdout().lines().any(|l| l.starts_with("INFO sent")),
        "a client forged a log line:\n{}",
        server.stdout()
    );
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn uploads_of_the_reserved_temp_prefix_are_refused() {
    require_netns!("tftp");
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let uploads = tempfile::tempdir().unwrap();
    let upload_dir = uploads.path().to_string_lossy().into_owned();
    let source = root.path().join("src.bin");
    random_file(&source, 5000, 4);
    let mut server = spawn_lifeboat_serve(
        &pair.server,
        root.path(),
        pair.server_addr(),
        &["--tftp-upload", "--tftp-upload-dir", &upload_dir, "--no-web"],
    );
    let out = Client::TftpHpa.put(&pair.client, pair.server_addr(), ".lifeboat-upload-evil", &source, CLIENT_TIMEOUT);
    assert!(!out.success() && out.stdout.contains("Error code 2"), "{out}");
    assert!(out.stdout.contains("reserved"), "the refusal does not say why:\n{out}");
    wait_for_log(&mut server, "reserved for unfinished uploads");
    assert!(dir_names(uploads.path()).is_empty(), "{:?}", dir_names(uploads.path()));
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn a_crash_during_an_upload_into_a_folder_leaves_nothing_after_the_restart() {
    require_netns!();
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let uploads = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(uploads.path().join("sub/deeper")).unwrap();
    let upload_dir = uploads.path().to_string_lossy().into_owned();
    let args = ["--tftp-upload", "--tftp-upload-dir", upload_dir.as_str(), "--no-web"];
    let mut server = spawn_lifeboat_serve(&pair.server, root.path(), pair.server_addr(), &args);
    let client = pair.client.udp_socket(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), REPLY);
    client.send_to(&wrq("sub/deeper/fw.bin", &[]), (pair.server_ip, 69)).unwrap();
    let (_, transfer) = answer(&client).expect("ACK 0");
    for block in 1..=3 {
        client.send_to(&data(block, &[block as u8; 512]), transfer).unwrap();
        answer(&client).expect("an ACK per block");
    }
    let half = dir_names(&uploads.path().join("sub/deeper"));
    assert!(half.iter().any(|n| n.starts_with(".lifeboat-partial-")), "no temporary file while uploading: {half:?}");
    server.kill();

    let mut restarted = spawn_lifeboat_serve(&pair.server, root.path(), pair.server_addr(), &args);
    wait_for_log(&mut restarted, "removed unfinished uploads");
    assert!(
        dir_names(&uploads.path().join("sub/deeper")).is_empty(),
        "the crash left {:?}",
        dir_names(&uploads.path().join("sub/deeper"))
    );
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn an_upload_shorter_than_its_tsize_is_a_failure_and_leaves_nothing() {
    require_netns!();
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let uploads = tempfile::tempdir().unwrap();
    let upload_dir = uploads.path().to_string_lossy().into_owned();
    let mut server = spawn_lifeboat_serve(
        &pair.server,
        root.path(),
        pair.server_addr(),
        &["--tftp-upload", "--tftp-upload-dir", &upload_dir, "--no-web"],
    );
    let client = pair.client.udp_socket(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), REPLY);
    client.send_to(&wrq("short.bin", &[("tsize", "3000")]), (pair.server_ip, 69)).unwrap();
    let (_, transfer) = answer(&client).expect("OACK");
    client.send_to(&data(1, &[1; 512]), transfer).unwrap();
    answer(&client).expect("ACK 1");
    // The last block, 1,012 bytes in all.
    client.send_to(&data(2, &[2; 500]), transfer).unwrap();
    let (last, _) = answer(&client).expect("an answer to the last block");
    assert_eq!(&last[..4], b"\x00\x05\x00\x04", "the short upload got {last:?}, not ERROR 4");
    let line = wait_for_log(&mut server, "(requested \"short.bin\")");
    assert!(line.contains("FAILED") && line.contains("3000"), "{line}");
    assert!(dir_names(uploads.path()).is_empty(), "{:?}", dir_names(uploads.path()));
}
