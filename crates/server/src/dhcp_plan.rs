//! What the DHCP server will do on this machine, decided from the configuration and the list of
//! interfaces alone: which scopes it serves where, which interfaces it answers on, which it
//! watches for other DHCP servers, and whether it needs the proxyDHCP port.
//!
//! **Invariant:** pure: no sockets, no system calls. [`DhcpServer::start`](crate::DhcpServer::start)
//! lists the interfaces and binds what the plan asks for; tests hand it interfaces of their own.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use lifeboat_dhcp::config::Mac;
use lifeboat_dhcp::scope::{InterfaceAddr, Reach, Scope, ScopeError, check_reservations, resolve};
use lifeboat_net::Interface;

use crate::dhcp_config::DhcpConfig;

/// The result of [`DhcpPlan::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpPlan {
    pub scopes: Vec<Scope>,
    /// Indexes of the interfaces whose requests are answered.
    pub answer_on: BTreeSet<u32>,
    /// What it serves, for people: `DHCP lab0 10.7.0.1 (10.7.0.0/24)`, `DHCP relayed 10.8.0.0/24`.
    pub serving: Vec<String>,
    /// Interfaces with a local, non-proxy scope: probed before serving and watched while serving
    /// for other DHCP servers.
    pub watched: Vec<Interface>,
    /// A proxyDHCP scope needs port 4011 too.
    pub needs_pxe_port: bool,
    /// This machine's hardware addresses: requests from them are its own probes.
    pub own_macs: Vec<Mac>,
    /// This machine's IPv4 addresses: replies from them are lifeboat's own.
    pub own_addresses: Vec<Ipv4Addr>,
}

