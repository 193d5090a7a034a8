//! Boot-file rules: the `--dhcp-boot-rule CLASS=FILE` and `--dhcp-boot FILE[,SERVERNAME[,SERVERADDR]]` syntax,
//! and the choice of a file for a classified client.
//!
//! **Invariant:** parsing rejects every string it cannot represent exactly (with a message naming
//! the problem); choosing is a pure function of the rules and the [`Client`].

use std::net::Ipv4Addr;

use thiserror::Error;

use crate::classify::Client;

/// Longest boot file name that fits the BOOTP `file` field (dhcproto panics past it).
pub const MAX_FILE_LEN: usize = 128;

/// A client class a `--dhcp-boot-rule` rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootClass {
    Ipxe,
    Arch(Vec<u16>),
    Vendor(String),
}

/// One `--dhcp-boot-rule CLASS=FILE` rule; `name` is the class as written, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootRule {
    pub name: String,
    pub class: BootClass,
    pub file: String,
}

/// `--dhcp-boot FILE[,SERVERNAME[,SERVERADDR]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultBoot {
    pub file: String,
    pub server_name: Option<String>,
    pub server_addr: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BootParseError {
    #[error("`{0}`: expected CLASS=FILE, e.g. efi-x64=ipxe.efi")]
    MissingEquals(String),
    #[error(
        "unknown boot class `{0}`: use ipxe, bios, efi-ia32, efi-x64, efi-arm32, efi-arm64, efi-x64-http, uboot, arch:N or vendor:PREFIX"
    )]
    UnknownClass(String),
    #[error("`arch:{0}`: N must be an integer 0..=65535")]
    BadArch(String),
    #[error("boot file name is empty")]
    EmptyFile,
    #[error("boot file name of {0} bytes exceeds the {MAX_FILE_LEN}-byte BOOTP file field")]
    FileTooLong(usize),
    #[error("server name of {0} bytes exceeds the 64-byte BOOTP sname field")]
    ServerNameTooLong(usize),
    #[error("`{0}` is not an IPv4 server address")]
    BadServerAddr(String),
    #[error("`--dhcp-boot` takes at most FILE,SERVERNAME,SERVERADDR")]
    TooManyFields,
}

fn check_file(file: &str) -> Result<String, BootParseError> {
    match file.len() {
        0 => Err(BootParseError::EmptyFile),
        n if n >= MAX_FILE_LEN => Err(BootParseError::FileTooLong(n)),
        _ => Ok(file.to_owned()),
    }
}

impl std::str::FromStr for BootRule {
    type Err = BootParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, file) = s.split_once('=').ok_or_else(|| BootParseError::MissingEquals(s.to_owned()))?;
        let class = match name {
            "ipxe" => BootClass::Ipxe,
            "bios" => BootClass::Arch(vec![0]),
            "efi-ia32" => BootClass::Arch(vec![6]),
            "efi-x64" => BootClass::Arch(vec![7, 9]),
            "efi-arm32" => BootClass::Arch(vec![10]),
            "efi-arm64" => BootClass::Arch(vec![11]),
            "efi-x64-http" => BootClass::Arch(vec![16]),
            // U-Boot's own PXE client sends 21 (ARM32) or 22 (ARM64), not the UEFI codes.
            "uboot" => BootClass::Arch(vec![21, 22]),
            _ => match (name.strip_prefix("arch:"), name.strip_prefix("vendor:")) {
                (Some(n), _) => BootClass::Arch(vec![n.parse().map_err(|_| BootParseError::BadArch(n.to_owned()))?]),
                (_, Some(p)) if !p.is_empty() => BootClass::Vendor(p.to_owned()),
                _ => return Err(BootParseError::UnknownClass(name.to_owned())),
            },
        };
        Ok(BootRule { name: name.to_owned(), class, file: check_file(file)? })
    }
}

