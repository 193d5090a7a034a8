//! What the dashboard needs from the running lifeboat, as a trait the binary implements (tests
//! use a fake).
//!
//! **Invariant:** every method is cheap and never blocks on the network or the database: the
//! synchronous ones read a snapshot the services keep up to date, and only starting and stopping a
//! service is asynchronous. The trait is dyn-compatible, so the state holds an `Arc<dyn Control>`.

use std::fmt;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;

use lifeboat_store::{Direction, TransferOutcome, TransferProtocol};

use crate::recovery::{DoctorCheck, DoctorRequest, ProfileChoice, RecoveryError, RecoveryRequest, RecoveryView};

/// A boxed future that may be sent between threads: what [`Control::start`] and
/// [`Control::stop`] return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The running lifeboat, as the dashboard sees it.
pub trait Control: Send + Sync + 'static {
    /// The state of each service, TFTP first.
    fn services(&self) -> Vec<ServiceStatus>;

    /// The lifeboats of the fleet this one belongs to, by name, this one among them; just this
    /// one when its database is its own.
    fn instances(&self) -> BoxFuture<'_, Result<Vec<InstanceView>, FleetError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Start (`run`) or stop `service` on the instance `name`: this one at once, another one by a
    /// command it carries out. Resolves once that instance answered.
    fn command_instance(
        &self,
        name: String,
        service: Service,
        run: bool,
        origin: String,
    ) -> BoxFuture<'_, Result<(), FleetError>> {
        let _ = (service, run, origin);
        Box::pin(async move { Err(FleetError::UnknownInstance(name)) })
    }

    /// Start `service`. `origin` says who asked (`web 10.0.0.5 (admin)`); the implementation
    /// records the `ServiceStarted` event with it, since it also starts services on its own.
    fn start(&self, service: Service, origin: String) -> BoxFuture<'_, Result<(), ControlError>>;

    /// Stop `service`, closing its sockets, and record `ServiceStopped` with `origin`.
    fn stop(&self, service: Service, origin: String) -> BoxFuture<'_, Result<(), ControlError>>;

    /// Stop `service` once no transfer runs any more (at once when none does); the answer comes
    /// when that is arranged, not when it stopped. Without live transfers to wait for, a stop.
    fn stop_after_transfers(&self, service: Service, origin: String) -> BoxFuture<'_, Result<(), ControlError>> {
        self.stop(service, origin)
    }

    /// The recent DHCP and BOOTP requests, newest first, with what became of each.
    fn dhcp_exchanges(&self) -> Vec<DhcpExchange> {
        Vec::new()
    }

    /// Forget the DHCP lease on `address` (the Leases page's "release"), whether DHCP runs or
    /// not: `Ok(true)` once the removal is saved, `Ok(false)` when no lease is there. The
    /// client is not told (DHCP has no such message); at its next renewal it is answered as
    /// a client without a lease.
    fn release_lease(&self, address: Ipv4Addr, origin: String) -> BoxFuture<'_, Result<bool, ControlError>> {
        let _ = (address, origin);
        Box::pin(async {
            Err(ControlError::Unavailable { service: Service::Dhcp, reason: "leases cannot be released here".into() })
        })
    }

    /// The image armed for a recovery (relative to the TFTP root), if any: a device asking for
    /// a file that does not exist gets it, and the name becomes an alias.
    fn armed_image(&self) -> Option<String> {
        None
    }

    /// Arm `file` (already checked to be an image of the TFTP root), or disarm with `None`.
    fn arm_image(&self, file: Option<String>, origin: String) {
        let _ = (file, origin);
    }

    /// The addresses lifeboat holds on interfaces to answer there.
    fn claimed_addresses(&self) -> BoxFuture<'_, Vec<ClaimedAddressView>> {
        Box::pin(async { Vec::new() })
    }

    /// Check and take an address on an interface (see [`AddressClaim`]), and keep it there
    /// until it is released or lifeboat stops.
    fn claim_address(&self, claim: AddressClaim, origin: String) -> BoxFuture<'_, Result<(), ClaimError>> {
        let _ = (claim, origin);
        Box::pin(async { Err(ClaimError::Refused("this lifeboat does not change addresses".into())) })
    }

    /// Give back an address lifeboat holds: `Ok(false)` when it holds no such address.
    fn release_address(&self, address: Ipv4Addr, origin: String) -> BoxFuture<'_, Result<bool, ClaimError>> {
        let _ = (address, origin);
        Box::pin(async { Ok(false) })
    }

    /// Devices recently seen looking for an address nobody has, newest first.
    fn wanted_addresses(&self) -> Vec<WantedAddressView> {
        Vec::new()
    }

    /// The device profiles the recovery assistant knows.
    fn profiles(&self) -> Vec<ProfileChoice> {
        Vec::new()
    }

    /// The dashboard's recovery, as it stands.
    fn recovery(&self) -> RecoveryView {
        RecoveryView::default()
    }

    /// Start a recovery: serve (or push) the image, take the addresses the device needs, stop
    /// the server when it has the image.
    fn start_recovery(&self, request: RecoveryRequest, origin: String) -> BoxFuture<'_, Result<(), RecoveryError>> {
        let _ = (request, origin);
        Box::pin(async { Err(RecoveryError::Conflict("this lifeboat cannot run recoveries".into())) })
    }

    /// Stop the recovery under way, giving back what it took.
    fn cancel_recovery(&self, origin: String) -> BoxFuture<'_, ()> {
        let _ = origin;
        Box::pin(async {})
    }

    /// Run the doctor's checks for what `request` names.
    fn doctor(&self, request: DoctorRequest) -> BoxFuture<'_, Vec<DoctorCheck>> {
        let _ = request;
        Box::pin(async { vec![DoctorCheck::note("Doctor", "this lifeboat cannot run checks")] })
    }

    /// The network interfaces of the machine with their addresses.
    fn interfaces(&self) -> Vec<InterfaceInfo>;

    /// The active DHCP/BOOTP leases.
    fn leases(&self) -> Vec<LeaseView>;

    /// Transfers running now, and those that ended in the last few seconds (with their
    /// [`LiveTransfer::outcome`] set), so a watcher sees the last one reach 100 %.
    fn live_transfers(&self) -> Vec<LiveTransfer>;

    /// Whether a transfer reads or writes `file` now. `file` is relative to the TFTP root,
    /// `/`-separated, as the store keeps it.
    fn file_in_use(&self, file: &Path) -> bool;

    /// Hosts or aliases changed in the store: apply them now.
    fn reload(&self);

    /// Counters since start.
    fn metrics(&self) -> Metrics;

    /// What every page shows in red at its top until it is resolved: another DHCP server on a
    /// segment lifeboat serves, say. Empty when all is well.
    fn alerts(&self) -> Vec<String> {
        Vec::new()
    }

    /// The aliases the configuration gives (command line, environment, file, settings page):
    /// in effect beside the dashboard's own, and changed where they were set.
    fn configured_aliases(&self) -> Vec<ConfiguredAlias> {
        Vec::new()
    }

    /// The DHCP reservations the configuration gives, likewise.
    fn configured_reservations(&self) -> Vec<ConfiguredReservation> {
        Vec::new()
    }

    /// What stands against a host of the dashboard reserving `address` for `mac` (a MAC, as the
    /// store writes it): a reservation of the configuration for the same MAC or address, an
    /// address in no subnet DHCP serves, an address another MAC holds a lease on. Empty when
    /// nothing does.
    fn reservation_conflicts(&self, mac: &str, address: Option<Ipv4Addr>) -> Vec<(&'static str, String)> {
        let _ = (mac, address);
        Vec::new()
    }

    /// The dashboard's settings and what is in effect.
    fn settings(&self) -> BoxFuture<'_, Result<SettingsView, SettingsError>> {
        Box::pin(async { Err(SettingsError::Unavailable("settings cannot be changed from this dashboard".into())) })
    }

    /// Check `input`, apply it by restarting only the services whose configuration changes
    /// (keeping the previous settings if one does not start), then store it. `origin` says who
    /// asked, for the events.
    fn apply_settings(
        &self,
        input: SettingsInput,
        origin: String,
    ) -> BoxFuture<'_, Result<SettingsView, SettingsError>> {
        let _ = (input, origin);
        Box::pin(async { Err(SettingsError::Unavailable("settings cannot be changed from this dashboard".into())) })
    }
}

