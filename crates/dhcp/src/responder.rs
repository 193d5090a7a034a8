//! The DHCP/BOOTP responder: one datagram in, at most one reply and one lease change out.
//!
//! **Invariant:** [`Responder::handle`] is a pure state machine over its lease table: no I/O, no
//! clock (the caller passes `now` in Unix seconds), never a panic. When it returns a lease change
//! together with a reply, the driver must make the change durable before it sends the reply, so an
//! acknowledged lease survives a crash.
//!
//! A relayed request is answered only when its `giaddr` lies in the subnet of a scope meant for
//! relays (a range with a netmask no local interface has) or in `relay_allow`: any other
//! `giaddr` is a spoof that would send our reply to an address of the attacker's choice. A
//! flood of new clients is met as `pressure.rs` describes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::allocate::scan;
use crate::boot::{BootClass, BootRule, Chosen, DefaultBoot, HttpBootServer, choose};
use crate::classify::{Client, classify};
use crate::config::{DEFAULT_LEASE_SECS, ExtraOption, LeaseTime, Mac, Reservation, hardware_text};
use crate::destination::{Arrival, Destination, PXE_PORT, destination};
use crate::explain::{Explanation, Level, describe, show};
use crate::lease::{ClientKey, Lease, LeaseChange, LeaseTable, UnsavedBind};
use crate::pressure::{MAX_OUTSTANDING_OFFERS, MIN_REUSE_AGE, Pressure, offer_cap, pressure_threshold};
use crate::rate_limit::RateLimiter;
use crate::reply::{BootInfo, ReplyFields, ReplyKind, encode};
use crate::scope::{Reach, Scope};
use crate::share::LoadShare;
use crate::wire::{Kind, MessageType, Request, decode};
use ipnet::Ipv4Net;

/// Everything the responder needs to know. Fixed at start-up, except the hosts
/// ([`Responder::set_hosts`]).
#[derive(Debug, Clone)]
pub struct Settings {
    pub scopes: Vec<Scope>,
    pub reservations: Vec<Reservation>,
    /// Boot files by MAC (the dashboard's host table), for hosts with or without a reservation.
    /// A reservation's own boot file comes first.
    pub host_boot: BTreeMap<Mac, String>,
    /// Hosts that boot a boot profile over HTTP: iPXE on them gets [`Settings::http_boot`]'s
    /// script URL, before any boot file.
    pub host_profiles: BTreeSet<Mac>,
    /// The HTTP boot server, when one runs: iPXE clients without a boot file of their own (a
    /// host's, or an `ipxe` rule) get the URL of their script there, and UEFI HTTP boot clients
    /// get their boot file's URL on it.
    pub http_boot: Option<HttpBootServer>,
    pub boot_rules: Vec<BootRule>,
    pub default_boot: Option<DefaultBoot>,
    pub extra_options: Vec<ExtraOption>,
    /// Give BOOTP clients without a reservation an address from the ranges.
    pub bootp_dynamic: bool,
    /// This is the only DHCP server on its networks (dnsmasq's `--dhcp-authoritative`): a
    /// DHCPREQUEST from a client it has no record of is answered, with an ACK when the address
    /// is the client's to take and a NAK at once otherwise. Without it such a request is
    /// ignored, as RFC 2131 §4.3.2 asks: another server may hold the client's lease.
    pub authoritative: bool,
    /// How long an offered address stays reserved for the client it was offered to.
    pub offer_hold_secs: u64,
    /// The same while the scope is under pressure (see `pressure.rs`).
    pub pressured_offer_hold_secs: u64,
    /// New clients (no lease, no reservation) answered per second, over all scopes, while a
    /// scope is under pressure.
    pub new_clients_per_second: u32,
    /// Relay agents whose `giaddr` lies in one of these are answered too, for the scope whose
    /// subnet holds the `giaddr` (`--dhcp-relay-allow`).
    pub relay_allow: Vec<Ipv4Net>,
    /// Hardware addresses of this machine: requests from them are lifeboat's own probes for
    /// other servers, never answered.
    pub own_macs: Vec<Mac>,
    /// How long a declined address stays out of the pool.
    pub decline_quarantine_secs: u64,
    /// Requests per second accepted from one client.
    pub per_client_rate: u32,
    /// Keys the hash of client identifiers in the rate limit. The driver sets it from a random
    /// source once per process, so clients cannot pick identifiers that share a budget; this
    /// crate has no randomness of its own (0, the default, suits tests).
    pub hash_seed: u64,
}

