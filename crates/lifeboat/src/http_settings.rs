//! The HTTP boot server's part of the configuration: the `[http_boot]` section of the file and
//! the `--http-boot*` flags, merged into an [`HttpBootConfig`] (or `None` when it is off, the
//! default). It serves the TFTP root with the TFTP allow-list and aliases, so it needs TFTP's
//! settings; and DHCP points iPXE and UEFI HTTP boot clients to it ([`dhcp_target`]).

use std::net::{IpAddr, SocketAddr};

use lifeboat_dhcp::boot::HttpBootServer;
use lifeboat_server::{HttpBootConfig, TftpConfig};
use serde::Deserialize;

use crate::cli::{ServeArgs, switch};

/// Where the HTTP boot server listens unless told otherwise: every IPv4 address, on a port no
/// common service uses (80 and 8080 are often taken, 8080 by lifeboat's own dashboard).
pub(crate) const DEFAULT_HTTP_BOOT_LISTEN: &str = "0.0.0.0:4080";

/// The `[http_boot]` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileHttpBoot {
    /// `true` turns it on (`--http-boot`, `--no-http-boot`); a listen address does too.
    pub(crate) enabled: Option<bool>,
    pub(crate) listen: Option<Vec<String>>,
}

/// The HTTP boot server's configuration, or `None` when it is off.
pub(crate) fn http_section(
    file: FileHttpBoot,
    args: &ServeArgs,
    tftp: Option<&TftpConfig>,
    problems: &mut Vec<String>,
) -> Option<HttpBootConfig> {
    let (texts, from) = match (args.http_boot_listen.is_empty(), file.listen) {
        (false, _) => (args.http_boot_listen.clone(), "--http-boot-listen"),
        (true, Some(listen)) => (listen, "http_boot.listen"),
        (true, None) => (vec![DEFAULT_HTTP_BOOT_LISTEN.to_owned()], "the default"),
    };
    let asked = from != "the default";
    let on = switch(args.http_boot, args.no_http_boot).or(file.enabled).unwrap_or(asked);
    if !on {
        return None;
    }
    let Some(tftp) = tftp else {
        problems.push(
            "HTTP boot serves the TFTP root: set --tftp-root DIR (or tftp.root) as well, or turn HTTP boot off"
                .to_owned(),
        );
        return None;
    };
    let mut listen = Vec::new();
    for text in &texts {
        match text.parse::<SocketAddr>() {
            Ok(addr) => listen.push(addr),
            Err(_) => {
                problems.push(format!("{from} {text:?}: expected ADDRESS:PORT, like 0.0.0.0:4080 or 10.0.0.1:80"))
            }
        }
    }
    if listen.is_empty() {
        problems.push(format!("{from}: no address to listen on"));
        return None;
    }
    Some(HttpBootConfig { root: tftp.root.clone(), listen, allow: tftp.allow.clone(), aliases: tftp.aliases.clone() })
}

/// Where DHCP sends iPXE and UEFI HTTP boot clients: the first IPv4 listening address (its
/// address when it is one, else the address the client's request came to).
pub(crate) fn dhcp_target(http: &HttpBootConfig) -> Option<HttpBootServer> {
    let addr = http.listen.iter().find(|a| a.is_ipv4()).or(http.listen.first())?;
    let address = match addr.ip() {
        IpAddr::V4(v4) if !v4.is_unspecified() => Some(v4),
        _ => None,
    };
    Some(HttpBootServer { address, port: addr.port() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tftp() -> TftpConfig {
        TftpConfig::new(std::path::PathBuf::from("/srv/tftp"))
    }

    #[test]
    fn off_by_default_on_with_the_switch_or_an_address() {
        let mut problems = Vec::new();
        assert!(http_section(FileHttpBoot::default(), &ServeArgs::default(), Some(&tftp()), &mut problems).is_none());

        let on = ServeArgs { http_boot: true, ..ServeArgs::default() };
        let http = http_section(FileHttpBoot::default(), &on, Some(&tftp()), &mut problems).unwrap();
        assert_eq!(http.listen, ["0.0.0.0:4080".parse().unwrap()]);
        assert_eq!(http.root, tftp().root);
        assert_eq!(dhcp_target(&http), Some(HttpBootServer { address: None, port: 4080 }));

        let file = FileHttpBoot { listen: Some(vec!["10.0.0.1:80".into()]), ..FileHttpBoot::default() };
        let http = http_section(file, &ServeArgs::default(), Some(&tftp()), &mut problems).unwrap();
        assert_eq!(dhcp_target(&http), Some(HttpBootServer { address: Some("10.0.0.1".parse().unwrap()), port: 80 }));

        let off =
            ServeArgs { no_http_boot: true, http_boot_listen: vec!["10.0.0.1:80".into()], ..ServeArgs::default() };
        assert!(http_section(FileHttpBoot::default(), &off, Some(&tftp()), &mut problems).is_none());
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn it_needs_a_tftp_root_and_addresses_it_can_read() {
        let mut problems = Vec::new();
        let on = ServeArgs { http_boot: true, ..ServeArgs::default() };
        assert!(http_section(FileHttpBoot::default(), &on, None, &mut problems).is_none());
        let bad = ServeArgs { http_boot_listen: vec!["port 80".into()], ..ServeArgs::default() };
        assert!(http_section(FileHttpBoot::default(), &bad, Some(&tftp()), &mut problems).is_none());
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("--tftp-root"), "{problems:?}");
        assert!(problems[1].contains("--http-boot-listen \"port 80\""), "{problems:?}");
    }
}
