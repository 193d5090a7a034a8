//! `dhcp_responder`: [`Responder::handle`] over a sequence of datagrams with arbitrary arrivals
//! and a clock that never goes back, on a responder set up like the server of the captured
//! fixtures (`crates/dhcp/tests/responder_captured.rs`), with small pools.
//!
//! After each datagram: the lease table is consistent; no client's active lease was taken by
//! another client (bound or offered over it, or dropped without a change for the store); every
//! change belongs to the requesting client; every reply is a BOOTREPLY with the request's xid,
//! of the type its request calls for, to the RFC 2131 §4.1 destination (computed here from the
//! request bytes); an address-granting ACK or BOOTREPLY comes with the lease change to persist.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use arbitrary::{Result, Unstructured};
use lifeboat_dhcp::config::{ExtraOption, Mac, Reservation};
use lifeboat_dhcp::responder::client_key;
use lifeboat_dhcp::scope::{InterfaceAddr, resolve};
use lifeboat_dhcp::wire::MessageType;
use lifeboat_dhcp::{Arrival, ClientKey, Destination, Kind, Lease, LeaseChange, Responder, Settings, decode};

const MAX_STEPS: usize = 64;
const MAX_DATAGRAM: usize = 1500;
/// The fixtures' clock: Unix seconds in 2027.
pub const START: u64 = 1_800_000_000;

/// Interfaces, as in the capture: the client segment, the uplink towards dhcrelay, a segment
/// with another DHCP server (proxyDHCP), loopback.
pub const LAN: (u32, Ipv4Addr) = (7, Ipv4Addr::new(10, 77, 0, 1));
pub const UPLINK: (u32, Ipv4Addr) = (8, Ipv4Addr::new(10, 79, 0, 1));
pub const PROXY: (u32, Ipv4Addr) = (9, Ipv4Addr::new(10, 80, 0, 1));
const LOOPBACK: (u32, Ipv4Addr) = (1, Ipv4Addr::LOCALHOST);
/// dhcrelay's address on the uplink.
pub const RELAY: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 2);

const RANGES: [&str; 3] =
    ["10.77.0.105,10.77.0.112,10m", "10.78.0.109,10.78.0.116,255.255.255.0,10m", "10.80.0.0,proxy"];
const RESERVATIONS: [&str; 5] = [
    "7a:91:5d:b5:6f:10,10.77.0.5",
    "92:c4:ea:b3:89:b9,10.77.0.66",
    "52:88:57:b2:a4:48,10.77.0.67",
    "52:52:52:52:52:52,10.77.0.107",
    "22:26:b2:64:d5:b9,10.78.0.110",
];

/// Settings switches, bits of the input's first byte.
pub mod flags {
    pub const BOOTP_DYNAMIC: u8 = 1;
    /// Boot file names as long as configuration and dashboard accept (127 and 200 bytes).
    pub const LONG_NAMES: u8 = 2;
    pub const RATE_LIMIT: u8 = 4;
    pub const EXTRA_OPTIONS: u8 = 8;
    pub const DEFAULT_BOOT_SERVER: u8 = 16;
    /// Start with leases from the store, one of them expired and two on one address.
    pub const STORED_LEASES: u8 = 32;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Interface: 0-2 LAN, 3-4 uplink, 5 proxy segment, 6 loopback, 7 `raw_addr`'s last byte.
    pub interface: u8,
    /// Bit 7: port 4011 (else 67). Low bits % 4: 0 that interface's address, 1 LAN's, 2
    /// uplink's, 3 `raw_addr`.
    pub local: u8,
    /// % 6: 0 0.0.0.0:68, 1 the relay:67, 2 the request's ciaddr:68, 3 `raw_addr`:68,
    /// 4 `raw_addr`:`raw_port`, 5 10.77.0.`raw_addr's last byte`:68.
    pub source: u8,
    pub raw_addr: u32,
    pub raw_port: u16,
    /// Seconds before this datagram: below 200 as is, else (v - 199) × 600.
    pub wait: u8,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub flags: u8,
    pub datagrams: Vec<Datagram>,
}

