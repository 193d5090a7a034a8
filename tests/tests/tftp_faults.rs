//! `lifeboat serve` on a bad network and with clients that vanish: real clients (curl, tftp-hpa,
//! busybox, atftp, `lifeboat get`/`put`) across a link that loses, duplicates, delays and
//! reorders packets in both directions, and clients killed in the middle of a transfer. Every
//! transferred file is compared by SHA-256; the server must stay up, leave no partial upload
//! behind, and log each outcome.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lifeboat_e2e::{
    Child, Client, Netns, Output, Pair, clear_netem, dir_names, lifeboat_bin, netem, netem_stats, random_file,
    require_netns, run_lifeboat, sha256_file, spawn_lifeboat_serve,
};

/// Limit for one client run on the impaired link.
const LOSSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Limit for all the client runs of one test on the impaired link.
const TEST_BUDGET: Duration = Duration::from_secs(50);
/// Limit for one client run on a clean link.
const CLEAN_TIMEOUT: Duration = Duration::from_secs(20);
/// Traffic leaving the server: loss, duplication, and reordering (a quarter of the packets
/// overtake the ones held back by the delay).
const SERVER_IMPAIRMENT: &str = "loss 5% duplicate 1% reorder 25% 50% delay 1ms";
/// Traffic leaving the client.
const CLIENT_IMPAIRMENT: &str = "loss 3% duplicate 1% reorder 25% 50% delay 1ms";
/// Prefix of lifeboat's temporary upload files (`lifeboat_files::TEMP_PREFIX`).
const TEMP_PREFIX: &str = ".lifeboat-partial-";
/// How long the server may take to give up on a vanished client: it retries about 8 times
/// with a timeout of at most 2 s, so roughly 10-16 s.
const GIVE_UP_LIMIT: Duration = Duration::from_secs(60);

/// What is left of a test's time for the next client run: at most [`LOSSY_TIMEOUT`], and never
/// past the test's budget (so a test stays under a minute even when every client hangs).
struct Budget(Instant);

impl Budget {
    fn start() -> Budget {
        Budget(Instant::now() + TEST_BUDGET)
    }

    /// All that is left, for a test with a single slow client.
    #[track_caller]
    fn whole(&self) -> Duration {
        let left = self.0.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "the test used up its budget of {TEST_BUDGET:?}");
        left
    }

    #[track_caller]
    fn next_run(&self) -> Duration {
        let left = self.0.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "the test used up its budget of {TEST_BUDGET:?}");
        left.min(LOSSY_TIMEOUT)
    }
}

fn impair_both_ways(pair: &Pair) {
    netem(&pair.server, &pair.server_dev, SERVER_IMPAIRMENT);
    netem(&pair.client, &pair.client_dev, CLIENT_IMPAIRMENT);
}

/// Proves the impairment really acted. `data_dev` carried the file's blocks (hundreds of
/// packets, so loss and duplication certainly happened there); `ack_dev` carried only
/// acknowledgements, few enough that only "something happened" is certain.
#[track_caller]
fn assert_impairment_acted(data_ns: &Netns, data_dev: &str, ack_ns: &Netns, ack_dev: &str) {
    let data = netem_stats(data_ns, data_dev);
    assert!(data.dropped > 0, "no packet was dropped on {data_dev}: {data:?}");
    if data.emulated {
        assert!(data.duplicated.unwrap_or(0) > 0, "no packet was duplicated on {data_dev}: {data:?}");
        assert!(data.reordered.unwrap_or(0) > 0, "no packet was reordered on {data_dev}: {data:?}");
        assert!(data.delayed.unwrap_or(0) > 0, "no packet was delayed on {data_dev}: {data:?}");
    }
    let acks = netem_stats(ack_ns, ack_dev);
    if acks.emulated {
        let acted = acks.dropped + acks.duplicated.unwrap_or(0) + acks.reordered.unwrap_or(0);
        assert!(acted > 0, "the impairment on {ack_dev} did nothing: {acks:?}");
    }
}

