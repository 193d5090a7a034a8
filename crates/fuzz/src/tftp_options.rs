//! `tftp_options`: [`negotiate`] with arbitrary options, limits and direction, and the client's
//! check of the OACK that results ([`ClientOptions::accept_oack`]).
//!
//! The harness predicts the OACK from RFC 2347/2348/2349/7440 and the server's documented
//! policy (grant the most the limits allow, ignore what does not parse, the first of duplicates
//! counts, `tsize` of a read only for a known non-empty size asked with `0`) and compares.

use std::time::Duration;

use arbitrary::{Result, Unstructured};
use lifeboat_tftp::options::{MAX_BLKSIZE, MAX_WINDOWSIZE, MIN_BLKSIZE};
use lifeboat_tftp::{
    ClientOptions, Direction, Negotiation, Packet, ServerLimits, TftpOption, TransferParams, negotiate,
};

const KNOWN: [&str; 4] = ["blksize", "tsize", "timeout", "windowsize"];
/// Most options in one request.
const MAX_OPTIONS: usize = 12;

/// One decoded input: the server's side, a raw option list, and a client's wishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub limits: ServerLimits,
    pub direction: Direction,
    /// The size of the file a read sends, when known (always `None` for a write).
    pub read_size: Option<u64>,
    pub requested: Vec<(String, String)>,
    pub client: ClientOptions,
}

pub fn run(data: &[u8]) {
    let Ok(input) = Input::decode(&mut Unstructured::new(data)) else { return };
    let requested: Vec<TftpOption<'_>> =
        input.requested.iter().map(|(n, v)| TftpOption::new(n.as_str(), v.as_str())).collect();
    let n = negotiate(&requested, &input.limits, input.direction, input.read_size);
    check_negotiation(&requested, &input.limits, input.direction, input.read_size, &n);

    // A client's own request, granted by the server, must be acceptable to that client.
    let asked = input.client.to_request_options();
    let n = negotiate(&asked, &input.limits, input.direction, input.read_size);
    check_negotiation(&asked, &input.limits, input.direction, input.read_size, &n);
    let (params, tsize) = match n.oack() {
        Some(oack) => {
            let bytes = oack.to_bytes();
            let Ok(Packet::OptionAck(options)) = Packet::parse(&bytes) else { panic!("OACK {oack:?} does not parse") };
            input.client.accept_oack(&options).unwrap_or_else(|e| {
                panic!("client {:?} refuses the OACK {options:?} granted for {asked:?}: {e}", input.client)
            })
        }
        None => (TransferParams::default(), None),
    };
    assert_eq!(params, n.params, "client and server disagree on the parameters");
    let granted_tsize = n.acknowledged.iter().find(|o| o.name.eq_ignore_ascii_case("tsize"));
    assert_eq!(tsize, granted_tsize.map(|o| o.value.parse::<u64>().unwrap()), "tsize");
}

