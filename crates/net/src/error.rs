//! Bind errors written for the person who has to fix them.

use std::io;
use std::net::{IpAddr, SocketAddr};

/// A UDP socket could not be opened on an address.
///
/// Every message names the address, says what went wrong and how to fix it. The operating
/// system's error is kept as the [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Another socket already owns the port (`EADDRINUSE`), or, for port 0, no ephemeral port
    /// is left.
    #[error("cannot listen on UDP {addr}: {}", in_use_hint(*addr))]
    InUse {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// The process may not bind this port (`EACCES` / `EPERM`).
    #[error("cannot listen on UDP {addr}: permission denied — {}", permission_hint(*addr))]
    PermissionDenied {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// No interface on this machine has the address (`EADDRNOTAVAIL`).
    #[error("cannot listen on UDP {addr}: address not available: {}", not_available_hint(addr.ip()))]
    AddrNotAvailable {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// The address family is not supported by the kernel (`EAFNOSUPPORT`), typically IPv6
    /// disabled with `ipv6.disable=1`.
    #[error(
        "cannot listen on UDP {addr}: {} is not available on this machine (disabled in the kernel?) — listen on an {} address instead",
        family(addr.ip()),
        other_family(addr.ip())
    )]
    Unsupported {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// Anything else; the message includes the OS error.
    #[error("cannot listen on UDP {addr}: {source}")]
    Other {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

impl BindError {
    /// Classifies an error returned while creating, configuring or binding a socket for `addr`.
    pub fn new(addr: SocketAddr, source: io::Error) -> Self {
        match source.raw_os_error() {
            Some(libc::EADDRINUSE) => Self::InUse { addr, source },
            Some(libc::EACCES | libc::EPERM) => Self::PermissionDenied { addr, source },
            Some(libc::EADDRNOTAVAIL) => Self::AddrNotAvailable { addr, source },
            Some(libc::EAFNOSUPPORT) => Self::Unsupported { addr, source },
            _ => Self::Other { addr, source },
        }
    }

    /// The address that could not be bound.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Self::InUse { addr, .. }
            | Self::PermissionDenied { addr, .. }
            | Self::AddrNotAvailable { addr, .. }
            | Self::Unsupported { addr, .. }
            | Self::Other { addr, .. } => *addr,
        }
    }
}

fn in_use_hint(addr: SocketAddr) -> String {
    match addr.port() {
        0 => "no free local UDP port is left — check how many sockets are open with `ss -uan | wc -l` \
              and the range in `sysctl net.ipv4.ip_local_port_range`"
            .to_owned(),
        port => format!("the port is already in use — find the owner with `ss -ulpn 'sport = :{port}'` and stop it"),
    }
}

fn permission_hint(addr: SocketAddr) -> &'static str {
    if (1..1024).contains(&addr.port()) {
        "ports below 1024 need root or CAP_NET_BIND_SERVICE \
         (`sudo setcap cap_net_bind_service=+ep $(which lifeboat)`)"
    } else {
        "a security policy (SELinux, AppArmor, seccomp) refused the bind — check the system log"
    }
}

fn not_available_hint(ip: IpAddr) -> String {
    let mut hint = format!("no interface on this machine has {ip} — check `ip addr`");
    if let IpAddr::V6(v6) = ip {
        hint.push_str(
            " (a new IPv6 address cannot be used until duplicate address detection finishes, \
             usually within a few seconds)",
        );
        if v6.is_unicast_link_local() {
            hint.push_str("; a link-local address also needs its interface, e.g. [fe80::1%eth0]");
        }
    }
    hint
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

fn other_family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv6" } else { "IPv4" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(addr: &str, errno: i32) -> BindError {
        BindError::new(addr.parse().unwrap(), io::Error::from_raw_os_error(errno))
    }

    #[test]
    fn in_use_names_address_and_owner_command() {
        let e = err("0.0.0.0:69", libc::EADDRINUSE);
        assert!(matches!(e, BindError::InUse { .. }));
        assert_eq!(
            e.to_string(),
            "cannot listen on UDP 0.0.0.0:69: the port is already in use — find the owner with \
             `ss -ulpn 'sport = :69'` and stop it"
        );
    }

    #[test]
    fn in_use_on_port_zero_talks_about_ephemeral_ports() {
        let msg = err("10.0.0.1:0", libc::EADDRINUSE).to_string();
        assert!(msg.contains("no free local UDP port"), "{msg}");
        assert!(!msg.contains("sport = :0"), "{msg}");
    }

    #[test]
    fn permission_denied_on_low_port_suggests_capability() {
        let e = err("0.0.0.0:69", libc::EACCES);
        assert!(matches!(e, BindError::PermissionDenied { .. }));
        assert_eq!(
            e.to_string(),
            "cannot listen on UDP 0.0.0.0:69: permission denied — ports below 1024 need root or \
             CAP_NET_BIND_SERVICE (`sudo setcap cap_net_bind_service=+ep $(which lifeboat)`)"
        );
        let high = err("0.0.0.0:6969", libc::EPERM).to_string();
        assert!(high.contains("security policy"), "{high}");
    }

    #[test]
    fn addr_not_available_names_the_missing_address() {
        let e = err("10.9.9.9:69", libc::EADDRNOTAVAIL);
        assert!(matches!(e, BindError::AddrNotAvailable { .. }));
        assert_eq!(
            e.to_string(),
            "cannot listen on UDP 10.9.9.9:69: address not available: no interface on this machine \
             has 10.9.9.9 — check `ip addr`"
        );
        let v6 = err("[fe80::1]:69", libc::EADDRNOTAVAIL).to_string();
        assert!(v6.contains("duplicate address detection"), "{v6}");
        assert!(v6.contains("[fe80::1%eth0]"), "{v6}");
    }

    #[test]
    fn unsupported_family_suggests_the_other_family() {
        let msg = err("[::]:69", libc::EAFNOSUPPORT).to_string();
        assert_eq!(
            msg,
            "cannot listen on UDP [::]:69: IPv6 is not available on this machine (disabled in the \
             kernel?) — listen on an IPv4 address instead"
        );
    }

    #[test]
    fn other_errors_include_the_os_error_and_keep_it_as_source() {
        let e = err("0.0.0.0:69", libc::EINVAL);
        assert!(matches!(e, BindError::Other { .. }));
        let os = io::Error::from_raw_os_error(libc::EINVAL).to_string();
        assert_eq!(e.to_string(), format!("cannot listen on UDP 0.0.0.0:69: {os}"));
        let source = std::error::Error::source(&e).expect("source kept");
        assert_eq!(source.to_string(), os);
        assert_eq!(e.addr(), "0.0.0.0:69".parse::<SocketAddr>().unwrap());
    }
}