impl Settings {
    pub fn new(scopes: Vec<Scope>) -> Settings {
        Settings {
            scopes,
            reservations: Vec::new(),
            host_boot: BTreeMap::new(),
            host_profiles: BTreeSet::new(),
            http_boot: None,
            boot_rules: Vec::new(),
            default_boot: None,
            extra_options: Vec::new(),
            bootp_dynamic: false,
            authoritative: false,
            offer_hold_secs: 60,
            pressured_offer_hold_secs: 10,
            new_clients_per_second: 100,
            relay_allow: Vec::new(),
            own_macs: Vec::new(),
            decline_quarantine_secs: 600,
            per_client_rate: 20,
            hash_seed: 0,
        }
    }
}

/// A reply ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub to: Destination,
}

/// The result of one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// Persist this first (when there is a reply, before sending it).
    pub change: Option<LeaseChange>,
    /// For a bound lease in `change`: hand it to [`Responder::undo`] if the change is not saved.
    pub unsaved: Option<UnsavedBind>,
    pub reply: Option<Reply>,
    pub explanation: Explanation,
}

/// What the responder has seen since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub received: u64,
    pub malformed: u64,
    pub rate_limited: u64,
    /// DISCOVERs of new clients not answered while their scope was under pressure.
    pub held_back: u64,
    pub offers: u64,
    pub acks: u64,
    pub naks: u64,
    pub bootp_replies: u64,
    pub ignored: u64,
}

pub struct Responder {
    settings: Settings,
    reserved: BTreeMap<Ipv4Addr, Mac>,
    leases: LeaseTable,
    limiter: RateLimiter,
    pressure: Pressure,
    /// Interfaces where new clients get no address: another DHCP server answers there.
    held: BTreeSet<u32>,
    /// This instance's part of the clients when it shares the range with others (an HA pair).
    share: Option<LoadShare>,
    /// The lease store cannot save anything now (its database is unreachable).
    store_down: bool,
    counters: Counters,
}

impl Responder {
    /// A responder that starts with `leases` (loaded from the store).
    pub fn new(settings: Settings, leases: impl IntoIterator<Item = Lease>) -> Responder {
        let reserved = settings.reservations.iter().map(|r| (r.address, r.mac)).collect();
        let limiter = RateLimiter::new(settings.per_client_rate, settings.hash_seed);
        let pressure = Pressure::new(settings.new_clients_per_second);
        Responder {
            settings,
            reserved,
            leases: LeaseTable::with_leases(leases),
            limiter,
            pressure,
            held: BTreeSet::new(),
            share: None,
            store_down: false,
            counters: Counters::default(),
        }
    }

    /// Replace the reservations and per-host boot files, keeping the leases: the host table
    /// changed. A client whose lease conflicts with a new reservation gets a NAK at its next
    /// renewal, as after a restart with the new `--dhcp-reservation`.
    pub fn set_hosts(
        &mut self,
        reservations: Vec<Reservation>,
        host_boot: BTreeMap<Mac, String>,
        host_profiles: BTreeSet<Mac>,
    ) {
        self.reserved = reservations.iter().map(|r| (r.address, r.mac)).collect();
        self.settings.reservations = reservations;
        self.settings.host_boot = host_boot;
        self.settings.host_profiles = host_profiles;
    }

    /// Hand out no new addresses on the interface with index `interface`: another DHCP server
    /// answers there. Clients with a lease or a reservation are still answered.
    pub fn hold_new_clients(&mut self, interface: u32) {
        self.held.insert(interface);
    }

    /// Give new clients addresses again on the interface with index `interface`: the server
    /// seen there turned out to be a partner.
    pub fn serve_new_clients(&mut self, interface: u32) {
        self.held.remove(&interface);
    }

    /// Answer only this part of the clients' DISCOVERs and broadcast REQUESTs (`None`: all of
    /// them): the other instances serving the range answer the rest.
    pub fn share_load(&mut self, share: Option<LoadShare>) {
        self.share = share;
    }

    /// Take in leases another instance of the fleet bound: their addresses are not offered to
    /// anyone else, and their clients' renewals are answered here when that instance is gone.
    pub fn learn(&mut self, leases: impl IntoIterator<Item = Lease>) {
        for lease in leases {
            self.leases.learn(lease);
        }
    }

    /// Tell whether the lease store can save changes. While it cannot (its database is
    /// unreachable), no lease is bound or extended, since none could be made durable: a client
    /// with an active lease is answered from memory with the time its saved lease has left,
    /// and everyone else waits (no reply, so they retry) until the store is back.
    pub fn set_store_down(&mut self, down: bool) {
        self.store_down = down;
    }

