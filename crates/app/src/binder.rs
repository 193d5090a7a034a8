//! How services get their sockets. The application asks a [`Binder`] for a bound server each time
//! a service starts; [`SystemBinder`] lists the interfaces, probes and binds the real ports,
//! while a test hands out servers on loopback ports of its choosing.

use std::sync::Arc;

use lifeboat_dhcp::Lease;
use lifeboat_server::{
    DhcpConfig, DhcpServer, DhcpStartError, LeaseSink, StartError, TftpConfig, TftpObserver, TftpServer,
};
use lifeboat_web::BoxFuture;

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
}
