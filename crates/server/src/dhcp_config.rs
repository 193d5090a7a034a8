//! The validated DHCP server configuration. The binary builds it from flags and the TOML file.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::dhcp_probe::PROBE_WAIT;

use ipnet::Ipv4Net;
use lifeboat_dhcp::boot::{BootRule, DefaultBoot, HttpBootServer};
use lifeboat_dhcp::config::{ExtraOption, Mac, Range, Reservation};

/// Everything the DHCP server needs to start.
#[derive(Debug, Clone)]
pub struct DhcpConfig {
    pub ranges: Vec<Range>,
    pub reservations: Vec<Reservation>,
    pub boot_rules: Vec<BootRule>,
    pub default_boot: Option<DefaultBoot>,
    /// The HTTP boot server DHCP points iPXE and UEFI HTTP boot clients to, when one is configured.
    pub http_boot: Option<HttpBootServer>,
    pub extra_options: Vec<ExtraOption>,
    /// Interfaces to answer on (`--dhcp-interface`); empty means every interface with a range.
    pub interfaces: Vec<String>,
    /// Answer plain BOOTP from MACs without a reservation.
    pub bootp_dynamic: bool,
    /// Skip the probe for other DHCP servers at start, and keep handing out addresses when one
    /// appears later (`--dhcp-skip-probe`).
    pub skip_probe: bool,
    /// The only DHCP server on its networks: answer REQUESTs of clients without a lease here
    /// (`--dhcp-authoritative`, as in dnsmasq; see `lifeboat_dhcp::Settings::authoritative`).
    pub authoritative: bool,
    /// Relay agents trusted beyond the subnets of relayed ranges (`--dhcp-relay-allow`).
    pub relay_allow: Vec<Ipv4Net>,
    /// How long the probe listens for another server's answer.
    pub probe_wait: Duration,
    /// The addresses of the fleet's other lifeboats: a DHCP server answering from one of them
    /// is a partner serving the same range, not a rogue server.
    pub partners: BTreeSet<Ipv4Addr>,
}

impl DhcpConfig {
    pub fn new(ranges: Vec<Range>) -> DhcpConfig {
        DhcpConfig {
            ranges,
            reservations: Vec::new(),
            boot_rules: Vec::new(),
            default_boot: None,
            http_boot: None,
            extra_options: Vec::new(),
            interfaces: Vec::new(),
            bootp_dynamic: false,
            skip_probe: false,
            authoritative: false,
            relay_allow: Vec::new(),
            probe_wait: PROBE_WAIT,
            partners: BTreeSet::new(),
        }
    }
}

/// The hosts that the dashboard maps to addresses and images. They change while the server runs;
/// the server takes each new value at once (see `DhcpServer::watch_hosts`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DhcpHosts {
    /// Reservations, beside those of the configuration (which win for the same MAC).
    pub reservations: Vec<Reservation>,
    /// Boot files by MAC, for hosts with or without a reservation.
    pub boot: BTreeMap<Mac, String>,
    /// Hosts that boot a boot profile: iPXE on them gets the script URL of the HTTP boot server.
    pub profiled: BTreeSet<Mac>,
}