pub fn run(data: &[u8]) {
    let Ok(input) = Input::decode(&mut Unstructured::new(data)) else { return };
    let settings = settings(input.flags);
    let reserved: HashMap<Ipv4Addr, Mac> = settings.reservations.iter().map(|r| (r.address, r.mac)).collect();
    let pools: Vec<_> = settings.scopes.iter().flat_map(|s| s.pools.clone()).collect();
    let mut responder = Responder::new(settings, stored_leases(input.flags));
    let mut now = START;
    for datagram in &input.datagrams {
        now += match datagram.wait {
            w @ 0..200 => u64::from(w),
            w => u64::from(w - 199) * 600,
        };
        let arrival = arrival(datagram);
        let before: Vec<Lease> = responder.leases().active_leases(now).cloned().collect();
        let handled = responder.handle(&datagram.bytes, &arrival, now);
        let Ok(request) = decode(&datagram.bytes) else {
            assert!(handled.reply.is_none() && handled.change.is_none(), "a malformed datagram changed something");
            continue;
        };
        let key = client_key(&request);
        let mac = <[u8; 6]>::try_from(request.message.chaddr()).ok().filter(|_| datagram.bytes[1] == 1).map(Mac);
        // The same machine under another client identifier may take over its reservation.
        let same_machine =
            |lease: &Lease| reserved.get(&lease.address).is_some_and(|m| Some(*m) == mac && lease.mac == m.0);

        check_table(&responder, now);
        match &handled.change {
            Some(LeaseChange::Upsert(lease)) => {
                assert_eq!(lease.key, key, "a change for another client");
                assert_eq!(responder.leases().lease_of(&key), Some(lease), "the table differs from the change");
            }
            Some(LeaseChange::Remove { key: removed, .. }) => {
                assert_eq!(removed, &key, "a removal for another client");
                assert_eq!(responder.leases().address_of(&key), None, "removed but still in the table");
            }
            None => {}
        }
        for lease in before.iter().filter(|l| l.key != key && l.expires.is_none_or(|e| e > now)) {
            if same_machine(lease) {
                continue;
            }
            assert_eq!(
                responder.leases().lease_of(&lease.key),
                Some(lease),
                "the active lease of {} on {} was taken by {key} (explanation: {})",
                lease.key,
                lease.address,
                handled.explanation
            );
        }

        let Some(reply) = &handled.reply else { continue };
        let bytes = &reply.bytes;
        assert!(bytes.len() >= 300, "reply of {} bytes", bytes.len());
        assert_eq!(bytes[0], 2, "a reply is a BOOTREPLY");
        assert_eq!(bytes[4..8], datagram.bytes[4..8], "xid");
        let reply_type = option(bytes, 53).map(|d| d[0]);
        let yiaddr = Ipv4Addr::new(bytes[16], bytes[17], bytes[18], bytes[19]);
        let allowed: &[Option<u8>] = match (request.kind, arrival.local_port) {
            (Kind::Dhcp(MessageType::Request | MessageType::Inform), 4011) => &[Some(5)],
            (Kind::Dhcp(MessageType::Discover), _) => &[Some(2)],
            (Kind::Dhcp(MessageType::Request), _) => &[Some(5), Some(6)],
            (Kind::Dhcp(MessageType::Inform), _) => &[Some(5)],
            (Kind::Bootp { .. }, 67) => &[None],
            (kind, port) => panic!("a reply to {kind:?} on port {port}"),
        };
        assert!(allowed.contains(&reply_type), "reply type {reply_type:?} to {:?}", request.kind);
        if reply_type.is_some() {
            assert_eq!(option(bytes, 54), Some(&arrival.local_address.octets()[..]), "server identifier");
        }
        let nak = reply_type == Some(6);
        assert_eq!(reply.to, expected_destination(&datagram.bytes, yiaddr, nak, &arrival), "destination");
        if nak {
            assert!(yiaddr.is_unspecified() && handled.change.is_none(), "a NAK grants nothing");
        }
        if !yiaddr.is_unspecified() {
            let reservation = reserved.get(&yiaddr).is_some_and(|m| Some(*m) == mac);
            assert!(
                reservation || pools.iter().any(|p| p.contains(yiaddr)),
                "{yiaddr} is neither pool nor reservation"
            );
            assert_eq!(responder.leases().address_of(&key), Some(yiaddr), "the table does not hold {yiaddr} for {key}");
            for lease in before.iter().filter(|l| l.address == yiaddr && l.key != key) {
                assert!(same_machine(lease), "{yiaddr} granted to {key} while {} holds it", lease.key);
            }
            if reply_type != Some(2) {
                let granted = matches!(&handled.change, Some(LeaseChange::Upsert(l)) if l.address == yiaddr);
                assert!(granted, "{yiaddr} granted without a lease change to persist");
            }
        }
    }
}

