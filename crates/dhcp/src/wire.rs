//! Decoding of untrusted DHCP/BOOTP datagrams, with validation dhcproto does not do.
//!
//! **Invariant:** [`decode`] never panics, whatever the bytes, and a packet that carries the
//! magic cookie but has a damaged option area is rejected — it is never mistaken for BOOTP.
//!
//! Why the option walk is hand-written: dhcproto 0.15 does not check the magic cookie
//! (bytes 236..240), stops silently at the first bad option (so a damaged DHCP packet decodes
//! as a BOOTP one without option 53), and hits `debug_assert!`s on some options with a wrong
//! length (80, 81, 94, 152–155). We therefore walk the option area ourselves first, and hand
//! dhcproto only a buffer we have proven well-formed. Adjacent instances of one option are one
//! option (RFC 3396 long options, as dhcproto joins them too), so lengths are checked after
//! joining: two 4-byte options 154 in a row are one 8-byte option, which is invalid.

/// DHCP message types by name (dhcproto's), for [`Kind::Dhcp`].
pub use dhcproto::v4::MessageType;
use dhcproto::{Decodable, Decoder, v4};
use thiserror::Error;

/// Length of the fixed BOOTP header before the vendor/options area.
pub const HEADER_LEN: usize = 236;
/// RFC 2131 magic cookie.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];

/// Why a datagram was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("datagram of {0} bytes is shorter than the 236-byte BOOTP header")]
    TooShort(usize),
    #[error("op is {0}, not BOOTREQUEST (1): replies and garbage are ignored")]
    NotRequest(u8),
    #[error("hardware address length {0} is larger than the 16-byte chaddr field")]
    BadHlen(u8),
    #[error("option {code} at offset {offset} runs past the end of the datagram")]
    OptionOverrun { code: u8, offset: usize },
    #[error("option {code} has length {len}, which is invalid for that option")]
    BadOptionLength { code: u8, len: usize },
    #[error("option area has no END option (255)")]
    MissingEnd,
    #[error("option 53 (message type) {0:?} is not a client message type")]
    BadMessageType(Vec<u8>),
    #[error("dhcproto rejected the validated packet: {0}")]
    Library(String),
}

/// How the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A DHCP message (option 53 present) of a type a client sends (DISCOVER, REQUEST, DECLINE,
    /// RELEASE or INFORM; decode refuses the others).
    Dhcp(MessageType),
    /// Plain BOOTP (RFC 951): no option 53. `cookie` tells whether the vendor area carried the
    /// RFC 1497 magic cookie (then the reply gets an RFC 1497 vendor area too).
    Bootp { cookie: bool },
}

/// One raw option as it appeared on the wire (pad and end excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOption {
    pub code: u8,
    pub data: Vec<u8>,
}

/// A validated request: the dhcproto message plus the raw options in wire order.
#[derive(Debug, Clone)]
pub struct Request {
    pub message: v4::Message,
    pub kind: Kind,
    pub options: Vec<RawOption>,
}

impl Request {
    /// The first occurrence of option `code`, raw.
    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.options.iter().find(|o| o.code == code).map(|o| o.data.as_slice())
    }
}

/// Minimum (and for some, exact) lengths of options whose wrong length would make dhcproto
/// misbehave or would make the value meaningless.
fn length_ok(code: u8, len: usize) -> bool {
    match code {
        53 => len == 1,
        50 | 54 | 51 | 58 | 59 | 1 => len == 4,
        57 => len == 2,
        80 => len == 0,
        81 => len >= 3,
        94 => len == 3,
        93 => len >= 2 && len.is_multiple_of(2),
        152..=155 => len == 4,
        61 => len >= 1,
        _ => true,
    }
}

