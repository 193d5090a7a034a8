//! `lifeboat doctor` on a host namespace with everything a recovery guide warns about wrong at
//! once: tftp-hpa holding UDP 69, an nftables rule dropping TFTP, the address the device looks
//! for on the wrong prefix, a sysupgrade image under the wrong name, a second DHCP server
//! (dnsmasq) on the segment and a device asking by ARP for an address the host lacks. Each is
//! reported with its fix; the fixes the doctor prints are then run as printed, and the healthy
//! set-up gives no ✗ and exit status 0.

use std::time::Duration;

use lifeboat_e2e::{Pair, PeerServers, random_file, require_netns, run_lifeboat, wait_udp_listening};

const STEP: Duration = Duration::from_secs(20);
const DOCTOR_BOUND: Duration = Duration::from_secs(60);

/// A bootp profile for this pair: the device at the client's address looks for the server's
/// address on a /24, asks for `tp_recovery.bin`, and needs a factory image.
fn profile(pair: &Pair) -> String {
    format!(
        r#"name = "bench"
family = "A bench device"
mode = "bootp"
server_addresses = ["{server}"]
prefix = 24
device_address = "{device}"
filenames = ["tp_recovery.bin"]
image_kind = "OpenWrt factory image, not sysupgrade"
steps = ["Connect it.", "Power it on with reset held."]
[[sources]]
title = "The test itself"
url = "https://example.org/bench"
"#,
        server = pair.server_ip,
        device = pair.client_ip
    )
}

/// Whether `line` is the check `title`: its mark, a space, the title and a colon.
fn is_check(line: &str, title: &str) -> bool {
    line.split_once(' ').is_some_and(|(_, rest)| rest.starts_with(&format!("{title}:")))
}

/// The output's line for the check titled `title`, which must be there.
#[track_caller]
fn line<'a>(out: &'a lifeboat_e2e::Output, title: &str) -> &'a str {
    let mut lines = out.stdout.lines();
    let found = lines.find(|l| is_check(l, title));
    found.unwrap_or_else(|| panic!("no check {title:?}:\n{out}"))
}

