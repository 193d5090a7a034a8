//! Self-tests of the end-to-end harness, using only real third-party programs: namespaces are
//! created and cleaned up, the real clients fetch from the real peer servers with matching
//! SHA-256, and impairment really drops, duplicates and delays packets.

use std::path::Path;
use std::time::{Duration, Instant};

use lifeboat_e2e::{
    Client, Netns, Pair, PeerServers, clear_netem, netem, netem_stats, random_file, require_netns, sha256_file,
};

const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Fetches `name` with `client` into `out_dir` and checks exit status and SHA-256.
#[track_caller]
fn fetch_and_check(pair: &Pair, client: Client, name: &str, out_dir: &Path, expected: &str) {
    let local = out_dir.join(format!("{}-{name}", client.label()));
    let out = client.get(&pair.client, pair.server_addr(), name, &local, CLIENT_TIMEOUT);
    assert!(out.success(), "{} failed:\n{out}", client.label());
    assert_eq!(sha256_file(&local), expected, "{} fetched different bytes:\n{out}", client.label());
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn namespaces_and_their_processes_are_removed_on_drop() {
    require_netns!("busybox");
    let pair = Pair::new();
    let names = [pair.server.name().to_owned(), pair.client.name().to_owned()];
    let listed = std::fs::read_dir("/run/netns")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    for name in &names {
        assert!(listed.contains(name), "{name} not in {listed:?}");
    }

    // The link works in both address families.
    pair.client
        .run_ok(&["busybox", "ping", "-c", "1", "-W", "2", &pair.server_ip.to_string()], Duration::from_secs(10));
    pair.client
        .run_ok(&["busybox", "ping", "-c", "1", "-W", "2", &pair.server_ip6.to_string()], Duration::from_secs(10));

    // A process left running inside (no guard) is killed with the namespace.
    let mut sleeper = pair.server.command(&["sleep", "600"]).stdin(std::process::Stdio::null()).spawn().unwrap();
    let pid = i32::try_from(sleeper.id()).unwrap();
    assert!(pair.server.pids().contains(&pid));
    drop(pair);

    for name in &names {
        assert!(!Path::new("/run/netns").join(name).exists(), "{name} still exists");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while sleeper.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = sleeper.kill();
            let _ = sleeper.wait();
            panic!("process {pid} survived its namespace");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn real_clients_fetch_3_mib_from_tftpd_hpa() {
    require_netns!("tftp", "curl", "atftp", "busybox", "/usr/sbin/in.tftpd");
    let peers = PeerServers::locate();
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let expected = random_file(root.path().join("big.bin"), 3 << 20, 0x3317);
    let _server = peers.spawn_tftpd_hpa(&pair.server, root.path(), pair.server_addr(), &[]);

    for client in Client::common() {
        fetch_and_check(&pair, client, "big.bin", out_dir.path(), &expected);
    }
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn real_clients_fetch_from_dnsmasq_and_atftpd() {
    let peers = PeerServers::locate();
    require_netns!("curl", "atftp", &peers.dnsmasq, &peers.atftpd);
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let expected = random_file(root.path().join("mid.bin"), (1 << 20) + 7, 42);

    let curl = Client::Curl { blksize: Some(1468) };
    let mut dnsmasq = peers.spawn_dnsmasq(&pair.server, root.path(), pair.server_addr(), &[]);
    fetch_and_check(&pair, curl, "mid.bin", out_dir.path(), &expected);
    dnsmasq.terminate(Duration::from_secs(5));

    let atftp = Client::Atftp { blksize: Some(1468), windowsize: Some(4) };
    let mut atftpd = peers.spawn_atftpd(&pair.server, root.path(), pair.server_addr(), &[]);
    fetch_and_check(&pair, atftp, "mid.bin", out_dir.path(), &expected);
    let log = atftpd.terminate(Duration::from_secs(5));
    assert!(
        format!("{}{}", log.stdout, log.stderr).contains("Serving mid.bin"),
        "atftpd did not log the transfer:\n{log}"
    );
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn impairment_loss_100_percent_blocks_transfers_until_cleared() {
    require_netns!("curl", "/usr/sbin/in.tftpd");
    let peers = PeerServers::locate();
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let expected = random_file(root.path().join("small.bin"), 4000, 1);
    let _server = peers.spawn_tftpd_hpa(&pair.server, root.path(), pair.server_addr(), &[]);

    netem(&pair.client, &pair.client_dev, "loss 100%");
    let local = out_dir.path().join("blocked");
    let started = Instant::now();
    let out = pair.client.run(
        &[
            "curl",
            "-sS",
            "--max-time",
            "3",
            "-o",
            &local.to_string_lossy(),
            &format!("tftp://{}/small.bin", pair.server_ip),
        ],
        Duration::from_secs(20),
    );
    assert!(!out.success() && !out.timed_out(), "curl should give up by itself while every request is dropped:\n{out}");
    assert!(started.elapsed() >= Duration::from_secs(2), "{out}");
    let stats = netem_stats(&pair.client, &pair.client_dev);
    assert!(stats.dropped >= 1, "nothing was dropped: {stats:?}");

    clear_netem(&pair.client, &pair.client_dev);
    let curl = Client::Curl { blksize: None };
    fetch_and_check(&pair, curl, "small.bin", out_dir.path(), &expected);
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn impairment_loss_and_duplicates_still_give_identical_files() {
    require_netns!("tftp", "busybox", "/usr/sbin/in.tftpd");
    let peers = PeerServers::locate();
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let expected = random_file(root.path().join("lossy.bin"), 64 << 10, 9);
    // These clients send no `timeout` option, so the server retransmits after -T (100 ms).
    let _server = peers.spawn_tftpd_hpa(&pair.server, root.path(), pair.server_addr(), &["-T", "100000"]);
    let spec = "loss 5% duplicate 5%";
    netem(&pair.server, &pair.server_dev, spec);
    netem(&pair.client, &pair.client_dev, spec);

    fetch_and_check(&pair, Client::TftpHpa, "lossy.bin", out_dir.path(), &expected);
    let busybox = Client::Busybox { blksize: None };
    fetch_and_check(&pair, busybox, "lossy.bin", out_dir.path(), &expected);

    let server = netem_stats(&pair.server, &pair.server_dev);
    let client = netem_stats(&pair.client, &pair.client_dev);
    assert!(server.dropped + client.dropped > 0, "no packet was dropped: {server:?} {client:?}");
    if let (Some(a), Some(b)) = (server.duplicated, client.duplicated) {
        assert!(a + b > 0, "no packet was duplicated: {server:?} {client:?}");
    }
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn impairment_delay_slows_lock_step_transfers_and_reorder_keeps_files_intact() {
    require_netns!("tftp", "atftp", "/usr/sbin/in.tftpd");
    let peers = PeerServers::locate();
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    // 20 blocks of 512 bytes, then the final short block.
    let expected = random_file(root.path().join("twenty.bin"), 20 * 512 + 100, 20);
    let _server = peers.spawn_tftpd_hpa(&pair.server, root.path(), pair.server_addr(), &["-T", "100000"]);

    let timed_fetch = |tag: &str| {
        let local = out_dir.path().join(tag);
        let started = Instant::now();
        let out = Client::TftpHpa.get(&pair.client, pair.server_addr(), "twenty.bin", &local, CLIENT_TIMEOUT);
        let elapsed = started.elapsed();
        assert!(out.success(), "{out}");
        assert_eq!(sha256_file(&local), expected);
        elapsed
    };
    let baseline = timed_fetch("baseline");

    // 20 ms each way: each of the 21 lock-step round trips takes at least 40 ms.
    netem(&pair.server, &pair.server_dev, "delay 20ms");
    netem(&pair.client, &pair.client_dev, "delay 20ms");
    let delayed = timed_fetch("delayed");
    assert!(delayed >= Duration::from_millis(21 * 40), "delay had no effect: {delayed:?} (baseline {baseline:?})");
    assert!(delayed > baseline, "{delayed:?} vs {baseline:?}");
    let stats = netem_stats(&pair.server, &pair.server_dev);
    if let Some(held) = stats.delayed {
        assert!(held >= 21, "only {held} packets were delayed: {stats:?}");
    }

    // The full spec the lead's tests use, with two different clients.
    let spec = "loss 5% duplicate 1% reorder 25% 50% delay 1ms";
    netem(&pair.server, &pair.server_dev, spec);
    netem(&pair.client, &pair.client_dev, spec);
    fetch_and_check(&pair, Client::TftpHpa, "twenty.bin", out_dir.path(), &expected);
    // Not atftp here: it aborts with "unexpected OACK" when the OACK arrives twice.
    let curl = Client::Curl { blksize: Some(1468) };
    fetch_and_check(&pair, curl, "twenty.bin", out_dir.path(), &expected);
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn dropping_a_netns_with_impairment_stops_its_helpers() {
    require_netns!();
    let ns = Netns::new();
    let peer = Netns::new();
    let link = lifeboat_e2e::veth(&ns, &peer, &lifeboat_e2e::LinkOptions::subnet(200));
    netem(&ns, &link.a_dev, "loss 1% duplicate 1% delay 5ms 1ms");
    let name = ns.name().to_owned();
    drop(ns);
    assert!(!Path::new("/run/netns").join(&name).exists());
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn tftp_hpa_client_error_is_reported_as_failure() {
    require_netns!("tftp", "/usr/sbin/in.tftpd");
    let peers = PeerServers::locate();
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let _server = peers.spawn_tftpd_hpa(&pair.server, root.path(), pair.server_addr(), &[]);
    let local = out_dir.path().join("missing");
    let out = Client::TftpHpa.get(&pair.client, pair.server_addr(), "missing.bin", &local, CLIENT_TIMEOUT);
    out.assert_failure();
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn real_clients_upload_to_tftpd_hpa() {
    require_netns!("tftp", "curl", "atftp", "busybox", "/usr/sbin/in.tftpd");
    let peers = PeerServers::locate();
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let src_dir = tempfile::tempdir().unwrap();
    let source = src_dir.path().join("upload.bin");
    let expected = random_file(&source, 200_001, 77);
    // -c: allow uploads to create files.
    let _server = peers.spawn_tftpd_hpa(&pair.server, root.path(), pair.server_addr(), &["-c"]);

    for client in Client::common() {
        let remote = format!("up-{}.bin", client.program());
        let out = client.put(&pair.client, pair.server_addr(), &remote, &source, CLIENT_TIMEOUT);
        assert!(out.success(), "{} upload failed:\n{out}", client.label());
        let uploaded = root.path().join(&remote);
        assert_eq!(sha256_file(&uploaded), expected, "{} uploaded different bytes:\n{out}", client.label());
    }
}
