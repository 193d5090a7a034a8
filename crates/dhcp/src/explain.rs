//! The log line that explains each reply (or silence): who asked, what firmware we took it for,
//! what it got and which rule chose its boot file.
//!
//! **Invariant:** an explanation is plain data; [`Explanation`]'s `Display` is the whole log line.

use std::fmt;
use std::net::Ipv4Addr;

use crate::classify::Client;

/// How loud the driver should log it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Routine noise: malformed packets, requests meant for another server.
    Debug,
    Info,
    /// Something the user should fix: an exhausted pool, a DECLINE, a flood.
    Warn,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub level: Level,
    /// Hardware address as `aa:bb:...`, or `?` for an undecodable packet.
    pub client: String,
    /// `DHCPDISCOVER`, `BOOTREQUEST`, ...
    pub request: &'static str,
    /// What we took the client for, e.g. `UEFI x64 PXE`.
    pub class: String,
    /// What we did, e.g. `DHCPOFFER 10.0.0.50` or `ignored: ...`.
    pub outcome: String,
    /// The boot file and the rule that chose it.
    pub boot: Option<(String, String)>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} from {}", self.request, self.client)?;
        if !self.class.is_empty() {
            write!(f, " ({})", self.class)?;
        }
        write!(f, ": {}", self.outcome)?;
        if let Some((file, rule)) = &self.boot {
            write!(f, "; boot file {file:?} chosen by {rule}")?;
        }
        Ok(())
    }
}

/// A short name for the firmware, from its options.
pub fn describe(client: &Client) -> String {
    if client.bootp {
        return "plain BOOTP".to_owned();
    }
    let arch = client.arch.map(|a| match a {
        0 => "BIOS".to_owned(),
        6 => "UEFI IA32".to_owned(),
        7 | 9 => "UEFI x64".to_owned(),
        10 => "UEFI ARM32".to_owned(),
        11 => "UEFI ARM64".to_owned(),
        16 => "UEFI x64 HTTP".to_owned(),
        21 => "U-Boot ARM32".to_owned(),
        22 => "U-Boot ARM64".to_owned(),
        n => format!("arch {n}"),
    });
    let mut parts: Vec<String> = Vec::new();
    if client.is_ipxe() {
        parts.push("iPXE".to_owned());
    }
    match (arch, client.is_pxe()) {
        (Some(a), true) => parts.push(format!("{a} PXE")),
        (Some(a), false) => parts.push(a),
        (None, true) => parts.push("PXE".to_owned()),
        (None, false) => {}
    }
    if let Some(v) = &client.vendor_class
        && !client.is_pxe()
    {
        parts.push(format!("vendor {v:?}"));
    }
    parts.join(", ")
}

/// An address or `-`.
pub(crate) fn show(addr: Option<Ipv4Addr>) -> String {
    addr.map_or_else(|| "-".to_owned(), |a| a.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions() {
        let c = |arch, vendor: Option<&str>, ipxe| Client {
            arch,
            vendor_class: vendor.map(str::to_owned),
            has_ipxe_options: ipxe,
            ..Client::default()
        };
        assert_eq!(describe(&c(Some(7), Some("PXEClient:Arch:00007"), false)), "UEFI x64 PXE");
        assert_eq!(describe(&c(Some(0), Some("PXEClient:Arch:00000"), true)), "iPXE, BIOS PXE");
        assert_eq!(describe(&c(Some(11), Some("U-Boot.armv8"), false)), "UEFI ARM64, vendor \"U-Boot.armv8\"");
        assert_eq!(describe(&c(None, None, false)), "");
        assert_eq!(describe(&Client { bootp: true, ..Client::default() }), "plain BOOTP");
    }

    #[test]
    fn line() {
        let e = Explanation {
            level: Level::Info,
            client: "52:54:00:00:00:01".into(),
            request: "DHCPDISCOVER",
            class: "iPXE".into(),
            outcome: "DHCPOFFER 10.0.0.50".into(),
            boot: Some(("boot.ipxe".into(), "--dhcp-boot-rule ipxe".into())),
        };
        assert_eq!(
            e.to_string(),
            "DHCPDISCOVER from 52:54:00:00:00:01 (iPXE): DHCPOFFER 10.0.0.50; boot file \"boot.ipxe\" chosen by --dhcp-boot-rule ipxe"
        );
    }
}
