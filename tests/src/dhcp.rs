//! DHCP/BOOTP end-to-end support: a link whose client side has no address yet, the DHCP server
//! under test (lifeboat by default, dnsmasq with `LIFEBOAT_DHCP_TESTS_SERVER=dnsmasq`; see
//! [`DhcpServerKind`]), and the real Debian clients (dhclient, udhcpc, dhcpcd, bootpc) driven the
//! way an administrator would.
//!
//! **Invariant:** every client keeps all its state (lease files, pid files, control sockets,
//! recorded script events) in a temporary folder of its own and changes nothing outside its
//! namespace: no client script ever touches `/etc/resolv.conf`, `/var/lib/dhcp`, `/var/lib/dhcpcd`
//! or `/run/dhcpcd` of the machine (dhcpcd runs under private bind mounts over `/var/lib/dhcpcd`
//! and `/run`, visible only in its own mount namespace). Each client script only configures the
//! leased address on the client's own veth end and records its environment.
//!
//! Parts:
//! - [`DhcpLink`]: server namespace + client namespace joined by a veth; the client end has a
//!   fixed MAC and no IPv4 address.
//! - [`DhcpScope`]: what the server hands out (range, lease time, boot file, reservations).
//! - [`DhcpServer`] (`dhcp/server.rs`): starts the server under test and reads its lease database.
//! - [`Dhclient`], [`Udhcpc`], [`Dhcpcd`], [`Bootpc`] (`dhcp/clients.rs`): client runners.
//! - [`ClientEvent`] (`dhcp/events.rs`): what a client told its script, one event per call.

mod clients;
mod events;
mod server;

use std::net::Ipv4Addr;
use std::time::Duration;

pub use clients::{BootpReply, Bootpc, Dhclient, Dhcpcd, Udhcpc};
pub use events::{ClientEvent, EventLog};
pub use server::{DhcpServer, DhcpServerKind, LeaseDbError, SERVER_ENV, ServerLease};

use crate::netns::{LinkOptions, Netns, admin, next_subnet, veth};

/// How long any single step of a DHCP exchange may take before a test gives up. dnsmasq answers
/// in milliseconds; this only bounds a broken run.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// A server namespace and a client namespace joined by one veth pair. The server end
/// (`srv0`) has `10.77.N.1/24`; the client end (`cli0`) has the MAC [`DhcpLink::client_mac`]
/// and only its IPv6 link-local address, so every IPv4 address it gets came from DHCP/BOOTP.
#[derive(Debug)]
pub struct DhcpLink {
    pub server: Netns,
    pub client: Netns,
    pub server_dev: String,
    pub client_dev: String,
    pub server_ip: Ipv4Addr,
    pub prefix_len: u8,
    /// Lower-case, colon-separated, e.g. `02:1b:00:00:07:02`.
    pub client_mac: String,
}

impl DhcpLink {
    pub fn new() -> DhcpLink {
        let server = Netns::new();
        let client = Netns::new();
        let subnet = next_subnet();
        let link = veth(&server, &client, &LinkOptions::subnet(subnet).devs("srv0", "cli0"));
        // veth() gives both ends addresses; the client end must start empty.
        admin(&["ip", "-n", client.name(), "addr", "flush", "dev", &link.b_dev, "scope", "global"]);
        let client_mac = format!("02:1b:00:00:{subnet:02x}:02");
        admin(&["ip", "-n", client.name(), "link", "set", "dev", &link.b_dev, "address", &client_mac]);
        DhcpLink {
            server,
            client,
            server_dev: link.a_dev,
            client_dev: link.b_dev,
            server_ip: link.a_v4,
            prefix_len: 24,
            client_mac,
        }
    }

    /// `10.77.N.host` in this link's subnet.
    pub fn host(&self, host: u8) -> Ipv4Addr {
        let [a, b, c, _] = self.server_ip.octets();
        Ipv4Addr::new(a, b, c, host)
    }

    /// The IPv4 addresses currently on the client's veth end.
    pub fn client_ipv4_addresses(&self) -> Vec<Ipv4Addr> {
        let out = self.client.run(&["ip", "-4", "-o", "addr", "show", "dev", &self.client_dev], STEP_TIMEOUT);
        out.assert_success();
        // Lines look like `2: cli0    inet 10.77.3.120/24 brd ... scope global cli0`.
        out.stdout
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace().skip_while(|w| *w != "inet");
                words.nth(1)?.split('/').next()?.parse().ok()
            })
            .collect()
    }
}

impl Default for DhcpLink {
    fn default() -> Self {
        DhcpLink::new()
    }
}

/// What the server under test hands out on a [`DhcpLink`]. Both server implementations get the
/// same scope through their own command lines.
#[derive(Debug, Clone)]
pub struct DhcpScope {
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
    pub netmask: Ipv4Addr,
    /// dnsmasq syntax (`2m`, `1h`, `infinite`); dnsmasq refuses anything under two minutes.
    pub lease_time: String,
    /// The boot file name every client must receive in the `file` header field.
    pub boot_file: String,
    /// The `sname` header field.
    pub boot_server_name: String,
    /// The `siaddr` header field (next server). Deliberately not the DHCP server's own address,
    /// so a test can tell it apart from the server identifier.
    pub boot_server_addr: Ipv4Addr,
    /// Answer BOOTP requests from the dynamic range, not only for reserved hosts.
    pub bootp_dynamic: bool,
    /// Fixed addresses by MAC (`--dhcp-reservation MAC,IP`).
    pub reservations: Vec<(String, Ipv4Addr)>,
}

impl DhcpScope {
    /// `.100`–`.150` of the link's /24, two-minute leases, boot file `netboot/lifeboat-e2e.kpxe`
    /// from `boot-e2e` at `.9`.
    pub fn for_link(link: &DhcpLink) -> DhcpScope {
        DhcpScope {
            first: link.host(100),
            last: link.host(150),
            netmask: Ipv4Addr::new(255, 255, 255, 0),
            lease_time: "2m".to_owned(),
            boot_file: "netboot/lifeboat-e2e.kpxe".to_owned(),
            boot_server_name: "boot-e2e".to_owned(),
            boot_server_addr: link.host(9),
            bootp_dynamic: false,
            reservations: Vec::new(),
        }
    }

    /// True when `addr` lies in the dynamic range (inclusive).
    pub fn in_range(&self, addr: Ipv4Addr) -> bool {
        (self.first..=self.last).contains(&addr)
    }

    /// `START,END,NETMASK,LEASE`, the syntax of both dnsmasq and lifeboat.
    pub fn range_arg(&self) -> String {
        format!("{},{},{},{}", self.first, self.last, self.netmask, self.lease_time)
    }

    /// `FILE,SERVERNAME,SERVERADDR`, the syntax of both dnsmasq and lifeboat.
    pub fn boot_arg(&self) -> String {
        format!("{},{},{}", self.boot_file, self.boot_server_name, self.boot_server_addr)
    }
}
