//! `lifeboat serve`, `lifeboat get` and `lifeboat put` against real TFTP clients and real peer
//! servers, each pair in its own network namespaces. Every transferred file is compared by SHA-256.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lifeboat_e2e::{
    Child, Client, Output, Pair, PeerServers, random_file, require_netns, run_lifeboat, sha256_file,
    spawn_lifeboat_serve,
};

const TRANSFER_TIMEOUT: Duration = Duration::from_secs(45);

/// The sizes every client must get intact: empty, around one 512-byte block, exactly three
/// 1468-byte blocks, and 3 MiB.
const SIZES: [(&str, u64); 6] = [
    ("empty.bin", 0),
    ("b511.bin", 511),
    ("b512.bin", 512),
    ("b513.bin", 513),
    ("three-blocks-1468.bin", 1468 * 3),
    ("three-mib.bin", 3 << 20),
];

/// A server root holding one random file per entry of `SIZES`; returns (name, sha256) pairs.
fn populate(root: &Path) -> Vec<(&'static str, String)> {
    SIZES
        .iter()
        .enumerate()
        .map(|(i, (name, size))| (*name, random_file(root.join(name), *size, 1000 + i as u64)))
        .collect()
}

/// Serves `SIZES` with lifeboat and downloads every file with `client`.
fn client_downloads_every_size(client: Client) {
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let files = populate(root.path());
    let mut server = spawn_lifeboat_serve(&pair.server, root.path(), pair.server_addr(), &[]);

    // curl 7.88 rejects `tsize 0` in an OACK ("invalid tsize", exit 71); in.tftpd, dnsmasq and
    // atftpd all send it and fail. lifeboat leaves tsize out for an empty file, so curl gets
    // the empty file too.
    for (name, expected) in &files {
        let local = out_dir.path().join(name);
        let out = client.get(&pair.client, pair.server_addr(), name, &local, TRANSFER_TIMEOUT);
        check_download(&mut server, client, &out, &local, expected);
    }
}