/// A service the dashboard can start and stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Tftp,
    Dhcp,
    /// The HTTP boot server.
    Http,
}

impl Service {
    /// Every service, in the order the dashboard shows them.
    pub const ALL: [Service; 3] = [Service::Tftp, Service::Dhcp, Service::Http];

    /// The name in URLs and JSON: `tftp`, `dhcp`, `http`.
    pub fn slug(self) -> &'static str {
        match self {
            Service::Tftp => "tftp",
            Service::Dhcp => "dhcp",
            Service::Http => "http",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Tftp => "TFTP",
            Service::Dhcp => "DHCP",
            Service::Http => "HTTP boot",
        })
    }
}

/// A service name that is not `tftp`, `dhcp` or `http`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown service {0:?}: use tftp, dhcp or http")]
pub struct UnknownService(pub String);

impl FromStr for Service {
    type Err = UnknownService;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tftp" => Ok(Service::Tftp),
            "dhcp" => Ok(Service::Dhcp),
            "http" => Ok(Service::Http),
            _ => Err(UnknownService(s.to_owned())),
        }
    }
}

/// The state of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStatus {
    pub service: Service,
    pub running: bool,
    /// It should run but does not: it failed to start, or its server ended by itself. A service
    /// stopped on purpose (by a person, or when idle) has not failed. `lifeboat health` reports
    /// a failed service as unhealthy.
    pub failed: bool,
    /// Whether lifeboat was started with what this service needs (a TFTP root, a DHCP range);
    /// an unconfigured service cannot be started from the dashboard.
    pub configured: bool,
    /// Where it listens, as text (`0.0.0.0:69`, `eth1 (10.0.0.1:67)`); empty when stopped.
    pub listening: Vec<String>,
    /// Anything a person should know: why it stopped, why it cannot start, its range.
    pub detail: Option<String>,
    /// With `--stop-when-idle`: how long until it stops itself unless somebody uses it.
    pub stops_when_idle_in: Option<std::time::Duration>,
}

