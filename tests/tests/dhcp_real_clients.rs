//! Real Debian DHCP/BOOTP clients (dhclient, udhcpc, dhcpcd, bootpc) against the DHCP server
//! under test, each test on its own pair of namespaces. The server is lifeboat unless
//! `LIFEBOAT_DHCP_TESTS_SERVER=dnsmasq` is set; the tests are the same for both, and pass
//! against dnsmasq too, which shows they test DHCP rather than lifeboat's reading of it.
//!
//! Every client must get an address from the range, the exact boot file name, the server's own
//! address as server identifier and the boot server as next server; a renewal must extend the
//! lease in the server's database, and a release must remove it from there.

use std::net::Ipv4Addr;
use std::time::Duration;

use lifeboat_e2e::dhcp::{
    Bootpc, ClientEvent, Dhclient, DhcpLink, DhcpScope, DhcpServer, DhcpServerKind, Dhcpcd, STEP_TIMEOUT, ServerLease,
    Udhcpc,
};
use lifeboat_e2e::require_netns;

/// Lease time of [`DhcpScope::for_link`] (`2m`, dnsmasq's minimum), as clients report it.
const LEASE_SECONDS: &str = "120";

/// Host part of the reserved address, outside the dynamic range `.100`–`.150`.
const RESERVED_HOST: u8 = 50;

/// A link, the scope served on it and the running server under test.
struct Scenario {
    link: DhcpLink,
    scope: DhcpScope,
    server: DhcpServer,
}

impl Scenario {
    /// Builds the link, lets `configure` adjust the default scope and starts the server chosen by
    /// `LIFEBOAT_DHCP_TESTS_SERVER`. `None` (after printing why) when that server is missing.
    fn start(configure: impl FnOnce(&DhcpLink, &mut DhcpScope)) -> Option<Scenario> {
        let kind = DhcpServerKind::from_env();
        kind.require()?;
        let link = DhcpLink::new();
        let mut scope = DhcpScope::for_link(&link);
        configure(&link, &mut scope);
        let server = DhcpServer::start(kind, &link, &scope);
        Some(Scenario { link, scope, server })
    }

    /// Panics with `what` followed by the server's log.
    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        panic!("{what}\n{}", self.server.log())
    }

    #[track_caller]
    fn check<T>(&self, result: Result<T, String>) -> T {
        result.unwrap_or_else(|e| self.fail(&e))
    }

    #[track_caller]
    fn ensure(&self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.fail(&what());
        }
    }

    /// Waits for the server's database to hold a lease of `address` for the client.
    #[track_caller]
    fn wait_server_lease(&self, address: Ipv4Addr) -> ServerLease {
        let lease =
            self.server.wait_lease(&self.link.client_mac, STEP_TIMEOUT, |l| l.is_some_and(|l| l.address == address));
        self.check(lease).expect("wait_lease only returns a matching lease")
    }

    /// Waits for the client's lease to end up with an expiry later than `before`.
    #[track_caller]
    fn wait_server_lease_extended(&self, address: Ipv4Addr, before: Option<u64>) -> ServerLease {
        let extended = |l: Option<&ServerLease>| l.is_some_and(|l| l.address == address && l.expires > before);
        let lease = self.server.wait_lease(&self.link.client_mac, STEP_TIMEOUT, extended);
        self.check(lease.map_err(|e| format!("the renewal did not extend the lease (expiry was {before:?}): {e}")))
            .expect("wait_lease only returns a matching lease")
    }

    /// Waits for the server's database to drop the client's lease (a release).
    #[track_caller]
    fn wait_server_lease_gone(&self) {
        let gone = self.server.wait_lease(&self.link.client_mac, STEP_TIMEOUT, |l| l.is_none());
        self.check(gone.map(drop).map_err(|e| format!("the release did not remove the lease: {e}")));
    }

    #[track_caller]
    fn ensure_client_address(&self, expected: Option<Ipv4Addr>) {
        let actual = self.link.client_ipv4_addresses();
        let expected: Vec<Ipv4Addr> = expected.into_iter().collect();
        self.ensure(actual == expected, || {
            format!("IPv4 addresses on the client's {}: {actual:?}, expected {expected:?}", self.link.client_dev)
        });
    }
}