/// The fix printed under the check `title`: the command between backticks.
#[track_caller]
fn fix_command(out: &lifeboat_e2e::Output, title: &str) -> String {
    let mut lines = out.stdout.lines().skip_while(|l| !is_check(l, title));
    lines.next();
    let fix = lines
        .next()
        .and_then(|l| l.trim().strip_prefix("fix: "))
        .unwrap_or_else(|| panic!("no fix for {title}:\n{out}"));
    let command = fix.split('`').nth(1).unwrap_or_else(|| panic!("no command in {fix:?}"));
    command.to_owned()
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn the_doctor_finds_each_fault_with_its_fix_and_a_healthy_set_up_passes() {
    require_netns!("nft", "busybox");
    // Built (or found up to date) now, not at the first `run_lifeboat`: a build while arping
    // runs would leave the doctor's watch nothing to see.
    lifeboat_e2e::lifeboat_bin();
    let peers = PeerServers::require().unwrap_or_else(PeerServers::locate);
    let pair = Pair::new();
    let (server, dev) = (pair.server_ip, pair.server_dev.clone());
    let profiles = tempfile::tempdir().unwrap();
    std::fs::write(profiles.path().join("bench.toml"), profile(&pair)).unwrap();
    let images = tempfile::tempdir().unwrap();
    let image = images.path().join("openwrt-sysupgrade.bin");
    random_file(&image, 10_000, 3);
    let tftp_root = tempfile::tempdir().unwrap();

    // Everything wrong.
    let mut tftpd = peers.spawn_tftpd_hpa(&pair.server, tftp_root.path(), server.into(), &[]);
    for rule in [
        "add table inet bench",
        "add chain inet bench input { type filter hook input priority 0; policy accept; }",
        "add rule inet bench input udp dport 69 counter drop",
    ] {
        pair.server.run_ok(&["sh", "-c", &format!("nft '{rule}'")], STEP);
    }
    pair.server.run_ok(&["ip", "addr", "del", &format!("{server}/24"), "dev", &dev], STEP);
    pair.server.run_ok(&["ip", "addr", "add", &format!("{server}/16"), "dev", &dev], STEP);
    let leases = tempfile::tempdir().unwrap();
    let [a, b, c, _] = pair.client_ip.octets();
    let mut dnsmasq_argv: Vec<String> = vec![peers.dnsmasq.to_string_lossy().into_owned()];
    dnsmasq_argv.extend(PeerServers::DNSMASQ_ISOLATED.map(str::to_owned));
    dnsmasq_argv.extend([
        format!("--interface={}", pair.client_dev),
        format!("--dhcp-range={a}.{b}.{c}.200,{a}.{b}.{c}.210"),
        format!("--dhcp-leasefile={}", leases.path().join("leases").display()),
        "--no-ping".to_owned(),
    ]);
    let mut dnsmasq = pair.client.spawn(&dnsmasq_argv);
    wait_udp_listening(&pair.client, 67, STEP);
    let wanted = std::net::Ipv4Addr::new(a, b, c, 66).to_string();
    let device = pair.client_ip.to_string();
    let mut arping =
        pair.client.spawn(&["busybox", "arping", "-c", "30", "-I", &pair.client_dev, "-s", &device, &wanted]);

    let image_s = image.to_string_lossy().into_owned();
    let profiles_s = profiles.path().to_string_lossy().into_owned();
    let doctor = |image: &str, watch: &str| {
        let argv = [
            "doctor",
            "--interface",
            &dev,
            "--profile",
            "bench",
            "--profiles",
            &profiles_s,
            "--image",
            image,
            "--watch",
            watch,
            "--web-listen",
            "127.0.0.1:9",
        ];
        run_lifeboat(&pair.server, &argv, DOCTOR_BOUND)
    };
    let sick = doctor(&image_s, "6s");
    arping.kill();
    assert_eq!(sick.status.and_then(|s| s.code()), Some(1), "a failed check exits 1:\n{sick}");
    assert!(
        line(&sick, "UDP port 69").starts_with("✗") && line(&sick, "UDP port 69").contains("in.tftpd (pid"),
        "{sick}"
    );
    let firewall = line(&sick, "Firewall: requests in");
    assert!(firewall.starts_with("✗") && firewall.contains("rule inet bench input handle"), "{sick}");
    assert!(line(&sick, "Firewall: answers out").starts_with("✓"), "{sick}");
    let address = line(&sick, &format!("Address on {dev}"));
    assert!(
        address.starts_with("✗") && address.contains(&format!("{server}/16, but the device expects /24")),
        "{sick}"
    );
    assert!(line(&sick, "Image kind").starts_with("✗"), "{sick}");
    assert!(line(&sick, "Image name").starts_with("✗"), "{sick}");
    let other = line(&sick, "Other DHCP servers");
    assert!(other.starts_with("✗") && other.contains(&format!("{} ", pair.client_ip)), "{sick}");
    let watch = line(&sick, "Address watch");
    assert!(watch.starts_with("✗") && watch.contains(&format!("is looking for {wanted}")), "{sick}");
    assert!(sick.stdout.contains("problems: fix them first"), "{sick}");

    // Fixed as the doctor says: its firewall and address commands run as printed.
    tftpd.kill();
    dnsmasq.kill();
    for title in ["Firewall: requests in", &format!("Address on {dev}")] {
        let command = fix_command(&sick, title);
        pair.server.run_ok(&["sh", "-c", &command], STEP);
    }
    let renamed = images.path().join("tp_recovery.bin");
    std::fs::rename(&image, &renamed).unwrap();
    pair.server.run_ok(&["busybox", "ping", "-c", "1", "-W", "5", &device], STEP);

    let healthy = doctor(&renamed.to_string_lossy(), "0s");
    assert!(healthy.success(), "no check fails, exit 0:\n{healthy}");
    assert!(!healthy.stdout.contains('✗'), "{healthy}");
    for title in [
        "UDP port 69",
        &format!("Interface {dev}"),
        &format!("Address on {dev}"),
        "Firewall: requests in",
        "Firewall: acknowledgements in",
        "Firewall: answers out",
        "Reverse-path filter",
        "Image",
        "Image name",
        "Other DHCP servers",
        &format!("Device at {device}"),
    ] {
        assert!(line(&healthy, title).starts_with('✓'), "{title}:\n{healthy}");
    }
    assert!(healthy.stdout.contains("nothing in the way"), "{healthy}");
}