/// Compares the server's negotiation with the one the rules predict.
fn check_negotiation(
    requested: &[TftpOption<'_>],
    limits: &ServerLimits,
    direction: Direction,
    read_size: Option<u64>,
    n: &Negotiation,
) {
    let mut want = Negotiation::default();
    if limits.options_enabled {
        for known in KNOWN {
            let Some(option) = requested.iter().find(|o| o.name.eq_ignore_ascii_case(known)) else { continue };
            if let Some(value) = grant(known, &option.value, limits, (direction, read_size), &mut want) {
                want.acknowledged.push(TftpOption::new(option.name.to_string(), value));
            }
        }
        // The OACK lists the options in the client's order.
        let position = |o: &TftpOption<'_>| requested.iter().position(|r| r.name.eq_ignore_ascii_case(&o.name));
        want.acknowledged.sort_by_key(|o| position(o));
    }
    assert_eq!(n, &want, "negotiation of {requested:?} with {limits:?}, {direction:?} of {read_size:?}");

    let p = n.params;
    assert!((MIN_BLKSIZE..=MAX_BLKSIZE).contains(&p.blksize), "blksize {} outside RFC 2348", p.blksize);
    assert!(p.blksize == 512 || p.blksize <= limits.max_blksize.max(MIN_BLKSIZE), "blksize above the limit");
    assert!((1..=MAX_WINDOWSIZE).contains(&p.windowsize), "windowsize {} outside RFC 7440", p.windowsize);
    assert!(p.windowsize <= limits.max_windowsize.max(1), "windowsize above the limit");
    if let Some(t) = p.timeout {
        assert!((1..=255).contains(&t.as_secs()) && t.subsec_nanos() == 0, "timeout {t:?} outside RFC 2349");
    }
    assert_eq!(n.oack().is_some(), !n.acknowledged.is_empty());
}

/// The value the server grants for one known option, updating the expected parameters.
fn grant(
    name: &str,
    value: &str,
    limits: &ServerLimits,
    (direction, read_size): (Direction, Option<u64>),
    want: &mut Negotiation,
) -> Option<String> {
    let value = value.trim();
    match name {
        "blksize" => {
            let asked = value.parse::<u16>().ok().filter(|v| *v >= MIN_BLKSIZE)?;
            let granted = asked.min(MAX_BLKSIZE).min(limits.max_blksize.max(MIN_BLKSIZE));
            want.params.blksize = granted;
            Some(granted.to_string())
        }
        "windowsize" => {
            let asked = value.parse::<u16>().ok().filter(|v| *v >= 1)?;
            let granted = asked.min(limits.max_windowsize.max(1));
            want.params.windowsize = granted;
            Some(granted.to_string())
        }
        "timeout" => {
            let asked = value.parse::<u8>().ok().filter(|v| *v >= 1)?;
            want.params.timeout = Some(Duration::from_secs(asked.into()));
            Some(asked.to_string())
        }
        "tsize" => match direction {
            Direction::Read => read_size.filter(|&size| size > 0 && value == "0").map(|size| size.to_string()),
            Direction::Write => {
                let size = value.parse::<u64>().ok()?;
                want.announced_size = Some(size);
                Some(size.to_string())
            }
        },
        _ => None,
    }
}

impl Input {
    /// Reads an input. Layout: limits (u16 blksize, u16 window, u8 enabled unless 0), direction
    /// (u8: 0 write, 1 read of unknown size, else read of a u64 size), four client options (u8
    /// flag, then u16/u16/u8/u64), then options (u8 count, each a name and a value).
    pub fn decode(u: &mut Unstructured<'_>) -> Result<Input> {
        let limits = ServerLimits {
            max_blksize: u.arbitrary()?,
            max_windowsize: u.arbitrary()?,
            options_enabled: u.arbitrary::<u8>()? != 0,
        };
        let (direction, read_size) = match u.arbitrary::<u8>()? {
            0 => (Direction::Write, None),
            1 => (Direction::Read, None),
            _ => (Direction::Read, Some(u.arbitrary()?)),
        };
        let client = ClientOptions {
            blksize: optional(u)?,
            windowsize: optional(u)?,
            timeout: optional(u)?,
            tsize: optional(u)?,
        };
        let count = usize::from(u.arbitrary::<u8>()?) % (MAX_OPTIONS + 1);
        let mut requested = Vec::with_capacity(count);
        for _ in 0..count {
            if u.is_empty() {
                break;
            }
            requested.push((name(u)?, value(u)?));
        }
        Ok(Input { limits, direction, read_size, requested, client })
    }

    /// The bytes [`Input::decode`] reads back as this input (for seeds; names and values are
    /// written as raw text).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(self.limits.max_blksize.to_le_bytes());
        out.extend(self.limits.max_windowsize.to_le_bytes());
        out.push(u8::from(self.limits.options_enabled));
        match (self.direction, self.read_size) {
            (Direction::Write, _) => out.push(0),
            (Direction::Read, None) => out.push(1),
            (Direction::Read, Some(size)) => {
                out.push(2);
                out.extend(size.to_le_bytes());
            }
        }
        let c = &self.client;
        put_optional(&mut out, c.blksize.map(|v| v.to_le_bytes().to_vec()));
        put_optional(&mut out, c.windowsize.map(|v| v.to_le_bytes().to_vec()));
        put_optional(&mut out, c.timeout.map(|v| vec![v]));
        put_optional(&mut out, c.tsize.map(|v| v.to_le_bytes().to_vec()));
        out.push(self.requested.len() as u8);
        for (name, value) in &self.requested {
            for text in [name, value] {
                out.push(RAW_TEXT);
                out.push(text.len() as u8);
                out.extend(text.as_bytes());
            }
        }
        out
    }
}

/// Text selector: the following length-prefixed bytes, as UTF-8 (lossy).
const RAW_TEXT: u8 = 0xff;

fn optional<'a, T: arbitrary::Arbitrary<'a>>(u: &mut Unstructured<'a>) -> Result<Option<T>> {
    Ok(if u.arbitrary::<u8>()? == 0 { None } else { Some(u.arbitrary()?) })
}

fn put_optional(out: &mut Vec<u8>, value: Option<Vec<u8>>) {
    match value {
        None => out.push(0),
        Some(bytes) => {
            out.push(1);
            out.extend(bytes);
        }
    }
}

fn raw_text(u: &mut Unstructured<'_>) -> Result<String> {
    let len = usize::from(u.arbitrary::<u8>()?);
    let bytes = u.bytes(len.min(u.len()))?;
    // A NUL would end the field on the wire; negotiation sees only what parse() can produce.
    Ok(String::from_utf8_lossy(bytes).replace('\0', ""))
}

/// A known name in a case chosen by the bits of a byte, or raw text.
fn name(u: &mut Unstructured<'_>) -> Result<String> {
    let selector = u.arbitrary::<u8>()?;
    if selector == RAW_TEXT {
        return raw_text(u);
    }
    let known = KNOWN[usize::from(selector) % KNOWN.len()];
    let case = u.arbitrary::<u8>()?;
    Ok(known
        .chars()
        .enumerate()
        .map(|(i, c)| if case >> (i % 8) & 1 == 1 { c.to_ascii_uppercase() } else { c })
        .collect())
}

/// A number (maybe padded with spaces), or raw text.
fn value(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.arbitrary::<u8>()? {
        RAW_TEXT => raw_text(u)?,
        0..=127 => u.arbitrary::<u16>()?.to_string(),
        128..=191 => format!(" {} ", u.arbitrary::<u8>()?),
        _ => u.arbitrary::<u64>()?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_reads_back() {
        let input = Input {
            limits: ServerLimits { max_blksize: 1468, max_windowsize: 64, options_enabled: true },
            direction: Direction::Read,
            read_size: Some(1 << 33),
            requested: vec![("tsize".into(), "0".into()), ("BlkSize".into(), " 1468".into())],
            client: ClientOptions { blksize: Some(1468), windowsize: Some(4), timeout: None, tsize: Some(0) },
        };
        assert_eq!(Input::decode(&mut Unstructured::new(&input.encode())).unwrap(), input);
    }
}