/// Waits up to `timeout` until the server's log has at least `count` lines containing every
/// one of `parts`; returns those lines.
#[track_caller]
fn wait_for_log_lines(server: &mut Child, parts: &[&str], count: usize, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let log = server.stdout();
        let lines: Vec<String> =
            log.lines().filter(|line| parts.iter().all(|part| line.contains(part))).map(str::to_owned).collect();
        if lines.len() >= count {
            return lines;
        }
        if Instant::now() >= deadline {
            panic!(
                "the server did not log {count} line(s) containing {parts:?} within {timeout:?}:\n{}",
                server.output()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for the server's log lines of `count` downloads of `name` (`size` bytes) and checks
/// each outcome. A download ends "complete", with one exception the server cannot avoid: a
/// client that exits right after its final ACK (RFC 1350 allows it; curl, tftp-hpa and
/// `lifeboat get` do) leaves the server repeating its last window when that ACK is lost, until
/// it gives up and logs that the end was never acknowledged (see
/// `a_lost_final_ack_is_logged_as_possibly_complete`). Then everything but at most `tail` bytes
/// must have been acknowledged.
#[track_caller]
fn check_download_logs(server: &mut Child, name: &str, count: usize, size: u64, tail: u64) -> Vec<String> {
    let requested = format!("(requested \"{name}\")");
    let lines = wait_for_log_lines(server, &["sent ", &requested], count, GIVE_UP_LIMIT);
    for line in &lines {
        if line.contains("— complete") {
            continue;
        }
        let acknowledged: u64 = line
            .split("): ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no byte count in the log line: {line}"));
        assert!(
            line.contains("never acknowledged the last") && acknowledged + tail >= size,
            "a download of {name} failed before its last window:\n{line}"
        );
        eprintln!("final ACK lost (the client does not linger): {line}");
    }
    lines
}

/// Sum of the `N retransmits` counts in log lines.
fn retransmits(lines: &[String]) -> u64 {
    lines
        .iter()
        .filter_map(|line| {
            let before = line.split(" retransmits").next()?;
            before.rsplit(' ').next()?.parse::<u64>().ok()
        })
        .sum()
}

#[track_caller]
fn check_client(server: &mut Child, label: &str, out: &Output, local: &Path, expected: &str) {
    eprintln!("{label}: {} after {:.1?}", if out.success() { "done" } else { "FAILED" }, out.elapsed);
    server.assert_running("lifeboat serve");
    assert!(out.success(), "{label} failed:\n{out}");
    assert!(local.is_file(), "{label} reported success but wrote no {}:\n{out}", local.display());
    assert_eq!(sha256_file(local), expected, "{label} transferred different bytes ({}):\n{out}", local.display());
}

/// `lifeboat ARGS...` as an argument vector for `Netns::spawn`.
fn lifeboat_argv(args: &[&str]) -> Vec<String> {
    let mut argv = vec![lifeboat_bin().to_string_lossy().into_owned()];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    argv
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn real_clients_download_intact_through_loss_duplication_and_reordering() {
    require_netns!("curl", "tftp", "busybox");
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    // Lock-step clients pay one retransmission timeout per lost packet, so the 512-byte
    // clients get a smaller file.
    let half_mib = random_file(root.path().join("half-mib.bin"), 512 << 10, 0xfa01);
    let quarter_mib = random_file(root.path().join("quarter-mib.bin"), 256 << 10, 0xfa02);
    let mut server = spawn_lifeboat_serve(&pair.server, root.path(), pair.server_addr(), &[]);
    impair_both_ways(&pair);
    let budget = Budget::start();

    let runs = [
        (Client::Curl { blksize: Some(1468) }, "half-mib.bin", &half_mib),
        (Client::TftpHpa, "quarter-mib.bin", &quarter_mib),
        (Client::Busybox { blksize: None }, "quarter-mib.bin", &quarter_mib),
    ];
    for (client, name, expected) in runs {
        let local = out_dir.path().join(format!("{}-{name}", client.program()));
        let out = client.get(&pair.client, pair.server_addr(), name, &local, budget.next_run());
        check_client(&mut server, &client.label(), &out, &local, expected);
    }

    assert_impairment_acted(&pair.server, &pair.server_dev, &pair.client, &pair.client_dev);
    // Lock-step: only the final block can be left unacknowledged.
    let half = check_download_logs(&mut server, "half-mib.bin", 1, 512 << 10, 1468);
    let quarter = check_download_logs(&mut server, "quarter-mib.bin", 2, 256 << 10, 512);
    let lines: Vec<String> = half.into_iter().chain(quarter).collect();
    assert!(retransmits(&lines) > 0, "the server never retransmitted on a lossy link:\n{}", lines.join("\n"));
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn lifeboat_get_windowed_downloads_intact_through_loss_duplication_and_reordering() {
    require_netns!();
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let three_mib = random_file(root.path().join("three-mib.bin"), 3 << 20, 0xfa03);
    let one_mib = random_file(root.path().join("one-mib.bin"), 1 << 20, 0xfa04);
    let mut server =
        spawn_lifeboat_serve(&pair.server, root.path(), pair.server_addr(), &["--tftp-max-blksize", "8192"]);
    impair_both_ways(&pair);
    let budget = Budget::start();
    let server_ip = pair.server_ip.to_string();

    let runs: [(&str, &str, &[&str]); 2] = [
        ("three-mib.bin", &three_mib, &["--windowsize", "16"]),
        // 8192-byte blocks are IP fragments here: losing any fragment loses the block.
        ("one-mib.bin", &one_mib, &["--blksize", "8192", "--windowsize", "16"]),
    ];
    for (name, expected, options) in runs {
        let local = out_dir.path().join(format!("{}-{name}", options.join("")));
        let local_s = path_str(&local);
        let mut args = vec!["get", server_ip.as_str(), name, "-o", local_s.as_str()];
        args.extend_from_slice(options);
        let out = run_lifeboat(&pair.client, &args, budget.next_run());
        let label = format!("lifeboat get {}", options.join(" "));
        check_client(&mut server, &label, &out, &local, expected);
        assert!(out.stdout.contains(expected), "{label} did not print the sha256 {expected}:\n{out}");
        let block = if options.contains(&"8192") { "blksize 8192" } else { "blksize 1468" };
        assert!(out.stdout.contains(block) && out.stdout.contains("window 16"), "{label} did not get {block}:\n{out}");
    }

    assert_impairment_acted(&pair.server, &pair.server_dev, &pair.client, &pair.client_dev);
    let three = check_download_logs(&mut server, "three-mib.bin", 1, 3 << 20, 16 * 1468);
    let one = check_download_logs(&mut server, "one-mib.bin", 1, 1 << 20, 16 * 8192);
    let lines: Vec<String> = three.into_iter().chain(one).collect();
    assert!(retransmits(&lines) > 0, "the server never retransmitted on a lossy link:\n{}", lines.join("\n"));
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn lifeboat_put_uploads_intact_through_loss_duplication_and_reordering() {
    require_netns!();
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let upload_dir = tempfile::tempdir().unwrap();
    let src_dir = tempfile::tempdir().unwrap();
    let upload_s = path_str(upload_dir.path());
    let mut server = spawn_lifeboat_serve(
        &pair.server,
        root.path(),
        pair.server_addr(),
        &["--tftp-upload", "--tftp-upload-dir", &upload_s],
    );
    impair_both_ways(&pair);
    let budget = Budget::start();
    let server_ip = pair.server_ip.to_string();

    let runs: [(&str, u64, &[&str]); 2] =
        [("put-window16.bin", 2 << 20, &["--windowsize", "16"]), ("put-lockstep.bin", 512 << 10, &[])];
    for (i, (remote, size, options)) in runs.into_iter().enumerate() {
        let source = src_dir.path().join(remote);
        let expected = random_file(&source, size, 0xfa05 + i as u64);
        let source_s = path_str(&source);
        let mut args = vec!["put", server_ip.as_str(), source_s.as_str(), remote];
        args.extend_from_slice(options);
        let out = run_lifeboat(&pair.client, &args, budget.next_run());
        let label = format!("lifeboat put {}", options.join(" "));
        check_client(&mut server, &label, &out, &upload_dir.path().join(remote), &expected);
        assert!(out.stdout.contains(expected.as_str()), "{label} did not print the sha256:\n{out}");
        let requested = format!("(requested \"{remote}\")");
        wait_for_log_lines(&mut server, &["received ", &requested, "complete"], 1, CLEAN_TIMEOUT);
    }

    assert_impairment_acted(&pair.client, &pair.client_dev, &pair.server, &pair.server_dev);
    assert_eq!(
        dir_names(upload_dir.path()),
        ["put-lockstep.bin", "put-window16.bin"],
        "the upload dir holds something besides the uploads"
    );
}

/// tftp-hpa's client resends a DATA block only after 5 s of silence, so each lost block costs
/// at least 5 s with any server (and a duplicated ACK makes it throw away what it has queued,
/// which can cost another 5 s): the file is small, 24 blocks, and the client may use the whole
/// test budget. Typical runs take 5-15 s here.
#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn tftp_hpa_upload_arrives_intact_through_loss_duplication_and_reordering() {
    require_netns!("tftp");
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let upload_dir = tempfile::tempdir().unwrap();
    let src_dir = tempfile::tempdir().unwrap();
    let source = src_dir.path().join("small.bin");
    let expected = random_file(&source, 12 << 10, 0xfa10);
    let upload_s = path_str(upload_dir.path());
    let mut server = spawn_lifeboat_serve(
        &pair.server,
        root.path(),
        pair.server_addr(),
        &["--tftp-upload", "--tftp-upload-dir", &upload_s],
    );
    impair_both_ways(&pair);
    let budget = Budget::start();

    let out = Client::TftpHpa.put(&pair.client, pair.server_addr(), "put-tftp-hpa.bin", &source, budget.whole());
    check_client(&mut server, "tftp-hpa put", &out, &upload_dir.path().join("put-tftp-hpa.bin"), &expected);
    wait_for_log_lines(&mut server, &["received ", "(requested \"put-tftp-hpa.bin\")", "complete"], 1, CLEAN_TIMEOUT);
    let stats = netem_stats(&pair.client, &pair.client_dev);
    assert!(
        stats.dropped + stats.duplicated.unwrap_or(0) + stats.reordered.unwrap_or(0) > 0,
        "the impairment on {} did nothing: {stats:?}",
        pair.client_dev
    );
}

/// Drops exactly one packet leaving `dev` in `ns`: the `nth` (counting from 1) UDP datagram
/// that matches the nftables expression `matching`. Returns the table name (for
/// [`dropped_count`]).
fn drop_nth_datagram(ns: &Netns, dev: &str, matching: &str, nth: u32) -> String {
    let table = "lbt_drop_one".to_owned();
    let ruleset = format!(
        "table netdev {table} {{\n  chain egress {{\n    type filter hook egress device \"{dev}\" priority -10; policy accept;\n    meta l4proto udp {matching} numgen inc mod 1000000000 == {} counter drop\n  }}\n}}\n",
        nth - 1
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), ruleset).unwrap();
    let path = path_str(file.path());
    ns.run_ok(&["nft", "-f", &path], CLEAN_TIMEOUT);
    table
}

fn dropped_count(ns: &Netns, table: &str) -> u64 {
    let out = ns.run_ok(&["nft", "list", "table", "netdev", table], CLEAN_TIMEOUT);
    out.stdout
        .split("packets ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counter in:\n{out}"))
}

/// One lost DATA block of a tftp-hpa upload. tftp-hpa resends it after 5 s without any packet
/// from the server; the server must still be waiting then.
#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn tftp_hpa_upload_recovers_from_one_lost_data_block() {
    require_netns!("tftp", "nft");
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let upload_dir = tempfile::tempdir().unwrap();
    let src_dir = tempfile::tempdir().unwrap();
    let source = src_dir.path().join("src.bin");
    let expected = random_file(&source, 40 * 512 + 100, 0xfa11);
    let upload_s = path_str(upload_dir.path());
    let mut server = spawn_lifeboat_serve(
        &pair.server,
        root.path(),
        pair.server_addr(),
        &["--tftp-upload", "--tftp-upload-dir", &upload_s],
    );
    // A full DATA packet is 4 + 512 bytes of TFTP, 524 bytes of UDP: lose block 10 once.
    let table = drop_nth_datagram(&pair.client, &pair.client_dev, "udp length 524", 10);

    let out = Client::TftpHpa.put(&pair.client, pair.server_addr(), "one-lost.bin", &source, LOSSY_TIMEOUT);
    assert_eq!(dropped_count(&pair.client, &table), 1, "block 10 was not dropped exactly once");
    check_client(&mut server, "tftp-hpa put", &out, &upload_dir.path().join("one-lost.bin"), &expected);
    wait_for_log_lines(&mut server, &["received ", "(requested \"one-lost.bin\")", "complete"], 1, CLEAN_TIMEOUT);
}

/// The final ACK of a download is lost once. RFC 1350 (section 6) lets the client terminate
/// right after sending it ("dallying is encouraged"); `lifeboat get` does not dally, like curl
/// and tftp-hpa, so the server cannot learn that the download completed. It must say exactly
/// that, rather than call the client dead.
#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn a_lost_final_ack_is_logged_as_possibly_complete() {
    require_netns!("nft");
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    // Two full 1468-byte blocks and a short third one: the final ACK is `ACK 3`.
    let expected = random_file(root.path().join("three-blocks.bin"), 2 * 1468 + 500, 0xfa12);
    let mut server = spawn_lifeboat_serve(&pair.server, root.path(), pair.server_addr(), &[]);
    // TFTP starts 8 bytes (64 bits) into the UDP header: opcode 4 (ACK), block 3.
    let table = drop_nth_datagram(&pair.client, &pair.client_dev, "udp length 12 @th,64,32 0x00040003", 1);

    let local = out_dir.path().join("three-blocks.bin");
    let (ip, local_s) = (pair.server_ip.to_string(), path_str(&local));
    let out = run_lifeboat(&pair.client, &["get", &ip, "three-blocks.bin", "-o", &local_s], CLEAN_TIMEOUT);
    check_client(&mut server, "lifeboat get", &out, &local, &expected);
    let line =
        wait_for_log_lines(&mut server, &["sent ", "(requested \"three-blocks.bin\")"], 1, GIVE_UP_LIMIT).remove(0);
    assert_eq!(dropped_count(&pair.client, &table), 1, "the final ACK was not dropped exactly once");
    assert!(
        line.contains("never acknowledged the last") && line.contains("may well have the whole file"),
        "the server must say the end was not acknowledged:\n{line}"
    );
}

