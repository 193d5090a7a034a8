//! The source allow-list: which client addresses may use the TFTP server at all.
//!
//! The default admits only private and link-local ranges, which builds in the firewall rules
//! router-recovery guides ask people to write by hand. Loopback is not in it, so a server
//! reachable only through a forwarded port is not open by accident.

use std::net::IpAddr;

use ipnet::IpNet;

/// Address ranges allowed to talk to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    ranges: Vec<IpNet>,
}

impl AllowList {
    /// Private (RFC 1918, RFC 4193) and link-local ranges.
    pub fn private_lan() -> AllowList {
        let ranges = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "fc00::/7", "fe80::/10"];
        AllowList { ranges: ranges.iter().map(|r| r.parse().expect("the built-in ranges are valid")).collect() }
    }

    pub fn new(ranges: Vec<IpNet>) -> AllowList {
        AllowList { ranges }
    }

    pub fn ranges(&self) -> &[IpNet] {
        &self.ranges
    }

    /// Whether `addr` may use the server. An IPv4 address mapped into IPv6 is judged as IPv4.
    pub fn permits(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        self.ranges.iter().any(|range| range.contains(&addr))
    }
}

impl Default for AllowList {
    fn default() -> Self {
        AllowList::private_lan()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_admits_private_and_link_local_only() {
        let allow = AllowList::default();
        for ok in ["10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.0.86", "169.254.1.1", "fd00::1", "fe80::1"] {
            assert!(allow.permits(ip(ok)), "{ok}");
        }
        for refused in ["127.0.0.1", "::1", "8.8.8.8", "172.32.0.1", "2001:db8::1", "100.64.0.1"] {
            assert!(!allow.permits(ip(refused)), "{refused}");
        }
    }

    #[test]
    fn mapped_ipv4_is_judged_as_ipv4() {
        assert!(AllowList::default().permits(ip("::ffff:192.168.1.5")));
        assert!(!AllowList::default().permits(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn an_explicit_list_replaces_the_default() {
        let allow = AllowList::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(allow.permits(ip("127.0.0.1")));
        assert!(!allow.permits(ip("10.0.0.1")));
    }
}