/// Names of the script variables in which a client reports the fields of a DHCP ACK.
struct AckVars {
    address: &'static str,
    boot_file: &'static str,
    server_name: &'static str,
    /// `siaddr`; dhcpcd does not export it.
    next_server: Option<&'static str>,
    server_id: &'static str,
    netmask: &'static str,
    lease_time: &'static str,
}

const DHCLIENT_VARS: AckVars = AckVars {
    address: "new_ip_address",
    boot_file: "new_filename",
    server_name: "new_server_name",
    next_server: Some("new_next_server"),
    server_id: "new_dhcp_server_identifier",
    netmask: "new_subnet_mask",
    lease_time: "new_dhcp_lease_time",
};

const DHCPCD_VARS: AckVars = AckVars { next_server: None, ..DHCLIENT_VARS };

const UDHCPC_VARS: AckVars = AckVars {
    address: "ip",
    boot_file: "boot_file",
    server_name: "sname",
    next_server: Some("siaddr"),
    server_id: "serverid",
    netmask: "subnet",
    lease_time: "lease",
};

/// Checks every field of the ACK that `event` reports and returns the leased address.
#[track_caller]
fn check_ack(s: &Scenario, event: &ClientEvent, vars: &AckVars) -> Ipv4Addr {
    let server_ip = s.link.server_ip.to_string();
    let boot_server = s.scope.boot_server_addr.to_string();
    let netmask = s.scope.netmask.to_string();
    let mut expected = vec![
        (vars.boot_file, s.scope.boot_file.as_str()),
        (vars.server_name, s.scope.boot_server_name.as_str()),
        (vars.server_id, server_ip.as_str()),
        (vars.netmask, netmask.as_str()),
        (vars.lease_time, LEASE_SECONDS),
    ];
    if let Some(next_server) = vars.next_server {
        expected.push((next_server, boot_server.as_str()));
    }
    for (name, want) in expected {
        s.ensure(event.var(name) == Some(want), || {
            format!("{name} should be {want:?}, the client reported {:?}: {}", event.var(name), event.summary())
        });
    }
    let address = event.ipv4(vars.address);
    let address = address.unwrap_or_else(|| s.fail(&format!("no address in {}", event.summary())));
    s.ensure(s.scope.in_range(address), || {
        format!("{address} is outside the range {}–{}: {}", s.scope.first, s.scope.last, event.summary())
    });
    address
}

