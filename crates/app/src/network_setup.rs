//! Whether lifeboat runs where DHCP and TFTP can work: a container behind a bridge (Docker's and
//! podman's default network) hears no broadcast from the recovery subnet, and its NAT passes only
//! the ports that were published, so TFTP transfers on ports of their own fail. Said once at
//! start, with what to do instead.

use lifeboat_net::DefaultRoute;

/// What lifeboat found out about its network (through [`crate::Binder::network_facts`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkFacts {
    /// A container runtime left its mark (`/.dockerenv`, `/run/.containerenv`).
    pub in_container: bool,
    pub default_route: Option<DefaultRoute>,
    /// The driver of the default route's interface (`veth` behind a bridge, `macvlan`...).
    pub default_route_driver: Option<String>,
}

/// What runs, as far as the check cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    pub dhcp: bool,
    pub tftp: bool,
    pub tftp_single_port: bool,
}

/// The warning for a container behind a bridge, if lifeboat runs in one and serves something
/// that does not work there: any DHCP, and TFTP unless it keeps to one port.
pub fn bridge_warning(facts: &NetworkFacts, served: Served) -> Option<String> {
    let route = facts.default_route.as_ref()?;
    let behind_bridge = facts.in_container && facts.default_route_driver.as_deref() == Some("veth");
    if !behind_bridge {
        return None;
    }
    let tftp_breaks = served.tftp && !served.tftp_single_port;
    if !served.dhcp && !tftp_breaks {
        return None;
    }
    let via = route.gateway.map(|gateway| format!(" via {gateway}")).unwrap_or_default();
    let mut lost = Vec::new();
    if served.dhcp {
        lost.push("DHCP and BOOTP broadcasts from the recovery subnet never reach it".to_owned());
    }
    if tftp_breaks {
        lost.push(
            "TFTP transfers, each on a port of its own, do not pass the NAT (for TFTP alone, set \
             LIFEBOAT_TFTP_SINGLE_PORT=true or --tftp-single-port)"
                .to_owned(),
        );
    }
    Some(format!(
        "lifeboat runs in a container behind a bridge ({} is a veth, the default route leads{via}): {}. Use host \
         networking or macvlan on the recovery NIC instead (see docker/compose.yaml)",
        route.interface,
        lost.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn bridged() -> NetworkFacts {
        NetworkFacts {
            in_container: true,
            default_route: Some(DefaultRoute { interface: "eth0".into(), gateway: Some(Ipv4Addr::new(172, 17, 0, 1)) }),
            default_route_driver: Some("veth".into()),
        }
    }

    const EVERYTHING: Served = Served { dhcp: true, tftp: true, tftp_single_port: false };

    #[test]
    fn a_bridged_container_is_told_what_breaks_and_what_to_do() {
        let warning = bridge_warning(&bridged(), EVERYTHING).expect("a warning");
        for needle in ["eth0 is a veth", "via 172.17.0.1", "DHCP", "TFTP_SINGLE_PORT", "macvlan", "host networking"] {
            assert!(warning.contains(needle), "{needle:?} missing: {warning}");
        }
        let tftp_only = Served { dhcp: false, ..EVERYTHING };
        assert!(!bridge_warning(&bridged(), tftp_only).unwrap().contains("DHCP"));
    }

    #[test]
    fn single_port_tftp_works_behind_nat_and_is_not_warned_about() {
        let single = Served { dhcp: false, tftp: true, tftp_single_port: true };
        assert_eq!(bridge_warning(&bridged(), single), None);
        assert!(bridge_warning(&bridged(), Served { dhcp: true, ..single }).is_some());
    }

    #[test]
    fn macvlan_host_networking_and_bare_machines_are_fine() {
        let macvlan = NetworkFacts { default_route_driver: Some("macvlan".into()), ..bridged() };
        assert_eq!(bridge_warning(&macvlan, EVERYTHING), None);
        let host = NetworkFacts { default_route_driver: Some("e1000e".into()), ..bridged() };
        assert_eq!(bridge_warning(&host, EVERYTHING), None);
        // A machine's own veth (a test namespace, a VM host) is no container's.
        let bare = NetworkFacts { in_container: false, ..bridged() };
        assert_eq!(bridge_warning(&bare, EVERYTHING), None);
        let no_route = NetworkFacts { default_route: None, ..bridged() };
        assert_eq!(bridge_warning(&no_route, EVERYTHING), None);
    }
}
