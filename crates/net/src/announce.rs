//! Announcing an address this machine serves on, so that neighbours that cached another MAC for
//! it (lifeboat restarted in a container with a new MAC, a NIC swapped, the service moved to
//! another box) send to the right one at once instead of after their entry times out.
//!
//! - IPv4: an ARP Announcement (RFC 5227 §2.3): an ARP request whose sender and target protocol
//!   addresses are both the announced address and whose target hardware address is zero,
//!   broadcast. Receivers that hold an entry for the address update it (RFC 826).
//! - IPv6: an unsolicited Neighbor Advertisement (RFC 4861 §7.2.6) to all nodes (`ff02::1`),
//!   with the Override flag and the Target Link-Layer Address option, hop limit 255.
//!
//! The frames are built here from values passed in; sending is [`FrameSender::announce`]'s, and
//! when and how often is the caller's (the application's announcer).
//!
//! [`FrameSender::announce`]: crate::FrameSender::announce

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::icmpv6::NeighborAdvertisementHeader;
use etherparse::{ArpEthIpv4Packet, ArpOperation, ArpPacket, Icmpv6Type, PacketBuilder};
use lifeboat_dhcp::Mac;

use crate::link_addr::{ETH_P_ARP, ETH_P_IPV6};

/// The Ethernet broadcast address, where ARP announcements go.
const BROADCAST: [u8; 6] = [0xff; 6];

/// The Ethernet address of `ff02::1`, all IPv6 nodes of the link (RFC 2464 §7).
const ALL_NODES: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

/// NDP messages must come with hop limit 255 (RFC 4861 §7.1.2), or receivers drop them.
const NDP_HOP_LIMIT: u8 = 255;

/// The Target Link-Layer Address option (RFC 4861 §4.6.1): type 2, length 1 (8 octets).
const TARGET_LINK_LAYER_ADDRESS: u8 = 2;

/// One frame that announces an address: where it goes and what it carries (the payload after
/// the Ethernet header, which the packet socket writes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The Ethernet destination.
    pub destination: [u8; 6],
    /// The EtherType of `payload`.
    pub ethertype: u16,
    pub payload: Vec<u8>,
}

impl Announcement {
    /// The ARP Announcement of `address`, held by `mac`.
    pub fn ipv4(mac: Mac, address: Ipv4Addr) -> Announcement {
        let arp = ArpEthIpv4Packet {
            operation: ArpOperation::REQUEST,
            sender_mac: mac.0,
            sender_ipv4: address.octets(),
            target_mac: [0; 6],
            target_ipv4: address.octets(),
        };
        let payload = ArpPacket::from(arp).to_bytes().to_vec();
        Announcement { destination: BROADCAST, ethertype: ETH_P_ARP, payload }
    }

    /// The unsolicited Neighbor Advertisement of `address`, held by `mac`.
    pub fn ipv6(mac: Mac, address: Ipv6Addr) -> Announcement {
        let header = NeighborAdvertisementHeader { router: false, solicited: false, r#override: true };
        let builder =
            PacketBuilder::ipv6(address.octets(), Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1).octets(), NDP_HOP_LIMIT)
                .icmpv6(Icmpv6Type::NeighborAdvertisement(header));
        let mut body = Vec::with_capacity(24);
        body.extend_from_slice(&address.octets());
        body.extend_from_slice(&[TARGET_LINK_LAYER_ADDRESS, 1]);
        body.extend_from_slice(&mac.0);
        let mut payload = Vec::with_capacity(builder.size(body.len()));
        // Writing into a Vec cannot fail, and the body is far below any length limit.
        let _ = builder.write(&mut payload, &body);
        Announcement { destination: ALL_NODES, ethertype: ETH_P_IPV6, payload }
    }
}

#[cfg(test)]
mod tests {
    use etherparse::{ArpPacketSlice, Icmpv6Slice, Ipv6Slice};

    use super::*;

    const MAC: [u8; 6] = [0x02, 0x42, 0xac, 0x11, 0x00, 0x02];

    #[test]
    fn an_arp_announcement_names_the_address_as_sender_and_target_and_is_broadcast() {
        let sent = Announcement::ipv4(Mac(MAC), Ipv4Addr::new(192, 168, 1, 2));
        assert_eq!((sent.destination, sent.ethertype), ([0xff; 6], 0x0806));
        let arp = ArpPacketSlice::from_slice(&sent.payload).expect("an ARP packet");
        assert_eq!(arp.operation(), ArpOperation::REQUEST);
        assert_eq!(arp.sender_hw_addr(), MAC);
        assert_eq!(arp.sender_protocol_addr(), [192, 168, 1, 2]);
        assert_eq!(arp.target_hw_addr(), [0; 6]);
        assert_eq!(arp.target_protocol_addr(), [192, 168, 1, 2]);
    }

    #[test]
    fn an_unsolicited_advertisement_overrides_with_the_mac_and_its_checksum_holds() {
        let address: Ipv6Addr = "fd00:77::2".parse().unwrap();
        let sent = Announcement::ipv6(Mac(MAC), address);
        assert_eq!((sent.destination, sent.ethertype), ([0x33, 0x33, 0, 0, 0, 1], 0x86dd));
        let ip = Ipv6Slice::from_slice(&sent.payload).expect("an IPv6 packet");
        assert_eq!(ip.header().hop_limit(), 255);
        assert_eq!(ip.header().source_addr(), address);
        assert_eq!(ip.header().destination_addr(), "ff02::1".parse::<Ipv6Addr>().unwrap());
        let icmp = Icmpv6Slice::from_slice(ip.payload().payload).expect("ICMPv6");
        let Icmpv6Type::NeighborAdvertisement(flags) = icmp.icmp_type() else { panic!("{:?}", icmp.icmp_type()) };
        assert!(flags.r#override && !flags.solicited && !flags.router);
        let body = icmp.payload();
        assert_eq!(&body[..16], &address.octets());
        assert_eq!(&body[16..], &[2, 1, 0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);
        let checksum = icmp.icmp_type().calc_checksum(address.octets(), ip.header().destination(), body).unwrap();
        assert_eq!(icmp.checksum(), checksum);
    }
}