#[track_caller]
fn ensure_same_address(s: &Scenario, event: &ClientEvent, var: &str, address: Ipv4Addr) {
    s.ensure(event.ipv4(var) == Some(address), || format!("expected {address} again: {}", event.summary()));
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn dhclient_binds_renews_reboots_and_releases() {
    require_netns!("dhclient");
    let Some(s) = Scenario::start(|_, _| {}) else { return };
    // Client-side T1 of 2 s: a real RENEW (unicast REQUEST) without waiting half the lease.
    let mut dhclient = Dhclient::new(Some(2));
    dhclient.start(&s.link);

    let bound = s.check(dhclient.wait_for(&["BOUND"], STEP_TIMEOUT));
    let address = check_ack(&s, &bound, &DHCLIENT_VARS);
    let first = s.wait_server_lease(address);
    s.ensure_client_address(Some(address));

    let renewed = s.check(dhclient.wait_for(&["RENEW"], STEP_TIMEOUT));
    ensure_same_address(&s, &renewed, "new_ip_address", address);
    s.wait_server_lease_extended(address, first.expires);

    // Stop without releasing, start again: INIT-REBOOT asks for the remembered address.
    s.check(dhclient.stop_keeping_lease(&s.link));
    dhclient.start(&s.link);
    let rebooted = s.check(dhclient.wait_for(&["REBOOT", "BOUND"], STEP_TIMEOUT));
    s.ensure(rebooted.name == "REBOOT", || format!("INIT-REBOOT was refused:\n{}", dhclient.diagnostics()));
    check_ack(&s, &rebooted, &DHCLIENT_VARS);
    ensure_same_address(&s, &rebooted, "new_ip_address", address);
    s.wait_server_lease(address);

    s.check(dhclient.release(&s.link));
    s.check(dhclient.wait_for(&["RELEASE"], STEP_TIMEOUT));
    s.wait_server_lease_gone();
    s.ensure_client_address(None);
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn dhclient_with_a_foreign_remembered_address_is_refused_and_starts_over() {
    require_netns!("dhclient");
    let Some(s) = Scenario::start(|_, _| {}) else { return };
    let foreign = Ipv4Addr::new(192, 168, 77, 5);
    let mut dhclient = Dhclient::new(None);
    dhclient.remember_lease(&s.link, foreign, Ipv4Addr::new(192, 168, 77, 1));
    dhclient.start(&s.link);

    // The authoritative server NAKs the INIT-REBOOT request; dhclient then discovers afresh.
    let bound = s.check(dhclient.wait_for(&["BOUND", "REBOOT"], STEP_TIMEOUT));
    s.ensure(bound.name == "BOUND", || format!("the foreign address was accepted: {}", bound.summary()));
    let address = check_ack(&s, &bound, &DHCLIENT_VARS);
    let log = dhclient.diagnostics();
    let nak = format!("DHCPNAK from {}", s.link.server_ip);
    s.ensure(log.contains(&nak), || format!("dhclient never logged {nak:?}:\n{log}"));
    s.ensure(dhclient.events().iter().any(|e| e.name == "EXPIRE"), || {
        format!("dhclient did not drop the refused lease:\n{log}")
    });
    s.wait_server_lease(address);
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn udhcpc_binds_renews_and_releases() {
    require_netns!("udhcpc");
    let Some(s) = Scenario::start(|_, _| {}) else { return };
    let mut udhcpc = Udhcpc::new();
    udhcpc.start(&s.link);

    let bound = s.check(udhcpc.wait_for(&["bound"], STEP_TIMEOUT));
    let address = check_ack(&s, &bound, &UDHCPC_VARS);
    let first = s.wait_server_lease(address);
    s.ensure_client_address(Some(address));

    // Lease expiries have one-second resolution: renew in a later second than the first grant.
    std::thread::sleep(Duration::from_millis(1100));
    s.check(udhcpc.renew());
    let renewed = s.check(udhcpc.wait_for(&["renew", "bound"], STEP_TIMEOUT));
    s.ensure(renewed.name == "renew", || format!("renewal ended in a new lease: {}", renewed.summary()));
    check_ack(&s, &renewed, &UDHCPC_VARS);
    ensure_same_address(&s, &renewed, "ip", address);
    s.wait_server_lease_extended(address, first.expires);

    s.check(udhcpc.release());
    s.check(udhcpc.wait_for(&["deconfig"], STEP_TIMEOUT));
    s.wait_server_lease_gone();
    s.ensure_client_address(None);
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn udhcpc_gets_its_reserved_address() {
    require_netns!("udhcpc");
    let Some(s) = Scenario::start(|link, scope| {
        scope.reservations.push((link.client_mac.clone(), link.host(RESERVED_HOST)));
    }) else {
        return;
    };
    let mut udhcpc = Udhcpc::new();
    udhcpc.start(&s.link);
    let bound = s.check(udhcpc.wait_for(&["bound"], STEP_TIMEOUT));
    let reserved = s.link.host(RESERVED_HOST);
    ensure_same_address(&s, &bound, "ip", reserved);
    s.ensure(bound.var("boot_file") == Some(s.scope.boot_file.as_str()), || {
        format!("reserved hosts get the boot file too: {}", bound.summary())
    });
    s.wait_server_lease(reserved);
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn dhcpcd_binds_renews_rebinds_and_releases() {
    require_netns!("dhcpcd", "nsenter");
    let Some(s) = Scenario::start(|_, _| {}) else { return };
    let mut dhcpcd = Dhcpcd::new();
    dhcpcd.start(&s.link);

    let bound = s.check(dhcpcd.wait_for(&["BOUND"], STEP_TIMEOUT));
    let address = check_ack(&s, &bound, &DHCPCD_VARS);
    let first = s.wait_server_lease(address);
    s.ensure_client_address(Some(address));

    std::thread::sleep(Duration::from_millis(1100));
    s.check(dhcpcd.renew(&s.link));
    let renewed = s.check(dhcpcd.wait_for(&["RENEW"], STEP_TIMEOUT));
    check_ack(&s, &renewed, &DHCPCD_VARS);
    ensure_same_address(&s, &renewed, "new_ip_address", address);
    s.wait_server_lease_extended(address, first.expires);

    // Rebind: a broadcast REQUEST without server identifier; dhcpcd reports it as RENEW.
    s.check(dhcpcd.rebind(&s.link));
    let rebound = s.check(dhcpcd.wait_for(&["RENEW", "REBIND", "BOUND"], STEP_TIMEOUT));
    ensure_same_address(&s, &rebound, "new_ip_address", address);
    s.wait_server_lease(address);

    s.check(dhcpcd.release(&s.link));
    s.wait_server_lease_gone();
    s.ensure_client_address(None);
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn bootpc_gets_a_dynamic_address_and_the_boot_file() {
    require_netns!("bootpc");
    let Some(s) = Scenario::start(|_, scope| scope.bootp_dynamic = true) else { return };
    let reply = s.check(Bootpc::request(&s.link, 5));
    let address = reply.ipv4("IPADDR").unwrap_or_else(|| s.fail(&format!("no IPADDR:\n{}", reply.output)));
    s.ensure(s.scope.in_range(address), || format!("{address} is outside the range:\n{}", reply.output));
    check_bootp_fields(&s, &reply);
    let lease = s.wait_server_lease(address);
    s.ensure(lease.expires.is_none(), || format!("a BOOTP lease never ends, the server recorded {lease:?}"));
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn bootpc_gets_its_reserved_address_without_bootp_dynamic() {
    require_netns!("bootpc");
    let Some(s) = Scenario::start(|link, scope| {
        scope.reservations.push((link.client_mac.clone(), link.host(RESERVED_HOST)));
    }) else {
        return;
    };
    let reply = s.check(Bootpc::request(&s.link, 5));
    let reserved = s.link.host(RESERVED_HOST);
    s.ensure(reply.ipv4("IPADDR") == Some(reserved), || format!("expected {reserved}:\n{}", reply.output));
    check_bootp_fields(&s, &reply);
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn bootpc_without_reservation_or_bootp_dynamic_gets_no_answer() {
    require_netns!("bootpc");
    let Some(mut s) = Scenario::start(|_, _| {}) else { return };
    match Bootpc::request(&s.link, 2) {
        Ok(reply) => s.fail(&format!("an unknown BOOTP client got an answer:\n{}", reply.output)),
        Err(e) => s.ensure(e.contains("got no address"), || e.clone()),
    }
    let leases = s.check(s.server.leases().map_err(|e| e.to_string()));
    s.ensure(leases.is_empty(), || format!("the server recorded leases anyway: {leases:?}"));
    let running = s.server.check_running();
    s.check(running);
}

#[track_caller]
fn check_bootp_fields(s: &Scenario, reply: &lifeboat_e2e::dhcp::BootpReply) {
    let boot_server = s.scope.boot_server_addr.to_string();
    let netmask = s.scope.netmask.to_string();
    for (name, want) in
        [("BOOTFILE", s.scope.boot_file.as_str()), ("SERVER", boot_server.as_str()), ("NETMASK", netmask.as_str())]
    {
        s.ensure(reply.var(name) == Some(want), || {
            format!("{name} should be {want:?}, bootpc printed {:?}:\n{}", reply.var(name), reply.output)
        });
    }
}
