//! The HTTP boot server (`lifeboat serve --http-boot-listen`) against real clients: lifeboat in a
//! server namespace, curl and wget in a client namespace, a veth between them. Every body that
//! arrives, a whole file or a range, is compared by SHA-256 with the same bytes of the source.
//! What the dashboard's API records (`/api/v1/transfers`, protocol `http`) is checked against
//! what the clients did: complete, failed when the client went away, not found.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use lifeboat_e2e::dashboard::{DashboardApi, wait_tcp_listening};
use lifeboat_e2e::netns::next_subnet;
use lifeboat_e2e::peers::socket_arg;
use lifeboat_e2e::{
    Child, LinkOptions, Netns, Output, Pair, random_file, require_netns, sha256_bytes, sha256_file,
    spawn_lifeboat_serve, veth,
};
use serde_json::Value;

/// Where lifeboat's HTTP boot server listens in these tests (its default port).
const HTTP_PORT: u16 = 4080;
/// The dashboard inside the server namespace (its own loopback, no login there).
const DASHBOARD: &str = "http://127.0.0.1:8080";
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// One client run: a 32 MiB download over the veth takes well under a second.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the history may take to show a transfer that ended (it is written behind).
const RECORD_TIMEOUT: Duration = Duration::from_secs(15);
/// The large file: a kernel or an initrd.
const BIG: u64 = 32 << 20;

/// lifeboat serving `root` over TFTP (on `ip`) and HTTP (on `http_listen`) in `ns`, waited for
/// until both listen.
fn serve_http(ns: &Netns, root: &Path, ip: IpAddr, http_listen: &str, extra: &[&str]) -> Child {
    let mut args = vec!["--http-boot-listen", http_listen];
    args.extend_from_slice(extra);
    let mut server = spawn_lifeboat_serve(ns, root, ip, &args);
    wait_tcp_listening(ns, &mut server, HTTP_PORT, START_TIMEOUT);
    server
}

/// The usual pair with lifeboat serving `root` on the server's address.
fn serve_pair(root: &Path, extra: &[&str]) -> (Pair, Child) {
    let pair = Pair::new();
    let listen = socket_arg(pair.server_addr(), HTTP_PORT);
    let server = serve_http(&pair.server, root, pair.server_addr(), &listen, extra);
    (pair, server)
}

fn url(server: impl std::fmt::Display, path: &str) -> String {
    format!("http://{server}:{HTTP_PORT}{path}")
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// What one curl run got: the last status line's code, the response headers, the body file.
struct Fetched {
    status: u16,
    head: String,
    body: PathBuf,
    out: Output,
}

impl Fetched {
    /// A response header, by name in any case.
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The body, or nothing when curl wrote no file (a 304, a HEAD).
    fn body_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.body).unwrap_or_default()
    }
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "status {}\n{}\n{}", self.status, self.head.trim_end(), self.out)
    }
}

/// Runs `curl -sS EXTRA URL` in `ns`, the body into `DIR/NAME.body`, the headers into
/// `DIR/NAME.head`. Fails the test unless curl exits with 0 by itself.
#[track_caller]
fn curl(ns: &Netns, dir: &Path, name: &str, url: &str, extra: &[&str]) -> Fetched {
    let body = dir.join(format!("{name}.body"));
    let head_file = dir.join(format!("{name}.head"));
    let (body_s, head_s) = (path_str(&body), path_str(&head_file));
    let mut argv = vec!["curl", "-sS", "--max-time", "50", "-o", &body_s, "-D", &head_s, "-w", "%{http_code}"];
    argv.extend_from_slice(extra);
    argv.push(url);
    let out = ns.run(&argv, CLIENT_TIMEOUT);
    assert!(out.success(), "curl {name} failed:\n{out}");
    let status = out.stdout.trim().parse().unwrap_or_else(|_| panic!("curl printed no status code:\n{out}"));
    let head = std::fs::read_to_string(&head_file).unwrap_or_default();
    Fetched { status, head, body, out }
}

/// A refusal's body: at most a short line of text (random file bytes are never valid UTF-8 for
/// long), nothing of any file.
#[track_caller]
fn assert_is_a_line_of_text(got: &Fetched) {
    let body = got.body_bytes();
    assert!(body.len() < 300 && std::str::from_utf8(&body).is_ok(), "more than a line of text came: {got:?}");
}

