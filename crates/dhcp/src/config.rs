//! The dnsmasq-style settings of the DHCP responder: `--dhcp-range`, `--dhcp-host`, `--dhcp-option`
//! and lease times.
//!
//! **Invariant:** every parser either returns a value that the responder can use as it is (a range
//! whose start is not after its end, inside its netmask; an option that fits in 255 bytes) or an
//! error whose message names the faulty part and shows the expected form.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use ipnet::Ipv4Net;
use thiserror::Error;

/// Default lease when a range names none (dnsmasq's default too).
pub const DEFAULT_LEASE_SECS: u32 = 3600;
/// Shortest lease accepted: shorter ones make clients renew in a storm.
pub const MIN_LEASE_SECS: u32 = 60;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("`{0}` is not an IPv4 address")]
    BadAddress(String),
    #[error("`{0}` is not a netmask (contiguous ones, like 255.255.255.0)")]
    BadNetmask(String),
    #[error("lease time `{0}`: use seconds (3600), minutes (30m), hours (12h), days (1d) or `infinite`")]
    BadLease(String),
    #[error("lease time `{0}` is shorter than the minimum of {MIN_LEASE_SECS} seconds")]
    LeaseTooShort(String),
    #[error("expected START,END[,NETMASK][,LEASE] or NETWORK,proxy")]
    RangeShape(String),
    #[error("the start address is after the end address")]
    RangeReversed(String),
    #[error("start and end are not in one subnet of netmask {1}")]
    RangeSplitsSubnet(String, Ipv4Addr),
    #[error("the range includes the network or broadcast address of its subnet")]
    RangeHitsSubnetEdges(String),
    #[error("expected MAC,IP[,NAME] with a MAC like 52:54:00:12:34:56")]
    HostShape(String),
    #[error("`{0}` is not a MAC address (six hex bytes separated by `:` or `-`)")]
    BadMac(String),
    #[error("expected CODE,VALUE[,VALUE...] with CODE 1-254 or option:NAME")]
    OptionShape(String),
    #[error("unknown option name; use its number instead")]
    OptionName(String),
    #[error("option {1} is set by lifeboat itself from the range and lease settings")]
    OptionReserved(String, u8),
    #[error("value `{1}` does not fit option {2} ({3})")]
    OptionValue(String, String, u8, &'static str),
    #[error("the value is longer than 255 bytes")]
    OptionTooLong(String),
    #[error("expected ADDRESS/PREFIX, like 10.8.0.0/16")]
    SubnetShape(String),
}

/// How long a lease lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseTime {
    Secs(u32),
    Infinite,
}

impl LeaseTime {
    /// The value of options 51, 58 and 59 (`0xffff_ffff` means infinite, RFC 2131 §3.3).
    pub fn wire_secs(self) -> u32 {
        match self {
            LeaseTime::Secs(s) => s,
            LeaseTime::Infinite => u32::MAX,
        }
    }
}

impl FromStr for LeaseTime {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "infinite" {
            return Ok(LeaseTime::Infinite);
        }
        let bad = || ConfigError::BadLease(s.to_owned());
        let (digits, unit) = match s.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c),
            _ => (s, 's'),
        };
        let scale = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        let n: u32 = digits.parse().map_err(|_| bad())?;
        let secs = n.checked_mul(scale).filter(|s| *s < u32::MAX).ok_or_else(bad)?;
        if secs < MIN_LEASE_SECS {
            return Err(ConfigError::LeaseTooShort(s.to_owned()));
        }
        Ok(LeaseTime::Secs(secs))
    }
}

impl fmt::Display for LeaseTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaseTime::Infinite => f.write_str("infinite"),
            LeaseTime::Secs(s) if s % 3600 == 0 => write!(f, "{}h", s / 3600),
            LeaseTime::Secs(s) if s % 60 == 0 => write!(f, "{}m", s / 60),
            LeaseTime::Secs(s) => write!(f, "{s}s"),
        }
    }
}

/// The subnet of `addr` with `prefix` bits of network (`prefix` is clamped to 32): ipnet's
/// type, truncated to its network address.
pub fn subnet_of(addr: Ipv4Addr, prefix: u8) -> Ipv4Net {
    Ipv4Net::new(addr, prefix.min(32)).unwrap_or_default().trunc()
}

