//! Test support: fixture packets and an editor that derives variants from them (a REQUEST from
//! a DISCOVER, a relayed copy, ...) by rewriting header fields and options on the wire bytes.

#![allow(dead_code, unreachable_pub)]

use std::net::{Ipv4Addr, SocketAddrV4};

use lifeboat_dhcp::Arrival;
use lifeboat_dhcp::destination::{CLIENT_PORT, SERVER_PORT};

/// A broadcast request from a client without an address, arrived on port 67 of interface
/// `interface`, where the server has `local`.
pub fn broadcast_arrival(interface: u32, local: Ipv4Addr) -> Arrival {
    Arrival {
        interface,
        local_address: local,
        local_port: SERVER_PORT,
        source: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT),
    }
}

/// The bytes of `tests/fixtures/NAME` (hex, `#` comment lines ignored).
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let hex: String = text.lines().filter(|l| !l.starts_with('#')).collect::<String>().split_whitespace().collect();
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

/// A request being edited: the 236-byte header, then options in order (no cookie means BOOTP
/// without a vendor area).
#[derive(Debug, Clone)]
pub struct Packet {
    pub header: Vec<u8>,
    pub cookie: bool,
    pub options: Vec<(u8, Vec<u8>)>,
}

impl Packet {
    /// Parse well-formed request bytes (fixtures).
    pub fn parse(bytes: &[u8]) -> Packet {
        let header = bytes[..236].to_vec();
        let cookie = bytes.get(236..240) == Some(&[99, 130, 83, 99][..]);
        let mut options = Vec::new();
        let mut i = 240;
        while cookie && i < bytes.len() && bytes[i] != 255 {
            if bytes[i] == 0 {
                i += 1;
                continue;
            }
            let len = usize::from(bytes[i + 1]);
            options.push((bytes[i], bytes[i + 2..i + 2 + len].to_vec()));
            i += 2 + len;
        }
        Packet { header, cookie, options }
    }

    /// A minimal request from `mac`: Ethernet, a fixed xid, no flags, cookie, the given options.
    pub fn new(mac: [u8; 6], options: &[(u8, &[u8])]) -> Packet {
        let mut header = vec![0u8; 236];
        header[0] = 1;
        header[1] = 1;
        header[2] = 6;
        header[4..8].copy_from_slice(&[0x11, 0x22, 0x33, 0x44]);
        header[28..34].copy_from_slice(&mac);
        Packet { header, cookie: true, options: options.iter().map(|(c, d)| (*c, d.to_vec())).collect() }
    }

    pub fn fixture(name: &str) -> Packet {
        Packet::parse(&fixture(name))
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut out = self.header.clone();
        if self.cookie {
            out.extend_from_slice(&[99, 130, 83, 99]);
            for (code, data) in &self.options {
                out.push(*code);
                out.push(data.len() as u8);
                out.extend_from_slice(data);
            }
            out.push(255);
        }
        out
    }

    pub fn mac(&self) -> [u8; 6] {
        self.header[28..34].try_into().unwrap()
    }

    /// The first occurrence of option `code`.
    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.options.iter().find(|(c, _)| *c == code).map(|(_, d)| d.as_slice())
    }

    pub fn xid(&self) -> [u8; 4] {
        self.header[4..8].try_into().unwrap()
    }

    /// The lease key RFC 2131 §4.2 prescribes: option 61, else hardware type and address.
    pub fn client_key(&self) -> Vec<u8> {
        match self.option(61) {
            Some(id) => id.to_vec(),
            None => [&self.header[1..2], &self.header[28..28 + usize::from(self.header[2])]].concat(),
        }
    }

    /// The largest reply this client accepts (option 57 less the IP and UDP headers), if it said.
    pub fn max_reply_len(&self) -> Option<usize> {
        self.option(57).map(|d| usize::from(u16::from_be_bytes([d[0], d[1]])) - 28)
    }

    pub fn with_mac(mut self, mac: [u8; 6]) -> Packet {
        self.header[28..34].copy_from_slice(&mac);
        self
    }

    pub fn with_option(mut self, code: u8, data: &[u8]) -> Packet {
        match self.options.iter_mut().find(|(c, _)| *c == code) {
            Some(slot) => slot.1 = data.to_vec(),
            None => self.options.push((code, data.to_vec())),
        }
        self
    }

    pub fn without_option(mut self, code: u8) -> Packet {
        self.options.retain(|(c, _)| *c != code);
        self
    }

    /// Change option 53.
    pub fn message_type(self, t: u8) -> Packet {
        self.with_option(53, &[t])
    }

    pub fn ciaddr(mut self, a: Ipv4Addr) -> Packet {
        self.header[12..16].copy_from_slice(&a.octets());
        self
    }

    pub fn giaddr(mut self, a: Ipv4Addr) -> Packet {
        self.header[24..28].copy_from_slice(&a.octets());
        self
    }

    pub fn broadcast_flag(mut self, on: bool) -> Packet {
        self.header[10] = if on { 0x80 } else { 0 };
        self
    }

    /// Plain BOOTP: no option 53 (and no options at all without the cookie).
    pub fn bootp(mut self, cookie: bool) -> Packet {
        self.options.retain(|(c, _)| *c != 53);
        self.cookie = cookie;
        self
    }
}

/// A reply, decoded by hand for the checks (independent of the encoder under test).
#[derive(Debug, Clone)]
pub struct Seen {
    pub bytes: Vec<u8>,
    pub options: Vec<(u8, Vec<u8>)>,
}

impl Seen {
    pub fn parse(bytes: &[u8]) -> Seen {
        assert_eq!(bytes[0], 2, "op must be BOOTREPLY");
        let p = Packet::parse(bytes);
        Seen { bytes: bytes.to_vec(), options: p.options }
    }

    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.options.iter().find(|(c, _)| *c == code).map(|(_, d)| d.as_slice())
    }

    pub fn codes(&self) -> Vec<u8> {
        self.options.iter().map(|(c, _)| *c).collect()
    }

    pub fn message_type(&self) -> Option<u8> {
        self.option(53).map(|d| d[0])
    }

    pub fn yiaddr(&self) -> Ipv4Addr {
        addr(&self.bytes[16..20])
    }

    pub fn siaddr(&self) -> Ipv4Addr {
        addr(&self.bytes[20..24])
    }

    pub fn giaddr(&self) -> Ipv4Addr {
        addr(&self.bytes[24..28])
    }

    pub fn file(&self) -> String {
        let f = &self.bytes[108..236];
        String::from_utf8_lossy(&f[..f.iter().position(|b| *b == 0).unwrap_or(128)]).into_owned()
    }

    pub fn xid(&self) -> [u8; 4] {
        self.bytes[4..8].try_into().unwrap()
    }

    pub fn u32_option(&self, code: u8) -> Option<u32> {
        self.option(code).map(|d| u32::from_be_bytes(d.try_into().unwrap()))
    }
}

fn addr(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}