/// The MAC address of `dev` in `ns`, lower case.
fn mac_of(ns: &Netns, dev: &str) -> String {
    let out = ns.run_ok(&["cat", &format!("/sys/class/net/{dev}/address")], Duration::from_secs(5));
    out.stdout.trim().to_lowercase()
}

/// The HTTP transfers in the history, once `done` holds for them (polled until
/// [`RECORD_TIMEOUT`]; the test fails with what was there).
#[track_caller]
fn http_records(api: &DashboardApi<'_>, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + RECORD_TIMEOUT;
    loop {
        let history = api.get_ok("/api/v1/transfers?limit=200");
        let items: Vec<Value> = history["items"]
            .as_array()
            .unwrap_or_else(|| panic!("no items in /api/v1/transfers: {history}"))
            .iter()
            .filter(|t| t["protocol"] == "http")
            .cloned()
            .collect();
        if done(&items) {
            return items;
        }
        assert!(Instant::now() < deadline, "the history did not show {what} within {RECORD_TIMEOUT:?}: {items:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A boot root: a 32 MiB image, and a small initrd in a subdirectory. Returns the folder and the
/// image's bytes.
fn boot_root() -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    random_file(dir.path().join("big.bin"), BIG, 0xb16);
    std::fs::create_dir_all(dir.path().join("debian/12")).unwrap();
    random_file(dir.path().join("debian/12/initrd.img"), 3_000_001, 0x1d);
    let big = std::fs::read(dir.path().join("big.bin")).unwrap();
    (dir, big)
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn curl_ranges_and_head_answer_the_exact_bytes_of_the_file() {
    require_netns!("curl");
    let (root, big) = boot_root();
    let (pair, mut server) = serve_pair(root.path(), &[]);
    let out_dir = tempfile::tempdir().unwrap();
    let big_url = url(pair.server_ip, "/big.bin");
    let size = big.len();

    // (curl's -r, the bytes expected)
    let ranges = [
        ("0-499".to_owned(), 0..500),
        ("1000000-1999999".to_owned(), 1_000_000..2_000_000),
        (format!("{}-", size - 4096), size - 4096..size),
        ("-500".to_owned(), size - 500..size),
        // A range past the end is cut at the end.
        (format!("{}-{}", size - 10, size + 1000), size - 10..size),
        ("0-0".to_owned(), 0..1),
    ];
    for (i, (range, expected)) in ranges.iter().enumerate() {
        let got = curl(&pair.client, out_dir.path(), &format!("range-{i}"), &big_url, &["-r", range]);
        assert_eq!(got.status, 206, "-r {range}: {got:?}");
        let content_range = format!("bytes {}-{}/{size}", expected.start, expected.end - 1);
        assert_eq!(got.header("content-range"), Some(content_range.as_str()), "-r {range}: {got:?}");
        let length = expected.len().to_string();
        assert_eq!(got.header("content-length"), Some(length.as_str()), "-r {range}: {got:?}");
        assert_eq!(sha256_file(&got.body), sha256_bytes(&big[expected.clone()]), "-r {range}: other bytes arrived");
    }

    // Nothing of the file can satisfy a range that starts at its end.
    for range in [format!("{size}-"), format!("{}-{}", size + 10, size + 20)] {
        let got = curl(&pair.client, out_dir.path(), "unsatisfiable", &big_url, &["-r", &range]);
        assert_eq!(got.status, 416, "-r {range}: {got:?}");
        let unsatisfied = format!("bytes */{size}");
        assert_eq!(got.header("content-range"), Some(unsatisfied.as_str()), "-r {range}: {got:?}");
        assert_is_a_line_of_text(&got);
    }

    // HEAD: the length and the validators, no body.
    let head = curl(&pair.client, out_dir.path(), "head", &big_url, &["-I"]);
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(head.header("content-length"), Some(size.to_string().as_str()), "{head:?}");
    assert_eq!(head.header("accept-ranges"), Some("bytes"), "{head:?}");
    assert!(head.header("etag").is_some() && head.header("last-modified").is_some(), "{head:?}");
    let head_of_missing =
        curl(&pair.client, out_dir.path(), "head-missing", &url(pair.server_ip, "/nope.efi"), &["-I"]);
    assert_eq!(head_of_missing.status, 404, "{head_of_missing:?}");

    // The whole file, after all that, on the same server.
    let whole = curl(&pair.client, out_dir.path(), "whole", &big_url, &[]);
    assert_eq!(whole.status, 200, "{whole:?}");
    assert_eq!(whole.header("etag"), head.header("etag"), "HEAD and GET disagree on the ETag");
    assert_eq!(sha256_file(&whole.body), sha256_bytes(&big));
    server.assert_running("lifeboat serve");
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn wget_downloads_a_large_file_a_subdirectory_and_resumes_with_a_range() {
    require_netns!("wget", "curl");
    let (root, big) = boot_root();
    let (pair, mut server) = serve_pair(root.path(), &[]);
    let api = DashboardApi::connect(&pair.server, DASHBOARD, START_TIMEOUT);
    let out_dir = tempfile::tempdir().unwrap();
    let wget = |remote: &str, local: &Path, extra: &[&str]| {
        let (local_s, remote_url) = (path_str(local), url(pair.server_ip, remote));
        let mut argv = vec!["wget", "-nv", "--tries=1", "--timeout=20", "-O", &local_s];
        argv.extend_from_slice(extra);
        argv.push(&remote_url);
        pair.client.run(&argv, CLIENT_TIMEOUT)
    };

    let local = out_dir.path().join("big.bin");
    let out = wget("/big.bin", &local, &[]);
    assert!(out.success(), "wget of 32 MiB failed:\n{out}");
    assert_eq!(sha256_file(&local), sha256_bytes(&big), "wget got other bytes:\n{out}");

    let local = out_dir.path().join("initrd.img");
    let out = wget("/debian/12/initrd.img", &local, &[]);
    assert!(out.success(), "wget from a subdirectory failed:\n{out}");
    assert_eq!(sha256_file(&local), sha256_file(root.path().join("debian/12/initrd.img")), "{out}");

    // A download cut off after 5 MiB, resumed with `wget -c` (a Range request from 5 MiB on).
    let local = out_dir.path().join("resumed.bin");
    std::fs::write(&local, &big[..5 << 20]).unwrap();
    let out = wget("/big.bin", &local, &["-c"]);
    assert!(out.success(), "wget -c failed:\n{out}");
    assert_eq!(sha256_file(&local), sha256_bytes(&big), "the resumed file differs:\n{out}");
    // The server sent only the rest (a whole second copy would also give the right file).
    let rest = BIG - (5 << 20);
    http_records(&api, "the resumed download of the rest", |items| {
        items.iter().any(|t| t["outcome"] == "complete" && t["bytes"].as_u64() == Some(rest))
    });

    // wget on a missing file: exit status 8 (the server answered with an error), nothing kept.
    let local = out_dir.path().join("missing.efi");
    let out = wget("/missing.efi", &local, &[]);
    assert_eq!(out.status.and_then(|s| s.code()), Some(8), "{out}");
    assert_eq!(std::fs::metadata(&local).map(|m| m.len()).unwrap_or(0), 0, "{out}");

    // Two files over one kept-alive connection (curl reuses it for the second URL).
    let (a, b) = (out_dir.path().join("a"), out_dir.path().join("b"));
    let (a_s, b_s) = (path_str(&a), path_str(&b));
    let (url_a, url_b) = (url(pair.server_ip, "/debian/12/initrd.img"), url(pair.server_ip, "/big.bin"));
    let out =
        pair.client.run(&["curl", "-sSv", "--max-time", "50", "-o", &a_s, &url_a, "-o", &b_s, &url_b], CLIENT_TIMEOUT);
    assert!(out.success(), "{out}");
    assert!(out.stderr.contains("Re-using existing connection"), "curl opened a second connection:\n{out}");
    assert_eq!(sha256_file(&a), sha256_file(root.path().join("debian/12/initrd.img")));
    assert_eq!(sha256_file(&b), sha256_bytes(&big));
    server.assert_running("lifeboat serve");
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn etag_revalidation_answers_304_until_the_file_changes() {
    require_netns!("curl");
    let root = tempfile::tempdir().unwrap();
    let image = root.path().join("vmlinuz");
    let first = random_file(&image, 1_000_003, 1);
    let (pair, mut server) = serve_pair(root.path(), &[]);
    let out_dir = tempfile::tempdir().unwrap();
    let dir = out_dir.path();
    let image_url = url(pair.server_ip, "/vmlinuz");
    let (etag1, etag2) = (path_str(&dir.join("etag1")), path_str(&dir.join("etag2")));

    let got = curl(&pair.client, dir, "first", &image_url, &["--etag-save", &etag1]);
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(sha256_file(&got.body), first);
    let etag = got.header("etag").expect("an ETag").to_owned();
    let last_modified = got.header("last-modified").expect("a Last-Modified").to_owned();
    assert_eq!(std::fs::read_to_string(&etag1).unwrap().trim(), etag, "curl saved another ETag");

    // Unchanged: 304 and no body, whether curl compares or the header is given by hand.
    let again = curl(&pair.client, dir, "again", &image_url, &["--etag-compare", &etag1]);
    assert_eq!(again.status, 304, "{again:?}");
    assert!(again.body_bytes().is_empty(), "a 304 came with a body: {again:?}");
    let by_hand = curl(&pair.client, dir, "by-hand", &image_url, &["-H", &format!("If-None-Match: {etag}")]);
    assert_eq!(by_hand.status, 304, "{by_hand:?}");
    assert!(by_hand.body_bytes().is_empty(), "{by_hand:?}");
    let since = curl(&pair.client, dir, "since", &image_url, &["-H", &format!("If-Modified-Since: {last_modified}")]);
    assert_eq!(since.status, 304, "{since:?}");
    let other = curl(&pair.client, dir, "other", &image_url, &["-H", "If-None-Match: \"something-else\""]);
    assert_eq!(other.status, 200, "{other:?}");
    assert_eq!(sha256_file(&other.body), first);

    // A new image of the same size, written a moment later: a new ETag and the new bytes.
    let mtime = std::fs::metadata(&image).unwrap().modified().unwrap();
    let second = random_file(&image, 1_000_003, 2);
    set_mtime(&image, mtime + Duration::from_secs(2));
    let changed = curl(&pair.client, dir, "changed", &image_url, &["--etag-compare", &etag1, "--etag-save", &etag2]);
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(sha256_file(&changed.body), second, "the old image came back");
    let new_etag = changed.header("etag").expect("an ETag").to_owned();
    assert_ne!(new_etag, etag, "the changed file kept its ETag");
    let settled = curl(&pair.client, dir, "settled", &image_url, &["--etag-compare", &etag2]);
    assert_eq!(settled.status, 304, "{settled:?}");
    server.assert_running("lifeboat serve");
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn a_resume_with_a_stale_if_range_gets_the_whole_new_file() {
    require_netns!("curl");
    let root = tempfile::tempdir().unwrap();
    let image = root.path().join("rootfs.img");
    random_file(&image, 2_000_000, 3);
    // Written an hour ago: its Last-Modified is a strong validator (RFC 9110 §8.8.2.2).
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    set_mtime(&image, an_hour_ago);
    let (pair, mut server) = serve_pair(root.path(), &[]);
    let out_dir = tempfile::tempdir().unwrap();
    let dir = out_dir.path();
    let image_url = url(pair.server_ip, "/rootfs.img");

    let got = curl(&pair.client, dir, "first", &image_url, &["-r", "0-999999"]);
    assert_eq!(got.status, 206, "{got:?}");
    let etag = got.header("etag").expect("an ETag").to_owned();
    let last_modified = got.header("last-modified").expect("a Last-Modified").to_owned();

    // Unchanged: the rest, as asked, by either validator.
    for validator in [&etag, &last_modified] {
        let rest =
            curl(&pair.client, dir, "rest", &image_url, &["-r", "1000000-", "-H", &format!("If-Range: {validator}")]);
        assert_eq!(rest.status, 206, "If-Range: {validator}: {rest:?}");
        assert_eq!(sha256_file(&rest.body), sha256_bytes(&std::fs::read(&image).unwrap()[1_000_000..]));
    }

    // The image is replaced between the two halves: the second half of the new one glued to the
    // first half of the old one would be a broken image. RFC 9110 §13.1.5: a validator that
    // does not match means the Range is ignored and the whole new file comes, with 200.
    let new = random_file(&image, 2_000_000, 4);
    set_mtime(&image, an_hour_ago + Duration::from_secs(2));
    for validator in [&etag, &last_modified] {
        let stale =
            curl(&pair.client, dir, "stale", &image_url, &["-r", "1000000-", "-H", &format!("If-Range: {validator}")]);
        assert_eq!(stale.status, 200, "If-Range: {validator} no longer matches: {stale:?}");
        assert_eq!(sha256_file(&stale.body), new, "If-Range: {validator}");
    }
    // A weak validator never matches for If-Range.
    let weak = curl(&pair.client, dir, "weak", &image_url, &["-r", "0-9", "-H", &format!("If-Range: W/{etag}")]);
    assert_eq!(weak.status, 200, "{weak:?}");
    server.assert_running("lifeboat serve");
}

/// Sets the modification time of `path`: a file replaced within the file system's timestamp
/// granularity would otherwise keep its validators.
fn set_mtime(path: &Path, at: SystemTime) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(at).unwrap_or_else(|e| panic!("set the time of {}: {e}", path.display()));
}

/// A root with `ok.bin` and `sub/inner.bin`, next to a secret outside it that a symlink in the
/// root points at.
struct Tree {
    base: tempfile::TempDir,
    root: PathBuf,
    secret: Vec<u8>,
}

fn tree() -> Tree {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    random_file(root.join("ok.bin"), 3000, 0x5afe);
    random_file(root.join("sub/inner.bin"), 3000, 0x5afd);
    let secret = b"TOP SECRET: must never leave the machine\n".repeat(20);
    std::fs::write(base.path().join("secret.txt"), &secret).unwrap();
    std::os::unix::fs::symlink(base.path().join("secret.txt"), root.join("escape")).unwrap();
    std::os::unix::fs::symlink(base.path(), root.join("sub/up")).unwrap();
    Tree { base, root, secret }
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn paths_outside_the_root_get_403_or_404_and_leak_nothing() {
    require_netns!("curl", "wget");
    let tree = tree();
    let (pair, mut server) = serve_pair(&tree.root, &[]);
    let out_dir = tempfile::tempdir().unwrap();
    let base = path_str(tree.base.path());

    // (path as sent, exactly; the answers allowed)
    let cases: Vec<(String, &[u16])> = vec![
        ("/../secret.txt".into(), &[403, 404]),
        ("/sub/../../secret.txt".into(), &[403, 404]),
        ("/%2e%2e/secret.txt".into(), &[403, 404]),
        ("/%2E%2E%2Fsecret.txt".into(), &[403, 404]),
        ("/sub/%2e%2e%2f%2e%2e%2fsecret.txt".into(), &[403, 404]),
        ("/..%5csecret.txt".into(), &[403, 404]),
        ("/sub/..\\..\\secret.txt".into(), &[400, 403, 404]),
        // An absolute path is taken inside the root, where there is no such file.
        (format!("{base}/secret.txt"), &[404]),
        (format!("/{base}/secret.txt"), &[404]),
        ("/etc/passwd".into(), &[404]),
        // Symlinks that lead out of the root, by their name in any case, or through a folder.
        ("/escape".into(), &[403]),
        ("/ESCAPE".into(), &[403]),
        ("/sub/up/secret.txt".into(), &[403]),
        // A NUL cut-off must not turn a name into another one.
        ("/ok.bin%00.txt".into(), &[403, 404]),
    ];
    for (i, (path, allowed)) in cases.iter().enumerate() {
        let target = url(pair.server_ip, path);
        let got = curl(&pair.client, out_dir.path(), &format!("case-{i}"), &target, &["--path-as-is"]);
        assert!(allowed.contains(&got.status), "{path}: expected one of {allowed:?}: {got:?}");
        // The same request line, sent by hand, in case curl changed the path.
        let answer = raw_get(&pair, path);
        let status = answer.get(9..12).map(|s| String::from_utf8_lossy(s).into_owned()).unwrap_or_default();
        assert!(
            allowed.iter().any(|a| a.to_string() == status),
            "{path} by hand: {}",
            String::from_utf8_lossy(&answer)
        );
        std::fs::write(out_dir.path().join(format!("raw-{i}")), &answer).unwrap();
    }
    // A request line in absolute form (as to a proxy) is held to the same rules.
    for (i, target) in ["http://lifeboat/../secret.txt", "http://lifeboat/escape"].into_iter().enumerate() {
        let answer = raw_get(&pair, target);
        let status = answer.get(9..12).map(|s| String::from_utf8_lossy(s).into_owned()).unwrap_or_default();
        assert!(["400", "403", "404"].contains(&status.as_str()), "{target}: {}", String::from_utf8_lossy(&answer));
        std::fs::write(out_dir.path().join(format!("absolute-form-{i}")), &answer).unwrap();
    }
    // A range of the symlink, and wget, get nothing either.
    let got = curl(&pair.client, out_dir.path(), "escape-range", &url(pair.server_ip, "/escape"), &["-r", "0-99"]);
    assert_eq!(got.status, 403, "{got:?}");
    let local = out_dir.path().join("wget-escape");
    let local_s = path_str(&local);
    let target = url(pair.server_ip, "/escape");
    let out = pair.client.run(&["wget", "-nv", "--tries=1", "-O", &local_s, &target], CLIENT_TIMEOUT);
    assert_eq!(out.status.and_then(|s| s.code()), Some(8), "{out}");

    // Nothing of the secret arrived in any answer.
    for name in lifeboat_e2e::dir_names(out_dir.path()) {
        let bytes = std::fs::read(out_dir.path().join(&name)).unwrap();
        assert!(!bytes.windows(16).any(|w| tree.secret.starts_with(w)), "{name} holds part of the secret file");
    }
    // And the files inside the root are still served.
    for (path, file) in
        [("/ok.bin", "ok.bin"), ("/sub/inner.bin", "sub/inner.bin"), ("/SUB/Inner.BIN", "sub/inner.bin")]
    {
        let got = curl(&pair.client, out_dir.path(), "inside", &url(pair.server_ip, path), &[]);
        assert_eq!(got.status, 200, "{path}: {got:?}");
        assert_eq!(sha256_file(&got.body), sha256_file(tree.root.join(file)), "{path}");
    }
    server.assert_running("lifeboat serve");
    assert!(!server.stderr().contains("panicked"), "{}", server.output());
}

/// `GET PATH HTTP/1.1` exactly as given, on a connection of its own from the client namespace;
/// the whole answer.
fn raw_get(pair: &Pair, path: &str) -> Vec<u8> {
    let to = SocketAddr::new(pair.server_addr(), HTTP_PORT);
    let mut stream = pair.client.tcp_connect(to, Duration::from_secs(10));
    let request = format!("GET {path} HTTP/1.1\r\nHost: lifeboat\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send the request");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap_or_else(|e| panic!("read the answer to GET {path}: {e}"));
    answer
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn a_source_outside_the_allow_list_gets_403_while_others_are_served() {
    require_netns!("curl", "wget");
    let (root, big) = boot_root();
    let server = Netns::new();
    let allowed = Netns::new();
    let stranger = Netns::new();
    let near = veth(&server, &allowed, &LinkOptions::subnet(next_subnet()).devs("srv0", "cli0"));
    let far = veth(&server, &stranger, &LinkOptions::subnet(next_subnet()).devs("srv1", "cli0"));
    let allow = format!("{}/32", near.b_v4);
    let listen = socket_arg(IpAddr::V4(Ipv4Addr::UNSPECIFIED), HTTP_PORT);
    let mut lifeboat = serve_http(&server, root.path(), IpAddr::V4(near.a_v4), &listen, &["--tftp-allow", &allow]);
    let out_dir = tempfile::tempdir().unwrap();
    let dir = out_dir.path();
    let expected = sha256_bytes(&big);

    let got = curl(&allowed, dir, "allowed-before", &url(near.a_v4, "/big.bin"), &[]);
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(sha256_file(&got.body), expected);

    // The stranger, on either of the server's addresses (a route through its own link reaches
    // the allowed client's side), with any method or path.
    let (route, via) = (format!("{}/32", near.a_v4), far.a_v4.to_string());
    lifeboat_e2e::netns::admin(&["ip", "-n", stranger.name(), "route", "add", &route, "via", &via]);
    for server_ip in [far.a_v4, near.a_v4] {
        for (name, path, extra) in [
            ("get", "/big.bin", &[][..]),
            ("range", "/big.bin", &["-r", "0-99"][..]),
            ("head", "/big.bin", &["-I"][..]),
            ("script", "/ipxe?mac=52:54:00:12:34:56", &[][..]),
            ("missing", "/nothing.efi", &[][..]),
        ] {
            let got = curl(&stranger, dir, &format!("stranger-{name}"), &url(server_ip, path), extra);
            assert_eq!(got.status, 403, "{name} from outside the allow-list: {got:?}");
            assert_is_a_line_of_text(&got);
        }
        let local = dir.join("stranger-wget");
        let (local_s, target) = (path_str(&local), url(server_ip, "/big.bin"));
        let out = stranger.run(&["wget", "-nv", "--tries=1", "-O", &local_s, &target], CLIENT_TIMEOUT);
        assert_eq!(out.status.and_then(|s| s.code()), Some(8), "{out}");
        assert!(out.stderr.contains("403"), "{out}");
    }

    // Still serving the allowed client, and only its download is in the history.
    let got = curl(&allowed, dir, "allowed-after", &url(near.a_v4, "/big.bin"), &["-r", "100-199"]);
    assert_eq!(got.status, 206, "{got:?}");
    assert_eq!(sha256_file(&got.body), sha256_bytes(&big[100..200]));
    lifeboat.assert_running("lifeboat serve");
    let api = DashboardApi::connect(&server, DASHBOARD, START_TIMEOUT);
    let records = http_records(&api, "the allowed client's two downloads", |items| items.len() >= 2);
    let stranger_ip = far.b_v4.to_string();
    assert!(
        records.iter().all(|t| !t["client"].as_str().unwrap_or("").starts_with(&stranger_ip)),
        "the stranger's requests were recorded: {records:#?}"
    );
    assert!(lifeboat.stdout().contains("not in the allow-list"), "the refusal was not logged:\n{}", lifeboat.stdout());
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn the_history_records_complete_failed_and_missing_http_transfers() {
    require_netns!("curl");
    let (root, big) = boot_root();
    let (pair, mut server) = serve_pair(root.path(), &[]);
    let api = DashboardApi::connect(&pair.server, DASHBOARD, START_TIMEOUT);
    let client_mac = mac_of(&pair.client, &pair.client_dev);
    let out_dir = tempfile::tempdir().unwrap();
    let dir = out_dir.path();
    let big_url = url(pair.server_ip, "/big.bin");

    // Complete: the whole file, and a range. HEAD and a 304 are no transfers.
    let whole = curl(&pair.client, dir, "whole", &big_url, &[]);
    assert_eq!((whole.status, sha256_file(&whole.body)), (200, sha256_bytes(&big)), "{whole:?}");
    let range = curl(&pair.client, dir, "range", &big_url, &["-r", "-500"]);
    assert_eq!((range.status, sha256_file(&range.body)), (206, sha256_bytes(&big[big.len() - 500..])), "{range:?}");
    let head = curl(&pair.client, dir, "head", &big_url, &["-I"]);
    assert_eq!(head.status, 200, "{head:?}");
    let etag = whole.header("etag").expect("an ETag");
    let not_modified = curl(&pair.client, dir, "not-modified", &big_url, &["-H", &format!("If-None-Match: {etag}")]);
    assert_eq!(not_modified.status, 304, "{not_modified:?}");
    let missing = curl(&pair.client, dir, "missing", &url(pair.server_ip, "/grubx64.efi"), &[]);
    assert_eq!(missing.status, 404, "{missing:?}");

    // Failed: curl, slowed down, killed once a megabyte has arrived.
    let partial = dir.join("partial.bin");
    let partial_s = path_str(&partial);
    let mut slow = pair.client.spawn(&["curl", "-sS", "--limit-rate", "1M", "-o", &partial_s, &big_url]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) < 1 << 20 {
        slow.assert_running("the slowed-down curl");
        assert!(Instant::now() < deadline, "the slowed-down curl got less than 1 MiB in 20 s:\n{}", slow.output());
        std::thread::sleep(Duration::from_millis(20));
    }
    slow.kill();
    http_records(&api, "the killed curl's download as failed", |items| items.iter().any(|t| t["outcome"] == "failed"));

    // Failed too: a client that reads the head and 100 kB, then hangs up.
    let to = SocketAddr::new(pair.server_addr(), HTTP_PORT);
    let mut stream = pair.client.tcp_connect(to, Duration::from_secs(10));
    stream.write_all(b"GET /big.bin HTTP/1.1\r\nHost: lifeboat\r\n\r\n").unwrap();
    let mut first = vec![0u8; 100_000];
    stream.read_exact(&mut first).expect("the head and the first bytes");
    drop(stream);

    let records = http_records(&api, "two failed downloads", |items| {
        items.iter().filter(|t| t["outcome"] == "failed").count() >= 2
    });
    let size = big.len() as u64;
    let of = |outcome: &str| records.iter().filter(|t| t["outcome"] == outcome).collect::<Vec<_>>();
    let complete = of("complete");
    assert_eq!(complete.len(), 2, "the whole file and the range; not HEAD, not the 304: {records:#?}");
    let mut bytes: Vec<(u64, u64)> =
        complete.iter().map(|t| (t["bytes"].as_u64().unwrap(), t["size"].as_u64().unwrap())).collect();
    bytes.sort_unstable();
    assert_eq!(bytes, [(500, 500), (size, size)], "{records:#?}");
    for failed in of("failed") {
        let sent = failed["bytes"].as_u64().unwrap();
        assert!(sent > 0 && sent < size, "a broken-off download sent {sent} of {size} bytes: {failed:#}");
        assert_eq!(failed["size"].as_u64(), Some(size), "{failed:#}");
        let error = failed["error"].as_str().unwrap_or("");
        assert!(error.contains("closed the connection"), "{failed:#}");
    }
    let not_found = of("not_found");
    assert_eq!(not_found.len(), 1, "{records:#?}");
    assert!(not_found[0]["requested"].as_str().unwrap_or("").contains("grubx64.efi"), "{records:#?}");
    assert_eq!(records.len(), 5, "HEAD and 304 left no record: {records:#?}");
    for record in &records {
        assert_eq!(record["direction"], "read", "{record:#}");
        assert!(record["client"].as_str().unwrap_or("").starts_with(&pair.client_ip.to_string()), "{record:#}");
        assert_eq!(record["mac"], client_mac.as_str(), "the MAC from the neighbour table: {record:#}");
    }
    for record in complete.iter().chain(&of("failed")) {
        assert_eq!(record["file"], "big.bin", "{record:#}");
    }
    server.assert_running("lifeboat serve");
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn ten_parallel_curl_downloads_of_32_mib_all_arrive_intact() {
    require_netns!("curl");
    let (root, big) = boot_root();
    let (pair, mut server) = serve_pair(root.path(), &[]);
    let api = DashboardApi::connect(&pair.server, DASHBOARD, START_TIMEOUT);
    let out_dir = tempfile::tempdir().unwrap();
    let big_url = url(pair.server_ip, "/big.bin");

    let started = SystemTime::now();
    let mut clients: Vec<(PathBuf, Child)> = (0..10)
        .map(|i| {
            let local = out_dir.path().join(format!("copy-{i}.bin"));
            let local_s = path_str(&local);
            let child = pair.client.spawn(&["curl", "-sS", "--max-time", "100", "-o", &local_s, &big_url]);
            (local, child)
        })
        .collect();
    let expected = sha256_bytes(&big);
    for (local, child) in &mut clients {
        let out = child.finish(Duration::from_secs(110));
        assert!(out.success(), "a parallel curl failed:\n{out}");
        assert_eq!(sha256_file(&*local), expected, "{} arrived damaged", local.display());
    }
    eprintln!("10 × 32 MiB in parallel took {:.2?}", started.elapsed().unwrap_or_default());

    let size = big.len() as u64;
    let records = http_records(&api, "ten complete downloads", |items| items.len() >= 10);
    assert_eq!(records.len(), 10, "{records:#?}");
    for record in &records {
        assert_eq!(record["outcome"], "complete", "{record:#}");
        assert_eq!(record["bytes"].as_u64(), Some(size), "{record:#}");
    }
    server.assert_running("lifeboat serve");
}