impl std::str::FromStr for DefaultBoot {
    type Err = BootParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(',');
        let file = check_file(parts.next().unwrap_or_default())?;
        let server_name = parts.next().filter(|n| !n.is_empty()).map(str::to_owned);
        if let Some(n) = &server_name
            && n.len() >= 64
        {
            return Err(BootParseError::ServerNameTooLong(n.len()));
        }
        let server_addr = match parts.next() {
            Some(a) => Some(a.parse().map_err(|_| BootParseError::BadServerAddr(a.to_owned()))?),
            None => None,
        };
        if parts.next().is_some() {
            return Err(BootParseError::TooManyFields);
        }
        Ok(DefaultBoot { file, server_name, server_addr })
    }
}

/// The HTTP boot server as DHCP points clients to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpBootServer {
    /// The address it listens on; `None` when it listens on every address (the address the
    /// request came to is used).
    pub address: Option<Ipv4Addr>,
    pub port: u16,
}

impl HttpBootServer {
    /// `http://ADDRESS:PORT`, with `next_server` when the server listens everywhere.
    pub fn base_url(&self, next_server: Ipv4Addr) -> String {
        format!("http://{}:{}", self.address.unwrap_or(next_server), self.port)
    }
}

/// Which rule chose the file, for the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chosen<'a> {
    Rule(&'a BootRule),
    Default(&'a DefaultBoot),
}

/// Choose a boot file: `ipxe` rules first (they end the chainload loop), then the other rules in
/// order, then the default. Reservation boot files are applied by the caller before this.
pub fn choose<'a>(rules: &'a [BootRule], default: Option<&'a DefaultBoot>, client: &Client) -> Option<Chosen<'a>> {
    let matches = |r: &BootRule| match &r.class {
        BootClass::Ipxe => client.is_ipxe(),
        BootClass::Arch(codes) => client.arch.is_some_and(|a| codes.contains(&a)),
        BootClass::Vendor(p) => client.vendor_class.as_deref().is_some_and(|v| v.starts_with(p.as_str())),
    };
    let ipxe = rules.iter().find(|r| r.class == BootClass::Ipxe && matches(r));
    ipxe.or_else(|| rules.iter().find(|r| matches(r))).map(Chosen::Rule).or(default.map(Chosen::Default))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rules() {
        let ok: BootRule = "efi-x64=snponly.efi".parse().unwrap();
        assert_eq!(ok.class, BootClass::Arch(vec![7, 9]));
        assert_eq!("arch:11=a.efi".parse::<BootRule>().unwrap().class, BootClass::Arch(vec![11]));
        assert_eq!("uboot=boot.scr".parse::<BootRule>().unwrap().class, BootClass::Arch(vec![21, 22]));
        let errs = [
            ("nofile", BootParseError::MissingEquals("nofile".into())),
            ("efi-x86=a", BootParseError::UnknownClass("efi-x86".into())),
            ("arch:x=a", BootParseError::BadArch("x".into())),
            ("bios=", BootParseError::EmptyFile),
        ];
        for (s, e) in errs {
            assert_eq!(s.parse::<BootRule>(), Err(e), "{s}");
        }
        assert_eq!("a".repeat(200).parse::<DefaultBoot>(), Err(BootParseError::FileTooLong(200)));
        let d: DefaultBoot = "pxelinux.0,boothost,10.0.0.2".parse().unwrap();
        assert_eq!(d.server_addr, Some(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!("f,h,notip".parse::<DefaultBoot>(), Err(BootParseError::BadServerAddr("notip".into())));
    }

    #[test]
    fn ipxe_rule_wins_over_arch() {
        let rules: Vec<BootRule> =
            ["efi-x64=snponly.efi", "ipxe=boot.ipxe"].iter().map(|s| s.parse().unwrap()).collect();
        let ipxe = Client { arch: Some(7), has_ipxe_options: true, ..Client::default() };
        let uefi = Client { arch: Some(7), ..Client::default() };
        assert_eq!(choose(&rules, None, &ipxe), Some(Chosen::Rule(&rules[1])));
        assert_eq!(choose(&rules, None, &uefi), Some(Chosen::Rule(&rules[0])));
        assert_eq!(choose(&rules, None, &Client::default()), None);
    }
}
