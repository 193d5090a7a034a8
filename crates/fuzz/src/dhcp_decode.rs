//! `dhcp_decode`: [`decode`] on arbitrary bytes; on what it accepts, [`classify`], the client
//! key and the encoding of each kind of reply.
//!
//! The input is one UDP payload, as it arrives on port 67.

use std::net::Ipv4Addr;

use lifeboat_dhcp::config::{LeaseTime, subnet_of};
use lifeboat_dhcp::reply::{BOOTP_MIN_LEN, BootInfo, ReplyFields, ReplyKind, encode};
use lifeboat_dhcp::responder::client_key;
use lifeboat_dhcp::wire::{HEADER_LEN, MAGIC_COOKIE};
use lifeboat_dhcp::{Kind, classify, decode};

/// Longer than any UDP payload on Ethernet with jumbo frames.
const MAX_LEN: usize = 10_000;

pub fn run(data: &[u8]) {
    if data.len() > MAX_LEN {
        return;
    }
    let Ok(request) = decode(data) else { return };
    let client = classify(&request);
    let _ = (client.is_ipxe(), client.is_pxe(), client.is_http(), client_key(&request));

    assert_eq!(data[0], 1, "only BOOTREQUESTs are accepted");
    assert_eq!(request.message.xid().to_be_bytes(), data[4..8], "xid");
    let cookie = data.get(HEADER_LEN..HEADER_LEN + 4) == Some(&MAGIC_COOKIE[..]);
    let message_type = request.option(53);
    match request.kind {
        Kind::Dhcp(t) => {
            let code = u8::from(t);
            assert_eq!(message_type, Some(&[code][..]), "Kind::Dhcp without option 53 {t:?}");
            assert!(matches!(code, 1 | 3 | 4 | 7 | 8), "client message type {t:?}");
        }
        Kind::Bootp { cookie: c } => {
            assert_eq!(c, cookie, "cookie flag");
            assert_eq!(message_type, None, "BOOTP with option 53");
        }
    }
    if !cookie {
        assert!(request.options.is_empty(), "options read without the magic cookie");
    }
    // The options decode kept (parts of one option joined, RFC 3396) come from the option area.
    let area = data.len().saturating_sub(HEADER_LEN + 4);
    for option in &request.options {
        assert!(option.code != 0 && option.code != 255, "pad or end kept as an option");
    }
    let total: usize = request.options.iter().map(|o| o.data.len()).sum();
    assert!(total <= area, "{total} option bytes from an option area of {area}");

    let boot = BootInfo {
        file: "x".repeat(100),
        next_server: Ipv4Addr::new(10, 0, 0, 1),
        server_name: Some("tftp.example".into()),
        vendor_class: Some("PXEClient"),
    };
    for kind in [ReplyKind::Offer, ReplyKind::Ack, ReplyKind::Nak("no"), ReplyKind::Bootp] {
        let fields = ReplyFields {
            kind,
            yiaddr: Ipv4Addr::new(10, 0, 0, 50),
            server_id: Ipv4Addr::new(10, 0, 0, 1),
            lease: Some(LeaseTime::Secs(600)),
            subnet: Some(subnet_of(Ipv4Addr::new(10, 0, 0, 0), 24)),
            boot: Some(&boot),
            extra: &[],
        };
        let Ok(reply) = encode(&request, &fields) else { continue };
        assert!(reply.len() >= BOOTP_MIN_LEN, "{kind:?} of {} bytes", reply.len());
        assert_eq!(reply[0], 2, "op BOOTREPLY");
        assert_eq!(reply[4..8], data[4..8], "{kind:?} copies the xid");
        let hlen = usize::from(data[2]);
        assert_eq!(reply[2], data[2], "{kind:?} copies hlen");
        assert_eq!(reply[28..28 + hlen], data[28..28 + hlen], "{kind:?} copies chaddr");
    }
}
