//! Scopes: the `--dhcp-range`s of one subnet, tied to the interface that serves it.
//!
//! **Invariant:** [`resolve`] accepts a configuration only if every range belongs to exactly one
//! subnet, local (an interface address is inside it) or relayed (it names its netmask), and every
//! interface the user named exists; otherwise it names the range or interface at fault.

use std::net::Ipv4Addr;

use thiserror::Error;

use ipnet::Ipv4Net;

use crate::config::{LeaseTime, Range, subnet_of};

/// One IPv4 address of a local interface, as the driver found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddr {
    pub name: String,
    pub index: u32,
    pub address: Ipv4Addr,
    pub prefix: u8,
}

/// Addresses `start..=end` handed out with `lease`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
    pub lease: LeaseTime,
    /// The `--dhcp-range` text, for the log.
    pub text: String,
}

impl Pool {
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        (u32::from(self.start)..=u32::from(self.end)).contains(&u32::from(addr))
    }

    pub fn size(&self) -> u32 {
        u32::from(self.end) - u32::from(self.start) + 1
    }
}

/// Where a scope's requests arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// On this local interface, where lifeboat has `address`.
    Local { interface: String, index: u32, address: Ipv4Addr },
    /// Through relays whose giaddr lies in the subnet.
    Relayed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub subnet: Ipv4Net,
    pub reach: Reach,
    /// Empty for a proxyDHCP scope.
    pub pools: Vec<Pool>,
    /// proxyDHCP: answer PXE clients with boot information only.
    pub proxy: bool,
}

impl Scope {
    pub fn pool_of(&self, addr: Ipv4Addr) -> Option<&Pool> {
        self.pools.iter().find(|p| p.contains(addr))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScopeError {
    #[error(
        "--dhcp-range {range}: no interface{where_} has an address in that subnet; give the interface an address in it, or add the NETMASK field if the clients come through a relay"
    )]
    NoInterface { range: String, where_: String },
    #[error("--dhcp-interface {0}: no such interface with an IPv4 address (interfaces here: {1})")]
    UnknownInterface(String, String),
    #[error("--dhcp-range {0} overlaps --dhcp-range {1}")]
    Overlap(String, String),
    #[error("--dhcp-range {0}: a subnet cannot be both proxyDHCP and a range of addresses (see {1})")]
    ProxyAndPool(String, String),
    #[error(
        "--dhcp-reservation {mac},{address}: the address is in none of the subnets served ({served}); no client of this server could use it"
    )]
    ReservationOutside { mac: String, address: Ipv4Addr, served: String },
}

/// Refuse a reservation whose address lies in no subnet that hands out addresses (a proxyDHCP
/// subnet hands out none): the reserved host could never be given it.
pub fn check_reservations(scopes: &[Scope], reservations: &[crate::config::Reservation]) -> Result<(), ScopeError> {
    let serving: Vec<&Scope> = scopes.iter().filter(|s| !s.proxy).collect();
    for reservation in reservations {
        if !serving.iter().any(|s| s.subnet.contains(&reservation.address)) {
            let served = serving.iter().map(|s| s.subnet.to_string()).collect::<Vec<_>>().join(", ");
            return Err(ScopeError::ReservationOutside {
                mac: reservation.mac.to_string(),
                address: reservation.address,
                served: if served.is_empty() { "none".to_owned() } else { served },
            });
        }
    }
    Ok(())
}

