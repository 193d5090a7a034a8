//! What the TFTP server tells the rest of lifeboat while it works, and what it asks: every
//! transfer while it runs ([`RunningTransfer`]), how every recorded request ended (a
//! [`TransferReport`] or a [`RefusedRequest`]), the requests only counted ([`CountedRequests`]:
//! strangers outside the allow-list, clients beyond their budget of records), which file a
//! known device gets for a name, and whether a client is known.
//!
//! **Invariant:** the server calls the observer from transfer threads and the listening task, so
//! an observer never blocks: it updates memory and queues records for writers of its own.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use lifeboat_tftp::{Direction, ErrorCode};

use crate::pump::Progress;
use crate::report::TransferReport;
use crate::tally::{CountReason, CountedRequests};

/// A transfer in progress. The transfer's thread updates `progress`; anyone may read it.
#[derive(Debug)]
pub struct RunningTransfer {
    /// Unique among the transfers of one server run.
    pub id: u64,
    pub peer: SocketAddr,
    pub direction: Direction,
    /// The name the client asked for, cut to a bounded length ([`lifeboat_tftp::text`]).
    pub requested: String,
    /// The file read or written.
    pub file: PathBuf,
    pub started: SystemTime,
    pub progress: Progress,
}

/// A request answered with an error before any data moved.
#[derive(Debug, Clone)]
pub struct RefusedRequest {
    pub at: SystemTime,
    pub peer: SocketAddr,
    pub direction: Direction,
    /// The name the client asked for, cut to a bounded length ([`lifeboat_tftp::text`]).
    pub requested: String,
    /// The TFTP error the client got; [`ErrorCode::FileNotFound`] for a missing file.
    pub code: ErrorCode,
    /// Why, in words for the person running lifeboat (may name server paths).
    pub reason: String,
}

impl RefusedRequest {
    /// The client asked for a file that is not there: the name a person needs to see.
    pub fn is_missing_file(&self) -> bool {
        self.code == ErrorCode::FileNotFound
    }
}

/// Watches the TFTP server's work. Every method has a default that does nothing.
pub trait TftpObserver: Send + Sync + 'static {
    /// The time of day reports are dated with: the application's clock (the system's by
    /// default), so that tests on a paused clock see the times they set.
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    /// The file `client` gets when it asks for `requested`, instead of the usual lookup: a host's
    /// image or a name added while running. Relative to the TFTP root; the server still checks
    /// that it stays inside the root.
    fn substitute(&self, client: IpAddr, requested: &str) -> Option<PathBuf> {
        let _ = (client, requested);
        None
    }

    /// The file `client` gets when the file it asked for (`requested`) does not exist: the
    /// image armed for a recovery, under whatever name the device asks for. Relative to the
    /// TFTP root, checked like [`TftpObserver::substitute`]'s.
    fn instead_of_missing(&self, client: IpAddr, requested: &str) -> Option<PathBuf> {
        let _ = (client, requested);
        None
    }

    /// A transfer began.
    fn started(&self, transfer: &Arc<RunningTransfer>) {
        let _ = transfer;
    }

    /// A transfer that [`TftpObserver::started`] announced has ended, well or not.
    fn finished(&self, transfer: &Arc<RunningTransfer>, report: &TransferReport) {
        let _ = (transfer, report);
    }

    /// A request was refused or asked for a missing file.
    fn refused(&self, refusal: &RefusedRequest) {
        let _ = refusal;
    }

    /// One request was only counted, not recorded one by one (for counters kept up to date).
    fn counting(&self, reason: CountReason) {
        let _ = reason;
    }

    /// The summary of requests that were only counted (at most one per source and interval;
    /// each of them was announced to [`TftpObserver::counting`] as it came).
    fn counted(&self, requests: &CountedRequests) {
        let _ = requests;
    }

    /// Whether `client` is a device lifeboat knows (a DHCP lease, a host entry): known clients
    /// may use the places kept back from a flood of new addresses.
    fn is_known(&self, client: IpAddr) -> bool {
        let _ = client;
        false
    }
}

impl std::fmt::Debug for dyn TftpObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TftpObserver")
    }
}

/// The observer of a server nobody watches.
#[derive(Debug, Default)]
pub struct Unobserved;

impl TftpObserver for Unobserved {}
