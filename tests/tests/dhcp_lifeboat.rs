//! What lifeboat's DHCP server promises beyond the protocol, with real clients in namespaces:
//! leases survive a restart (every client keeps its address, nobody else gets it), SIGTERM
//! stops it promptly, and it refuses to hand out addresses where another DHCP server answers.

use std::time::{Duration, Instant};

use lifeboat_e2e::dhcp::{Dhclient, DhcpLink, DhcpScope, DhcpServer, DhcpServerKind, STEP_TIMEOUT};
use lifeboat_e2e::{PeerServers, lifeboat_bin, require_netns, wait_udp_listening};

/// How long lifeboat may take to stop after SIGTERM (it may be PID 1 in a container).
const STOP_GRACE: Duration = Duration::from_secs(5);

fn set_client_mac(link: &DhcpLink, mac: &str) {
    let dev = &link.client_dev;
    for step in [
        &["ip", "link", "set", "dev", dev, "down"][..],
        &["ip", "link", "set", "dev", dev, "address", mac],
        &["ip", "link", "set", "dev", dev, "up"],
    ] {
        link.client.run_ok(step, STEP_TIMEOUT);
    }
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn leases_survive_a_restart() {
    require_netns!("dhclient", "sqlite3");
    let link = DhcpLink::new();
    let scope = DhcpScope::for_link(&link);
    let mut server = DhcpServer::start(DhcpServerKind::Lifeboat, &link, &scope);
    let first_mac = link.client_mac.clone();

    // Client A binds X, then stops without releasing it.
    let mut a = Dhclient::new(None);
    a.start(&link);
    let bound = a.wait_for(&["BOUND"], STEP_TIMEOUT).unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    let x = bound.ipv4("new_ip_address").expect("dhclient reports the address");
    a.stop_keeping_lease(&link).unwrap_or_else(|e| panic!("{e}"));
    server.wait_lease(&first_mac, STEP_TIMEOUT, |l| l.is_some_and(|l| l.address == x)).unwrap();

    let started = Instant::now();
    let stopped = server.restart(&link, STOP_GRACE);
    assert!(
        stopped.status.is_some_and(|s| s.success()),
        "lifeboat did not stop cleanly within {STOP_GRACE:?} of SIGTERM ({:?}):\n{stopped}",
        started.elapsed()
    );
    assert!(server.log().contains("1 leases loaded"), "the restarted server did not load the lease:\n{}", server.log());

    // Client B claims X as if it had it before (INIT-REBOOT). Only a server that remembers A's
    // lease refuses: with an empty table, an authoritative server would hand X to B.
    let second_mac = "02:1b:00:00:ee:02";
    set_client_mac(&link, second_mac);
    let mut b = Dhclient::new(None);
    b.remember_lease(&link, x, link.server_ip);
    b.start(&link);
    let b_bound = b.wait_for(&["BOUND", "REBOOT"], STEP_TIMEOUT).unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert_eq!(b_bound.name, "BOUND", "B was granted A's address {x}:\n{}", server.log());
    let y = b_bound.ipv4("new_ip_address").unwrap();
    assert_ne!(y, x, "B got A's address:\n{}", server.log());
    assert!(scope.in_range(y));
    b.stop_keeping_lease(&link).unwrap_or_else(|e| panic!("{e}"));

    // A comes back and gets X again by INIT-REBOOT.
    set_client_mac(&link, &first_mac);
    a.start(&link);
    let again = a.wait_for(&["REBOOT", "BOUND"], STEP_TIMEOUT).unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert_eq!(again.ipv4("new_ip_address"), Some(x), "A lost its address: {}\n{}", again.summary(), server.log());
    let leases = server.leases().unwrap();
    assert_eq!(leases.len(), 2, "{leases:?}");
    assert!(leases.iter().any(|l| l.address == x && l.mac == first_mac), "{leases:?}");
    assert!(leases.iter().any(|l| l.address == y && l.mac == second_mac), "{leases:?}");
}

/// dnsmasq as another DHCP server on the client's side of the link (it answers lifeboat's probes
/// from `link.host(2)`), handing out .200-.210. With `ping`, it pings each address for three
/// seconds before it offers it, as it does by default.
fn other_dnsmasq(link: &DhcpLink, ping: bool) -> Option<(lifeboat_e2e::Child, tempfile::TempDir)> {
    let peers = PeerServers::locate();
    lifeboat_e2e::require_program(&peers.dnsmasq)?;
    let other = link.host(2);
    link.client.run_ok(&["ip", "addr", "replace", &format!("{other}/24"), "dev", &link.client_dev], STEP_TIMEOUT);
    let leases = tempfile::tempdir().unwrap();
    let mut argv = vec![
        peers.dnsmasq.to_string_lossy().into_owned(),
        "--no-daemon".into(),
        "--conf-file=/dev/null".into(),
        "--port=0".into(),
        "--bind-interfaces".into(),
        "--pid-file=".into(),
        "--user=root".into(),
        "--group=root".into(),
        format!("--interface={}", link.client_dev),
        format!("--dhcp-range={},{}", link.host(200), link.host(210)),
        format!("--dhcp-leasefile={}", leases.path().join("leases").display()),
    ];
    if !ping {
        argv.push("--no-ping".into());
    }
    let dnsmasq = link.client.spawn(&argv);
    wait_udp_listening(&link.client, 67, STEP_TIMEOUT);
    Some((dnsmasq, leases))
}

/// `lifeboat serve` for DHCP on the server end of `link`, with its database in `db`.
fn serve_argv(link: &DhcpLink, db: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let range = format!("{},{},255.255.255.0,10m", link.host(100), link.host(150));
    let mut argv: Vec<String> = vec![lifeboat_bin().to_string_lossy().into_owned(), "serve".into()];
    argv.extend(["--dhcp-interface".into(), link.server_dev.clone(), "--dhcp-range".into(), range]);
    argv.extend(["--db".into(), db.join("leases.sqlite").to_string_lossy().into_owned()]);
    argv.extend(extra.iter().map(|a| (*a).to_owned()));
    argv
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn another_dhcp_server_on_the_segment_stops_start_up() {
    require_netns!();
    // Without its ping first, and with it: dnsmasq's OFFER then comes three seconds late.
    for ping in [false, true] {
        let link = DhcpLink::new();
        let Some((mut dnsmasq, _leases)) = other_dnsmasq(&link, ping) else { return };
        let db = tempfile::tempdir().unwrap();
        let argv = serve_argv(&link, db.path(), &["--no-web"]);
        let refused = link.server.run(&argv, Duration::from_secs(20));
        assert!(
            !refused.timed_out() && !refused.success(),
            "lifeboat started beside dnsmasq (ping {ping}):\n{refused}"
        );
        let names_the_server = format!("another DHCP server answers on {}: {}", link.server_dev, link.host(2));
        assert!(refused.stdout.contains(&names_the_server), "{names_the_server:?} not in:\n{refused}");
        assert!(refused.stdout.contains("proxy"), "no hint at proxy mode:\n{refused}");
        assert!(!refused.stderr.contains("panicked") && !refused.stdout.contains("panicked"), "{refused}");

        // Without the other server, the same command line starts and serves.
        dnsmasq.terminate(STOP_GRACE);
        let mut alone = link.server.spawn(&argv);
        lifeboat_e2e::wait_server_udp(&link.server, &mut alone, 67, Duration::from_secs(15));
        let stopped = alone.terminate(STOP_GRACE);
        assert!(stopped.status.is_some_and(|s| s.success()), "{stopped}");
        assert!(stopped.stdout.contains(&format!("DHCP on {} ({},", link.server_dev, link.server_ip)), "{stopped}");
    }
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn another_dhcp_server_that_appears_later_is_reported_within_seconds() {
    require_netns!("curl", "sqlite3");
    let link = DhcpLink::new();
    let db = tempfile::tempdir().unwrap();
    let argv = serve_argv(&link, db.path(), &["--web-listen", "127.0.0.1:8080"]);
    let mut lifeboat = link.server.spawn(&argv);
    lifeboat_e2e::wait_server_udp(&link.server, &mut lifeboat, 67, Duration::from_secs(15));

    // dnsmasq as it runs by default, pinging before it offers.
    let Some((_dnsmasq, _leases)) = other_dnsmasq(&link, true) else { return };
    let appeared = Instant::now();
    let expected = format!(
        "another DHCP server answers on {}: {} (MAC {}) offered",
        link.server_dev,
        link.host(2),
        link.client_mac
    );
    let deadline = appeared + Duration::from_secs(30);
    while !lifeboat.stdout().contains(&expected) {
        lifeboat.assert_running("lifeboat serve");
        assert!(Instant::now() < deadline, "{expected:?} was not logged within 30 s:\n{}", lifeboat.stdout());
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = appeared.elapsed();
    eprintln!("the other server was reported {took:?} after it started");
    assert!(lifeboat.stdout().contains("lifeboat hands out no new addresses there"), "{}", lifeboat.stdout());

    // A red banner on the dashboard, and an event.
    let page = link.server.run(&["curl", "-sS", "--max-time", "5", "http://127.0.0.1:8080/"], STEP_TIMEOUT);
    assert!(page.stdout.contains(r#"class="alert""#), "no banner on the overview:\n{page}");
    assert!(
        page.stdout.contains(&format!("Another DHCP server answers on {}: {}", link.server_dev, link.host(2))),
        "{page}"
    );
    let stopped = lifeboat.terminate(STOP_GRACE);
    assert!(stopped.status.is_some_and(|s| s.success()), "{stopped}");
    let db_file = db.path().join("leases.sqlite").to_string_lossy().into_owned();
    let events = link
        .server
        .run(&["sqlite3", &db_file, "SELECT detail FROM events WHERE kind = 'other_dhcp_server'"], STEP_TIMEOUT);
    assert_eq!(events.stdout.lines().count(), 1, "one event for one server:\n{events}");
    assert!(events.stdout.contains(&link.host(2).to_string()), "{events}");
}