    /// The store could not save the change that came with `unsaved`: memory goes back to the
    /// lease the database holds.
    pub fn undo(&mut self, unsaved: UnsavedBind) {
        self.leases.undo(unsaved);
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn leases(&self) -> &LeaseTable {
        &self.leases
    }

    /// Forget the bound lease on `address` (an administrator's release); the change to persist,
    /// or `None` when no lease is bound there. The client is not told: DHCP has no message for
    /// that. At its next renewal it is answered as any client without a lease.
    pub fn release_address(&mut self, address: Ipv4Addr) -> Option<LeaseChange> {
        self.leases.release_address(address)
    }

    /// Handle one received datagram.
    pub fn handle(&mut self, bytes: &[u8], arrival: &Arrival, now: u64) -> Handled {
        self.counters.received += 1;
        let request = match decode(bytes) {
            Ok(r) => r,
            Err(e) => {
                self.counters.malformed += 1;
                return quiet(Level::Debug, "?".into(), "datagram", format!("dropped, malformed: {e}"));
            }
        };
        let key = client_key(&request);
        let mac = mac_text(&request);
        let name = request_name(request.kind);
        if ethernet_mac(&request).is_some_and(|m| self.settings.own_macs.contains(&m)) {
            self.counters.ignored += 1;
            return quiet(Level::Debug, mac, name, "ignored: lifeboat's own probe for other DHCP servers".into());
        }
        if !self.limiter.allow(&key.0, now) {
            self.counters.rate_limited += 1;
            let why =
                format!("dropped: more than {} requests per second from this client", self.settings.per_client_rate);
            return quiet(Level::Debug, mac, name, why);
        }
        let client = classify(&request);
        let Some((group, scope)) = scope_for(&self.settings, &request, arrival) else {
            self.counters.ignored += 1;
            let giaddr = request.message.giaddr();
            let why = if giaddr.is_unspecified() {
                format!("ignored: no --dhcp-range serves interface #{}", arrival.interface)
            } else {
                format!(
                    "ignored: relay address {giaddr} lies in no --dhcp-range for relays (nor in --dhcp-relay-allow)"
                )
            };
            return quiet(Level::Debug, mac, name, why);
        };
        let chaddr_mac = ethernet_mac(&request);
        let reservation = chaddr_mac
            .and_then(|m| self.settings.reservations.iter().find(|r| r.mac == m && scope.subnet.contains(&r.address)));
        let mut exchange = Exchange {
            settings: &self.settings,
            reserved: &self.reserved,
            leases: &mut self.leases,
            request: &request,
            client: &client,
            key,
            mac_text: mac,
            chaddr_mac,
            scope,
            group,
            reservation,
            arrival,
            now,
            held: &self.held,
            share: self.share,
            store_down: self.store_down,
            pressure: &mut self.pressure,
            counters: &mut self.counters,
        };
        let handled = exchange.run();
        if now.is_multiple_of(64) {
            self.leases.prune_quarantine(now);
        }
        handled
    }
}

fn quiet(level: Level, client: String, request: &'static str, outcome: String) -> Handled {
    Handled {
        change: None,
        unsaved: None,
        reply: None,
        explanation: Explanation { level, client, request, class: String::new(), outcome, boot: None },
    }
}

/// Option 61 if present, else hardware type and address (RFC 2131 §4.2).
pub fn client_key(request: &Request) -> ClientKey {
    match request.option(61) {
        Some(id) => ClientKey(id.to_vec()),
        None => ClientKey([&[u8::from(request.message.htype())][..], request.message.chaddr()].concat()),
    }
}

fn ethernet_mac(request: &Request) -> Option<Mac> {
    let m = &request.message;
    if u8::from(m.htype()) != 1 {
        return None;
    }
    Mac::from_hardware(m.chaddr())
}

fn mac_text(request: &Request) -> String {
    ethernet_mac(request).map_or_else(|| hardware_text(request.message.chaddr()), |m| m.to_string())
}

fn request_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Bootp { .. } => "BOOTREQUEST",
        Kind::Dhcp(MessageType::Discover) => "DHCPDISCOVER",
        Kind::Dhcp(MessageType::Request) => "DHCPREQUEST",
        Kind::Dhcp(MessageType::Decline) => "DHCPDECLINE",
        Kind::Dhcp(MessageType::Release) => "DHCPRELEASE",
        Kind::Dhcp(MessageType::Inform) => "DHCPINFORM",
        Kind::Dhcp(_) => "DHCP message",
    }
}

/// The scope a request belongs to, with its index: by the relay's giaddr (a relayed scope, or
/// any scope for a giaddr in `relay_allow`), else by the receiving interface (and among several
/// subnets on one interface, the one holding the client's current address).
fn scope_for<'a>(settings: &'a Settings, request: &Request, arrival: &Arrival) -> Option<(usize, &'a Scope)> {
    let mut scopes = settings.scopes.iter().enumerate();
    let giaddr = request.message.giaddr();
    if !giaddr.is_unspecified() {
        let trusted = settings.relay_allow.iter().any(|s| s.contains(&giaddr));
        return scopes.find(|(_, s)| s.subnet.contains(&giaddr) && (trusted || s.reach == Reach::Relayed));
    }
    let mut here = scopes.filter(|(_, s)| matches!(s.reach, Reach::Local { index, .. } if index == arrival.interface));
    let ciaddr = request.message.ciaddr();
    let first = here.clone().next();
    here.find(|(_, s)| s.subnet.contains(&ciaddr)).or(first)
}