/// `10.8.0.0/16`, or a bare address (a /32), as `--dhcp-relay-allow` takes it. (ipnet's own
/// parser wants the prefix, and its error does not say what the flag expects.)
pub fn parse_subnet(s: &str) -> Result<Ipv4Net, ConfigError> {
    let shape = || ConfigError::SubnetShape(s.to_owned());
    let (addr, prefix) = match s.trim().split_once('/') {
        Some((addr, prefix)) => (addr, prefix.parse::<u8>().ok().filter(|p| *p <= 32).ok_or_else(shape)?),
        None => (s.trim(), 32),
    };
    let addr: Ipv4Addr = addr.parse().map_err(|_| shape())?;
    Ok(subnet_of(addr, prefix))
}

fn mask_bits(prefix: u8) -> u32 {
    if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) }
}

fn parse_netmask(s: &str) -> Result<u8, ConfigError> {
    let bits = u32::from(parse_addr(s)?);
    let prefix = bits.leading_ones();
    if bits != mask_bits(prefix as u8) {
        return Err(ConfigError::BadNetmask(s.to_owned()));
    }
    Ok(prefix as u8)
}

fn parse_addr(s: &str) -> Result<Ipv4Addr, ConfigError> {
    s.trim().parse().map_err(|_| ConfigError::BadAddress(s.to_owned()))
}

/// One `--dhcp-range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Range {
    /// Addresses `start..=end` are leased. `prefix` is the netmask if given (otherwise it comes
    /// from the interface whose subnet holds the range).
    Dynamic { start: Ipv4Addr, end: Ipv4Addr, prefix: Option<u8>, lease: LeaseTime, text: String },
    /// proxyDHCP on `subnet`: boot information only, never an address.
    Proxy { subnet: Ipv4Net, text: String },
}

impl Range {
    /// The range as the user wrote it, for messages.
    pub fn text(&self) -> &str {
        match self {
            Range::Dynamic { text, .. } | Range::Proxy { text, .. } => text,
        }
    }
}

impl FromStr for Range {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let shape = || ConfigError::RangeShape(s.to_owned());
        if parts.len() <= 3 && parts.get(1) == Some(&"proxy") {
            // NETWORK,proxy or NETWORK,proxy,NETMASK is dnsmasq's form; NETWORK/PREFIX also works.
            let (addr, prefix) = match (parts[0].split_once('/'), parts.get(2)) {
                (Some((a, p)), None) => (parse_addr(a)?, p.parse::<u8>().ok().filter(|p| *p <= 32).ok_or_else(shape)?),
                (None, Some(mask)) => (parse_addr(parts[0])?, parse_netmask(mask)?),
                (None, None) => (parse_addr(parts[0])?, 24),
                _ => return Err(shape()),
            };
            return Ok(Range::Proxy { subnet: subnet_of(addr, prefix), text: s.to_owned() });
        }
        if !(2..=4).contains(&parts.len()) {
            return Err(shape());
        }
        let start = parse_addr(parts[0])?;
        let end = parse_addr(parts[1])?;
        let mut prefix = None;
        let mut lease = LeaseTime::Secs(DEFAULT_LEASE_SECS);
        for extra in &parts[2..] {
            if extra.contains('.') && prefix.is_none() {
                prefix = Some(parse_netmask(extra)?);
            } else {
                lease = extra.parse()?;
            }
        }
        if u32::from(start) > u32::from(end) {
            return Err(ConfigError::RangeReversed(s.to_owned()));
        }
        if let Some(p) = prefix {
            let subnet = subnet_of(start, p);
            if !subnet.contains(&end) {
                return Err(ConfigError::RangeSplitsSubnet(s.to_owned(), subnet.netmask()));
            }
            if p < 31 && (start == subnet.network() || end == subnet.broadcast()) {
                return Err(ConfigError::RangeHitsSubnetEdges(s.to_owned()));
            }
        }
        Ok(Range::Dynamic { start, end, prefix, lease, text: s.to_owned() })
    }
}

/// A hardware (MAC) address of an Ethernet client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl FromStr for Mac {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ConfigError::BadMac(s.to_owned());
        let parts: Vec<&str> = s.trim().split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(bad());
        }
        let mut mac = [0u8; 6];
        for (byte, part) in mac.iter_mut().zip(parts) {
            // Two hex digits exactly: `from_str_radix` alone would take "+4" as 4.
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        Ok(Mac(mac))
    }
}