/// A network interface of the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    pub name: String,
    /// Addresses with their prefix length, as text (`10.0.0.1/24`, `fe80::1/64`).
    pub addresses: Vec<String>,
    pub up: bool,
    /// The default route leaves through it: most likely the main LAN, no place for DHCP.
    pub default_route: bool,
}

/// An active DHCP/BOOTP lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseView {
    /// Lowercase `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    pub address: Ipv4Addr,
    pub hostname: Option<String>,
    /// Unix milliseconds; `None` never expires (BOOTP, infinite lease).
    pub expires_at: Option<i64>,
    /// When its client was last heard (Unix ms), if lifeboat remembers (since it started, among
    /// the last few thousand clients).
    pub last_seen: Option<i64>,
    /// The boot file its client was last given, if lifeboat remembers.
    pub boot_file: Option<String>,
}

/// A device seen looking (by ARP) for an address nobody on its segment has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedAddressView {
    /// When it was found, Unix ms.
    pub at: i64,
    pub interface: String,
    pub mac: String,
    /// The device's own address, if it has one.
    pub device: Option<Ipv4Addr>,
    pub wanted: Ipv4Addr,
    /// The prefix to take it with (one that covers the device's address).
    pub prefix: u8,
    /// The command that gives this machine the address by hand.
    pub claim_command: String,
}

/// An address for lifeboat to take on an interface, to answer where a device looks for its
/// server.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AddressClaim {
    pub interface: String,
    pub address: Ipv4Addr,
    #[serde(default = "default_claim_prefix")]
    pub prefix: u8,
    /// Claim it even on the interface of the default route (the user's main network).
    #[serde(default)]
    pub force: bool,
}

fn default_claim_prefix() -> u8 {
    24
}

/// An address lifeboat holds on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedAddressView {
    pub interface: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
    /// Since when, Unix ms.
    pub since: i64,
}

/// Why an address was not claimed or released.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// It is not safe or not possible here; the message says why and what to do.
    #[error("{0}")]
    Refused(String),
    /// The address or prefix itself is wrong (the message says why).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Failed(String),
}

/// A transfer in progress (or just ended).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveTransfer {
    /// Unique among live transfers; stable while the transfer runs.
    pub id: u64,
    pub protocol: TransferProtocol,
    pub client: SocketAddr,
    pub mac: Option<String>,
    /// The name the client asked for, as it asked.
    pub requested: String,
    /// The file served or written, relative to the TFTP root, once known.
    pub file: Option<String>,
    pub direction: Direction,
    pub bytes: u64,
    /// The size of the file when known (reads; writes with `tsize`).
    pub size: Option<u64>,
    /// Unix milliseconds.
    pub started_at: i64,
    /// Bytes per second, averaged over the last seconds.
    pub rate: u64,
    /// `None` while it runs; how it ended for a transfer that just finished.
    pub outcome: Option<TransferOutcome>,
}

/// Counters since lifeboat started, for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    pub transfers_complete: u64,
    pub transfers_failed: u64,
    pub transfers_refused: u64,
    pub transfers_not_found: u64,
    pub transfers_options_declined: u64,
    /// Payload bytes sent by TFTP (reads).
    pub bytes_sent: u64,
    /// Payload bytes received by TFTP (writes).
    pub bytes_received: u64,
    /// Requests refused before any transfer: allow-list, limits (all services).
    pub refusals: u64,
    /// TFTP requests from outside the allow-list, dropped without an answer.
    pub tftp_dropped_strangers: u64,
    /// TFTP requests answered but only counted, beyond their client's budget of records.
    pub tftp_unrecorded: u64,
    pub active_leases: u64,
    pub active_transfers: u64,
    pub dhcp_replies: u64,
}