fn ipv4_option(request: &Request, code: u8) -> Option<Ipv4Addr> {
    request.option(code).and_then(|d| <[u8; 4]>::try_from(d).ok()).map(Ipv4Addr::from)
}

/// Why new clients get nothing while the lease store is down.
const STORE_DOWN: &str = "the lease database cannot be reached, so no lease can be saved; the client will retry";
const STORE_DOWN_NO_OFFER: &str =
    "no offer: the lease database cannot be reached, so no lease can be saved; the client will retry";

/// One request being answered.
struct Exchange<'a> {
    settings: &'a Settings,
    reserved: &'a BTreeMap<Ipv4Addr, Mac>,
    leases: &'a mut LeaseTable,
    request: &'a Request,
    client: &'a Client,
    key: ClientKey,
    mac_text: String,
    chaddr_mac: Option<Mac>,
    scope: &'a Scope,
    /// The scope's index: the group its offers are counted in.
    group: usize,
    reservation: Option<&'a Reservation>,
    arrival: &'a Arrival,
    now: u64,
    held: &'a BTreeSet<u32>,
    share: Option<LoadShare>,
    store_down: bool,
    pressure: &'a mut Pressure,
    counters: &'a mut Counters,
}

impl Exchange<'_> {
    fn run(&mut self) -> Handled {
        if self.arrival.local_port == PXE_PORT {
            return match self.request.kind {
                Kind::Dhcp(MessageType::Request | MessageType::Inform) if self.client.is_pxe() => {
                    self.boot_only(ReplyKind::Ack)
                }
                _ => self.ignore(Level::Debug, "ignored: only PXE clients' requests are answered on port 4011"),
            };
        }
        if self.scope.proxy {
            return match self.request.kind {
                Kind::Dhcp(MessageType::Discover) if self.client.is_pxe() || self.client.is_http() => {
                    self.boot_only(ReplyKind::Offer)
                }
                Kind::Dhcp(MessageType::Discover) => {
                    self.ignore(Level::Debug, "ignored: proxyDHCP answers PXE clients only")
                }
                _ => self.ignore(Level::Debug, "ignored: proxyDHCP leaves addresses to the other DHCP server"),
            };
        }
        let broadcast_request = matches!(self.request.kind, Kind::Dhcp(MessageType::Request))
            && ipv4_option(self.request, 54).is_none()
            && self.request.message.ciaddr().is_unspecified();
        let shared = matches!(self.request.kind, Kind::Dhcp(MessageType::Discover)) || broadcast_request;
        if shared && self.share.is_some_and(|share| !share.answers(&self.key)) {
            return self.ignore(Level::Debug, "ignored: another lifeboat serving this range answers this client");
        }
        match self.request.kind {
            Kind::Bootp { .. } => self.bootp(),
            Kind::Dhcp(MessageType::Discover) => self.discover(),
            Kind::Dhcp(MessageType::Request) => self.request(),
            Kind::Dhcp(MessageType::Decline) => self.decline(),
            Kind::Dhcp(MessageType::Release) => self.release(),
            Kind::Dhcp(MessageType::Inform) => self.inform(),
            Kind::Dhcp(_) => self.ignore(Level::Debug, "ignored: not a client message"),
        }
    }

    fn explanation(&self, level: Level, outcome: String, boot: Option<(String, String)>) -> Explanation {
        Explanation {
            level,
            client: self.mac_text.clone(),
            request: request_name(self.request.kind),
            class: describe(self.client),
            outcome,
            boot,
        }
    }

    fn ignore(&mut self, level: Level, why: &str) -> Handled {
        self.counters.ignored += 1;
        Handled { change: None, unsaved: None, reply: None, explanation: self.explanation(level, why.to_owned(), None) }
    }

    fn reply(
        &mut self,
        kind: ReplyKind,
        yiaddr: Ipv4Addr,
        lease: Option<LeaseTime>,
        change: Option<LeaseChange>,
    ) -> Handled {
        let boot = if matches!(kind, ReplyKind::Nak(_)) { None } else { self.boot() };
        let fields = ReplyFields {
            kind,
            yiaddr,
            server_id: self.arrival.local_address,
            lease,
            subnet: Some(self.scope.subnet),
            boot: boot.as_ref().map(|(b, _)| b),
            extra: &self.settings.extra_options,
        };
        let outcome = match kind {
            ReplyKind::Offer if yiaddr.is_unspecified() => "DHCPOFFER of boot information only (proxyDHCP)".to_owned(),
            ReplyKind::Offer => format!("DHCPOFFER {yiaddr}"),
            ReplyKind::Ack if yiaddr.is_unspecified() => "DHCPACK without an address (INFORM or proxyDHCP)".to_owned(),
            ReplyKind::Ack => format!("DHCPACK {yiaddr} for {}", lease.map_or_else(|| "-".into(), |l| l.to_string())),
            ReplyKind::Nak(why) => format!("DHCPNAK: {why}"),
            ReplyKind::Bootp => format!("BOOTREPLY {yiaddr}"),
        };
        let level = if matches!(kind, ReplyKind::Nak(_)) { Level::Warn } else { Level::Info };
        let c = &mut *self.counters;
        match kind {
            ReplyKind::Offer => c.offers += 1,
            ReplyKind::Ack => c.acks += 1,
            ReplyKind::Nak(_) => c.naks += 1,
            ReplyKind::Bootp => c.bootp_replies += 1,
        }
        let explanation =
            self.explanation(level, outcome, boot.as_ref().map(|(b, rule)| (b.file.clone(), rule.clone())));
        match encode(self.request, &fields) {
            Ok(bytes) => {
                let to = destination(&self.request.message, yiaddr, matches!(kind, ReplyKind::Nak(_)), self.arrival);
                Handled { change, unsaved: None, reply: Some(Reply { bytes, to }), explanation }
            }
            Err(e) => Handled {
                change,
                unsaved: None,
                reply: None,
                explanation: Explanation {
                    level: Level::Warn,
                    outcome: format!("reply could not be encoded: {e}"),
                    ..explanation
                },
            },
        }
    }

    /// The boot file for this client, and the rule that chose it.
    fn boot(&self) -> Option<(BootInfo, String)> {
        if let Some(script) = self.boot_script() {
            return Some(script);
        }
        let s = self.settings;
        let host_file = self
            .reservation
            .and_then(|r| r.boot_file.as_ref())
            .or_else(|| self.chaddr_mac.and_then(|m| s.host_boot.get(&m)))
            // iPXE that a host's image chainloaded asks again; the `ipxe` rule answers it, so the
            // chainload ends instead of loading the same image forever.
            .filter(|_| !(self.client.is_ipxe() && s.boot_rules.iter().any(|r| r.class == BootClass::Ipxe)));
        let (file, rule) = match host_file {
            Some(file) => (file.clone(), format!("host {}", self.mac_text)),
            None => match choose(&s.boot_rules, s.default_boot.as_ref(), self.client)? {
                Chosen::Rule(r) => (r.file.clone(), format!("--dhcp-boot-rule {}", r.name)),
                Chosen::Default(d) => (d.file.clone(), "--dhcp-boot".to_owned()),
            },
        };
        let default = s.default_boot.as_ref();
        let next_server = default.and_then(|d| d.server_addr).unwrap_or(self.arrival.local_address);
        let server_name = default.and_then(|d| d.server_name.clone());
        let http = self.client.is_http() || self.client.arch == Some(16);
        let (file, vendor_class) = if http {
            // UEFI HTTP boot wants a URL in the file field and HTTPClient echoed back.
            let url = match &s.http_boot {
                _ if file.contains("://") => file,
                Some(server) => format!("{}/{file}", server.base_url(next_server)),
                None => format!("http://{next_server}/{file}"),
            };
            (url, Some("HTTPClient"))
        } else {
            (file, self.client.is_pxe().then_some("PXEClient"))
        };
        Some((BootInfo { file, next_server, server_name, vendor_class }, rule))
    }

    /// For iPXE, with an HTTP boot server: the URL of the machine's script, when its host boots
    /// a profile, or when nothing else gives it a file (no host image, no `ipxe` rule). iPXE
    /// fills in `${netX/mac}` itself; the server also knows the machine by its address.
    fn boot_script(&self) -> Option<(BootInfo, String)> {
        let s = self.settings;
        let server = s.http_boot.as_ref().filter(|_| self.client.is_ipxe())?;
        let profiled = self.chaddr_mac.is_some_and(|m| s.host_profiles.contains(&m));
        let own_file = self.reservation.is_some_and(|r| r.boot_file.is_some())
            || self.chaddr_mac.is_some_and(|m| s.host_boot.contains_key(&m))
            || s.boot_rules.iter().any(|r| r.class == BootClass::Ipxe);
        if !profiled && own_file {
            return None;
        }
        let next_server = server.address.unwrap_or(self.arrival.local_address);
        let file = format!("{}/ipxe?mac=${{netX/mac}}", server.base_url(next_server));
        let rule = if profiled { format!("host {} boot profile", self.mac_text) } else { "HTTP boot".to_owned() };
        let vendor_class = self.client.is_pxe().then_some("PXEClient");
        Some((BootInfo { file, next_server, server_name: None, vendor_class }, rule))
    }

    fn lease_time(&self, address: Ipv4Addr) -> LeaseTime {
        let pool = self.scope.pool_of(address).or(self.scope.pools.first());
        pool.map_or(LeaseTime::Secs(DEFAULT_LEASE_SECS), |p| p.lease)
    }

    fn reserved_for_other(&self, address: Ipv4Addr) -> bool {
        self.reserved.get(&address).is_some_and(|m| Some(*m) != self.chaddr_mac)
    }

    /// May this client have `address` now?
    fn usable(&self, address: Ipv4Addr) -> bool {
        self.scope.pool_of(address).is_some()
            && !self.reserved_for_other(address)
            && self.leases.is_free_for(address, &self.key, self.now)
    }

    /// An address for this client: its reservation, its current address, the one it asks for,
    /// or a free one. Err explains why there is none.
    fn choose_address(&self) -> Result<Ipv4Addr, String> {
        if let Some(r) = self.reservation {
            return match self.leases.quarantined_until(r.address, self.now) {
                Some(until) => Err(format!(
                    "its reserved address {} was declined (another host uses it) and is held back for {} s more",
                    r.address,
                    until - self.now
                )),
                None if self.leases.is_free_for(r.address, &self.key, self.now) => Ok(r.address),
                // The same machine under another client identifier: a PXE ROM and the iPXE it
                // chainloads, or an OS after its firmware. The reservation is the MAC's.
                None if self.leases.bound_mac(r.address) == Some(r.mac.0.as_slice()) => Ok(r.address),
                None => Err(format!("its reserved address {} is leased to another client", r.address)),
            };
        }
        let current = self.leases.address_of(&self.key);
        let asked = ipv4_option(self.request, 50);
        if let Some(a) = current.into_iter().chain(asked).find(|a| self.usable(*a)) {
            return Ok(a);
        }
        let free = |a| !self.reserved_for_other(a) && self.leases.is_free_for(a, &self.key, self.now);
        // Sharing the range, this instance's own part first (see `LoadShare::prefers`).
        let preferred = |a| self.share.is_none_or(|share| share.prefers(a)) && free(a);
        let pools = &self.scope.pools;
        pools
            .iter()
            .find_map(|p| scan(p, &self.key, preferred))
            .or_else(|| self.share.and_then(|_| pools.iter().find_map(|p| scan(p, &self.key, free))))
            .ok_or_else(|| {
                let ranges: Vec<&str> = self.scope.pools.iter().map(|p| p.text.as_str()).collect();
                format!("no free address in --dhcp-range {}", ranges.join(" "))
            })
    }

    /// A warning about the pool, at most one per `NOTICE_EVERY` seconds (debug otherwise).
    fn pool_notice(&mut self, outcome: String) -> Handled {
        let (level, held_back) = self.pressure.notice(self.now);
        let quiet = if level == Level::Warn { self.pressure.take_offered_quietly() } else { 0 };
        let outcome = match (held_back, quiet) {
            (0, 0) => outcome,
            (n, 0) => format!("{outcome} ({n} more such since the last warning)"),
            (n, q) => format!("{outcome} ({n} more such, and {q} offers to new clients, since the last warning)"),
        };
        self.counters.ignored += 1;
        Handled { change: None, unsaved: None, reply: None, explanation: self.explanation(level, outcome, None) }
    }

    fn discover(&mut self) -> Handled {
        if self.store_down {
            return match self.saved_lease_time(None) {
                Some((address, time)) => self.answer_from_memory(ReplyKind::Offer, address, time),
                None => self.pool_notice(STORE_DOWN_NO_OFFER.to_owned()),
            };
        }
        let size: u64 = self.scope.pools.iter().map(|p| u64::from(p.size())).sum();
        let outstanding = self.leases.outstanding_offers(self.group, self.now);
        let crowded = outstanding >= pressure_threshold(size);
        let under_pressure = self.pressure.under_pressure(self.group, crowded, self.now);
        // Known clients are never held back: a reservation, or a lease (active or expired).
        let known = self.reservation.is_some() || self.leases.lease_of(&self.key).is_some();
        if !known && self.another_server_here() {
            return self.pool_notice(
                "no offer: another DHCP server answers on this segment, so lifeboat hands out no new addresses here (stop it, then restart DHCP)".to_owned(),
            );
        }
        if under_pressure && !known && !self.pressure.admit_new_client(self.now) {
            self.counters.held_back += 1;
            self.pressure.held_back(self.group, self.now);
            let per_second = self.pressure.per_second;
            return self.pool_notice(format!(
                "no offer: this network's pool is under pressure ({outstanding} offers unclaimed), and more than {per_second} new clients a second ask (a flood of made-up MACs?)"
            ));
        }
        let address = match self.choose_address() {
            Ok(address) => address,
            Err(why) => match self.reservation.is_none().then(|| self.take_oldest_offer()).flatten() {
                Some(address) => address,
                None => return self.pool_notice(format!("no offer: {why}")),
            },
        };
        // A fresh address while too many offers are out: the oldest unclaimed one is reused.
        let fresh = self.reservation.is_none() && self.leases.address_of(&self.key) != Some(address);
        let total: usize = (0..self.settings.scopes.len()).map(|g| self.leases.outstanding_offers(g, self.now)).sum();
        let address = if fresh && (outstanding >= offer_cap(size) || total >= MAX_OUTSTANDING_OFFERS) {
            self.take_oldest_offer().unwrap_or(address)
        } else {
            address
        };
        let hold = if under_pressure { self.settings.pressured_offer_hold_secs } else { self.settings.offer_hold_secs };
        // A reserved address is nobody else's: its offer is not counted, and never taken over.
        let group = self.reservation.is_none().then_some(self.group);
        self.leases.offer(&self.key, address, self.now, self.now + hold, group);
        let mut handled = self.reply(ReplyKind::Offer, address, Some(self.lease_time(address)), None);
        if under_pressure && !known {
            // One line each would be a line per flood datagram: the warning counts them.
            handled.explanation.level = Level::Debug;
            self.pressure.offered_quietly();
        }
        handled
    }

    fn another_server_here(&self) -> bool {
        matches!(self.scope.reach, Reach::Local { index, .. } if self.held.contains(&index))
    }

    /// The address of this scope's oldest unclaimed offer, taken from the client it was made
    /// to (who gets a NAK if it asks for it now), when it is old enough and this client may
    /// have it.
    fn take_oldest_offer(&mut self) -> Option<Ipv4Addr> {
        let (holder, address, made) = self.leases.oldest_offer(self.group, self.now)?;
        let stale = self.now.saturating_sub(made) >= MIN_REUSE_AGE;
        if !stale || self.scope.pool_of(address).is_none() || self.reserved_for_other(address) {
            return None;
        }
        self.leases.withdraw_offer(&holder);
        Some(address)
    }

    fn request(&mut self) -> Handled {
        let server_id = ipv4_option(self.request, 54);
        if let Some(id) = server_id
            && id != self.arrival.local_address
        {
            self.leases.withdraw_offer(&self.key);
            return self.ignore(Level::Debug, &format!("ignored: the client chose server {id}"));
        }
        let ciaddr = self.request.message.ciaddr();
        let Some(address) = ipv4_option(self.request, 50).or((!ciaddr.is_unspecified()).then_some(ciaddr)) else {
            return self.ignore(Level::Debug, "ignored: DHCPREQUEST names no address");
        };
        let nak = |why: &'static str| (why, address);
        let on_this_network = self.scope.subnet.contains(&address);
        // The client chose this server (SELECTING), holds or was offered an address here, or is
        // reserved here: it is known. Anyone else may be another server's client.
        let known = server_id.is_some() || self.reservation.is_some() || self.leases.address_of(&self.key).is_some();
        if on_this_network && !known && !self.settings.authoritative {
            return self.ignore(
                Level::Info,
                &format!("ignored: DHCPREQUEST for {address} from a client with no lease here (another DHCP server may hold it; --dhcp-authoritative answers such requests)"),
            );
        }
        let refusal = if !on_this_network {
            Some(nak("address not on this network"))
        } else if self.reservation.is_some_and(|r| r.address != address) {
            Some(nak("this host has a different reserved address"))
        } else if self.reserved_for_other(address) {
            Some(nak("address is reserved for another host"))
        } else if !self.leases.is_free_for(address, &self.key, self.now) {
            Some(nak("address is in use by another client"))
        } else if self.reservation.is_none() && self.scope.pool_of(address).is_none() {
            Some(nak("address is outside the range this server hands out"))
        } else {
            None
        };
        if let Some((why, _)) = refusal {
            self.leases.withdraw_offer(&self.key);
            return self.reply(ReplyKind::Nak(why), Ipv4Addr::UNSPECIFIED, None, None);
        }
        if self.store_down {
            return match self.saved_lease_time(Some(address)) {
                Some((address, time)) => self.answer_from_memory(ReplyKind::Ack, address, time),
                None => self.pool_notice(format!("no reply for {address}: {STORE_DOWN}")),
            };
        }
        let lease_time = self.lease_time(address);
        let lease = Lease {
            key: self.key.clone(),
            mac: self.request.message.chaddr().to_vec(),
            address,
            hostname: self.request.option(12).map(|h| String::from_utf8_lossy(h).into_owned()),
            expires: match lease_time {
                LeaseTime::Secs(s) => Some(self.now + u64::from(s)),
                LeaseTime::Infinite => None,
            },
        };
        let (change, unsaved) = self.leases.bind(lease);
        let mut handled = self.reply(ReplyKind::Ack, address, Some(lease_time), Some(change));
        handled.unsaved = Some(unsaved);
        handled
    }

    /// This client's saved lease, when it is active (and on `address`, if given): its address
    /// and the time it has left.
    fn saved_lease_time(&self, address: Option<Ipv4Addr>) -> Option<(Ipv4Addr, LeaseTime)> {
        let lease = self.leases.lease_of(&self.key)?;
        if address.is_some_and(|a| a != lease.address) {
            return None;
        }
        let time = match lease.expires {
            None => LeaseTime::Infinite,
            Some(end) if end > self.now => LeaseTime::Secs(u32::try_from(end - self.now).unwrap_or(u32::MAX)),
            Some(_) => return None,
        };
        Some((lease.address, time))
    }

    /// An answer from memory while the store is down: the client's saved lease, for the time it
    /// has left, and nothing to save.
    fn answer_from_memory(&mut self, kind: ReplyKind, address: Ipv4Addr, time: LeaseTime) -> Handled {
        let mut handled = self.reply(kind, address, Some(time), None);
        handled
            .explanation
            .outcome
            .push_str(" (the time its saved lease has left: the lease database cannot be reached)");
        handled
    }

    fn decline(&mut self) -> Handled {
        let Some(address) = ipv4_option(self.request, 50) else {
            return self.ignore(Level::Debug, "ignored: DHCPDECLINE names no address");
        };
        if ipv4_option(self.request, 54).is_some_and(|id| id != self.arrival.local_address) {
            return self.ignore(Level::Debug, "ignored: DHCPDECLINE for another server");
        }
        let until = self.now + self.settings.decline_quarantine_secs;
        match self.leases.decline(&self.key, address, until) {
            Some(change) => {
                let why = format!(
                    "{address} is in use by a host that did not get it from us; kept out of the pool for {} s",
                    self.settings.decline_quarantine_secs
                );
                Handled {
                    change: Some(change),
                    unsaved: None,
                    reply: None,
                    explanation: self.explanation(Level::Warn, why, None),
                }
            }
            None => self.ignore(Level::Debug, &format!("ignored: {address} is not leased to this client")),
        }
    }

    fn release(&mut self) -> Handled {
        let address = self.request.message.ciaddr();
        match self.leases.release(&self.key, address) {
            Some(change) => Handled {
                change: Some(change),
                unsaved: None,
                reply: None,
                explanation: self.explanation(Level::Info, format!("released {address}"), None),
            },
            None => {
                self.ignore(Level::Debug, &format!("ignored: {} is not leased to this client", show(Some(address))))
            }
        }
    }

    fn inform(&mut self) -> Handled {
        self.reply(ReplyKind::Ack, Ipv4Addr::UNSPECIFIED, None, None)
    }

    /// proxyDHCP: boot information without an address.
    fn boot_only(&mut self, kind: ReplyKind) -> Handled {
        if self.boot().is_none() {
            return self.ignore(Level::Info, "ignored: no boot file is configured for this client");
        }
        self.reply(kind, Ipv4Addr::UNSPECIFIED, None, None)
    }

    fn bootp(&mut self) -> Handled {
        if self.store_down {
            return match self.saved_lease_time(None) {
                Some((address, time)) => self.answer_from_memory(ReplyKind::Bootp, address, time),
                None => self.pool_notice(format!("no reply: {STORE_DOWN}")),
            };
        }
        let address = match (self.reservation, self.settings.bootp_dynamic) {
            (None, true) if self.another_server_here() && self.leases.lease_of(&self.key).is_none() => {
                return self.pool_notice(
                    "no reply: another DHCP server answers on this segment, so lifeboat hands out no new addresses here".to_owned(),
                );
            }
            (Some(_), _) | (None, true) => match self.choose_address() {
                Ok(a) => a,
                Err(why) => return self.pool_notice(format!("no reply: {why}")),
            },
            (None, false) => {
                return self.ignore(
                    Level::Info,
                    "ignored: plain BOOTP from a MAC without --dhcp-reservation; add one, or allow it with --dhcp-bootp-dynamic",
                );
            }
        };
        let lease = Lease {
            key: self.key.clone(),
            mac: self.request.message.chaddr().to_vec(),
            address,
            hostname: None,
            expires: None,
        };
        let (change, unsaved) = self.leases.bind(lease);
        let mut handled = self.reply(ReplyKind::Bootp, address, Some(LeaseTime::Infinite), Some(change));
        handled.unsaved = Some(unsaved);
        handled
    }
}
