//! The machine's network interfaces and their IPv4 addresses.
//!
//! **Invariant:** read-only: this module lists interfaces and never changes them.

use std::collections::BTreeMap;
use std::io;
use std::net::Ipv4Addr;

use lifeboat_dhcp::Mac;
use nix::ifaddrs::getifaddrs;
use nix::net::if_::{InterfaceFlags, if_nametoindex};

/// One interface with its IPv4 addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    /// The hardware address, for Ethernet-like interfaces.
    pub mac: Option<Mac>,
    pub up: bool,
    /// IPv4 addresses with their prefix lengths.
    pub ipv4: Vec<(Ipv4Addr, u8)>,
}

/// Every interface of this network namespace, sorted by index.
pub fn interfaces() -> io::Result<Vec<Interface>> {
    let mut by_name: BTreeMap<String, Interface> = BTreeMap::new();
    for entry in getifaddrs()? {
        // An IPv4 address with a label (`eth1:lb`, as lifeboat's claimed ones have) is listed
        // under its label; it belongs to the interface before the colon (no interface name
        // has one: the kernel refuses it).
        let name = entry.interface_name.split(':').next().unwrap_or_default().to_owned();
        let slot = by_name.entry(name.clone()).or_insert_with(|| Interface {
            index: if_nametoindex(name.as_str()).unwrap_or(0),
            name,
            mac: None,
            up: false,
            ipv4: Vec::new(),
        });
        slot.up |= entry.flags.contains(InterfaceFlags::IFF_UP);
        let Some(address) = entry.address.as_ref() else { continue };
        if let Some(link) = address.as_link_addr() {
            slot.mac = link.addr().filter(|m| m.iter().any(|b| *b != 0)).map(Mac);
        } else if let Some(v4) = address.as_sockaddr_in() {
            let prefix =
                entry.netmask.as_ref().and_then(|m| m.as_sockaddr_in()).map_or(32, |m| m.ip().to_bits().leading_ones());
            slot.ipv4.push((v4.ip(), prefix as u8));
        }
    }
    let mut all: Vec<Interface> = by_name.into_values().collect();
    all.sort_by_key(|i| i.index);
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed_with_its_address() {
        let all = interfaces().unwrap();
        let lo = all.iter().find(|i| i.name == "lo").expect("every namespace has lo");
        assert!(lo.index > 0);
        if lo.up {
            assert!(lo.ipv4.contains(&(Ipv4Addr::LOCALHOST, 8)), "{lo:?}");
        }
        assert_eq!(lo.mac, None, "loopback's all-zero address is not a MAC");
    }
}