impl DhcpPlan {
    /// Tie the configured ranges to `interfaces` (as `lifeboat_net::interfaces` lists them).
    pub fn new(config: &DhcpConfig, interfaces: &[Interface]) -> Result<DhcpPlan, ScopeError> {
        let addrs: Vec<InterfaceAddr> = interfaces
            .iter()
            .flat_map(|i| {
                i.ipv4.iter().map(|(address, prefix)| InterfaceAddr {
                    name: i.name.clone(),
                    index: i.index,
                    address: *address,
                    prefix: *prefix,
                })
            })
            .collect();
        let scopes = resolve(&config.ranges, &addrs, &config.interfaces)?;
        check_reservations(&scopes, &config.reservations)?;

        let mut answer_on = BTreeSet::new();
        let mut serving = Vec::new();
        let mut watched: Vec<Interface> = Vec::new();
        for scope in &scopes {
            let kind = if scope.proxy { "proxyDHCP" } else { "DHCP" };
            let Reach::Local { interface, index, address } = &scope.reach else {
                serving.push(format!("{kind} relayed {}", scope.subnet));
                continue;
            };
            serving.push(format!("{kind} {interface} {address} ({})", scope.subnet));
            answer_on.insert(*index);
            let unwatched = !watched.iter().any(|w| w.index == *index);
            if let Some(local) = interfaces.iter().find(|i| i.index == *index)
                && !scope.proxy
                && unwatched
            {
                watched.push(local.clone());
            }
        }
        for name in &config.interfaces {
            // Relayed requests may arrive on an interface that has no range of its own.
            if let Some(i) = interfaces.iter().find(|i| &i.name == name) {
                answer_on.insert(i.index);
            }
        }
        if config.interfaces.is_empty() && scopes.iter().any(|s| s.reach == Reach::Relayed) {
            answer_on.extend(interfaces.iter().map(|i| i.index));
        }
        Ok(DhcpPlan {
            needs_pxe_port: scopes.iter().any(|s| s.proxy),
            scopes,
            answer_on,
            serving,
            watched,
            own_macs: interfaces.iter().filter_map(|i| i.mac).collect(),
            own_addresses: interfaces.iter().flat_map(|i| i.ipv4.iter().map(|(address, _)| *address)).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interface(name: &str, index: u32, address: &str, prefix: u8) -> Interface {
        Interface {
            name: name.to_owned(),
            index,
            mac: Some(Mac([2, 0, 0, 0, 0, index as u8])),
            up: true,
            ipv4: vec![(address.parse().unwrap(), prefix)],
        }
    }

    fn machine() -> Vec<Interface> {
        vec![
            Interface { name: "lo".into(), index: 1, mac: None, up: true, ipv4: vec![(Ipv4Addr::LOCALHOST, 8)] },
            interface("lab0", 2, "10.7.0.1", 24),
            interface("lab1", 3, "10.8.0.1", 24),
        ]
    }

    fn config(ranges: &[&str]) -> DhcpConfig {
        DhcpConfig::new(ranges.iter().map(|r| r.parse().unwrap()).collect())
    }

    #[test]
    fn a_local_range_answers_and_watches_its_interface_only() {
        let plan = DhcpPlan::new(&config(&["10.7.0.100,10.7.0.200"]), &machine()).unwrap();
        assert_eq!(plan.answer_on, BTreeSet::from([2]));
        assert_eq!(plan.watched.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["lab0"]);
        assert_eq!(plan.serving, ["DHCP lab0 10.7.0.1 (10.7.0.0/24)"]);
        assert!(!plan.needs_pxe_port);
        assert_eq!(plan.own_macs.len(), 2, "lo has no MAC");
        assert_eq!(plan.own_addresses.len(), 3);
    }

    #[test]
    fn two_ranges_on_one_interface_watch_it_once() {
        let plan = DhcpPlan::new(&config(&["10.7.0.100,10.7.0.150", "10.7.0.160,10.7.0.200"]), &machine()).unwrap();
        assert_eq!(plan.watched.len(), 1);
        assert_eq!(plan.answer_on, BTreeSet::from([2]));
    }

    #[test]
    fn a_proxy_range_needs_port_4011_and_is_not_watched() {
        let plan = DhcpPlan::new(&config(&["10.8.0.0,proxy"]), &machine()).unwrap();
        assert!(plan.needs_pxe_port);
        assert!(plan.watched.is_empty(), "proxyDHCP lives beside another server by design");
        assert_eq!(plan.serving, ["proxyDHCP lab1 10.8.0.1 (10.8.0.0/24)"]);
    }

    #[test]
    fn a_relayed_range_answers_on_every_interface_unless_some_are_named() {
        let relayed = "10.9.0.100,10.9.0.200,255.255.255.0";
        let plan = DhcpPlan::new(&config(&[relayed]), &machine()).unwrap();
        assert_eq!(plan.answer_on, BTreeSet::from([1, 2, 3]));
        assert!(plan.watched.is_empty());
        assert_eq!(plan.serving, ["DHCP relayed 10.9.0.0/24"]);

        let mut named = config(&[relayed]);
        named.interfaces = vec!["lab1".into()];
        assert_eq!(DhcpPlan::new(&named, &machine()).unwrap().answer_on, BTreeSet::from([3]));
    }

    #[test]
    fn a_reservation_outside_every_served_subnet_is_refused_at_start() {
        let mut outside = config(&["10.7.0.100,10.7.0.200"]);
        outside.reservations = vec!["52:54:00:00:00:01,192.168.9.9".parse().unwrap()];
        let error = DhcpPlan::new(&outside, &machine()).unwrap_err().to_string();
        assert!(error.contains("52:54:00:00:00:01,192.168.9.9") && error.contains("10.7.0.0/24"), "{error}");
        // Outside the pool but inside the subnet is what reservations are for.
        let mut inside = config(&["10.7.0.100,10.7.0.200"]);
        inside.reservations = vec!["52:54:00:00:00:01,10.7.0.5".parse().unwrap()];
        assert!(DhcpPlan::new(&inside, &machine()).is_ok());
    }

    #[test]
    fn a_range_on_no_interface_is_refused_by_name() {
        let error = DhcpPlan::new(&config(&["192.168.5.10,192.168.5.20"]), &machine()).unwrap_err();
        assert!(error.to_string().contains("192.168.5.10"), "{error}");
    }
}