impl Mac {
    /// The MAC in a client's hardware address, if it is six bytes long (Ethernet).
    pub fn from_hardware(bytes: &[u8]) -> Option<Mac> {
        <[u8; 6]>::try_from(bytes).ok().map(Mac)
    }
}

/// A hardware address of any length as text, in the style of [`Mac`]: `aa:bb:cc:dd:ee:ff`
/// (InfiniBand and odd firmware send other lengths).
pub fn hardware_text(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

/// One `--dhcp-reservation MAC,IP[,NAME]`: this MAC always gets this address (DHCP and BOOTP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub mac: Mac,
    pub address: Ipv4Addr,
    pub name: Option<String>,
    /// A boot file just for this host (set from the host table; not part of the flag syntax).
    pub boot_file: Option<String>,
}

impl FromStr for Reservation {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(ConfigError::HostShape(s.to_owned()));
        }
        let mac = parts[0].parse().map_err(|_| ConfigError::HostShape(s.to_owned()))?;
        let address = parse_addr(parts[1])?;
        let name = parts.get(2).filter(|n| !n.is_empty()).map(|n| (*n).to_owned());
        Ok(Reservation { mac, address, name, boot_file: None })
    }
}

/// One `--dhcp-option CODE,VALUE`: an option sent in every reply, encoded once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraOption {
    pub code: u8,
    pub data: Vec<u8>,
}

/// How a known option's value is written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    Addresses,
    U8,
    U16,
    U32,
    Text,
}

impl ValueKind {
    fn describe(self) -> &'static str {
        match self {
            ValueKind::Addresses => "IPv4 addresses separated by commas",
            ValueKind::U8 => "an integer 0-255",
            ValueKind::U16 => "an integer 0-65535",
            ValueKind::U32 => "an integer 0-4294967295",
            ValueKind::Text => "text",
        }
    }
}

/// Options people set often, with dnsmasq's names and their wire types. Unknown codes take
/// addresses if every value is an address, else text.
const KNOWN_OPTIONS: &[(u8, &str, ValueKind)] = &[
    (3, "router", ValueKind::Addresses),
    (6, "dns-server", ValueKind::Addresses),
    (12, "hostname", ValueKind::Text),
    (15, "domain-name", ValueKind::Text),
    (23, "ip-ttl", ValueKind::U8),
    (26, "mtu", ValueKind::U16),
    (28, "broadcast", ValueKind::Addresses),
    (42, "ntp-server", ValueKind::Addresses),
    (66, "tftp-server", ValueKind::Text),
    (119, "domain-search", ValueKind::Text),
    (150, "tftp-server-address", ValueKind::Addresses),
    (2, "time-offset", ValueKind::U32),
];

/// Options lifeboat sets itself in every reply; `--dhcp-option` may not override them.
const RESERVED_OPTIONS: &[u8] = &[0, 1, 51, 53, 54, 55, 58, 59, 255];

