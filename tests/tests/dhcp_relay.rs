//! A client behind a real DHCP relay (ISC dhcrelay, adding agent information): lifeboat picks
//! the range by the relay's giaddr and answers the relay on port 67, and the client ends up with
//! an address of its own subnet and the boot file. (dhcrelay forwards replies with or without
//! option 82, so its echo is checked in the core's scenario tests, not here.)
//!
//! Topology: client namespace —(cli0 | srv0: 10.77.N.1, giaddr)— relay namespace
//! —(relay0: 10.77.M.2 | up0: 10.77.M.1)— server namespace, which routes 10.77.N.0/24 via the
//! relay. lifeboat has no interface in the client's subnet.

use std::time::Duration;

use lifeboat_e2e::dhcp::{DhcpLink, STEP_TIMEOUT, Udhcpc};
use lifeboat_e2e::netns::next_subnet;
use lifeboat_e2e::{LinkOptions, Netns, lifeboat_bin, require_netns, veth, wait_server_udp};

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn a_relayed_client_gets_an_address_of_its_own_subnet() {
    require_netns!("dhcrelay", "udhcpc");
    // `server` of the DhcpLink is the relay's namespace: its srv0 address becomes giaddr.
    let link = DhcpLink::new();
    let server = Netns::new();
    let up = veth(&server, &link.server, &LinkOptions::subnet(next_subnet()).devs("up0", "relay0"));
    let client_subnet = format!("{}/24", link.host(0));
    server.run_ok(&["ip", "route", "add", &client_subnet, "via", &up.b_v4.to_string()], STEP_TIMEOUT);

    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("leases.sqlite").to_string_lossy().into_owned();
    let range = format!("{},{},255.255.255.0,10m", link.host(100), link.host(150));
    let bin = lifeboat_bin().to_string_lossy().into_owned();
    let lifeboat_argv = [
        bin.as_str(),
        "serve",
        "--dhcp-range",
        &range,
        "--dhcp-boot",
        "relayed.ipxe",
        "--db",
        &db,
        "--dhcp-skip-probe",
        "--dhcp-authoritative",
    ];
    let mut lifeboat = server.spawn(&lifeboat_argv);
    wait_server_udp(&server, &mut lifeboat, 67, Duration::from_secs(15));

    // -a: add agent information (option 82), as relays in the field do.
    let relay_argv = ["dhcrelay", "-d", "-4", "-a", "-id", &link.server_dev, "-iu", &up.b_dev, &up.a_v4.to_string()];
    let mut relay = link.server.spawn(&relay_argv);
    wait_server_udp(&link.server, &mut relay, 67, STEP_TIMEOUT);

    let mut udhcpc = Udhcpc::new();
    udhcpc.start(&link);
    let logs = |lifeboat: &mut lifeboat_e2e::Child, relay: &mut lifeboat_e2e::Child| {
        format!("lifeboat:\n{}\ndhcrelay:\n{}", lifeboat.output(), relay.output())
    };
    let bound = match udhcpc.wait_for(&["bound"], STEP_TIMEOUT) {
        Ok(event) => event,
        Err(e) => panic!("{e}\n{}", logs(&mut lifeboat, &mut relay)),
    };
    let address = bound.ipv4("ip").expect("udhcpc reports ip");
    let [a, b, c, host] = address.octets();
    assert_eq!([a, b, c], link.host(0).octets()[..3], "not the client's subnet: {address}");
    assert!((100..=150).contains(&host), "{address} is outside the range");
    assert_eq!(bound.var("boot_file"), Some("relayed.ipxe"), "{}", bound.summary());
    assert_eq!(bound.ipv4("serverid"), Some(up.a_v4), "server identifier: {}", bound.summary());
    assert_eq!(bound.var("router"), None, "no router was configured: {}", bound.summary());

    let out = lifeboat.terminate(Duration::from_secs(5));
    assert!(out.status.is_some_and(|s| s.success()), "{out}");
    assert!(out.stdout.contains(&format!("DHCPACK {address}")), "{out}");
    relay.terminate(Duration::from_secs(5));
}
