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

#[test]
fn another_dhcp_server_on_the_segment_stops_start_up() {
    require_netns!();
    let peers = PeerServers::locate();
    if lifeboat_e2e::require_program(&peers.dnsmasq).is_none() {
        return;
    }
    let link = DhcpLink::new();
    let other = link.host(2);
    link.client.run_ok(&["ip", "addr", "add", &format!("{other}/24"), "dev", &link.client_dev], STEP_TIMEOUT);
    let leases = tempfile::tempdir().unwrap();
    let dnsmasq_argv = [
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
        "--no-ping".into(),
    ];
    let mut dnsmasq = link.client.spawn(&dnsmasq_argv);
    wait_udp_listening(&link.client, 67, STEP_TIMEOUT);

    let db = tempfile::tempdir().unwrap();
    let range = format!("{},{},255.255.255.0,10m", link.host(100), link.host(150));
    let db_path = db.path().join("leases.sqlite").to_string_lossy().into_owned();
    let bin = lifeboat_bin().to_string_lossy().into_owned();
    let argv = [bin.as_str(), "serve", "--interface", &link.server_dev, "--dhcp-range", &range, "--db", &db_path];
    let refused = link.server.run(&argv, Duration::from_secs(20));
    assert!(!refused.timed_out() && !refused.success(), "lifeboat started beside dnsmasq:\n{refused}");
    let names_the_server = format!("another DHCP server answers on {}: {other}", link.server_dev);
    assert!(refused.stderr.contains(&names_the_server), "{names_the_server:?} not in:\n{refused}");
    assert!(refused.stderr.contains("proxy"), "no hint at proxy mode:\n{refused}");
    assert!(!refused.stderr.contains("panicked"), "{refused}");

    // Without the other server, the same command line starts and serves.
    dnsmasq.terminate(STOP_GRACE);
    let mut alone = link.server.spawn(&argv);
    lifeboat_e2e::wait_server_udp(&link.server, &mut alone, 67, Duration::from_secs(15));
    let stopped = alone.terminate(STOP_GRACE);
    assert!(stopped.status.is_some_and(|s| s.success()), "{stopped}");
    assert!(stopped.stderr.contains(&format!("DHCP on {} ({},", link.server_dev, link.server_ip)), "{stopped}");
}