/// Tie each range to a subnet. `only` is the `--dhcp-interface` list (empty: all interfaces).
pub fn resolve(ranges: &[Range], interfaces: &[InterfaceAddr], only: &[String]) -> Result<Vec<Scope>, ScopeError> {
    for name in only {
        if !interfaces.iter().any(|i| &i.name == name) {
            let mut known: Vec<&str> = interfaces.iter().map(|i| i.name.as_str()).collect();
            known.dedup();
            return Err(ScopeError::UnknownInterface(name.clone(), known.join(", ")));
        }
    }
    let usable: Vec<&InterfaceAddr> = interfaces.iter().filter(|i| only.is_empty() || only.contains(&i.name)).collect();
    let where_ = if only.is_empty() { String::new() } else { format!(" among --dhcp-interface {}", only.join(", ")) };

    let mut scopes: Vec<Scope> = Vec::new();
    for range in ranges {
        let (probe, prefix, pool, proxy) = match range {
            Range::Dynamic { start, end, prefix, lease, text } => {
                let pool = Pool { start: *start, end: *end, lease: *lease, text: text.clone() };
                (*start, *prefix, Some(pool), false)
            }
            Range::Proxy { subnet, .. } => (subnet.network(), Some(subnet.prefix_len()), None, true),
        };
        // A local interface whose subnet holds the range (and agrees with a given netmask).
        let local = usable.iter().find(|i| {
            let subnet = subnet_of(i.address, i.prefix);
            subnet.contains(&probe) && prefix.is_none_or(|p| p == i.prefix)
        });
        let (subnet, reach) = match (local, prefix) {
            (Some(i), _) => (
                subnet_of(i.address, i.prefix),
                Reach::Local { interface: i.name.clone(), index: i.index, address: i.address },
            ),
            (None, Some(p)) => (subnet_of(probe, p), Reach::Relayed),
            (None, None) => {
                return Err(ScopeError::NoInterface { range: range.text().to_owned(), where_: where_.clone() });
            }
        };
        if let Some(pool) = &pool
            && !subnet.contains(&pool.end)
        {
            return Err(ScopeError::NoInterface { range: range.text().to_owned(), where_: where_.clone() });
        }
        match scopes.iter_mut().find(|s| s.subnet == subnet && s.reach == reach) {
            Some(scope) => {
                if scope.proxy != proxy {
                    return Err(ScopeError::ProxyAndPool(range.text().to_owned(), subnet.to_string()));
                }
                if let Some(pool) = pool {
                    if let Some(other) = scope.pools.iter().find(|p| p.contains(pool.start) || pool.contains(p.start)) {
                        return Err(ScopeError::Overlap(pool.text, other.text.clone()));
                    }
                    scope.pools.push(pool);
                }
            }
            None => scopes.push(Scope { subnet, reach, pools: pool.into_iter().collect(), proxy }),
        }
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, index: u32, addr: &str, prefix: u8) -> InterfaceAddr {
        InterfaceAddr { name: name.into(), index, address: addr.parse().unwrap(), prefix }
    }

    fn ranges(texts: &[&str]) -> Vec<Range> {
        texts.iter().map(|t| t.parse().unwrap()).collect()
    }

    #[test]
    fn ranges_find_their_interfaces() {
        let ifs = [iface("lo", 1, "127.0.0.1", 8), iface("eth0", 2, "10.1.0.1", 24), iface("eth1", 3, "10.2.0.1", 24)];
        let scopes = resolve(
            &ranges(&[
                "10.1.0.100,10.1.0.150",
                "10.1.0.200,10.1.0.210,1h",
                "10.2.0.0,proxy",
                "10.9.0.10,10.9.0.20,255.255.255.0",
            ]),
            &ifs,
            &[],
        )
        .unwrap();
        assert_eq!(scopes.len(), 3);
        assert_eq!(
            scopes[0].reach,
            Reach::Local { interface: "eth0".into(), index: 2, address: "10.1.0.1".parse().unwrap() }
        );
        assert_eq!(scopes[0].pools.len(), 2);
        assert!(scopes[1].proxy && scopes[1].pools.is_empty());
        assert_eq!(scopes[2].reach, Reach::Relayed);
        assert_eq!(scopes[2].subnet.to_string(), "10.9.0.0/24");
    }

    #[test]
    fn mistakes_are_named() {
        let ifs = [iface("eth0", 2, "10.1.0.1", 24), iface("eth1", 3, "10.2.0.1", 24)];
        let err = resolve(&ranges(&["10.5.0.10,10.5.0.20"]), &ifs, &[]).unwrap_err();
        assert!(matches!(&err, ScopeError::NoInterface { range, .. } if range == "10.5.0.10,10.5.0.20"));
        assert!(err.to_string().contains("relay"), "{err}");
        let err = resolve(&ranges(&["10.2.0.10,10.2.0.20"]), &ifs, &["eth0".into()]).unwrap_err();
        assert!(err.to_string().contains("among --dhcp-interface eth0"), "{err}");
        assert_eq!(
            resolve(&[], &ifs, &["eth9".into()]),
            Err(ScopeError::UnknownInterface("eth9".into(), "eth0, eth1".into()))
        );
        assert_eq!(
            resolve(&ranges(&["10.1.0.10,10.1.0.20", "10.1.0.15,10.1.0.30"]), &ifs, &[]),
            Err(ScopeError::Overlap("10.1.0.15,10.1.0.30".into(), "10.1.0.10,10.1.0.20".into()))
        );
        assert!(matches!(
            resolve(&ranges(&["10.1.0.10,10.1.0.20", "10.1.0.0,proxy"]), &ifs, &[]),
            Err(ScopeError::ProxyAndPool(..))
        ));
        // A netmask that disagrees with the interface's is not that interface's subnet.
        let err = resolve(&ranges(&["10.1.0.10,10.1.0.20,255.255.255.128"]), &ifs, &[]).unwrap();
        assert_eq!(err[0].reach, Reach::Relayed);
    }

    #[test]
    fn pools() {
        let p = Pool {
            start: "10.0.0.10".parse().unwrap(),
            end: "10.0.0.19".parse().unwrap(),
            lease: LeaseTime::Infinite,
            text: String::new(),
        };
        assert_eq!(p.size(), 10);
        assert!(p.contains("10.0.0.19".parse().unwrap()) && !p.contains("10.0.0.20".parse().unwrap()));
    }
}
