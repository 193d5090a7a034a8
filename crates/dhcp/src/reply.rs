//! Encoding of DHCP and BOOTP replies.
//!
//! **Invariant:** a reply copies the transaction id, hardware address, flags and giaddr of its
//! request and echoes a relay's option 82; a DHCP reply carries options 53 and 54; a BOOTP reply
//! never carries DHCP-only options and has an RFC 1497 vendor area only if the request had the
//! magic cookie; every reply is at least 300 bytes long; a reply stays within the size the client accepts
//! whenever dropping optional options can achieve that.

use std::net::Ipv4Addr;

use dhcproto::Encodable;
use dhcproto::error::EncodeError;
use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode, UnknownOption};

use ipnet::Ipv4Net;

use crate::config::{ExtraOption, LeaseTime};
use crate::wire::{HEADER_LEN, Kind, Request};

/// The header's `file` field (a boot file name up to this long fits in it).
const FILE_FIELD: usize = 128;
/// The header's `sname` field.
const SNAME_FIELD: usize = 64;
/// The longest option value.
const MAX_OPTION: usize = 255;

/// Smallest BOOTP reply (RFC 951: 236-byte header and a 64-byte vendor area).
pub const BOOTP_MIN_LEN: usize = 300;
/// PXE option 43 telling a PXE ROM to boot the file in the offer without boot-server discovery
/// (sub-option 6, PXE_DISCOVERY_CONTROL, bit 3).
pub const PXE_DISCOVERY_CONTROL: [u8; 4] = [6, 1, 8, 255];
/// A DHCP message every client must accept (RFC 2131 §2: 576-byte IP datagram, less IP and UDP
/// headers).
const DEFAULT_MAX_MESSAGE: usize = 576 - 28;

/// What the client should boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootInfo {
    pub file: String,
    /// siaddr: the TFTP server.
    pub next_server: Ipv4Addr,
    pub server_name: Option<String>,
    /// Option 60 echoed to boot firmware: `PXEClient` or `HTTPClient`.
    pub vendor_class: Option<&'static str>,
}

/// Which reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    Offer,
    Ack,
    Nak(&'static str),
    Bootp,
}

/// Everything a reply says beyond what it copies from the request.
#[derive(Debug, Clone)]
pub struct ReplyFields<'a> {
    pub kind: ReplyKind,
    pub yiaddr: Ipv4Addr,
    /// Option 54: our address on the interface the request came in on.
    pub server_id: Ipv4Addr,
    /// Options 51, 58, 59 (none for INFORM and proxyDHCP).
    pub lease: Option<LeaseTime>,
    /// Option 1.
    pub subnet: Option<Ipv4Net>,
    pub boot: Option<&'a BootInfo>,
    pub extra: &'a [ExtraOption],
}

/// Encode the reply to `request`.
pub fn encode(request: &Request, f: &ReplyFields<'_>) -> Result<Vec<u8>, EncodeError> {
    let full = with_relay_info(request, build(request, f, true).to_vec()?);
    let limit = max_message(request);
    let bytes = if full.len() > limit { with_relay_info(request, build(request, f, false).to_vec()?) } else { full };
    Ok(match (f.kind, request.kind) {
        (ReplyKind::Bootp, Kind::Bootp { cookie: false }) => {
            // No cookie: the vendor area is opaque to this client; send it empty.
            let mut plain = bytes[..HEADER_LEN].to_vec();
            plain.resize(BOOTP_MIN_LEN, 0);
            plain
        }
        // DHCP replies too: old PXE ROMs and bootloaders drop anything shorter than a BOOTP
        // message, and dnsmasq and ISC dhcpd pad the same way.
        _ => pad(bytes, BOOTP_MIN_LEN),
    })
}

/// Echo the relay agent information (option 82) as the last option, as RFC 3046 §2.2 asks.
/// Done on the encoded bytes because dhcproto 0.15 writes an option 82 held as raw bytes twice.
fn with_relay_info(request: &Request, mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(info) = request.option(82)
        && bytes.last() == Some(&255)
        && bytes.len() > HEADER_LEN + 4
    {
        bytes.pop();
        bytes.extend_from_slice(&[82, info.len() as u8]);
        bytes.extend_from_slice(info);
        bytes.push(255);
    }
    bytes
}

