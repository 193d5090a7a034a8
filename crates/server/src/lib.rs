//! lifeboat's servers: the async drivers that run the protocol cores on real sockets, files
//! and timers.
//!
//! **Invariant:** no protocol decisions are made here. Which block to send, when to retransmit,
//! what to negotiate and which names are acceptable is decided by `lifeboat-tftp`, which address
//! and boot file a DHCP client gets and where the reply goes by `lifeboat-dhcp`; this crate
//! moves bytes between sockets ([`lifeboat_net`]), files and the core, and reports what
//! happened.
//!
//! Map:
//! - [`TftpServer`] (`tftp_server.rs`): listening sockets, admission, hand-over to the loops.
//! - `loops.rs`: one event loop thread per CPU and the inbox each is handed work through;
//!   `event_loop.rs`: one loop, many transfers (`served.rs`, kept in `slots.rs`), a deadline heap (`deadlines.rs`),
//!   the spin for a few transfers (`spinner.rs`); `prepare.rs`: a request's file and core before
//!   any data moves.
//! - [`client`]: `get` and `put`, each on the caller's thread (`pump.rs`); `machine.rs`: a core
//!   with its file, which sending and receiving share; `link.rs`: own port or shared listening
//!   port.
//! - `root.rs`: requested name → file (aliases, case, symlinks); `open_files.rs`: shared
//!   descriptors; `source.rs`: octet or netascii bytes out; `upload.rs`: temp file, sync, rename.
//! - `access.rs`: the source allow-list; `admission.rs`: transfer limits and the places kept
//!   for known clients; `tally.rs`: which requests are recorded one by one, which only counted.
//! - [`TransferReport`] (`report.rs`): the log line of each transfer.
//! - [`TftpObserver`] (`observer.rs`): live transfers, how each request ended, and the file a
//!   known device gets (the dashboard's host images).
//! - [`DhcpServer`] (`dhcp_server.rs`): ports 67 and 4011 around `lifeboat-dhcp`'s responder;
//!   [`DhcpPlan`] (`dhcp_plan.rs`): what to serve and bind where, from the configuration and the
//!   interface list alone;
//!   `dhcp_probe.rs`: looks for another DHCP server before and while serving ([`OtherServer`]);
//!   `dhcp_send.rs`: a reply to its destination (relay, unicast, broadcast, or straight to a MAC).
//! - [`HttpBootServer`] (`http_boot.rs`): the boot root over HTTP and `/ipxe`, the scripts of
//!   boot profiles; `http_body.rs`: a download, counted as it is sent; `http_file.rs`: files
//!   sent with `sendfile`; `http_connections.rs`: the accept loop, the bounds on connections,
//!   and each connection's requests and answers; `http_wire.rs`: HTTP/1.1 heads.
//! - [`watch_addresses`] (`address_watch.rs`): ARP taps on the interfaces, feeding
//!   `lifeboat-dhcp`'s `WantedAddresses` (devices looking for an address nobody has).

mod access;
mod address_watch;
mod admission;
mod batch;
pub mod client;
mod config;
mod deadlines;
mod dhcp_config;
mod dhcp_plan;
mod dhcp_probe;
mod dhcp_send;
mod dhcp_server;
mod digest;
mod event_loop;
mod http_body;
mod http_boot;
mod http_connections;
mod http_file;
mod http_wire;
mod link;
mod loops;
mod machine;
mod observer;
mod open_files;
mod prepare;
mod pump;
mod report;
mod root;
mod served;
mod slots;
mod source;
mod spinner;
mod tally;
mod tftp_server;
mod upload;

pub use access::AllowList;
pub use address_watch::{RESCAN_EVERY, watch_addresses};
pub use config::{DEFAULT_UPLOAD_MAX_SIZE, TftpConfig, UploadConfig};
pub use dhcp_config::{DhcpConfig, DhcpHosts};
pub use dhcp_plan::DhcpPlan;
pub use dhcp_probe::{OtherServer, PROBE_WAIT, WATCH_PROBE_EVERY, find_other_dhcp_server};
pub use dhcp_server::{
    DhcpCommand, DhcpServer, DhcpSockets, DhcpStartError, ExchangeReport, LeaseSink, NotSaved, Persisted, Reachable,
};
pub use digest::sha256_file;
pub use http_body::HttpOutcome;
pub use http_boot::{HttpBootConfig, HttpBootObserver, HttpBootServer, HttpReport, HttpStartError, ScriptRequest};
pub use observer::{RefusedRequest, RunningTransfer, TftpObserver, Unobserved};
pub use pump::Progress;
pub use report::TransferReport;
pub use root::RootError;
pub use tally::{Asked, CountReason, CountedRequests};
pub use tftp_server::{Closing, StartError, TftpServer};
