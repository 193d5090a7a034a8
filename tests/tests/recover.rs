//! `lifeboat recover` against a device that looks for its server at an address the host does
//! not have, as a TP-Link bootloader does: the device namespace asks by ARP for .66 and then
//! tries tftp-hpa until it gets its file. lifeboat, given only the interface and the image, sees
//! the ask, takes the address, serves the image under the name asked for, and stops by itself
//! with the address given back.

use std::time::{Duration, Instant};

use lifeboat_e2e::{Client, Pair, lifeboat_bin, random_file, require_netns, sha256_file};

const BOUND: Duration = Duration::from_secs(60);

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn recover_answers_where_the_device_looks_serves_it_once_and_leaves_nothing() {
    require_netns!("busybox", "tftp");
    let pair = Pair::new();
    let images = tempfile::tempdir().unwrap();
    let image = images.path().join("openwrt-factory.bin");
    let image_sha = random_file(&image, 400_000, 41);
    let state = tempfile::tempdir().unwrap();
    let bin = lifeboat_bin().to_string_lossy().into_owned();
    let (image_s, db) =
        (image.to_string_lossy().into_owned(), state.path().join("lifeboat.db").to_string_lossy().into_owned());
    let argv = [bin.as_str(), "recover", "--interface", &pair.server_dev, "--image", &image_s, "--db", &db];
    let mut recover = pair.server.spawn(&argv);
    let deadline = Instant::now() + BOUND;
    while !recover.stdout().contains("waiting for the device") {
        recover.assert_running("lifeboat recover");
        assert!(Instant::now() < deadline, "recover did not start:\n{}", recover.stdout());
        std::thread::sleep(Duration::from_millis(50));
    }

    // The device: asks for its server by ARP, then tries to fetch, again and again.
    let [a, b, c, _] = pair.server_ip.octets();
    let wanted = std::net::Ipv4Addr::new(a, b, c, 66);
    let (device, wanted_s) = (pair.client_ip.to_string(), wanted.to_string());
    let out_dir = tempfile::tempdir().unwrap();
    let local = out_dir.path().join("got.bin");
    loop {
        let arping = ["busybox", "arping", "-c", "2", "-w", "3", "-I", &pair.client_dev, "-s", &device, &wanted_s];
        pair.client.run(&arping, Duration::from_secs(10));
        let got = Client::TftpHpa.get(
            &pair.client,
            wanted.into(),
            "wr841nv8_tp_recovery.bin",
            &local,
            Duration::from_secs(5),
        );
        if got.success() {
            break;
        }
        assert!(Instant::now() < deadline, "the device never got its file:\n{got}\n{}", recover.stdout());
    }
    assert_eq!(sha256_file(&local), image_sha);

    let out = recover.finish(Duration::from_secs(20));
    assert!(out.success(), "recover did not end by itself after the download:\n{out}");
    assert!(out.stdout.contains(&format!("is looking for {wanted}")), "{out}");
    assert!(out.stdout.contains(&format!("at {} asks for wr841nv8_tp_recovery.bin", pair.client_ip)), "{out}");
    assert!(out.stdout.contains(&format!("{wanted}/24 is on {}", pair.server_dev)), "{out}");
    assert!(out.stderr.contains("stopping (--once)"), "{out}");
    let addresses = pair.server.run_ok(&["ip", "-4", "-o", "addr", "show", "dev", &pair.server_dev], BOUND).stdout;
    assert!(!addresses.contains(&format!("{wanted}/")), "the address was left behind:\n{addresses}");
}

