//! Where a reply goes (RFC 2131 §4.1, RFC 1542 §5.4).
//!
//! **Invariant:** the choice depends only on the request's giaddr, ciaddr, flags and hardware
//! address, the reply's yiaddr and message type, and the port the request came in on.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::Message;

use crate::config::Mac;

/// The DHCP server port, where relays listen too.
pub const SERVER_PORT: u16 = 67;
/// The DHCP client port.
pub const CLIENT_PORT: u16 = 68;
/// The PXE boot server port (proxyDHCP REQUESTs).
pub const PXE_PORT: u16 = 4011;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// To the relay agent's port 67.
    Relay(SocketAddrV4),
    /// Ordinary unicast, the client has an address (renewing, INFORM, PXE port 4011).
    Unicast(SocketAddrV4),
    /// 255.255.255.255:68 out of the interface `interface` (its index).
    Broadcast { interface: u32 },
    /// To `address`:68 at hardware address `mac` out of `interface`, for a client that cannot
    /// answer ARP yet. The driver sends it without the kernel's ARP cache, or broadcasts if it
    /// cannot.
    Hardware { interface: u32, mac: Mac, address: Ipv4Addr },
}

/// How a request reached us: the driver fills this in from the socket (`IP_PKTINFO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// Index of the interface it came in on.
    pub interface: u32,
    /// Our address on that interface (the server identifier we answer with).
    pub local_address: Ipv4Addr,
    /// The port it was sent to: 67, or 4011 for PXE boot-server requests.
    pub local_port: u16,
    pub source: SocketAddrV4,
}

/// Decide the destination of a reply to `request`.
pub fn destination(request: &Message, reply_yiaddr: Ipv4Addr, nak: bool, arrival: &Arrival) -> Destination {
    let interface = arrival.interface;
    let source = arrival.source;
    if arrival.local_port == PXE_PORT || (source.port() != CLIENT_PORT && source.port() != SERVER_PORT) {
        // A PXE boot-server request (the client has its address by now), or a client on an odd
        // port (a test tool): answer where it came from.
        return Destination::Unicast(source);
    }
    let giaddr = request.giaddr();
    if !giaddr.is_unspecified() {
        return Destination::Relay(SocketAddrV4::new(giaddr, SERVER_PORT));
    }
    if nak {
        return Destination::Broadcast { interface };
    }
    let ciaddr = request.ciaddr();
    if !ciaddr.is_unspecified() {
        return Destination::Unicast(SocketAddrV4::new(ciaddr, CLIENT_PORT));
    }
    if request.flags().broadcast() || reply_yiaddr.is_unspecified() {
        return Destination::Broadcast { interface };
    }
    match <[u8; 6]>::try_from(request.chaddr()) {
        Ok(mac) if u8::from(request.htype()) == 1 => {
            Destination::Hardware { interface, mac: Mac(mac), address: reply_yiaddr }
        }
        _ => Destination::Broadcast { interface },
    }
}

#[cfg(test)]
mod tests {
    use dhcproto::v4::Flags;

    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn request(ciaddr: &str, giaddr: &str, broadcast: bool) -> Message {
        let mut m = Message::new_with_id(1, ip(ciaddr), ip("0.0.0.0"), ip("0.0.0.0"), ip(giaddr), &[2, 0, 0, 0, 0, 1]);
        if broadcast {
            m.set_flags(Flags::default().set_broadcast());
        }
        m
    }

    #[test]
    fn rfc_2131_section_4_1() {
        let from_client = Arrival {
            interface: 3,
            local_address: ip("10.0.0.1"),
            local_port: SERVER_PORT,
            source: SocketAddrV4::new(ip("0.0.0.0"), CLIENT_PORT),
        };
        let yi = ip("10.0.0.50");
        let cases = [
            ("relay", request("0.0.0.0", "10.9.0.1", false), false, Destination::Relay("10.9.0.1:67".parse().unwrap())),
            (
                "relay nak",
                request("0.0.0.0", "10.9.0.1", false),
                true,
                Destination::Relay("10.9.0.1:67".parse().unwrap()),
            ),
            ("nak", request("10.0.0.7", "0.0.0.0", false), true, Destination::Broadcast { interface: 3 }),
            (
                "renewing",
                request("10.0.0.7", "0.0.0.0", true),
                false,
                Destination::Unicast("10.0.0.7:68".parse().unwrap()),
            ),
            ("broadcast flag", request("0.0.0.0", "0.0.0.0", true), false, Destination::Broadcast { interface: 3 }),
            (
                "no address yet",
                request("0.0.0.0", "0.0.0.0", false),
                false,
                Destination::Hardware { interface: 3, mac: Mac([2, 0, 0, 0, 0, 1]), address: yi },
            ),
        ];
        for (name, req, nak, want) in cases {
            assert_eq!(destination(&req, yi, nak, &from_client), want, "{name}");
        }
        let req = request("0.0.0.0", "0.0.0.0", false);
        assert_eq!(destination(&req, ip("0.0.0.0"), false, &from_client), Destination::Broadcast { interface: 3 });
        let source = SocketAddrV4::new(ip("10.0.0.7"), CLIENT_PORT);
        let pxe = Arrival { local_port: PXE_PORT, source, ..from_client };
        assert_eq!(destination(&req, yi, false, &pxe), Destination::Unicast(source));
        let mut token_ring = req.clone();
        token_ring.set_htype(6u8.into());
        assert_eq!(destination(&token_ring, yi, false, &from_client), Destination::Broadcast { interface: 3 });
    }
}