impl FromStr for ExtraOption {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (key, values) = s.split_once(',').ok_or_else(|| ConfigError::OptionShape(s.to_owned()))?;
        let key = key.trim();
        let known = if let Some(name) = key.strip_prefix("option:") {
            let found = KNOWN_OPTIONS.iter().find(|(_, n, _)| *n == name);
            *found.ok_or_else(|| ConfigError::OptionName(s.to_owned()))?
        } else {
            let code: u8 = key
                .parse()
                .ok()
                .filter(|c| (1..=254).contains(c))
                .ok_or_else(|| ConfigError::OptionShape(s.to_owned()))?;
            match KNOWN_OPTIONS.iter().find(|(c, _, _)| *c == code) {
                Some(k) => *k,
                None => {
                    let all_addrs = values.split(',').all(|v| v.trim().parse::<Ipv4Addr>().is_ok());
                    (code, "", if all_addrs { ValueKind::Addresses } else { ValueKind::Text })
                }
            }
        };
        let (code, _, kind) = known;
        if RESERVED_OPTIONS.contains(&code) {
            return Err(ConfigError::OptionReserved(s.to_owned(), code));
        }
        let bad = |v: &str| ConfigError::OptionValue(s.to_owned(), v.to_owned(), code, kind.describe());
        let data = match kind {
            ValueKind::Addresses => {
                let mut data = Vec::new();
                for v in values.split(',') {
                    data.extend(v.trim().parse::<Ipv4Addr>().map_err(|_| bad(v))?.octets());
                }
                data
            }
            ValueKind::U8 => vec![values.trim().parse::<u8>().map_err(|_| bad(values))?],
            ValueKind::U16 => values.trim().parse::<u16>().map_err(|_| bad(values))?.to_be_bytes().to_vec(),
            ValueKind::U32 => values.trim().parse::<u32>().map_err(|_| bad(values))?.to_be_bytes().to_vec(),
            ValueKind::Text => values.trim().trim_matches('"').as_bytes().to_vec(),
        };
        if data.len() > 255 {
            return Err(ConfigError::OptionTooLong(s.to_owned()));
        }
        Ok(ExtraOption { code, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn lease_times() {
        let ok = [("3600", LeaseTime::Secs(3600)), ("30m", LeaseTime::Secs(1800)), ("12h", LeaseTime::Secs(43_200))];
        for (s, want) in ok {
            assert_eq!(s.parse::<LeaseTime>(), Ok(want), "{s}");
        }
        assert_eq!("infinite".parse::<LeaseTime>(), Ok(LeaseTime::Infinite));
        assert_eq!("2d".parse::<LeaseTime>(), Ok(LeaseTime::Secs(172_800)));
        assert_eq!("10s".parse::<LeaseTime>(), Err(ConfigError::LeaseTooShort("10s".into())));
        for bad in ["", "h", "12x", "-5m", "99999999999"] {
            assert_eq!(bad.parse::<LeaseTime>(), Err(ConfigError::BadLease(bad.into())), "{bad}");
        }
        assert_eq!(LeaseTime::Secs(43_200).to_string(), "12h");
        assert_eq!(LeaseTime::Secs(90).to_string(), "90s");
    }

    #[test]
    fn ranges() {
        let r: Range = "10.0.0.100,10.0.0.200,255.255.255.0,12h".parse().unwrap();
        assert_eq!(
            r,
            Range::Dynamic {
                start: ip("10.0.0.100"),
                end: ip("10.0.0.200"),
                prefix: Some(24),
                lease: LeaseTime::Secs(43_200),
                text: "10.0.0.100,10.0.0.200,255.255.255.0,12h".into()
            }
        );
        let r: Range = "10.0.0.100,10.0.0.200,30m".parse().unwrap();
        assert!(matches!(r, Range::Dynamic { prefix: None, lease: LeaseTime::Secs(1800), .. }));
        let p: Range = "192.168.1.0,proxy".parse().unwrap();
        assert_eq!(p, Range::Proxy { subnet: subnet_of(ip("192.168.1.0"), 24), text: "192.168.1.0,proxy".into() });
        let p: Range = "192.168.0.0,proxy,255.255.0.0".parse().unwrap();
        assert!(matches!(p, Range::Proxy { subnet, .. } if subnet.prefix_len() == 16));

        let errs = [
            ("10.0.0.1", ConfigError::RangeShape("10.0.0.1".into())),
            ("10.0.0.9,10.0.0.1", ConfigError::RangeReversed("10.0.0.9,10.0.0.1".into())),
            (
                "10.0.0.1,10.0.1.9,255.255.255.0",
                ConfigError::RangeSplitsSubnet("10.0.0.1,10.0.1.9,255.255.255.0".into(), ip("255.255.255.0")),
            ),
            (
                "10.0.0.0,10.0.0.9,255.255.255.0",
                ConfigError::RangeHitsSubnetEdges("10.0.0.0,10.0.0.9,255.255.255.0".into()),
            ),
            ("10.0.0.1,10.0.0.9,255.0.255.0", ConfigError::BadNetmask("255.0.255.0".into())),
            ("10.0.0.1,nope", ConfigError::BadAddress("nope".into())),
        ];
        for (s, e) in errs {
            assert_eq!(s.parse::<Range>(), Err(e), "{s}");
        }
    }

    #[test]
    fn subnets_parse_from_cidr_text() {
        assert_eq!(parse_subnet("10.8.1.9/16"), Ok(subnet_of(ip("10.8.0.0"), 16)));
        assert_eq!(parse_subnet("10.8.1.9"), Ok(subnet_of(ip("10.8.1.9"), 32)));
        for bad in ["10.8.0.0/33", "10.8.0/16", "/8", "x"] {
            assert_eq!(parse_subnet(bad), Err(ConfigError::SubnetShape(bad.into())), "{bad}");
        }
    }

    #[test]
    fn subnets() {
        let s = subnet_of(ip("10.1.2.3"), 24);
        assert_eq!((s.network(), s.netmask(), s.broadcast()), (ip("10.1.2.0"), ip("255.255.255.0"), ip("10.1.2.255")));
        assert!(s.contains(&ip("10.1.2.200")) && !s.contains(&ip("10.1.3.1")));
        assert_eq!(subnet_of(ip("10.1.2.3"), 0).netmask(), ip("0.0.0.0"));
        assert_eq!(subnet_of(ip("10.1.2.3"), 32).broadcast(), ip("10.1.2.3"));
    }

    #[test]
    fn hosts_and_macs() {
        let h: Reservation = "52:54:00:ab:cd:ef,10.0.0.5,lab1".parse().unwrap();
        assert_eq!(h.mac, Mac([0x52, 0x54, 0, 0xab, 0xcd, 0xef]));
        assert_eq!((h.address, h.name.as_deref()), (ip("10.0.0.5"), Some("lab1")));
        assert_eq!(h.mac.to_string(), "52:54:00:ab:cd:ef");
        for bad in ["52:54:00:ab:cd:+f", "52:54:00:ab:cd:-f", "52:54:00:ab: c:ef", "52:54:00:ab:cd:é"] {
            assert!(bad.parse::<Mac>().is_err(), "{bad}");
        }
        assert_eq!("52-54-00-AB-CD-EF".parse::<Mac>(), Ok(h.mac));
        for bad in ["52:54:00:ab:cd", "52:54:00:ab:cd:gg", "525400abcdef", "5:54:00:ab:cd:ef0"] {
            assert_eq!(bad.parse::<Mac>(), Err(ConfigError::BadMac(bad.into())), "{bad}");
        }
        assert_eq!("52:54:00:ab:cd:ef".parse::<Reservation>(), Err(ConfigError::HostShape("52:54:00:ab:cd:ef".into())));
        assert_eq!("zz,10.0.0.5".parse::<Reservation>(), Err(ConfigError::HostShape("zz,10.0.0.5".into())));
    }

    #[test]
    fn extra_options() {
        let o: ExtraOption = "3,10.0.0.1".parse().unwrap();
        assert_eq!(o, ExtraOption { code: 3, data: vec![10, 0, 0, 1] });
        let o: ExtraOption = "option:dns-server,10.0.0.1,10.0.0.2".parse().unwrap();
        assert_eq!(o, ExtraOption { code: 6, data: vec![10, 0, 0, 1, 10, 0, 0, 2] });
        assert_eq!("26,1400".parse::<ExtraOption>().unwrap().data, vec![0x05, 0x78]);
        assert_eq!("option:domain-name,lab.test".parse::<ExtraOption>().unwrap().data, b"lab.test");
        assert_eq!("224,hello".parse::<ExtraOption>().unwrap(), ExtraOption { code: 224, data: b"hello".to_vec() });
        assert_eq!("224,10.9.9.9".parse::<ExtraOption>().unwrap().data, vec![10, 9, 9, 9]);
        let errs = [
            ("3", ConfigError::OptionShape("3".into())),
            ("300,x", ConfigError::OptionShape("300,x".into())),
            ("option:nope,1", ConfigError::OptionName("option:nope,1".into())),
            ("51,3600", ConfigError::OptionReserved("51,3600".into(), 51)),
            ("26,big", ConfigError::OptionValue("26,big".into(), "big".into(), 26, "an integer 0-65535")),
            (
                "3,10.0.0.1,router",
                ConfigError::OptionValue(
                    "3,10.0.0.1,router".into(),
                    "router".into(),
                    3,
                    "IPv4 addresses separated by commas",
                ),
            ),
        ];
        for (s, e) in errs {
            assert_eq!(s.parse::<ExtraOption>(), Err(e), "{s}");
        }
        let long = format!("224,{}", "x".repeat(256));
        assert_eq!(long.parse::<ExtraOption>(), Err(ConfigError::OptionTooLong(long.clone())));
    }
}