/// Waits until `child`'s standard output has `line`, within `bound`.
#[track_caller]
fn wait_for_output(child: &mut lifeboat_e2e::Child, line: &str, bound: Duration) {
    let deadline = Instant::now() + bound;
    while !child.stdout().contains(line) {
        child.assert_running("lifeboat recover");
        assert!(Instant::now() < deadline, "no {line:?} within {bound:?}:\n{}", child.stdout());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn recover_pushes_to_a_device_whose_tftp_server_starts_late() {
    require_netns!();
    let peers = lifeboat_e2e::PeerServers::locate();
    lifeboat_e2e::require_program(&peers.in_tftpd);
    let pair = Pair::new();
    // A Netgear in recovery: 192.168.1.1, a network the host has no address in.
    let device = "192.168.1.1";
    pair.client.run_ok(&["ip", "addr", "add", &format!("{device}/24"), "dev", &pair.client_dev], BOUND);
    let images = tempfile::tempdir().unwrap();
    let image = images.path().join("R7800-V1.0.2.94.img");
    let image_sha = random_file(&image, 600_000, 42);
    let bin = lifeboat_bin().to_string_lossy().into_owned();
    let image_s = image.to_string_lossy().into_owned();
    let argv = [bin.as_str(), "recover", "--interface", &pair.server_dev, "--image", &image_s, "--profile", "netgear"];
    let mut recover = pair.server.spawn(&argv);
    wait_for_output(&mut recover, "uploading", BOUND);
    assert!(recover.stdout().contains(&format!("192.168.1.10/24 is on {}", pair.server_dev)), "{}", recover.stdout());

    // The device's TFTP server comes up 20 s later, as a router's recovery mode does after its
    // button has been held.
    std::thread::sleep(Duration::from_secs(20));
    recover.assert_running("lifeboat recover (still asking)");
    let received = tempfile::tempdir().unwrap();
    let _tftpd = peers.spawn_tftpd_hpa(&pair.client, received.path(), device.parse().unwrap(), &["-c"]);

    let out = recover.finish(BOUND);
    assert!(out.success(), "recover did not end after the upload:\n{out}");
    assert!(out.stdout.contains(&format!("sha256 {image_sha}")), "{out}");
    assert_eq!(sha256_file(received.path().join("R7800-V1.0.2.94.img")), image_sha);
    let addresses = pair.server.run_ok(&["ip", "-4", "-o", "addr", "show", "dev", &pair.server_dev], BOUND).stdout;
    assert!(!addresses.contains("192.168.1.10/"), "the address was left behind:\n{addresses}");
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn recover_answers_a_bootp_device_its_address_and_boot_file_then_serves_it() {
    require_netns!("busybox", "tftp");
    let pair = Pair::new();
    let images = tempfile::tempdir().unwrap();
    let image = images.path().join("miwifi_r4a_firmware.bin");
    let image_sha = random_file(&image, 300_000, 43);
    let bin = lifeboat_bin().to_string_lossy().into_owned();
    let image_s = image.to_string_lossy().into_owned();
    let argv = [bin.as_str(), "recover", "--interface", &pair.server_dev, "--image", &image_s, "--profile", "xiaomi"];
    let mut recover = pair.server.spawn(&argv);
    wait_for_output(&mut recover, "waiting for the device", BOUND);

    // The router asks by DHCP, as Xiaomi's recovery does, and fetches the boot file it is given.
    let scratch = tempfile::tempdir().unwrap();
    let script = scratch.path().join("udhcpc.sh");
    let lease = scratch.path().join("lease.env");
    std::fs::write(&script, format!("#!/bin/sh\n[ \"$1\" = bound ] && env > {}\nexit 0\n", lease.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let script_s = script.to_string_lossy().into_owned();
    let udhcpc =
        ["busybox", "udhcpc", "-i", &pair.client_dev, "-f", "-q", "-n", "-t", "10", "-T", "1", "-s", &script_s];
    let got_lease = pair.client.run(&udhcpc, BOUND);
    assert!(got_lease.success(), "{got_lease}\n{}", recover.stdout());
    let env = std::fs::read_to_string(&lease).unwrap();
    let value = |key: &str| {
        env.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or_else(|| panic!("no {key}:\n{env}"))
    };
    assert_eq!(value("ip"), "192.168.31.50", "{env}");
    assert_eq!(value("siaddr"), "192.168.31.100", "{env}");
    assert_eq!(value("boot_file"), "test.bin", "{env}");
    pair.client.run_ok(&["ip", "addr", "add", "192.168.31.50/24", "dev", &pair.client_dev], BOUND);
    let local = scratch.path().join("got.bin");
    let got = Client::TftpHpa.get(&pair.client, "192.168.31.100".parse().unwrap(), "test.bin", &local, BOUND);
    assert!(got.success(), "{got}");
    assert_eq!(sha256_file(&local), image_sha);

    let out = recover.finish(BOUND);
    assert!(out.success(), "recover did not end by itself after the download:\n{out}");
    assert!(out.stdout.contains(&format!("sha256 {image_sha}")) && out.stdout.contains("done: served"), "{out}");
    let addresses = pair.server.run_ok(&["ip", "-4", "-o", "addr", "show", "dev", &pair.server_dev], BOUND).stdout;
    assert!(!addresses.contains("192.168.31.100/"), "the address was left behind:\n{addresses}");
}
