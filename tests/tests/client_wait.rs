//! `lifeboat get --wait` and `put --wait` against a device whose TFTP server comes up late, as a
//! router in recovery mode opens its server only after the button press: each keeps asking,
//! gets its answer, and the file arrives intact (sha256) with the usual permissions. Against a
//! device that never answers, each gives up at its deadline, not later, and leaves no file.

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use lifeboat_e2e::{Pair, PeerServers, random_file, require_netns, run_lifeboat, sha256_file};

/// The device's server comes up this long after the client started asking: the person is
/// still holding the button.
const LATE: Duration = Duration::from_secs(3);

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn a_waiting_client_is_served_by_a_late_server_and_gives_up_on_time_without_one() {
    require_netns!("in.tftpd");
    let peers = PeerServers::locate();
    let pair = Pair::new();
    let device_root = tempfile::tempdir().unwrap();
    let image_sha = random_file(device_root.path().join("backup.bin"), 200_000, 5);
    let bench = tempfile::tempdir().unwrap();
    let upload = bench.path().join("factory.bin");
    let upload_sha = random_file(&upload, 150_000, 6);
    let server = pair.server_ip.to_string();
    let local = bench.path().join("got.bin");
    let (local_s, upload_s) = (local.to_string_lossy().into_owned(), upload.to_string_lossy().into_owned());

    // get --wait: the device comes up late.
    let bin = lifeboat_e2e::lifeboat_bin().to_string_lossy().into_owned();
    let get_argv = [&bin, "get", &server, "backup.bin", "-o", &local_s, "--wait", "20s", "--retry-every", "300ms"];
    let mut get = pair.client.spawn(&get_argv);
    std::thread::sleep(LATE);
    let mut device = peers.spawn_tftpd_hpa(&pair.server, device_root.path(), pair.server_ip.into(), &["-c"]);
    let got = get.finish(Duration::from_secs(30));
    assert!(got.success(), "{got}");
    assert_eq!(sha256_file(&local), image_sha);
    let mode = std::fs::metadata(&local).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o044, 0o044, "a downloaded file is readable by others, as any new file: {mode:o}");

    // put --wait: the same, the other way (in.tftpd -c creates the file).
    device.kill();
    let put_argv = [&bin, "put", &server, &upload_s, "factory.bin", "--wait", "20s", "--retry-every", "300ms"];
    let mut put = pair.client.spawn(&put_argv);
    std::thread::sleep(LATE);
    let _device = peers.spawn_tftpd_hpa(&pair.server, device_root.path(), pair.server_ip.into(), &["-c"]);
    let sent = put.finish(Duration::from_secs(30));
    assert!(sent.success(), "{sent}");
    assert_eq!(sha256_file(device_root.path().join("factory.bin")), upload_sha);

    // Nobody answers at all: given up at the deadline, not a retry cycle later; nothing left.
    let nobody =
        std::net::Ipv4Addr::new(pair.server_ip.octets()[0], pair.server_ip.octets()[1], pair.server_ip.octets()[2], 99);
    let empty = tempfile::tempdir().unwrap();
    let target = empty.path().join("never.bin").to_string_lossy().into_owned();
    let begun = Instant::now();
    let out = run_lifeboat(
        &pair.client,
        &["get", &nobody.to_string(), "never.bin", "-o", &target, "--wait", "3s"],
        Duration::from_secs(30),
    );
    let waited = begun.elapsed();
    assert!(!out.success() && !out.timed_out(), "{out}");
    assert!(out.stderr.contains("no answer"), "{out}");
    assert!(waited < Duration::from_secs(5), "--wait 3s gave up after {waited:?}");
    assert!(std::fs::read_dir(empty.path()).unwrap().next().is_none(), "a failed download left a file");
}