/// Both views of the table agree, and no two active leases share an address or a client.
fn check_table(responder: &Responder, now: u64) {
    let active: Vec<&Lease> = responder.leases().active_leases(now).collect();
    for (i, lease) in active.iter().enumerate() {
        assert_eq!(responder.leases().address_of(&lease.key), Some(lease.address));
        assert_eq!(responder.leases().lease_of(&lease.key), Some(*lease));
        for other in &active[i + 1..] {
            assert_ne!(lease.address, other.address, "two active leases on one address");
            assert_ne!(lease.key, other.key, "two active leases of one client");
        }
    }
}

/// RFC 2131 §4.1 (and RFC 951 for BOOTP), from the request's bytes: a relayed request is
/// answered to the relay's port 67; a NAK is broadcast; a client with an address gets unicast
/// there; the broadcast bit, or nothing to unicast to, means broadcast; else unicast to the
/// hardware address. lifeboat adds: port 4011 requests (PXE boot servers), and clients on other
/// ports than 67/68 (test tools), are answered where they came from.
fn expected_destination(request: &[u8], yiaddr: Ipv4Addr, nak: bool, arrival: &Arrival) -> Destination {
    let interface = arrival.interface;
    let addr = |at: usize| Ipv4Addr::new(request[at], request[at + 1], request[at + 2], request[at + 3]);
    let (ciaddr, giaddr) = (addr(12), addr(24));
    if arrival.local_port == 4011 || !matches!(arrival.source.port(), 67 | 68) {
        Destination::Unicast(arrival.source)
    } else if !giaddr.is_unspecified() {
        Destination::Relay(SocketAddrV4::new(giaddr, 67))
    } else if nak {
        Destination::Broadcast { interface }
    } else if !ciaddr.is_unspecified() {
        Destination::Unicast(SocketAddrV4::new(ciaddr, 68))
    } else if request[10] & 0x80 != 0 || yiaddr.is_unspecified() || request[1] != 1 || request[2] != 6 {
        Destination::Broadcast { interface }
    } else {
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&request[28..34]);
        Destination::Hardware { interface, mac: lifeboat_dhcp::Mac(mac), address: yiaddr }
    }
}

/// Option `code` of a reply, read by hand.
fn option(bytes: &[u8], code: u8) -> Option<&[u8]> {
    let mut i = 240;
    while let Some(&c) = bytes.get(i) {
        match c {
            0 => i += 1,
            255 => return None,
            _ => {
                let len = usize::from(*bytes.get(i + 1)?);
                let data = bytes.get(i + 2..i + 2 + len)?;
                if c == code {
                    return Some(data);
                }
                i += 2 + len;
            }
        }
    }
    None
}

fn arrival(d: &Datagram) -> Arrival {
    let raw = Ipv4Addr::from(d.raw_addr);
    let (interface, own) = match d.interface % 8 {
        0..=2 => LAN,
        3 | 4 => UPLINK,
        5 => PROXY,
        6 => LOOPBACK,
        _ => (d.raw_addr & 0xff, LAN.1),
    };
    let local_address = match d.local % 4 {
        0 => own,
        1 => LAN.1,
        2 => UPLINK.1,
        _ => raw,
    };
    let local_port = if d.local & 0x80 != 0 { 4011 } else { 67 };
    let ciaddr = d.bytes.get(12..16).map_or(Ipv4Addr::UNSPECIFIED, |b| Ipv4Addr::new(b[0], b[1], b[2], b[3]));
    let source = match d.source % 6 {
        0 => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
        1 => SocketAddrV4::new(RELAY, 67),
        2 => SocketAddrV4::new(ciaddr, 68),
        3 => SocketAddrV4::new(raw, 68),
        4 => SocketAddrV4::new(raw, d.raw_port),
        _ => SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, d.raw_addr as u8), 68),
    };
    Arrival { interface, local_address, local_port, source }
}