#[track_caller]
fn check_download(server: &mut Child, client: Client, out: &Output, local: &Path, expected: &str) {
    server.assert_running("lifeboat serve");
    assert!(out.success(), "{} failed:\n{out}", client.label());
    assert!(local.exists(), "{} reported success but wrote no {}:\n{out}", client.label(), local.display());
    assert_eq!(sha256_file(local), expected, "{} got different bytes for {}:\n{out}", client.label(), local.display());
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn tftp_hpa_downloads_every_size() {
    require_netns!("tftp");
    client_downloads_every_size(Client::TftpHpa);
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn curl_blksize_1468_downloads_every_size() {
    require_netns!("curl");
    client_downloads_every_size(Client::Curl { blksize: Some(1468) });
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn atftp_blksize_1468_downloads_every_size() {
    require_netns!("atftp");
    client_downloads_every_size(Client::Atftp { blksize: Some(1468), windowsize: None });
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn atftp_blksize_1468_windowsize_16_downloads_every_size() {
    require_netns!("atftp");
    client_downloads_every_size(Client::Atftp { blksize: Some(1468), windowsize: Some(16) });
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn busybox_downloads_every_size() {
    require_netns!("busybox");
    client_downloads_every_size(Client::Busybox { blksize: None });
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn curl_blksize_512_fetches_40_mib_across_block_number_rollover() {
    require_netns!("curl");
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    // 81,920 blocks of 512 bytes: the block number wraps past 65,535.
    let size = 40u64 << 20;
    let expected = random_file(root.path().join("forty.bin"), size, 40);
    let mut server = spawn_lifeboat_serve(&pair.server, root.path(), pair.server_addr(), &[]);

    let client = Client::Curl { blksize: Some(512) };
    let local = out_dir.path().join("forty.bin");
    let out = client.get(&pair.client, pair.server_addr(), "forty.bin", &local, Duration::from_secs(55));
    check_download(&mut server, client, &out, &local, &expected);
    assert_eq!(std::fs::metadata(&local).unwrap().len(), size);
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn curl_and_tftp_hpa_download_over_ipv6() {
    require_netns!("curl", "tftp");
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let expected = random_file(root.path().join("v6.bin"), 100_000, 6);
    let server_addr = IpAddr::V6(pair.server_ip6);
    let mut server = spawn_lifeboat_serve(&pair.server, root.path(), server_addr, &[]);

    for client in [Client::Curl { blksize: Some(1468) }, Client::TftpHpa] {
        let local = out_dir.path().join(format!("v6-{}", client.program()));
        let out = client.get(&pair.client, server_addr, "v6.bin", &local, TRANSFER_TIMEOUT);
        check_download(&mut server, client, &out, &local, &expected);
    }
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn real_clients_upload_when_uploads_are_enabled() {
    require_netns!("tftp", "curl", "atftp", "busybox");
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let upload_dir = tempfile::tempdir().unwrap();
    let src_dir = tempfile::tempdir().unwrap();
    let source = src_dir.path().join("source.bin");
    let expected = random_file(&source, 300_007, 31);
    let upload_path = upload_dir.path().to_string_lossy().into_owned();
    let mut server = spawn_lifeboat_serve(
        &pair.server,
        root.path(),
        pair.server_addr(),
        &["--tftp-upload", "--tftp-upload-dir", &upload_path],
    );

    for client in Client::common() {
        let remote = format!("up-{}.bin", client.program());
        let out = client.put(&pair.client, pair.server_addr(), &remote, &source, TRANSFER_TIMEOUT);
        server.assert_running("lifeboat serve");
        assert!(out.success(), "{} upload failed:\n{out}", client.label());
        let stored = find_uploaded(upload_dir.path(), &remote)
            .unwrap_or_else(|| panic!("{} upload of {remote} is not in the upload dir:\n{out}", client.label()));
        assert_eq!(sha256_file(&stored), expected, "{} uploaded different bytes:\n{out}", client.label());
    }
}

/// The uploaded file: `DIR/NAME`, or wherever under DIR a file of that name ended up.
fn find_uploaded(dir: &Path, name: &str) -> Option<PathBuf> {
    let direct = dir.join(name);
    if direct.is_file() {
        return Some(direct);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == name) {
                return Some(path);
            }
        }
    }
    None
}

/// Runs `lifeboat get` in the client namespace and checks the file and the printed digest.
fn lifeboat_get_and_check(pair: &Pair, name: &str, extra: &[&str], out_dir: &Path, expected: &str) {
    let local = out_dir.join(format!("got-{}-{name}", extra.join("_").replace(['-', ' '], "")));
    let local_s = local.to_string_lossy().into_owned();
    let server = pair.server_ip.to_string();
    let mut args = vec!["get", &server, name, "-o", &local_s];
    args.extend_from_slice(extra);
    let out = run_lifeboat(&pair.client, &args, TRANSFER_TIMEOUT);
    assert!(out.success(), "lifeboat get failed:\n{out}");
    assert_eq!(sha256_file(&local), expected, "lifeboat get wrote different bytes:\n{out}");
    assert!(
        out.stdout.contains(expected) || out.stderr.contains(expected),
        "lifeboat get did not print the sha256 {expected}:\n{out}"
    );
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn lifeboat_get_fetches_from_dnsmasq() {
    let peers = PeerServers::locate();
    require_netns!(&peers.dnsmasq);
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let big = random_file(root.path().join("big.bin"), 3 << 20, 71);
    let small = random_file(root.path().join("small.bin"), 513, 72);
    let empty = random_file(root.path().join("empty.bin"), 0, 73);
    let mut dnsmasq = peers.spawn_dnsmasq(&pair.server, root.path(), pair.server_addr(), &[]);

    lifeboat_get_and_check(&pair, "big.bin", &[], out_dir.path(), &big);
    lifeboat_get_and_check(&pair, "big.bin", &["--blksize", "512"], out_dir.path(), &big);
    lifeboat_get_and_check(&pair, "small.bin", &[], out_dir.path(), &small);
    lifeboat_get_and_check(&pair, "empty.bin", &[], out_dir.path(), &empty);
    dnsmasq.assert_running("dnsmasq");
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn lifeboat_get_fetches_from_tftpd_hpa() {
    let peers = PeerServers::locate();
    require_netns!(&peers.in_tftpd);
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let big = random_file(root.path().join("big.bin"), 3 << 20, 81);
    let odd = random_file(root.path().join("odd.bin"), 1468 * 3, 82);
    let mut tftpd = peers.spawn_tftpd_hpa(&pair.server, root.path(), pair.server_addr(), &[]);

    lifeboat_get_and_check(&pair, "big.bin", &[], out_dir.path(), &big);
    lifeboat_get_and_check(&pair, "big.bin", &["--blksize", "8192"], out_dir.path(), &big);
    lifeboat_get_and_check(&pair, "odd.bin", &["--blksize", "1468"], out_dir.path(), &odd);
    tftpd.assert_running("in.tftpd");
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn lifeboat_put_uploads_to_tftpd_hpa() {
    let peers = PeerServers::locate();
    require_netns!(&peers.in_tftpd);
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let src_dir = tempfile::tempdir().unwrap();
    // -c: in.tftpd may create new files on upload.
    let mut tftpd = peers.spawn_tftpd_hpa(&pair.server, root.path(), pair.server_addr(), &["-c"]);
    let server = pair.server_ip.to_string();

    for (name, size) in [("up-big.bin", 3u64 << 20), ("up-513.bin", 513), ("up-empty.bin", 0)] {
        let source = src_dir.path().join(name);
        let expected = random_file(&source, size, size ^ 0x55);
        let source_s = source.to_string_lossy().into_owned();
        let out = run_lifeboat(&pair.client, &["put", &server, &source_s, name], TRANSFER_TIMEOUT);
        assert!(out.success(), "lifeboat put {name} failed:\n{out}");
        let uploaded = root.path().join(name);
        assert!(uploaded.is_file(), "in.tftpd has no {name} after lifeboat put:\n{out}");
        assert_eq!(sha256_file(&uploaded), expected, "uploaded {name} differs:\n{out}");
    }
    tftpd.assert_running("in.tftpd");
}