fn pad(mut bytes: Vec<u8>, len: usize) -> Vec<u8> {
    if bytes.len() < len {
        bytes.resize(len, 0);
    }
    bytes
}

/// The largest DHCP message the client accepts: option 57 (an IP datagram size), else 576.
fn max_message(request: &Request) -> usize {
    let announced = request.option(57).map(|d| usize::from(u16::from_be_bytes([d[0], d[1]])));
    announced.map_or(DEFAULT_MAX_MESSAGE, |n| n.saturating_sub(28).max(DEFAULT_MAX_MESSAGE))
}

fn build(request: &Request, f: &ReplyFields<'_>, optional: bool) -> Message {
    let req = &request.message;
    let nak = matches!(f.kind, ReplyKind::Nak(_));
    let mut m = Message::default();
    m.set_opcode(Opcode::BootReply)
        .set_htype(req.htype())
        .set_chaddr(req.chaddr())
        .set_xid(req.xid())
        .set_giaddr(req.giaddr())
        .set_yiaddr(f.yiaddr);
    let relayed = !req.giaddr().is_unspecified();
    m.set_flags(if nak && relayed { Flags::default().set_broadcast() } else { req.flags() });
    if f.kind == ReplyKind::Ack {
        m.set_ciaddr(req.ciaddr());
    }
    if let (Some(boot), false) = (f.boot, nak) {
        m.set_siaddr(boot.next_server);
        // Longer names than the header's fields hold go in options 67 and 66 only (below).
        if boot.file.len() <= FILE_FIELD {
            m.set_fname_str(&boot.file);
        }
        if let Some(name) = boot.server_name.as_ref().filter(|name| name.len() <= SNAME_FIELD) {
            m.set_sname_str(name);
        }
    }

    let opts = m.opts_mut();
    match f.kind {
        ReplyKind::Offer => _ = opts.insert(DhcpOption::MessageType(MessageType::Offer)),
        ReplyKind::Ack => _ = opts.insert(DhcpOption::MessageType(MessageType::Ack)),
        ReplyKind::Nak(why) => {
            opts.insert(DhcpOption::MessageType(MessageType::Nak));
            opts.insert(DhcpOption::Message(why.to_owned()));
        }
        ReplyKind::Bootp => {}
    }
    if f.kind != ReplyKind::Bootp {
        opts.insert(DhcpOption::ServerIdentifier(f.server_id));
    }
    if nak {
        return m;
    }
    if let (Some(lease), true) = (f.lease, f.kind != ReplyKind::Bootp) {
        opts.insert(DhcpOption::AddressLeaseTime(lease.wire_secs()));
        if let LeaseTime::Secs(secs) = lease {
            opts.insert(DhcpOption::Renewal(secs / 2));
            opts.insert(DhcpOption::Rebinding((u64::from(secs) * 7 / 8) as u32));
        }
    }
    if let Some(subnet) = f.subnet {
        opts.insert(DhcpOption::SubnetMask(subnet.netmask()));
    }
    if let Some(boot) = f.boot {
        if let Some(class) = boot.vendor_class {
            opts.insert(DhcpOption::ClassIdentifier(class.as_bytes().to_vec()));
            if class == "PXEClient" {
                opts.insert(unknown(43, PXE_DISCOVERY_CONTROL.to_vec()));
            }
        }
        let asked = |code: u8| request.option(55).is_some_and(|list| list.contains(&code));
        let name = boot.server_name.clone().unwrap_or_else(|| boot.next_server.to_string());
        if (asked(66) || name.len() > SNAME_FIELD) && name.len() <= MAX_OPTION {
            opts.insert(DhcpOption::TFTPServerName(name.into_bytes()));
        }
        if (asked(67) || boot.file.len() > FILE_FIELD) && boot.file.len() <= MAX_OPTION {
            opts.insert(DhcpOption::BootfileName(boot.file.as_bytes().to_vec()));
        }
    }
    if optional {
        for extra in f.extra {
            opts.insert(unknown(extra.code, extra.data.clone()));
        }
    }
    m
}

