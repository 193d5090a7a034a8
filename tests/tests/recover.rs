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
    assert!(out.stdout.contains(&format!("{wanted}/24 is on {}", pair.server_dev)), "{out}");
    assert!(out.stderr.contains("stopping (--once)"), "{out}");
    let addresses = pair.server.run_ok(&["ip", "-4", "-o", "addr", "show", "dev", &pair.server_dev], BOUND).stdout;
    assert!(!addresses.contains(&format!("{wanted}/")), "the address was left behind:\n{addresses}");
}
