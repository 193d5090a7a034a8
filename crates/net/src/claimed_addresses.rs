//! The addresses lifeboat adds to an interface to answer where a device looks for its server,
//! through netlink (`RTM_NEWADDR`/`RTM_DELADDR`, as `ip addr add` and `ip addr del` do).
//!
//! Each carries the label `IFNAME:lb` ([`label_of`]): `ip addr` shows it, and lifeboat finds its
//! own addresses by it, to remove them when a job ends and, after a crash, at the next start.
//! Nothing else on the machine is touched. Needs `CAP_NET_ADMIN`.

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use futures_util::TryStreamExt as _;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::Handle;

use crate::netlink::{connect, netlink_error};

/// The suffix of the label of lifeboat's addresses.
pub const CLAIM_LABEL_SUFFIX: &str = ":lb";

/// An address lifeboat added, as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedAddress {
    pub interface_index: u32,
    pub address: Ipv4Addr,
    pub prefix: u8,
}

/// The label of lifeboat's addresses on the interface `name`: `eth1:lb`. Labels have at most
/// 15 bytes (IFNAMSIZ); a longer interface name is cut to fit.
pub fn label_of(name: &str) -> String {
    let room = 15 - CLAIM_LABEL_SUFFIX.len();
    let mut cut = name.len().min(room);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{CLAIM_LABEL_SUFFIX}", &name[..cut])
}

/// Adds `address/prefix` to the interface (`index`, `name`) with lifeboat's label.
pub async fn add_claimed(index: u32, name: &str, address: Ipv4Addr, prefix: u8) -> io::Result<()> {
    let handle = connect()?;
    let mut request = handle.address().add(index, IpAddr::V4(address), prefix);
    request.message_mut().attributes.push(AddressAttribute::Label(label_of(name)));
    request.execute().await.map_err(netlink_error)
}

/// Removes `address` from the interface `index`, if it is there; whether it was.
pub async fn remove_claimed(index: u32, address: Ipv4Addr) -> io::Result<bool> {
    let handle = connect()?;
    let Some(message) = find(&handle, |m| m.header.index == index && ipv4_of(m) == Some(address)).await? else {
        return Ok(false);
    };
    handle.address().del(message).execute().await.map_err(netlink_error)?;
    Ok(true)
}

/// Every address with lifeboat's label, on any interface.
pub async fn claimed_addresses() -> io::Result<Vec<ClaimedAddress>> {
    let handle = connect()?;
    let messages: Vec<AddressMessage> = handle.address().get().execute().try_collect().await.map_err(netlink_error)?;
    Ok(messages
        .iter()
        .filter(|m| label(m).is_some_and(|l| l.ends_with(CLAIM_LABEL_SUFFIX)))
        .filter_map(|m| {
            Some(ClaimedAddress { interface_index: m.header.index, address: ipv4_of(m)?, prefix: m.header.prefix_len })
        })
        .collect())
}

async fn find(handle: &Handle, matches: impl Fn(&AddressMessage) -> bool) -> io::Result<Option<AddressMessage>> {
    let messages: Vec<AddressMessage> = handle.address().get().execute().try_collect().await.map_err(netlink_error)?;
    Ok(messages.into_iter().find(|m| matches(m)))
}

fn ipv4_of(message: &AddressMessage) -> Option<Ipv4Addr> {
    message.attributes.iter().find_map(|attribute| match attribute {
        AddressAttribute::Local(IpAddr::V4(address)) => Some(*address),
        _ => None,
    })
}

fn label(message: &AddressMessage) -> Option<&str> {
    message.attributes.iter().find_map(|attribute| match attribute {
        AddressAttribute::Label(label) => Some(label.as_str()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_fit_the_kernels_fifteen_bytes() {
        assert_eq!(label_of("eth1"), "eth1:lb");
        assert_eq!(label_of("enx00e04c680a1b"), "enx00e04c680:lb");
        assert_eq!(label_of("enx00e04c680a1b").len(), 15);
    }
}