/// Why a service did not start or stop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("{0} is already running")]
    AlreadyRunning(Service),

    #[error("{0} is not running")]
    NotRunning(Service),

    /// The service is not configured, or cannot run here (`reason` says what to do).
    #[error("{service} cannot start: {reason}")]
    Unavailable { service: Service, reason: String },

    #[error("{service}: {message}")]
    Failed { service: Service, message: String },
}

/// A lifeboat of the fleet, as its heartbeats tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceView {
    pub name: String,
    /// Whether this is the lifeboat answering.
    pub this: bool,
    /// Whether it beat recently; a stopped or unreachable instance is not up.
    pub up: bool,
    pub version: String,
    /// Where its dashboard listens; empty without one.
    pub dashboard: String,
    /// Unix ms of its start and of its last heartbeat.
    pub started_at: i64,
    pub seen_at: i64,
    /// Each service's slug and state (`running`, `stopped`, `failed`, `not configured`).
    pub services: std::collections::BTreeMap<String, String>,
}

/// Why a fleet request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FleetError {
    #[error("there is no instance {0:?} in this fleet")]
    UnknownInstance(String),

    #[error("instance {instance} did not answer within {seconds} s; is it running? (the command was withdrawn)")]
    NoAnswer { instance: String, seconds: u64 },

    #[error("instance {instance}: {reason}")]
    Refused { instance: String, reason: String },

    #[error("{0}")]
    Unavailable(String),
}

/// The settings saved from the dashboard, and what is in effect (see [`Control::settings`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsView {
    /// The dashboard's own document (the configuration file's shape), as JSON and as stored (TOML).
    pub stored: serde_json::Value,
    pub stored_toml: String,
    /// The configuration file with the dashboard's document over it, as JSON.
    pub effective: serde_json::Value,
    /// The same as TOML: the export, in the format of `config/lifeboat.toml`.
    pub effective_toml: String,
    /// The keys the command line and the environment set, which the dashboard cannot change.
    pub locked: Vec<Lock>,
    /// Why the stored document does not apply any more (the file or the command line changed
    /// since it was saved); empty when it applies. `stored` is then empty, `stored_toml` not.
    pub problems: Vec<SettingsProblem>,
}

/// A key the command line or the environment set (`dhcp.range` by `LIFEBOAT_DHCP_RANGE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub key: String,
    /// The flag or the environment variable that set it.
    pub by: String,
}

/// New settings as the dashboard received them.
#[derive(Debug, Clone)]
pub enum SettingsInput {
    /// From the API or the page's form: the configuration file's shape as JSON.
    Json(serde_json::Value),
    /// An imported TOML file.
    Toml(String),
}

/// One thing wrong with new settings, with the key it concerns when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsProblem {
    pub key: Option<String>,
    pub message: String,
}

/// Why new settings were not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// They are invalid, or change a locked key; nothing changed.
    #[error("the settings were not saved: {}", .0.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<SettingsProblem>),
    /// A service did not start with them; the previous settings run again and were kept.
    #[error("the settings were not applied, the previous ones still run: {0}")]
    NotApplied(String),
    /// Settings cannot be changed here (no database, or an application without them).
    #[error("{0}")]
    Unavailable(String),
}

/// An alias the configuration gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredAlias {
    pub name: String,
    pub file: String,
    /// Whether the file exists under the TFTP root now.
    pub exists: bool,
}

/// A DHCP reservation the configuration gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredReservation {
    /// Lower-case, colon-separated.
    pub mac: String,
    pub address: Ipv4Addr,
    pub name: Option<String>,
}

/// A DHCP or BOOTP request and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpExchange {
    /// Unix milliseconds.
    pub at: i64,
    /// The client's hardware address.
    pub client: String,
    /// `DHCPDISCOVER`, `BOOTREQUEST`, ...
    pub request: String,
    /// What the client was taken for (`UEFI x64 PXE`, `U-Boot`, `plain BOOTP`).
    pub class: String,
    /// What lifeboat did: `DHCPOFFER 10.0.0.50`, or `ignored: ...` with what to do.
    pub outcome: String,
    pub boot_file: Option<String>,
    /// The rule that chose the boot file.
    pub boot_rule: Option<String>,
}