/// The responder's settings, built from the crate's public API as its tests do.
pub fn settings(flags: u8) -> Settings {
    let interfaces = [("lo", LOOPBACK, 8), ("br0", LAN, 24), ("vrly", UPLINK, 24), ("pxe0", PROXY, 24)]
        .map(|(name, (index, address), prefix)| InterfaceAddr { name: name.into(), index, address, prefix });
    let ranges: Vec<_> = RANGES.iter().map(|r| r.parse().expect("range")).collect();
    let mut s = Settings::new(resolve(&ranges, &interfaces, &[]).expect("scopes"));
    let long = flags & flags::LONG_NAMES != 0;
    let http_file = if long { format!("{}.efi", "h".repeat(123)) } else { "ipxe.efi".to_owned() };
    let rules = [
        "ipxe=boot.ipxe".to_owned(),
        "bios=undionly.kpxe".to_owned(),
        "efi-x64=snponly.efi".to_owned(),
        "efi-arm64=grubaa64.efi".to_owned(),
        "arch:22=boot.scr.uimg".to_owned(),
        format!("efi-x64-http={http_file}"),
        "vendor:HTTPClient=http://10.77.0.1/ipxe.efi".to_owned(),
    ];
    s.boot_rules = rules.iter().map(|r| r.parse().expect("boot rule")).collect();
    let default = if flags & flags::DEFAULT_BOOT_SERVER != 0 { "pxelinux.0,boothost,10.77.0.2" } else { "pxelinux.0" };
    s.default_boot = Some(default.parse().expect("default boot"));
    s.reservations = RESERVATIONS.iter().map(|r| r.parse::<Reservation>().expect("reservation")).collect();
    s.reservations[3].boot_file = Some("uboot/boot.scr.uimg".into());
    // The dashboard accepts image names up to 1024 bytes that exist under the TFTP root.
    let host_image = if long { format!("images/{}/openwrt.bin", "d".repeat(180)) } else { "openwrt.bin".to_owned() };
    s.host_boot.insert(Mac([0x52, 0x54, 0, 0x2a, 0x5f, 0xbb]), host_image);
    s.bootp_dynamic = flags & flags::BOOTP_DYNAMIC != 0;
    s.per_client_rate = if flags & flags::RATE_LIMIT != 0 { 3 } else { u32::MAX };
    if flags & flags::EXTRA_OPTIONS != 0 {
        s.extra_options =
            vec![ExtraOption { code: 6, data: vec![10, 77, 0, 1] }, ExtraOption { code: 224, data: vec![b'x'; 250] }];
    }
    s
}

/// Leases loaded from the store at start-up, when the flag asks for them.
fn stored_leases(flags: u8) -> Vec<Lease> {
    if flags & flags::STORED_LEASES == 0 {
        return Vec::new();
    }
    let lease = |mac: [u8; 6], last: u8, expires: Option<u64>| Lease {
        key: ClientKey([&[1u8][..], &mac[..]].concat()),
        mac: mac.to_vec(),
        address: Ipv4Addr::new(10, 77, 0, last),
        hostname: None,
        expires,
    };
    vec![
        lease([0x92, 0x85, 0x7d, 0x76, 0x5d, 0xc3], 106, Some(START + 300)),
        lease([0xc6, 0x2b, 0xd6, 0x08, 0xea, 0x8b], 108, Some(START - 10)),
        lease([2, 0, 0, 0, 0, 1], 110, None),
        lease([2, 0, 0, 0, 0, 2], 110, Some(START + 600)),
    ]
}

impl Input {
    /// Layout: flags (u8), then datagrams: interface, local, source (u8 each), raw_addr (u32),
    /// raw_port (u16), wait (u8), length (u16, at most 1500), the bytes.
    pub fn decode(u: &mut Unstructured<'_>) -> Result<Input> {
        let flags = u.arbitrary()?;
        let mut datagrams = Vec::new();
        while !u.is_empty() && datagrams.len() < MAX_STEPS {
            let interface = u.arbitrary()?;
            let local = u.arbitrary()?;
            let source = u.arbitrary()?;
            let raw_addr = u.arbitrary()?;
            let raw_port = u.arbitrary()?;
            let wait = u.arbitrary()?;
            let len = usize::from(u.arbitrary::<u16>()?).min(MAX_DATAGRAM).min(u.len());
            let bytes = u.bytes(len)?.to_vec();
            datagrams.push(Datagram { interface, local, source, raw_addr, raw_port, wait, bytes });
        }
        Ok(Input { flags, datagrams })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.flags];
        for d in &self.datagrams {
            out.extend([d.interface, d.local, d.source]);
            out.extend(d.raw_addr.to_le_bytes());
            out.extend(d.raw_port.to_le_bytes());
            out.push(d.wait);
            out.extend((d.bytes.len() as u16).to_le_bytes());
            out.extend(&d.bytes);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_reads_back_and_every_settings_variant_builds() {
        let input = Input {
            flags: 0x3f,
            datagrams: vec![Datagram {
                interface: 3,
                local: 0x81,
                source: 4,
                raw_addr: 0x0a4d_0001,
                raw_port: 4011,
                wait: 250,
                bytes: vec![1; 300],
            }],
        };
        assert_eq!(Input::decode(&mut Unstructured::new(&input.encode())).unwrap(), input);
        for flags in 0..64 {
            run(&Input { flags, ..input.clone() }.encode());
        }
    }
}
