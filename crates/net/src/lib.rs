//! lifeboat's network edge: sockets and interfaces, nothing else.
//!
//! **Invariant:** all socket code — and any `unsafe` — of lifeboat lives in this crate, and this
//! crate contains no protocol logic. It opens, configures and binds sockets, and moves
//! datagrams with the packet-info ancillary data the protocol drivers need; it never looks
//! inside a datagram.
//!
//! Code map:
//! - [`PktInfoSocket`] (`sockets.rs`): the listening socket. Each received [`Datagram`] carries
//!   the local address to answer from (`IP_PKTINFO` / `IPV6_RECVPKTINFO`), and
//!   [`PktInfoSocket::send_from`] sets the source of a reply, so a server bound to `0.0.0.0`
//!   answers a request sent to a broadcast address from the interface's unicast address.
//! - [`TransferSocket`] (`transfer_socket.rs`): the socket of one transfer or of the client,
//!   driven from a thread of its own with a short spin before it sleeps, since lock-step TFTP
//!   speed is set by round-trip latency, or non-blocking under a poller.
//! - [`Poller`] (`poller.rs`): level-triggered epoll with a [`Waker`], for the event loops that
//!   serve many transfers on few threads.
//! - [`FrameSender`] (`frame_sender.rs`): UDP straight to a MAC address through a packet
//!   socket, for DHCP replies to clients that cannot answer ARP yet.
//! - [`ClientPortTap`] (`client_port_tap.rs`): the datagrams to UDP port 68 on one interface,
//!   with their sender's MAC, through a packet socket behind a kernel filter: how another DHCP
//!   server on the segment is seen.
//! - [`ArpTap`] (`arp_tap.rs`): the ARP packets on one interface, through a packet socket bound
//!   to ARP's EtherType: how a device asking for an address nobody has is seen.
//! - [`add_claimed`], [`remove_claimed`], [`claimed_addresses`] (`claimed_addresses.rs`): the
//!   addresses lifeboat adds to answer where a device looks for its server, labelled as its own,
//!   through netlink (rtnetlink).
//! - [`device_socket()`] (`device_socket.rs`): a UDP socket on one interface, for the DHCP probe.
//! - [`interfaces()`] (`interfaces.rs`): interfaces with their index, MAC and IPv4 addresses;
//!   [`usable_ipv6_addresses()`] (`ipv6_addresses.rs`): the IPv6 addresses past duplicate
//!   address detection, through netlink (`netlink.rs`); [`AddressChanges`]
//!   (`address_changes.rs`): the kernel's word that an interface or address changed.
//! - [`Announcement`] (`announce.rs`): the ARP Announcement or unsolicited Neighbor
//!   Advertisement of an address, sent by [`FrameSender::announce`].
//! - [`neighbour_mac()`] (`neighbours.rs`): the MAC the kernel's ARP table has for an address.
//! - [`udp_port_holders()`] (`port_holders.rs`): which sockets and processes hold a UDP port.
//! - [`default_route()`] (`routes.rs`): where the IPv4 default route leads.
//! - [`link_driver()`] (`link_driver.rs`): an interface's driver (`veth`, `macvlan`, ...).
//! - [`BindError`] (`error.rs`): bind failures phrased as what to do next.
//!
//! Four `unsafe` blocks, each with its `// SAFETY:` reason: one builds the link-layer address
//! of the packet sockets (`link_addr.rs`), which nix has no safe constructor for; two hand the
//! taps' packet sockets to tokio's reactor (`client_port_tap.rs`, `arp_tap.rs`), which takes a
//! descriptor only on the caller's word that it stays open; one asks the ethtool ioctl for a driver's name
//! (`link_driver.rs`), which has no wrapper in nix or socket2. nix's safe `recvmsg`/`sendmsg` wrappers and
//! socket2's `attach_filter` carry everything else.

mod address_changes;
mod announce;
mod arp_tap;
mod claimed_addresses;
mod client_port_tap;
mod device_socket;
mod error;
mod frame_sender;
mod interfaces;
mod ipv6_addresses;
mod link_addr;
mod link_driver;
mod neighbours;
mod netlink;
mod poller;
mod port_holders;
mod routes;
mod sockets;
mod transfer_socket;

pub use address_changes::AddressChanges;
pub use announce::Announcement;
pub use arp_tap::ArpTap;
pub use claimed_addresses::{
    CLAIM_LABEL_SUFFIX, ClaimedAddress, add_claimed, claimed_addresses, label_of, remove_claimed,
};
pub use client_port_tap::{ClientPortTap, Tapped};
pub use device_socket::device_socket;
pub use error::BindError;
pub use frame_sender::FrameSender;
pub use interfaces::{Interface, interfaces};
pub use ipv6_addresses::{InterfaceIpv6, usable_ipv6_addresses};
pub use link_driver::link_driver;
pub use neighbours::{Neighbour, neighbour, neighbour_mac};
pub use poller::{Events, Poller, WAKE_TOKEN, Waker};
pub use port_holders::{PortHolder, udp_port_holders};
pub use routes::{DefaultRoute, default_route};
pub use sockets::{Datagram, PktInfoSocket};
pub use transfer_socket::{MAX_SEGMENTED_BYTES, MAX_SEGMENTS, TransferSocket};
