//! How services get their sockets. The application asks a [`Binder`] for a bound server each time
//! a service starts; [`SystemBinder`] lists the interfaces, probes and binds the real ports,
//! while a test hands out servers on loopback ports of its choosing. The binder also gives the
//! announcer its view of the machine's interfaces ([`Neighbours`]), or none.

use std::io;
use std::sync::Arc;

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use lifeboat_dhcp::Lease;
use lifeboat_net::{AddressChanges, Announcement, FrameSender, Interface, InterfaceIpv6};
use lifeboat_server::{
    DhcpConfig, DhcpServer, DhcpStartError, HttpBootConfig, HttpBootObserver, HttpBootServer, HttpStartError,
    LeaseSink, StartError, TftpConfig, TftpObserver, TftpServer,
};
use lifeboat_web::BoxFuture;

use crate::network_setup::NetworkFacts;

/// Makes bound servers, ready to run.
pub trait Binder: Send + Sync + 'static {
    /// A TFTP server for `config`, reporting to `observer`.
    fn tftp(&self, config: TftpConfig, observer: Arc<dyn TftpObserver>) -> Result<TftpServer, StartError>;

    /// A DHCP server for `config` that starts from `leases` and saves changes to `sink`.
    fn dhcp(
        &self,
        config: DhcpConfig,
        leases: Vec<Lease>,
        sink: Arc<dyn LeaseSink>,
    ) -> BoxFuture<'static, Result<DhcpServer, DhcpStartError>>;

    /// An HTTP boot server for `config`, reporting to `observer`. Binds what the configuration
    /// says by default (tests give loopback addresses there).
    fn http_boot(
        &self,
        config: HttpBootConfig,
        observer: Arc<dyn HttpBootObserver>,
    ) -> BoxFuture<'static, Result<HttpBootServer, HttpStartError>> {
        Box::pin(HttpBootServer::bind(config, observer))
    }

    /// What the network lifeboat runs on looks like, for the start-up check of
    /// `network_setup.rs`. Nothing known by default (tests).
    fn network_facts(&self) -> NetworkFacts {
        NetworkFacts::default()
    }

    /// Whether lifeboat runs on the machine's own interfaces: it watches them for devices
    /// looking for an address nobody has, and may take addresses on them. Off by default:
    /// in-process tests must not touch the machine's network.
    fn uses_system_interfaces(&self) -> bool {
        false
    }

    /// Where the announcer (`announcer.rs`) lists addresses and sends. `None`, the default,
    /// announces nothing: in-process tests must not send on the machine's interfaces. An error
    /// says why announcing cannot work here.
    fn neighbours(&self) -> Option<io::Result<Arc<dyn Neighbours>>> {
        None
    }
}

/// The interfaces as the announcer sees them, and the way out of them.
pub trait Neighbours: Send + Sync + 'static {
    /// The interfaces, with their MAC and IPv4 addresses, and the IPv6 addresses that passed
    /// duplicate address detection.
    fn addresses(&self) -> BoxFuture<'_, io::Result<(Vec<Interface>, Vec<InterfaceIpv6>)>>;

    /// Send `announcement` out of the interface with index `ifindex`. Never blocks.
    fn send(&self, ifindex: u32, announcement: &Announcement) -> io::Result<()>;

    /// A stream with an item whenever an interface or an address may have changed, so that
    /// [`addresses`](Neighbours::addresses) is asked only then; `None` (the default): the
    /// announcer asks every second.
    fn changes(&self) -> Option<BoxStream<'static, ()>> {
        None
    }
}

/// The machine's own interfaces, and a packet socket to announce on them.
#[derive(Debug)]
struct SystemNeighbours {
    sender: FrameSender,
}

impl Neighbours for SystemNeighbours {
    fn addresses(&self) -> BoxFuture<'_, io::Result<(Vec<Interface>, Vec<InterfaceIpv6>)>> {
        Box::pin(async { Ok((lifeboat_net::interfaces()?, lifeboat_net::usable_ipv6_addresses().await?)) })
    }

    fn send(&self, ifindex: u32, announcement: &Announcement) -> io::Result<()> {
        self.sender.announce(ifindex, announcement)
    }

    fn changes(&self) -> Option<BoxStream<'static, ()>> {
        match AddressChanges::subscribe() {
            Ok(changes) => Some(changes.boxed()),
            Err(error) => {
                tracing::debug!("cannot hear of address changes ({error}): looking every second instead");
                None
            }
        }
    }
}

/// The machine's own network: the addresses and ports the configuration names.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemBinder;

impl Binder for SystemBinder {
    fn tftp(&self, config: TftpConfig, observer: Arc<dyn TftpObserver>) -> Result<TftpServer, StartError> {
        TftpServer::bind_observed(config, observer)
    }

    fn dhcp(
        &self,
        config: DhcpConfig,
        leases: Vec<Lease>,
        sink: Arc<dyn LeaseSink>,
    ) -> BoxFuture<'static, Result<DhcpServer, DhcpStartError>> {
        Box::pin(DhcpServer::start(config, leases, sink))
    }

    fn network_facts(&self) -> NetworkFacts {
        let default_route = lifeboat_net::default_route();
        let default_route_driver =
            default_route.as_ref().and_then(|route| lifeboat_net::link_driver(&route.interface).ok());
        let in_container = ["/.dockerenv", "/run/.containerenv"].iter().any(|mark| std::path::Path::new(mark).exists());
        NetworkFacts { in_container, default_route, default_route_driver }
    }

    fn uses_system_interfaces(&self) -> bool {
        true
    }

    fn neighbours(&self) -> Option<io::Result<Arc<dyn Neighbours>>> {
        Some(FrameSender::open().map(|sender| Arc::new(SystemNeighbours { sender }) as Arc<dyn Neighbours>))
    }
}