fn unknown(code: u8, data: Vec<u8>) -> DhcpOption {
    DhcpOption::Unknown(UnknownOption::new(OptionCode::from(code), data))
}

#[cfg(test)]
mod tests {
    use dhcproto::Decodable;

    use super::*;
    use crate::wire::{MAGIC_COOKIE, decode};

    fn request(opts: &[u8], cookie: bool) -> Request {
        let mut p = vec![0u8; HEADER_LEN];
        p[0] = 1;
        p[1] = 1;
        p[2] = 6;
        p[4..8].copy_from_slice(&[1, 2, 3, 4]);
        p[10] = 0x80; // broadcast flag
        p[24..28].copy_from_slice(&[0, 0, 0, 0]);
        p[28..34].copy_from_slice(&[0x52, 0x54, 0, 1, 2, 3]);
        if cookie {
            p.extend_from_slice(&MAGIC_COOKIE);
            p.extend_from_slice(opts);
        }
        decode(&p).unwrap()
    }

    fn boot() -> BootInfo {
        BootInfo {
            file: "boot.ipxe".into(),
            next_server: Ipv4Addr::new(10, 0, 0, 1),
            server_name: None,
            vendor_class: Some("PXEClient"),
        }
    }

    fn fields<'a>(kind: ReplyKind, boot: Option<&'a BootInfo>, extra: &'a [ExtraOption]) -> ReplyFields<'a> {
        ReplyFields {
            kind,
            yiaddr: Ipv4Addr::new(10, 0, 0, 50),
            server_id: Ipv4Addr::new(10, 0, 0, 1),
            lease: Some(LeaseTime::Secs(3600)),
            subnet: Some(crate::config::subnet_of(Ipv4Addr::new(10, 0, 0, 0), 24)),
            boot,
            extra,
        }
    }

    fn codes(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = HEADER_LEN + 4;
        while bytes[i] != 255 {
            out.push(bytes[i]);
            i += 2 + usize::from(bytes[i + 1]);
        }
        out
    }

