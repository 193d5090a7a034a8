//! `lifeboat serve` against hostile or mistaken input: paths that try to leave the root,
//! filenames with control characters, malformed datagrams, clients outside the allow-list,
//! uploads that are disabled or would overwrite, missing files, SIGTERM during a transfer, and
//! start-up errors. Each case must end in a clear error for the client (checked through real
//! clients' exit status and messages, or the exact ERROR packet), a log line in the
//! server's log (stdout) naming the requested file, and no leaked or damaged file.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lifeboat_e2e::{
    Child, Client, LinkOptions, Netns, Output, Pair, dir_names, lifeboat_bin, netem, random_file, require_netns,
    run_lifeboat, sha256_file, spawn_lifeboat_serve, veth,
};

const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the server may take to log what happened.
const LOG_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the answer to a hand-made request.
const REPLY_TIMEOUT: Duration = Duration::from_secs(3);

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Waits until a line of the server's log (stdout) contains every one of `parts`; returns it.
#[track_caller]
fn wait_for_log_line(server: &mut Child, parts: &[&str]) -> String {
    let deadline = Instant::now() + LOG_TIMEOUT;
    loop {
        if let Some(line) = server.stdout().lines().find(|line| parts.iter().all(|part| line.contains(part))) {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the server logged no line containing {parts:?} within {LOG_TIMEOUT:?}:\n{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks a real client's failed run: it failed by itself and printed `message`.
#[track_caller]
fn assert_client_refused(label: &str, out: &Output, message: &str) {
    assert!(!out.success() && !out.timed_out(), "{label} should have failed with {message:?}:\n{out}");
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains(message), "{label} did not report {message:?}:\n{out}");
}

/// A file a refused download may have left: absent or empty, never any content.
#[track_caller]
fn assert_nothing_arrived(local: &Path, out: &Output) {
    if let Ok(meta) = std::fs::metadata(local) {
        assert_eq!(meta.len(), 0, "{} received {} bytes from a refused request:\n{out}", local.display(), meta.len());
    }
}

/// A UDP socket on an ephemeral port inside `ns`, of the family of `family`.
fn udp_socket_in(ns: &Netns, family: IpAddr) -> UdpSocket {
    let any: SocketAddr = match family {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    ns.udp_socket(any, REPLY_TIMEOUT)
}

/// The first answer to a hand-made datagram.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Error { code: u16, message: String },
    Data { block: u16, len: usize },
    OptionAck(String),
    Other(Vec<u8>),
    Silence,
}

/// Sends `datagram` to the server's port 69 from a fresh port in `ns` and returns the first
/// answer within [`REPLY_TIMEOUT`].
fn ask(ns: &Netns, server: IpAddr, datagram: &[u8]) -> Reply {
    let socket = udp_socket_in(ns, server);
    socket.send_to(datagram, (server, 69)).expect("send a datagram to the server");
    let mut buf = vec![0u8; 70_000];
    let Ok((len, _)) = socket.recv_from(&mut buf) else { return Reply::Silence };
    let bytes = &buf[..len];
    match bytes {
        [0, 5, hi, lo, message @ ..] => Reply::Error {
            code: u16::from_be_bytes([*hi, *lo]),
            message: String::from_utf8_lossy(message).trim_end_matches('\0').to_owned(),
        },
        [0, 3, hi, lo, data @ ..] => Reply::Data { block: u16::from_be_bytes([*hi, *lo]), len: data.len() },
        [0, 6, options @ ..] => Reply::OptionAck(String::from_utf8_lossy(options).replace('\0', " ")),
        other => Reply::Other(other.to_vec()),
    }
}

/// A read request for `filename` (raw bytes) in octet mode.
fn rrq(filename: &[u8]) -> Vec<u8> {
    let mut datagram = vec![0, 1];
    datagram.extend_from_slice(filename);
    datagram.extend_from_slice(b"\0octet\0");
    datagram
}

/// A root with `ok.bin`, next to a secret file outside it that a symlink in the root points at.
struct Tree {
    _base: tempfile::TempDir,
    root: PathBuf,
    ok_sha: String,
    secret: Vec<u8>,
}

fn tree() -> Tree {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let ok_sha = random_file(root.join("ok.bin"), 3000, 0x5afe);
    let secret = b"TOP SECRET: must never leave the machine\n".repeat(20);
    std::fs::write(base.path().join("secret.txt"), &secret).unwrap();
    std::os::unix::fs::symlink(base.path().join("secret.txt"), root.join("escape")).unwrap();
    Tree { _base: base, root, ok_sha, secret }
}

/// A real client still gets a real file: the server is up and serving.
#[track_caller]
fn assert_still_serving(pair: &Pair, server: &mut Child, tree: &Tree) {
    server.assert_running("lifeboat serve");
    let out_dir = tempfile::tempdir().unwrap();
    let local = out_dir.path().join("ok.bin");
    let out = Client::TftpHpa.get(&pair.client, pair.server_addr(), "ok.bin", &local, CLIENT_TIMEOUT);
    assert!(out.success(), "the server no longer serves ok.bin:\n{out}\n{}", server.output());
    assert_eq!(sha256_file(&local), tree.ok_sha, "ok.bin arrived damaged:\n{out}");
    assert!(!server.stderr().contains("panicked"), "the server panicked:\n{}", server.output());
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn paths_outside_the_root_are_refused_and_leak_nothing() {
    require_netns!("tftp", "busybox");
    let pair = Pair::new();
    let tree = tree();
    let out_dir = tempfile::tempdir().unwrap();
    let mut server = spawn_lifeboat_serve(&pair.server, &tree.root, pair.server_addr(), &[]);

    // (requested name, TFTP error code, what the log says)
    let cases = [
        ("../secret.txt", 2, "refused"),
        ("..\\secret.txt", 2, "refused"),
        ("sub/../../secret.txt", 2, "refused"),
        ("/../secret.txt", 2, "refused"),
        // A leading slash is relative to the root: ROOT/etc/passwd does not exist.
        ("/etc/passwd", 1, "file not found"),
        // A symlink inside the root that points outside it, in any letter case.
        ("escape", 2, "refused"),
        ("ESCAPE", 2, "refused"),
    ];
    for (i, (name, code, logged)) in cases.into_iter().enumerate() {
        let local = out_dir.path().join(format!("tftp-hpa-{i}"));
        let out = Client::TftpHpa.get(&pair.client, pair.server_addr(), name, &local, CLIENT_TIMEOUT);
        assert_client_refused(&format!("tftp-hpa get {name}"), &out, &format!("Error code {code}:"));
        assert_nothing_arrived(&local, &out);

        // The exact answer, from a hand-made request.
        match ask(&pair.client, pair.server_addr(), &rrq(name.as_bytes())) {
            Reply::Error { code: got, .. } if got == code => {}
            other => panic!("request for {name:?}: expected ERROR {code}, got {other:?}"),
        }
        // Names are logged quoted and escaped, so that none can forge a log line.
        let quoted = format!("read of {name:?}");
        wait_for_log_line(&mut server, &[&quoted, logged]);
    }

    // busybox too: it reports the server's error and exits non-zero.
    for name in ["../secret.txt", "escape"] {
        let local = out_dir.path().join("busybox");
        let out = Client::Busybox { blksize: None }.get(&pair.client, pair.server_addr(), name, &local, CLIENT_TIMEOUT);
        assert_client_refused(&format!("busybox get {name}"), &out, "server error: (2)");
        assert_nothing_arrived(&local, &out);
    }

    // Nothing of the secret arrived anywhere.
    for name in dir_names(out_dir.path()) {
        let bytes = std::fs::read(out_dir.path().join(&name)).unwrap();
        assert!(!bytes.windows(16).any(|w| tree.secret.starts_with(w)), "{name} holds part of the secret file");
    }
    assert_still_serving(&pair, &mut server, &tree);
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn control_characters_and_bad_names_get_error_2_without_crashing() {
    require_netns!("tftp");
    let pair = Pair::new();
    let tree = tree();
    let mut server = spawn_lifeboat_serve(&pair.server, &tree.root, pair.server_addr(), &[]);
    let server_ip = pair.server_addr();

    // (name, parts of the name that must appear in its refusal's log line). A newline in a
    // name is the subject of `control_characters_in_names_cannot_forge_log_lines`.
    let names: [(&[u8], &[&str]); 8] = [
        (b"nl-\n.bin", &[]),
        (b"cr-\r.bin", &["cr-", ".bin"]),
        (b"soh-\x01.bin", &["soh-", ".bin"]),
        (b"\x1b[31mred\x1b[0m", &["[31mred"]),
        (b"del.bin\x7f", &["del.bin"]),
        (b"tab\tname", &["tab", "name"]),
        (b"bell\x07.bin", &["bell", ".bin"]),
        (b"\xff\xfenot-utf8.bin", &["not-utf8.bin", "not valid UTF-8"]),
    ];
    for (name, parts) in names {
        match ask(&pair.client, server_ip, &rrq(name)) {
            Reply::Error { code: 2, .. } => {}
            other => panic!("request for {:?}: expected ERROR 2, got {other:?}", String::from_utf8_lossy(name)),
        }
        if !parts.is_empty() {
            let mut wanted = vec!["read of \"", "refused"];
            wanted.extend_from_slice(parts);
            wait_for_log_line(&mut server, &wanted);
        }
    }

    // A NUL ends the filename on the wire: `ok.bin\0.txt\0octet\0` is the name `ok.bin` in a
    // mode called `.txt`. Whatever the server makes of it, ok.bin must not be sent.
    for datagram in [&b"\x00\x01ok.bin\x00.txt\x00octet\x00"[..], b"\x00\x01ok.bin\x00\x00octet\x00"] {
        let reply = ask(&pair.client, server_ip, datagram);
        eprintln!("{:?} -> {reply:?}", String::from_utf8_lossy(datagram));
        assert!(
            matches!(reply, Reply::Error { .. } | Reply::Silence),
            "a request with a NUL inside the name was answered with {reply:?}"
        );
    }

    // A very long name is simply not found.
    let long = vec![b'a'; 4000];
    match ask(&pair.client, server_ip, &rrq(&long)) {
        Reply::Error { code: 1 | 2, .. } => {}
        other => panic!("request for a 4000-byte name: expected ERROR 1 or 2, got {other:?}"),
    }
    assert_still_serving(&pair, &mut server, &tree);
}

/// The requested name goes into the log; a newline in it must not start a line of its own,
/// or a client could write fake log lines.
#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn control_characters_in_names_cannot_forge_log_lines() {
    require_netns!("tftp");
    let pair = Pair::new();
    let tree = tree();
    let mut server = spawn_lifeboat_serve(&pair.server, &tree.root, pair.server_addr(), &[]);

    let forged = "INFO sent /srv/tftp/forged.bin to 10.0.0.99:1234 (requested \"forged.bin\") -- complete";
    let name = format!("evil\n{forged}");
    match ask(&pair.client, pair.server_addr(), &rrq(name.as_bytes())) {
        Reply::Error { code: 2, .. } => {}
        other => panic!("request with a newline in the name: expected ERROR 2, got {other:?}"),
    }
    // The refusal is logged on one line that still names the request...
    let deadline = Instant::now() + LOG_TIMEOUT;
    while !server.stdout().contains("forged.bin") {
        assert!(Instant::now() < deadline, "the refusal was not logged:\n{}", server.output());
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = server.stdout();
    assert!(
        log.lines().any(|line| line.contains("refused") && line.contains("evil") && line.contains("forged.bin")),
        "the refusal is not one log line naming the request:\n{log}"
    );
    // ...and no line of the log starts with the text the client chose.
    assert!(!log.lines().any(|line| line.starts_with("INFO sent")), "a client forged a log line:\n{log}");
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn malformed_datagrams_do_not_crash_the_server() {
    require_netns!("tftp");
    let pair = Pair::new();
    let tree = tree();
    let mut server = spawn_lifeboat_serve(&pair.server, &tree.root, pair.server_addr(), &[]);
    let server_ip = pair.server_addr();

    let mut garbage = lifeboat_e2e::TestRng::new(0xbad);
    let mut datagrams: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![0, 1],
        vec![0, 0],
        vec![0, 9, 1, 2, 3],
        vec![0xff, 0xff],
        b"\x00\x01no-terminator".to_vec(),
        b"\x00\x01ok.bin\x00".to_vec(),
        b"\x00\x01ok.bin\x00octet".to_vec(),
        b"\x00\x01ok.bin\x00binary\x00".to_vec(),
        b"\x00\x02ok.bin\x00octet".to_vec(),
        b"\x00\x03\x00\x01stray data".to_vec(),
        b"\x00\x04\x00\x01".to_vec(),
        b"\x00\x05\x00\x00stray error\x00".to_vec(),
        b"\x00\x06blksize\x00512\x00".to_vec(),
    ];
    // Broken and absurd option lists on a real file.
    let option_requests: Vec<Vec<u8>> = vec![
        b"\x00\x01ok.bin\x00octet\x00blksize\x00".to_vec(),
        b"\x00\x01ok.bin\x00octet\x00blksize\x000\x00windowsize\x000\x00".to_vec(),
        b"\x00\x01ok.bin\x00octet\x00blksize\x0099999999999999999999\x00tsize\x00-1\x00timeout\x00abc\x00".to_vec(),
        b"\x00\x01ok.bin\x00octet\x00blksize\x00100000\x00windowsize\x0070000\x00timeout\x000\x00".to_vec(),
        b"\x00\x01ok.bin\x00octet\x00\xff\xfe\x00\xff\x00".to_vec(),
    ];
    datagrams.extend(option_requests.iter().cloned());
    let mut many_options = b"\x00\x01missing.bin\x00octet\x00".to_vec();
    for i in 0..5000 {
        many_options.extend_from_slice(format!("opt{i}\x00v\x00").as_bytes());
    }
    datagrams.push(many_options);
    for len in [3, 100, 1000, 65_507] {
        datagrams.push((0..len).map(|_| garbage.next_u64() as u8).collect());
    }
    let socket = udp_socket_in(&pair.client, server_ip);
    for datagram in &datagrams {
        socket.send_to(datagram, (server_ip, 69)).unwrap_or_else(|e| panic!("send {} bytes: {e}", datagram.len()));
    }
    // Requests that parse may start transfers (absurd options are ignored or clamped); any OACK
    // must carry sane values.
    for datagram in &option_requests {
        let reply = ask(&pair.client, server_ip, datagram);
        eprintln!("{:?} -> {reply:?}", String::from_utf8_lossy(datagram));
        if let Reply::OptionAck(options) = reply {
            let words: Vec<&str> = options.split_whitespace().collect();
            for option in words.chunks(2) {
                if let [name, value] = option
                    && name.eq_ignore_ascii_case("blksize")
                {
                    let value: u32 = value.parse().unwrap_or_else(|_| panic!("OACK blksize {value:?}"));
                    assert!((8..=65_464).contains(&value), "OACK grants blksize {value}");
                }
            }
        }
    }
    assert_still_serving(&pair, &mut server, &tree);
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn clients_outside_the_allow_list_are_refused_until_allowed() {
    require_netns!("tftp");
    // Documentation ranges, outside the default allow-list; they exist only in these namespaces.
    let server_ns = Netns::new();
    let client_ns = Netns::new();
    let mut opts = LinkOptions::subnet(1).devs("srv0", "cli0");
    opts.a_v4 = (Ipv4Addr::new(198, 51, 100, 1), 24);
    opts.b_v4 = (Ipv4Addr::new(198, 51, 100, 2), 24);
    opts.a_v6 = Some(("2001:db8:100::1".parse().unwrap(), 64));
    opts.b_v6 = Some(("2001:db8:100::2".parse().unwrap(), 64));
    let link = veth(&server_ns, &client_ns, &opts);
    let server_v4 = IpAddr::V4(link.a_v4);
    let server_v6 = IpAddr::V6(link.a_v6.unwrap());
    let tree = tree();
    let out_dir = tempfile::tempdir().unwrap();
    let listen_v6 = format!("[{server_v6}]:69");

    let mut server = spawn_lifeboat_serve(&server_ns, &tree.root, server_v4, &["--tftp-listen", &listen_v6]);
    for (server_ip, name) in [(server_v4, "refused-v4.bin"), (server_v6, "refused-v6.bin")] {
        // No answer at all: the source may be spoofed, and an ERROR would be a reflection.
        assert_eq!(ask(&client_ns, server_ip, &rrq(name.as_bytes())), Reply::Silence, "{name} from {server_ip}");
        let requested = format!("{name:?}");
        let line = wait_for_log_line(&mut server, &["dropped without an answer", "allow-list", &requested]);
        let client_ip = if server_ip.is_ipv4() { link.b_v4.to_string() } else { link.b_v6.unwrap().to_string() };
        assert!(line.contains(&client_ip), "the refusal does not name the client {client_ip}: {line}");
    }
    server.assert_running("lifeboat serve");
    let out = server.terminate(Duration::from_secs(5));
    assert!(out.success(), "lifeboat serve did not stop cleanly:\n{out}");

    let mut server = spawn_lifeboat_serve(
        &server_ns,
        &tree.root,
        server_v4,
        &["--tftp-listen", &listen_v6, "--tftp-allow", "198.51.100.0/24", "--tftp-allow", "2001:db8:100::/64"],
    );
    for server_ip in [server_v4, server_v6] {
        let local = out_dir.path().join(format!("allowed-{}", server_ip.is_ipv4()));
        let out = Client::TftpHpa.get(&client_ns, server_ip, "ok.bin", &local, CLIENT_TIMEOUT);
        assert!(out.success(), "an allowed client was refused:\n{out}\n{}", server.output());
        assert_eq!(sha256_file(&local), tree.ok_sha, "ok.bin arrived damaged over {server_ip}");
    }
    wait_for_log_line(&mut server, &["sent ", "(requested \"ok.bin\")", "complete"]);
    assert!(!server.stdout().contains("refused"), "an allowed client was refused:\n{}", server.output());
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn uploads_are_refused_when_disabled() {
    require_netns!("tftp", "curl");
    let pair = Pair::new();
    let tree = tree();
    let src_dir = tempfile::tempdir().unwrap();
    let source = src_dir.path().join("upload.bin");
    random_file(&source, 20_000, 0x0b);
    let before = dir_names(&tree.root);
    let mut server = spawn_lifeboat_serve(&pair.server, &tree.root, pair.server_addr(), &[]);

    let out = Client::TftpHpa.put(&pair.client, pair.server_addr(), "sneaky.bin", &source, CLIENT_TIMEOUT);
    assert_client_refused("tftp-hpa put", &out, "Error code 2:");
    assert!(out.stdout.contains("uploads are disabled"), "the refusal does not say why:\n{out}");
    wait_for_log_line(&mut server, &["write of \"sneaky.bin\" refused", "uploads are disabled"]);

    let out = Client::Curl { blksize: None }.put(&pair.client, pair.server_addr(), "curl.bin", &source, CLIENT_TIMEOUT);
    assert!(!out.success() && !out.timed_out(), "curl upload should have failed:\n{out}");
    wait_for_log_line(&mut server, &["write of \"curl.bin\" refused"]);

    assert_eq!(dir_names(&tree.root), before, "a refused upload changed the root");
    assert_still_serving(&pair, &mut server, &tree);
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn an_upload_never_replaces_a_file_unless_overwrite_is_on() {
    require_netns!("tftp");
    let pair = Pair::new();
    let tree = tree();
    let upload_base = tempfile::tempdir().unwrap();
    let upload_dir = upload_base.path().join("uploads");
    std::fs::create_dir(&upload_dir).unwrap();
    let src_dir = tempfile::tempdir().unwrap();
    let first = src_dir.path().join("first.bin");
    let first_sha = random_file(&first, 30_000, 0x1);
    let second = src_dir.path().join("second.bin");
    let second_sha = random_file(&second, 25_000, 0x2);
    let upload_s = path_str(&upload_dir);
    let stored = upload_dir.join("fw.bin");

    let mut server = spawn_lifeboat_serve(
        &pair.server,
        &tree.root,
        pair.server_addr(),
        &["--tftp-upload", "--tftp-upload-dir", &upload_s],
    );
    let out = Client::TftpHpa.put(&pair.client, pair.server_addr(), "fw.bin", &first, CLIENT_TIMEOUT);
    assert!(out.success(), "the first upload failed:\n{out}");
    assert_eq!(sha256_file(&stored), first_sha);

    // The same name again: ERROR 6, and the first file stays as it was.
    let out = Client::TftpHpa.put(&pair.client, pair.server_addr(), "fw.bin", &second, CLIENT_TIMEOUT);
    assert_client_refused("second tftp-hpa put", &out, "Error code 6:");
    let ip = pair.server_ip.to_string();
    let out = run_lifeboat(&pair.client, &["put", &ip, &path_str(&second), "fw.bin"], CLIENT_TIMEOUT);
    assert!(!out.success() && !out.timed_out(), "lifeboat put over an existing file should fail:\n{out}");
    assert!(out.stderr.contains("exists"), "lifeboat put does not say the file exists:\n{out}");
    wait_for_log_line(&mut server, &["write of \"fw.bin\" refused", "exists"]);
    assert_eq!(sha256_file(&stored), first_sha, "a refused upload changed the stored file");

    // A name leading out of the upload dir is refused and creates nothing.
    let out = Client::TftpHpa.put(&pair.client, pair.server_addr(), "../outside.bin", &second, CLIENT_TIMEOUT);
    assert_client_refused("tftp-hpa put ../outside.bin", &out, "Error code 2:");
    wait_for_log_line(&mut server, &["write of \"../outside.bin\" refused"]);
    assert_eq!(dir_names(upload_base.path()), ["uploads"], "something was created next to the upload dir");
    assert_eq!(dir_names(&upload_dir), ["fw.bin"], "a refused upload left something in the upload dir");
    let out = server.terminate(Duration::from_secs(5));
    assert!(out.success(), "lifeboat serve did not stop cleanly:\n{out}");

    // With --tftp-upload-overwrite the second upload replaces the first.
    let mut server = spawn_lifeboat_serve(
        &pair.server,
        &tree.root,
        pair.server_addr(),
        &["--tftp-upload", "--tftp-upload-dir", &upload_s, "--tftp-upload-overwrite"],
    );
    let out = Client::TftpHpa.put(&pair.client, pair.server_addr(), "fw.bin", &second, CLIENT_TIMEOUT);
    assert!(out.success(), "the overwriting upload failed:\n{out}\n{}", server.output());
    assert_eq!(sha256_file(&stored), second_sha, "--tftp-upload-overwrite did not replace the file");
    wait_for_log_line(&mut server, &["received ", "(requested \"fw.bin\")", "complete"]);
    assert_eq!(dir_names(&upload_dir), ["fw.bin"], "the overwrite left something behind");
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn a_missing_file_is_error_1_and_logged_by_name() {
    require_netns!("tftp", "curl", "busybox");
    let pair = Pair::new();
    let tree = tree();
    let out_dir = tempfile::tempdir().unwrap();
    let mut server = spawn_lifeboat_serve(&pair.server, &tree.root, pair.server_addr(), &[]);

    // curl 7.88 prints a confusing getpeername() message for every TFTP error; its exit
    // status 68 is CURLE_TFTP_NOTFOUND.
    let clients: [(Client, &str); 3] = [
        (Client::TftpHpa, "Error code 1:"),
        (Client::Curl { blksize: Some(1468) }, ""),
        (Client::Busybox { blksize: None }, "server error: (1)"),
    ];
    for (client, message) in clients {
        let name = format!("no-such-{}.bin", client.program());
        let local = out_dir.path().join(&name);
        let out = client.get(&pair.client, pair.server_addr(), &name, &local, CLIENT_TIMEOUT);
        assert_client_refused(&client.label(), &out, message);
        if let Client::Curl { .. } = client {
            assert_eq!(out.status.and_then(|s| s.code()), Some(68), "curl did not exit with TFTP_NOTFOUND:\n{out}");
        }
        assert_nothing_arrived(&local, &out);
        wait_for_log_line(&mut server, &[&format!("read of \"{name}\""), "file not found"]);
    }
    let local = path_str(&out_dir.path().join("lifeboat-get"));
    let ip = pair.server_ip.to_string();
    let out = run_lifeboat(&pair.client, &["get", &ip, "no-such-lifeboat.bin", "-o", &local], CLIENT_TIMEOUT);
    assert!(!out.success() && !out.timed_out(), "lifeboat get of a missing file should fail:\n{out}");
    assert!(out.stderr.contains("no such file"), "lifeboat get does not say the file is missing:\n{out}");
    assert!(!Path::new(&local).exists(), "lifeboat get left a file for a missing download");
    wait_for_log_line(&mut server, &["read of \"no-such-lifeboat.bin\"", "file not found"]);
    assert_still_serving(&pair, &mut server, &tree);
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn sigterm_stops_the_server_within_seconds_during_a_transfer() {
    require_netns!("curl");
    let pair = Pair::new();
    let tree = tree();
    random_file(tree.root.join("big.bin"), 16 << 20, 0x7e);
    let out_dir = tempfile::tempdir().unwrap();
    let mut server = spawn_lifeboat_serve(&pair.server, &tree.root, pair.server_addr(), &[]);
    // Every ACK waits 5 ms: the download crawls and is surely running when the signal comes.
    netem(&pair.client, &pair.client_dev, "delay 5ms");

    let local = out_dir.path().join("big.bin");
    let curl = Client::Curl { blksize: Some(1468) };
    let mut download = pair.client.spawn(&curl.get_argv(pair.server_addr(), "big.bin", &local));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&local).map_or(0, |m| m.len()) < 64 << 10 {
        download.assert_running("curl (it should be downloading)");
        assert!(Instant::now() < deadline, "the download did not start within 20 s:\n{}", server.output());
        std::thread::sleep(Duration::from_millis(20));
    }

    let signalled = Instant::now();
    let out = server.terminate(Duration::from_secs(10));
    let stopped_after = signalled.elapsed();
    assert!(out.status.is_some(), "lifeboat serve ignored SIGTERM for 10 s and was killed:\n{out}");
    assert!(out.success(), "lifeboat serve did not exit with status 0 on SIGTERM:\n{out}");
    assert!(stopped_after < Duration::from_secs(5), "lifeboat serve took {stopped_after:?} to stop:\n{out}");
    assert!(out.stdout.contains("SIGTERM"), "the log does not mention SIGTERM:\n{out}");
    assert!(
        out.stdout.lines().any(|l| l.contains("(requested \"big.bin\")") && l.contains("shutting down")),
        "the interrupted transfer was not logged as stopped by the shutdown:\n{out}"
    );

    // The client is told, instead of waiting for blocks that never come.
    let curl_out = download.finish(Duration::from_secs(10));
    assert!(!curl_out.timed_out(), "curl was still waiting 10 s after the server stopped:\n{curl_out}");
    assert!(!curl_out.success(), "curl reported success for an interrupted download:\n{curl_out}");
}

/// `lifeboat serve --tftp-root ROOT --tftp-listen LISTEN EXTRA...` run to completion in `ns`.
fn serve_argv(root: &Path, listen: &str, extra: &[&str]) -> Vec<String> {
    let mut argv = vec![path_str(&lifeboat_bin()), "serve".into(), "--tftp-root".into(), path_str(root)];
    argv.extend(["--tftp-listen".into(), listen.to_owned()]);
    argv.extend(extra.iter().map(|a| (*a).to_owned()));
    argv
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn start_up_errors_say_what_to_do() {
    require_netns!("tftp");
    let pair = Pair::new();
    let tree = tree();
    let listen = format!("{}:69", pair.server_ip);
    let mut first = spawn_lifeboat_serve(&pair.server, &tree.root, pair.server_addr(), &[]);

    // A second server on the same address and port.
    let out = pair.server.run(&serve_argv(&tree.root, &listen, &[]), CLIENT_TIMEOUT);
    assert!(!out.success() && !out.timed_out(), "a second server on {listen} should fail at once:\n{out}");
    for part in ["already in use", &listen, "--tftp-listen"] {
        assert!(out.stdout.contains(part), "unclear error, {part:?} missing:\n{out}");
    }
    assert_still_serving(&pair, &mut first, &tree);

    // A root that does not exist.
    let missing = tree.root.join("no-such-folder");
    let out = pair.server.run(&serve_argv(&missing, &format!("{}:6969", pair.server_ip), &[]), CLIENT_TIMEOUT);
    assert!(!out.success() && !out.timed_out(), "a missing root should fail at once:\n{out}");
    assert!(out.stdout.contains(&path_str(&missing)), "the error does not name the missing root:\n{out}");

    // An upload directory that does not exist.
    let missing_uploads = tree.root.join("no-such-uploads");
    let extra = ["--tftp-upload", "--tftp-upload-dir", &path_str(&missing_uploads)].map(str::to_owned);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let out = pair.server.run(&serve_argv(&tree.root, &format!("{}:6969", pair.server_ip), &extra), CLIENT_TIMEOUT);
    assert!(!out.success() && !out.timed_out(), "a missing upload dir should fail at once:\n{out}");
    assert!(out.stdout.contains(&path_str(&missing_uploads)), "the error does not name the upload dir:\n{out}");
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn an_unprivileged_user_is_told_about_cap_net_bind_service() {
    require_netns!("setpriv");
    let pair = Pair::new();
    let tree = tree();
    // The nobody user must be able to reach the root, or the root check fails first.
    let tmp = std::env::temp_dir();
    let mut dir = tree.root.clone();
    while dir.starts_with(&tmp) && dir != tmp {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir.pop();
    }
    // ... and to write its database (lifeboat opens it before it binds anything).
    let state = tempfile::tempdir().unwrap();
    std::fs::set_permissions(state.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let db = path_str(&state.path().join("lifeboat.db"));
    let listen = format!("{}:69", pair.server_ip);
    let mut argv: Vec<String> =
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"].map(str::to_owned).into();
    argv.extend(serve_argv(&tree.root, &listen, &["--db", &db]));
    let out = pair.server.run(&argv, CLIENT_TIMEOUT);
    assert!(!out.success() && !out.timed_out(), "binding port 69 as nobody should fail:\n{out}");
    assert!(
        out.stdout.contains("CAP_NET_BIND_SERVICE") && out.stdout.contains(&listen),
        "the error does not name the address and CAP_NET_BIND_SERVICE:\n{out}"
    );
}