/// Walk the option area starting after the cookie. Returns the options in order.
fn walk_options(bytes: &[u8]) -> Result<Vec<RawOption>, DecodeError> {
    let mut out: Vec<RawOption> = Vec::new();
    let mut i = HEADER_LEN + MAGIC_COOKIE.len();
    // Whether a pad came since the last option: parts of one option follow each other directly.
    let mut padded = false;
    loop {
        let Some(&code) = bytes.get(i) else { return Err(DecodeError::MissingEnd) };
        match code {
            0 => {
                padded = true;
                i += 1;
            }
            255 => {
                if let Some(bad) = out.iter().find(|o| !length_ok(o.code, o.data.len())) {
                    return Err(DecodeError::BadOptionLength { code: bad.code, len: bad.data.len() });
                }
                return Ok(out);
            }
            _ => {
                let Some(&len) = bytes.get(i + 1) else {
                    return Err(DecodeError::OptionOverrun { code, offset: i });
                };
                let len = usize::from(len);
                let Some(data) = bytes.get(i + 2..i + 2 + len) else {
                    return Err(DecodeError::OptionOverrun { code, offset: i });
                };
                match out.last_mut() {
                    // An option split in parts (RFC 3396): the parts are one value.
                    Some(RawOption { code: previous, data: joined }) if *previous == code && !padded => {
                        joined.extend_from_slice(data)
                    }
                    _ => out.push(RawOption { code, data: data.to_vec() }),
                }
                padded = false;
                i += 2 + len;
            }
        }
    }
}

