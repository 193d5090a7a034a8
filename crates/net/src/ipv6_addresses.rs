//! The IPv6 addresses of this machine's interfaces that it may answer for, through netlink
//! (`RTM_GETADDR`, as `ip -6 addr` lists them).
//!
//! Not `getifaddrs`: it lists an address while duplicate address detection still runs on it
//! (tentative) and after it failed, and a node must not advertise either (RFC 4862 §5.4); only
//! netlink carries the flags that say so.
//!
//! **Invariant:** read-only, like `interfaces.rs`.

use std::io;
use std::net::{IpAddr, Ipv6Addr};

use futures_util::TryStreamExt as _;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};

use crate::netlink::{connect, netlink_error};

/// One IPv6 address and the interface that has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfaceIpv6 {
    pub interface_index: u32,
    pub address: Ipv6Addr,
}

/// Every IPv6 address of this network namespace that has passed duplicate address detection
/// (or needs none), with its interface.
pub async fn usable_ipv6_addresses() -> io::Result<Vec<InterfaceIpv6>> {
    let handle = connect()?;
    let mut request = handle.address().get();
    request.message_mut().header.family = AddressFamily::Inet6;
    let messages: Vec<AddressMessage> = request.execute().try_collect().await.map_err(netlink_error)?;
    Ok(messages.iter().filter_map(usable).collect())
}

/// The address of `message`, unless it is not IPv6 or not yet (or no longer) the machine's own.
fn usable(message: &AddressMessage) -> Option<InterfaceIpv6> {
    let address = message.attributes.iter().find_map(|attribute| match attribute {
        AddressAttribute::Address(IpAddr::V6(address)) => Some(*address),
        _ => None,
    })?;
    // The header has the first eight flags; the attribute, when the kernel sends it, all of them.
    let flags = message
        .attributes
        .iter()
        .find_map(|attribute| match attribute {
            AddressAttribute::Flags(flags) => Some(*flags),
            _ => None,
        })
        .unwrap_or_else(|| AddressFlags::from_bits_retain(u32::from(message.header.flags.bits())));
    // An optimistic address (RFC 4429) is in use but may not override a neighbour's entry, which
    // is what the announcements of this machine's addresses do.
    let unusable = AddressFlags::Tentative | AddressFlags::Dadfailed | AddressFlags::Optimistic;
    (!flags.intersects(unusable)).then_some(InterfaceIpv6 { interface_index: message.header.index, address })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(address: &str, flags: AddressFlags) -> AddressMessage {
        let mut message = AddressMessage::default();
        message.header.family = AddressFamily::Inet6;
        message.header.index = 4;
        message.attributes.push(AddressAttribute::Address(address.parse().unwrap()));
        message.attributes.push(AddressAttribute::Flags(flags));
        message
    }

    #[test]
    fn an_address_still_under_duplicate_detection_or_failed_is_not_usable() {
        let ready = message("fd77::1", AddressFlags::Permanent);
        assert_eq!(usable(&ready), Some(InterfaceIpv6 { interface_index: 4, address: "fd77::1".parse().unwrap() }));
        for flag in [AddressFlags::Tentative, AddressFlags::Dadfailed, AddressFlags::Optimistic] {
            assert_eq!(usable(&message("fd77::1", AddressFlags::Permanent | flag)), None, "{flag:?}");
        }
    }

    #[test]
    fn without_the_flags_attribute_the_headers_flags_count() {
        let mut tentative = message("fe80::1", AddressFlags::empty());
        tentative.attributes.retain(|a| !matches!(a, AddressAttribute::Flags(_)));
        assert!(usable(&tentative).is_some());
        tentative.header.flags = netlink_packet_route::address::AddressHeaderFlags::Tentative;
        assert_eq!(usable(&tentative), None);
    }

    #[test]
    fn an_ipv4_address_is_not_listed() {
        assert_eq!(usable(&message("10.0.0.1", AddressFlags::Permanent)), None);
    }
}