    #[test]
    fn offer_copies_the_request_and_carries_the_boot_file() {
        let req = request(&[53, 1, 1, 55, 3, 1, 66, 67, 82, 4, 1, 2, 9, 9, 255], true);
        let b = boot();
        let bytes = encode(&req, &fields(ReplyKind::Offer, Some(&b), &[])).unwrap();
        let m = Message::decode(&mut dhcproto::Decoder::new(&bytes)).unwrap();
        assert_eq!((m.opcode(), m.xid(), m.flags().broadcast()), (Opcode::BootReply, 0x01020304, true));
        assert_eq!(m.chaddr(), &[0x52, 0x54, 0, 1, 2, 3]);
        assert_eq!((m.yiaddr(), m.siaddr()), (Ipv4Addr::new(10, 0, 0, 50), Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(&bytes[108..118], b"boot.ipxe\0");
        assert_eq!(codes(&bytes), [1, 43, 51, 53, 54, 58, 59, 60, 66, 67, 82]);
        let t = |code| m.opts().get(code).cloned();
        assert_eq!(t(OptionCode::Renewal), Some(DhcpOption::Renewal(1800)));
        assert_eq!(t(OptionCode::Rebinding), Some(DhcpOption::Rebinding(3150)));
        assert_eq!(t(OptionCode::BootfileName), Some(DhcpOption::BootfileName(b"boot.ipxe".to_vec())));
    }

    #[test]
    fn a_boot_file_too_long_for_the_header_goes_in_option_67_alone() {
        // No option 55: without the long name, option 67 would not be sent.
        let req = request(&[53, 1, 1, 255], true);
        let long = BootInfo {
            file: format!("http://10.0.0.1/{}", "images/".repeat(30)),
            server_name: Some("s".repeat(70)),
            ..boot()
        };
        let bytes = encode(&req, &fields(ReplyKind::Offer, Some(&long), &[])).unwrap();
        let m = Message::decode(&mut dhcproto::Decoder::new(&bytes)).unwrap();
        assert!(bytes[108..236].iter().all(|b| *b == 0), "the file field stays empty");
        assert!(bytes[44..108].iter().all(|b| *b == 0), "the sname field stays empty");
        let option = |code| m.opts().get(code).cloned();
        assert_eq!(option(OptionCode::BootfileName), Some(DhcpOption::BootfileName(long.file.clone().into_bytes())));
        assert_eq!(option(OptionCode::TFTPServerName), Some(DhcpOption::TFTPServerName(vec![b's'; 70])));
        // Longer than any option: no boot file at all, and no panic.
        let longer = BootInfo { file: "x".repeat(300), ..boot() };
        let bytes = encode(&req, &fields(ReplyKind::Offer, Some(&longer), &[])).unwrap();
        assert!(!codes(&bytes).contains(&67));
    }

    #[test]
    fn nak_is_bare() {
        let req = request(&[53, 1, 3, 255], true);
        let b = boot();
        let extra = ["3,10.0.0.254".parse().unwrap()];
        let bytes = encode(&req, &fields(ReplyKind::Nak("address not on this network"), Some(&b), &extra)).unwrap();
        assert_eq!(codes(&bytes), [53, 54, 56]);
        assert_eq!(bytes.len(), BOOTP_MIN_LEN, "a short DHCP reply is padded to a BOOTP message");
        let m = Message::decode(&mut dhcproto::Decoder::new(&bytes)).unwrap();
        assert!(bytes[108..236].iter().all(|b| *b == 0), "no file in a NAK");
        assert_eq!(m.siaddr(), Ipv4Addr::UNSPECIFIED);
    }

    #[test]
    fn infinite_leases_have_no_renewal_times() {
        let req = request(&[53, 1, 3, 255], true);
        let f = ReplyFields { lease: Some(LeaseTime::Infinite), ..fields(ReplyKind::Ack, None, &[]) };
        assert_eq!(codes(&encode(&req, &f).unwrap()), [1, 51, 53, 54]);
    }

    #[test]
    fn bootp_replies() {
        let b = BootInfo { vendor_class: None, ..boot() };
        let extra = ["3,10.0.0.254".parse().unwrap()];
        let with_cookie = encode(&request(&[255], true), &fields(ReplyKind::Bootp, Some(&b), &extra)).unwrap();
        assert_eq!(with_cookie.len(), BOOTP_MIN_LEN);
        assert_eq!(&with_cookie[HEADER_LEN..HEADER_LEN + 4], &MAGIC_COOKIE);
        assert_eq!(codes(&with_cookie), [1, 3], "RFC 1497 vendor area: no DHCP options");
        let plain = encode(&request(&[], false), &fields(ReplyKind::Bootp, Some(&b), &extra)).unwrap();
        assert_eq!(plain.len(), BOOTP_MIN_LEN);
        assert!(plain[HEADER_LEN..].iter().all(|b| *b == 0), "no cookie asked, none sent");
        assert_eq!(&plain[108..117], b"boot.ipxe");
        assert_eq!(&plain[16..20], &[10, 0, 0, 50]);
    }

    #[test]
    fn oversized_replies_drop_extra_options() {
        let extra: Vec<ExtraOption> = (224..226).map(|c| format!("{c},{}", "x".repeat(200)).parse().unwrap()).collect();
        let small = request(&[53, 1, 1, 255], true);
        let bytes = encode(&small, &fields(ReplyKind::Offer, None, &extra)).unwrap();
        assert!(bytes.len() <= DEFAULT_MAX_MESSAGE, "{}", bytes.len());
        assert!(!codes(&bytes).contains(&224));
        let big = request(&[53, 1, 1, 57, 2, 0x05, 0xdc, 255], true);
        let bytes = encode(&big, &fields(ReplyKind::Offer, None, &extra)).unwrap();
        assert!(codes(&bytes).contains(&225), "a client that accepts 1500 bytes gets them all");
    }
}
