//! The kernel's IPv4 neighbour (ARP) table: which MAC answered for an address lately.
//!
//! A device that talks TFTP to us without DHCP (a router in recovery mode with a fixed address)
//! is known only by the MAC the kernel learned when it answered ARP. `/proc/net/arp` lists the
//! table of the caller's network namespace; reading it needs no privileges and no netlink
//! (rtnetlink would be a second async stack for one lookup).

use std::net::Ipv4Addr;

use lifeboat_dhcp::Mac;

/// ATF_COM: the entry is complete (the MAC is known).
const COMPLETE: u32 = 0x2;

/// The MAC the kernel has for `address`, if it has a complete entry.
pub fn neighbour_mac(address: Ipv4Addr) -> Option<Mac> {
    let table = std::fs::read_to_string("/proc/net/arp").ok()?;
    find_in_arp_table(&table, address)
}

/// What the kernel's ARP table says of one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// The MAC, once the address has answered.
    pub mac: Option<Mac>,
    /// The interface the entry is on.
    pub interface: String,
}

/// The kernel's entry for `address` on `interface`, complete or not (an incomplete entry: the
/// host asked and nobody answered yet).
pub fn neighbour(address: Ipv4Addr, interface: &str) -> Option<Neighbour> {
    let table = std::fs::read_to_string("/proc/net/arp").ok()?;
    entry_in_arp_table(&table, address, interface)
}

fn entry_in_arp_table(table: &str, address: Ipv4Addr, on: &str) -> Option<Neighbour> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [ip, _hardware_type, flags, mac, _mask, interface] = fields.as_slice() else { return None };
        (ip.parse::<Ipv4Addr>().ok()? == address && *interface == on).then_some(())?;
        let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).ok()?;
        let mac = mac.parse::<Mac>().ok().filter(|m| flags & COMPLETE != 0 && *m != Mac([0; 6]));
        Some(Neighbour { mac, interface: (*interface).to_owned() })
    })
}

/// The MAC of `address` in the text of `/proc/net/arp`.
fn find_in_arp_table(table: &str, address: Ipv4Addr) -> Option<Mac> {
    table.lines().skip(1).find_map(|line| {
        let mut fields = line.split_whitespace();
        let ip = fields.next()?.parse::<Ipv4Addr>().ok()?;
        let _hardware_type = fields.next()?;
        let flags = u32::from_str_radix(fields.next()?.trim_start_matches("0x"), 16).ok()?;
        let mac: Mac = fields.next()?.parse().ok()?;
        (ip == address && flags & COMPLETE != 0 && mac != Mac([0; 6])).then_some(mac)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
IP address       HW type     Flags       HW address            Mask     Device
192.168.1.1      0x1         0x2         c4:6e:1f:aa:bb:cc     *        eth0
192.168.1.77     0x1         0x0         00:00:00:00:00:00     *        eth0
192.168.1.20     0x1         0x6         02:00:00:00:00:20     *        lab0
";

    #[test]
    fn complete_entries_give_their_mac() {
        assert_eq!(
            find_in_arp_table(TABLE, Ipv4Addr::new(192, 168, 1, 1)),
            Some(Mac([0xc4, 0x6e, 0x1f, 0xaa, 0xbb, 0xcc]))
        );
        assert_eq!(find_in_arp_table(TABLE, Ipv4Addr::new(192, 168, 1, 20)), Some(Mac([2, 0, 0, 0, 0, 0x20])));
    }

    #[test]
    fn entries_are_read_complete_or_not() {
        let incomplete = entry_in_arp_table(TABLE, Ipv4Addr::new(192, 168, 1, 77), "eth0").unwrap();
        assert_eq!(incomplete, Neighbour { mac: None, interface: "eth0".into() });
        let complete = entry_in_arp_table(TABLE, Ipv4Addr::new(192, 168, 1, 20), "lab0").unwrap();
        assert_eq!(complete.mac, Some(Mac([2, 0, 0, 0, 0, 0x20])));
        assert_eq!(entry_in_arp_table(TABLE, Ipv4Addr::new(192, 168, 1, 20), "eth0"), None, "on another interface");
        assert_eq!(entry_in_arp_table(TABLE, Ipv4Addr::new(10, 0, 0, 1), "eth0"), None);
    }

    #[test]
    fn incomplete_unknown_and_garbled_entries_give_nothing() {
        assert_eq!(find_in_arp_table(TABLE, Ipv4Addr::new(192, 168, 1, 77)), None);
        assert_eq!(find_in_arp_table(TABLE, Ipv4Addr::new(10, 0, 0, 1)), None);
        let garbled = "header\n10.0.0.1 0x1 zz 02:00:00:00:00:01 * eth0\n10.0.0.2 0x1 0x2 02:00:00:00:01 * eth0\n";
        assert_eq!(find_in_arp_table(garbled, Ipv4Addr::new(10, 0, 0, 1)), None);
        assert_eq!(find_in_arp_table(garbled, Ipv4Addr::new(10, 0, 0, 2)), None);
        assert_eq!(find_in_arp_table("", Ipv4Addr::new(10, 0, 0, 2)), None);
    }
}