/// Decode and validate one received datagram.
pub fn decode(bytes: &[u8]) -> Result<Request, DecodeError> {
    if bytes.len() < HEADER_LEN {
        return Err(DecodeError::TooShort(bytes.len()));
    }
    if bytes[0] != 1 {
        return Err(DecodeError::NotRequest(bytes[0]));
    }
    if bytes[2] > 16 {
        return Err(DecodeError::BadHlen(bytes[2]));
    }
    let cookie = bytes.get(HEADER_LEN..HEADER_LEN + 4) == Some(&MAGIC_COOKIE[..]);
    let options = if cookie { walk_options(bytes)? } else { Vec::new() };
    let kind = match options.iter().find(|o| o.code == 53) {
        Some(o) => match MessageType::from(o.data[0]) {
            t @ (MessageType::Discover
            | MessageType::Request
            | MessageType::Decline
            | MessageType::Release
            | MessageType::Inform) => Kind::Dhcp(t),
            _ => return Err(DecodeError::BadMessageType(o.data.clone())),
        },
        None => Kind::Bootp { cookie },
    };
    // Hand dhcproto a canonical buffer: the header, the cookie, the validated options, END.
    // A BOOTP vendor area without the cookie is opaque and never reaches dhcproto.
    let mut clean = Vec::with_capacity(bytes.len().max(HEADER_LEN + 5));
    clean.extend_from_slice(&bytes[..HEADER_LEN]);
    clean.extend_from_slice(&MAGIC_COOKIE);
    for o in &options {
        // A joined option longer than one goes back in parts, which dhcproto joins again; a
        // pad keeps two separate instances of one code apart.
        for part in o.data.chunks(255) {
            clean.push(o.code);
            clean.push(part.len() as u8);
            clean.extend_from_slice(part);
        }
        if o.data.is_empty() {
            clean.extend_from_slice(&[o.code, 0]);
        }
        clean.push(0);
    }
    clean.push(255);
    let message = v4::Message::decode(&mut Decoder::new(&clean)).map_err(|e| DecodeError::Library(e.to_string()))?;
    Ok(Request { message, kind, options })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(opts: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; HEADER_LEN];
        p[0] = 1;
        p[1] = 1;
        p[2] = 6;
        p[4..8].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        p[28..34].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        p.extend_from_slice(&MAGIC_COOKIE);
        p.extend_from_slice(opts);
        p
    }

    #[test]
    fn cases() {
        let cases: &[(&str, Vec<u8>, Result<Kind, DecodeError>)] = &[
            ("discover", packet(&[53, 1, 1, 255]), Ok(Kind::Dhcp(MessageType::Discover))),
            ("bootp with cookie", packet(&[1, 4, 255, 255, 255, 0, 255]), Ok(Kind::Bootp { cookie: true })),
            (
                "bootp no cookie",
                [&packet(&[])[..HEADER_LEN], &[7u8; 64][..]].concat(),
                Ok(Kind::Bootp { cookie: false }),
            ),
            ("bare header", packet(&[])[..HEADER_LEN].to_vec(), Ok(Kind::Bootp { cookie: false })),
            ("short", vec![1u8; 100], Err(DecodeError::TooShort(100))),
            (
                "reply op",
                {
                    let mut p = packet(&[53, 1, 1, 255]);
                    p[0] = 2;
                    p
                },
                Err(DecodeError::NotRequest(2)),
            ),
            (
                "hlen",
                {
                    let mut p = packet(&[53, 1, 1, 255]);
                    p[2] = 17;
                    p
                },
                Err(DecodeError::BadHlen(17)),
            ),
            (
                "damaged dhcp is not bootp",
                packet(&[12, 9, b'a', 53, 1, 1]),
                Err(DecodeError::OptionOverrun { code: 12, offset: 240 }),
            ),
            ("no end", packet(&[53, 1, 1]), Err(DecodeError::MissingEnd)),
            ("bad 94", packet(&[53, 1, 1, 94, 2, 1, 2, 255]), Err(DecodeError::BadOptionLength { code: 94, len: 2 })),
            ("bad 53 len", packet(&[53, 2, 1, 1, 255]), Err(DecodeError::BadOptionLength { code: 53, len: 2 })),
            ("offer from a client", packet(&[53, 1, 2, 255]), Err(DecodeError::BadMessageType(vec![2]))),
            ("pads ok", packet(&[0, 0, 53, 1, 3, 0, 255, 9, 9]), Ok(Kind::Dhcp(MessageType::Request))),
        ];
        for (name, bytes, want) in cases {
            let got = decode(bytes).map(|r| r.kind);
            assert_eq!(&got, want, "{name}");
        }
    }

    #[test]
    fn parts_of_one_option_are_joined_and_checked_as_one() {
        // Two 4-byte options 154 in a row are one 8-byte option 154: invalid (dhcproto joined
        // them and hit a debug assertion).
        let twice = packet(&[53, 1, 1, 154, 4, 1, 2, 3, 4, 154, 4, 5, 6, 7, 8, 255]);
        assert_eq!(decode(&twice).map(|r| r.kind), Err(DecodeError::BadOptionLength { code: 154, len: 8 }));
        // A host name in two parts is one name; a pad between two instances keeps them apart.
        let split = decode(&packet(&[53, 1, 1, 12, 3, b'l', b'a', b'b', 12, 2, b'-', b'1', 255])).unwrap();
        assert_eq!(split.option(12), Some(&b"lab-1"[..]));
        assert!(split.message.opts().get(dhcproto::v4::OptionCode::Hostname).is_some());
        let apart = decode(&packet(&[53, 1, 1, 154, 4, 1, 2, 3, 4, 0, 154, 4, 5, 6, 7, 8, 255])).unwrap();
        assert_eq!(apart.options.iter().filter(|o| o.code == 154).count(), 2);
        // A joined value longer than 255 bytes reaches dhcproto whole.
        let mut long = vec![53, 1, 1, 60, 255];
        long.extend([b'a'; 255]);
        long.extend([60, 45]);
        long.extend([b'b'; 45]);
        long.push(255);
        let joined = decode(&packet(&long)).unwrap();
        assert_eq!(joined.option(60).map(<[u8]>::len), Some(300));
    }

    #[test]
    fn keeps_xid_chaddr_and_option_order() {
        let r = decode(&packet(&[53, 1, 1, 60, 3, b'a', b'b', b'c', 94, 3, 1, 2, 1, 255])).unwrap();
        assert_eq!(r.message.xid(), 0xdeadbeef);
        assert_eq!(&r.message.chaddr()[..6], &[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        let codes: Vec<u8> = r.options.iter().map(|o| o.code).collect();
        assert_eq!(codes, [53, 60, 94]);
        assert_eq!(r.option(60), Some(&b"abc"[..]));
    }
}