/// Partial uploads in `dir`: temporary files that already hold data.
fn partial_uploads(dir: &Path) -> Vec<(PathBuf, u64)> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
        .filter_map(|e| Some((e.path(), e.metadata().ok()?.len())))
        .filter(|(_, len)| *len > 0)
        .collect()
}

/// Two clients (`lifeboat put` and atftp) upload a large file each over a slow link; once part
/// of both uploads is on the server's disk, both clients are killed. Within a bounded time the
/// server gives up, removes every trace of them, logs both failures, and serves the next client.
#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn killed_uploads_leave_nothing_behind() {
    require_netns!("tftp", "atftp");
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let upload_dir = tempfile::tempdir().unwrap();
    let src_dir = tempfile::tempdir().unwrap();
    let source = src_dir.path().join("large.bin");
    let size = 6u64 << 20;
    random_file(&source, size, 0xfa07);
    let upload_s = path_str(upload_dir.path());
    let mut server = spawn_lifeboat_serve(
        &pair.server,
        root.path(),
        pair.server_addr(),
        &["--tftp-upload", "--tftp-upload-dir", &upload_s],
    );
    // Every DATA packet waits 5 ms: each 6 MiB upload would take half a minute or more.
    netem(&pair.client, &pair.client_dev, "delay 5ms");

    let (ip, src) = (pair.server_ip.to_string(), path_str(&source));
    let remotes = ["killed-put.bin", "killed-atftp.bin"];
    let mut uploaders = [
        pair.client.spawn(&lifeboat_argv(&["put", &ip, &src, remotes[0]])),
        pair.client.spawn(&Client::Atftp { blksize: Some(1468), windowsize: None }.put_argv(
            pair.server_addr(),
            remotes[1],
            &source,
        )),
    ];
    // The server buffers 256 KiB before a temporary file grows, so two non-empty temporary
    // files mean a good part of both uploads has arrived.
    let deadline = Instant::now() + Duration::from_secs(30);
    let partial = loop {
        let partial = partial_uploads(upload_dir.path());
        if partial.len() == uploaders.len() {
            break partial;
        }
        for uploader in &mut uploaders {
            uploader.assert_running("an uploader (it should still be sending)");
        }
        assert!(Instant::now() < deadline, "no partial uploads in 30 s; dir: {:?}", dir_names(upload_dir.path()));
        std::thread::sleep(Duration::from_millis(20));
    };
    for uploader in &mut uploaders {
        uploader.kill();
    }
    let killed = Instant::now();
    assert!(partial.iter().all(|(_, len)| *len < size), "an upload had already finished: {partial:?}");
    for remote in remotes {
        assert!(!upload_dir.path().join(remote).exists(), "{remote} appeared under its name before it was complete");
    }

    // The server gives up after its retries and removes the temporary files.
    loop {
        let names = dir_names(upload_dir.path());
        if names.is_empty() {
            break;
        }
        assert!(
            killed.elapsed() < GIVE_UP_LIMIT,
            "{GIVE_UP_LIMIT:?} after the clients were killed the upload dir still holds {names:?}:\n{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("upload dir empty {:.1?} after the kill", killed.elapsed());
    for remote in remotes {
        let requested = format!("(requested \"{remote}\")");
        wait_for_log_lines(&mut server, &["received ", &requested, "FAILED"], 1, GIVE_UP_LIMIT);
    }
    server.assert_running("lifeboat serve after the clients vanished");

    // The next client is served: the same names can be uploaded, and a download works.
    clear_netem(&pair.client, &pair.client_dev);
    let small = src_dir.path().join("small.bin");
    let small_sha = random_file(&small, 100_000, 0xfa08);
    for remote in remotes {
        let out = Client::TftpHpa.put(&pair.client, pair.server_addr(), remote, &small, CLEAN_TIMEOUT);
        check_client(&mut server, "tftp-hpa put after the kill", &out, &upload_dir.path().join(remote), &small_sha);
    }
    let served = random_file(root.path().join("after.bin"), 70_000, 0xfa09);
    let local = src_dir.path().join("after.bin");
    let out = Client::TftpHpa.get(&pair.client, pair.server_addr(), "after.bin", &local, CLEAN_TIMEOUT);
    check_client(&mut server, "tftp-hpa get after the kill", &out, &local, &served);
    assert_eq!(dir_names(upload_dir.path()), ["killed-atftp.bin", "killed-put.bin"], "unexpected files left");
}

/// Waits until `path` exists and holds more than `min` bytes, while `client` still runs.
#[track_caller]
fn wait_for_partial_file(client: &mut Child, path: &Path, min: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if len > min {
            return len;
        }
        client.assert_running("the downloader (it should still be receiving)");
        assert!(Instant::now() < deadline, "{} did not grow past {min} bytes in 30 s", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A file in `dir` whose name starts with `prefix`.
fn find_prefixed(dir: &Path, prefix: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix)))
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn killed_downloads_do_not_disturb_the_server() {
    require_netns!("curl", "tftp");
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let big_sha = random_file(root.path().join("big.bin"), 8 << 20, 0xfa0a);
    let mut server = spawn_lifeboat_serve(&pair.server, root.path(), pair.server_addr(), &[]);
    // Every ACK waits 5 ms: the downloads crawl, so they can be caught half-way.
    netem(&pair.client, &pair.client_dev, "delay 5ms");

    // curl, lock-step: it writes the file as blocks arrive.
    let curl_local = out_dir.path().join("curl-big.bin");
    let curl = Client::Curl { blksize: Some(1468) };
    let mut downloader = pair.client.spawn(&curl.get_argv(pair.server_addr(), "big.bin", &curl_local));
    let got = wait_for_partial_file(&mut downloader, &curl_local, 64 << 10);
    downloader.kill();
    assert!(got < 8 << 20, "curl had already finished");

    // lifeboat get with a window: it writes into a temporary file next to the output.
    let server_ip = pair.server_ip.to_string();
    let lb_dir = out_dir.path().join("lifeboat");
    std::fs::create_dir(&lb_dir).unwrap();
    let lb_local = path_str(&lb_dir.join("big.bin"));
    let mut downloader =
        pair.client.spawn(&lifeboat_argv(&["get", &server_ip, "big.bin", "-o", &lb_local, "--windowsize", "8"]));
    let deadline = Instant::now() + Duration::from_secs(30);
    let temp = loop {
        if let Some(temp) = find_prefixed(&lb_dir, TEMP_PREFIX) {
            break temp;
        }
        downloader.assert_running("lifeboat get (it should still be receiving)");
        assert!(Instant::now() < deadline, "lifeboat get made no temporary file in 30 s");
        std::thread::sleep(Duration::from_millis(20));
    };
    wait_for_partial_file(&mut downloader, &temp, 0);
    downloader.kill();
    let killed = Instant::now();

    // The server notices both clients are gone and ends both transfers.
    let lines = wait_for_log_lines(&mut server, &["sent ", "(requested \"big.bin\")", "FAILED"], 2, GIVE_UP_LIMIT);
    eprintln!("both abandoned downloads ended {:.1?} after the last kill:\n{}", killed.elapsed(), lines.join("\n"));
    server.assert_running("lifeboat serve after its clients vanished");

    // The next clients get the whole file.
    clear_netem(&pair.client, &pair.client_dev);
    let local = out_dir.path().join("curl-again.bin");
    let out = curl.get(&pair.client, pair.server_addr(), "big.bin", &local, CLEAN_TIMEOUT);
    check_client(&mut server, "curl after the kills", &out, &local, &big_sha);
    let small_sha = random_file(root.path().join("small.bin"), 5000, 0xfa0b);
    let local = out_dir.path().join("tftp-small.bin");
    let out = Client::TftpHpa.get(&pair.client, pair.server_addr(), "small.bin", &local, CLEAN_TIMEOUT);
    check_client(&mut server, "tftp-hpa after the kills", &out, &local, &small_sha);
}
