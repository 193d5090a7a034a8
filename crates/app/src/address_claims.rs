//! The addresses lifeboat takes on an interface to answer where a device looks for its server
//! ("answer at 192.168.0.66"): checked, added, kept, and removed again.
//!
//! Before an address is added: the interface exists and is up; it does not carry the default
//! route (the user's main network) unless the claim is forced; nobody answers an ARP probe for
//! the address (RFC 5227). Added with lifeboat's label, so a run after a crash finds and removes
//! what an earlier run left ([`AddressClaims::remove_leftovers`]). While claimed, the address
//! is put back when it disappears (NetworkManager drops addresses when the link flaps as the
//! router reboots). Released on request and when lifeboat stops.
//!
//! **Invariant:** lifeboat removes only addresses it added: those it holds in this run, and at
//! start those with its label.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use lifeboat_clock::Clock;
use lifeboat_dhcp::Mac;
use lifeboat_net::{ArpTap, Interface};
use lifeboat_store::{Event, EventKind, LogWriter};
use lifeboat_web::{AddressClaim, ClaimError, ClaimedAddressView};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Probes sent before an address is taken, and the time between them. RFC 5227 asks for three
/// probes one to two seconds apart and two more seconds of listening; a person is waiting at
/// the bench and the device retries, so the probes here are closer (as `arping -D` sends them).
const PROBES: u32 = 3;
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// Listening after the last probe.
const LISTEN_AFTER: Duration = Duration::from_secs(1);

/// How often a claimed address is checked, and put back when it is gone.
const KEEP_EVERY: Duration = Duration::from_secs(1);

struct Held {
    view: ClaimedAddressView,
    index: u32,
    keeper: JoinHandle<()>,
}

pub(crate) struct AddressClaims {
    held: tokio::sync::Mutex<Vec<Held>>,
    clock: Arc<dyn Clock>,
    log: LogWriter,
}

impl AddressClaims {
    pub(crate) fn new(clock: Arc<dyn Clock>, log: LogWriter) -> AddressClaims {
        AddressClaims { held: tokio::sync::Mutex::default(), clock, log }
    }

    /// The addresses held now.
    pub(crate) async fn held(&self) -> Vec<ClaimedAddressView> {
        self.held.lock().await.iter().map(|h| h.view.clone()).collect()
    }

    /// Check and add `claim.address` to `claim.interface`, and keep it there.
    pub(crate) async fn claim(&self, claim: AddressClaim, origin: &str) -> Result<(), ClaimError> {
        check_address(&claim)?;
        let mut held = self.held.lock().await;
        let interfaces =
            lifeboat_net::interfaces().map_err(|e| ClaimError::Failed(format!("cannot list the interfaces: {e}")))?;
        let interface = interfaces.iter().find(|i| i.name == claim.interface).ok_or_else(|| {
            ClaimError::Refused(format!("there is no interface {:?} on this machine", claim.interface))
        })?;
        if let Some(holder) = interfaces.iter().find(|i| i.ipv4.iter().any(|(a, _)| *a == claim.address)) {
            return Err(ClaimError::Refused(format!(
                "this machine already has {} (on {})",
                claim.address, holder.name
            )));
        }
        if !interface.up {
            return Err(ClaimError::Refused(format!(
                "{} is down: bring it up (and plug in the cable) first",
                interface.name
            )));
        }
        let main_network = lifeboat_net::default_route().is_some_and(|route| route.interface == interface.name);
        if main_network && !claim.force {
            return Err(ClaimError::Refused(format!(
                "{} carries the default route: it is most likely your main network, and {} may belong to another host there. Use a dedicated recovery interface, or force the claim",
                interface.name, claim.address
            )));
        }
        if !claim.force
            && let Some((other, network)) = overlapping(&interfaces, &interface.name, claim.address, claim.prefix)
        {
            return Err(ClaimError::Refused(format!(
                "{network} is also the network of {other}: replies to the device could leave by {other}. Disconnect {other} from that network, or force the claim"
            )));
        }
        let mac =
            interface.mac.ok_or_else(|| ClaimError::Refused(format!("{} has no hardware address", interface.name)))?;
        if let Some(holder) = probe(interface, mac, claim.address).await? {
            return Err(ClaimError::Refused(format!(
                "{} answers for {} on {}: another host has it",
                holder, claim.address, interface.name
            )));
        }
        lifeboat_net::add_claimed(interface.index, &interface.name, claim.address, claim.prefix)
            .await
            .map_err(|error| not_added(&error, &claim))?;
        let view = ClaimedAddressView {
            interface: interface.name.clone(),
            address: claim.address,
            prefix: claim.prefix,
            since: self.clock.unix_ms(),
        };
        self.record(
            EventKind::AddressClaimed,
            origin,
            format!("{}/{} added to {}", claim.address, claim.prefix, interface.name),
        );
        let keeper = tokio::spawn(keep(view.clone(), interface.index));
        held.push(Held { view, index: interface.index, keeper });
        Ok(())
    }

    /// Remove `address`, if lifeboat holds it; whether it did.
    pub(crate) async fn release(&self, address: Ipv4Addr, origin: &str) -> Result<bool, ClaimError> {
        let mut held = self.held.lock().await;
        let Some(at) = held.iter().position(|h| h.view.address == address) else { return Ok(false) };
        // The keeper stops first, so it does not put the address back; it starts again when the
        // removal fails, and the address stays held (a retry can remove it).
        held[at].keeper.abort();
        if let Err(error) = lifeboat_net::remove_claimed(held[at].index, address).await {
            let (view, index) = (held[at].view.clone(), held[at].index);
            held[at].keeper = tokio::spawn(keep(view, index));
            return Err(ClaimError::Failed(format!("cannot remove {address}: {error}")));
        }
        let released = held.remove(at);
        let detail = format!("{address} removed from {}", released.view.interface);
        self.record(EventKind::AddressReleased, origin, detail);
        Ok(true)
    }

    /// Remove every address held (lifeboat stops).
    pub(crate) async fn release_all(&self, origin: &str) {
        let addresses: Vec<Ipv4Addr> = self.held.lock().await.iter().map(|h| h.view.address).collect();
        for address in addresses {
            if let Err(error) = self.release(address, origin).await {
                tracing::warn!("{error}");
            }
        }
    }

    /// Remove the addresses with lifeboat's label that an earlier run left behind (it crashed,
    /// or was killed). Without the right to, says so.
    pub(crate) async fn remove_leftovers() {
        let Ok(leftovers) = lifeboat_net::claimed_addresses().await else { return };
        for left in leftovers {
            match lifeboat_net::remove_claimed(left.interface_index, left.address).await {
                Ok(_) => tracing::info!(
                    "removed {}/{}, which an earlier run of lifeboat added and left",
                    left.address,
                    left.prefix
                ),
                Err(error) => tracing::warn!(
                    "{}/{} was added by an earlier run of lifeboat and is still there; cannot remove it ({error})",
                    left.address,
                    left.prefix
                ),
            }
        }
    }

    fn record(&self, kind: EventKind, origin: &str, detail: String) {
        tracing::info!("{detail} ({origin})");
        self.log.event(Event { at: self.clock.unix_ms(), kind, origin: origin.to_owned(), detail });
    }
}

/// The prefixes a claim may take: a short one would route much of the Internet to the
/// recovery port.
const PREFIXES: std::ops::RangeInclusive<u8> = 16..=30;

/// Refuses what no device's server should be: a prefix outside [`PREFIXES`], an address that is
/// not a unicast host address of its network.
fn check_address(claim: &AddressClaim) -> Result<(), ClaimError> {
    let address = claim.address;
    if !PREFIXES.contains(&claim.prefix) {
        return Err(ClaimError::Invalid(format!(
            "prefix /{}: between /{} and /{}",
            claim.prefix,
            PREFIXES.start(),
            PREFIXES.end()
        )));
    }
    let host_bits = u32::MAX >> claim.prefix;
    let host = u32::from(address) & host_bits;
    if address.is_loopback()
        || address.is_multicast()
        || address.is_broadcast()
        || address.is_unspecified()
        || address.is_link_local()
        || host == 0
        || host == host_bits
    {
        return Err(ClaimError::Invalid(format!(
            "{address}/{}: not a host address lifeboat can answer at",
            claim.prefix
        )));
    }
    Ok(())
}

/// Another interface with an address in the network of `address/prefix` (or whose network
/// holds it): its name and the shared network.
fn overlapping(interfaces: &[Interface], name: &str, address: Ipv4Addr, prefix: u8) -> Option<(String, String)> {
    let network = |a: Ipv4Addr, p: u8| u32::from(a) & u32::MAX.checked_shl(32 - u32::from(p)).unwrap_or(0);
    interfaces.iter().filter(|i| i.name != name && i.name != "lo").find_map(|other| {
        other.ipv4.iter().find_map(|(a, p)| {
            let shorter = prefix.min(*p);
            (network(*a, shorter) == network(address, shorter))
                .then(|| (other.name.clone(), format!("{}/{shorter}", Ipv4Addr::from(network(address, shorter)))))
        })
    })
}

/// Probe for `address` on `interface`: the MAC of whoever answers, if anyone does.
async fn probe(interface: &Interface, mac: Mac, address: Ipv4Addr) -> Result<Option<Mac>, ClaimError> {
    let tap = ArpTap::open(interface.index).map_err(|error| {
        ClaimError::Refused(format!(
            "cannot check whether another host has {address} on {} ({error}): give lifeboat CAP_NET_RAW",
            interface.name
        ))
    })?;
    let listen = async {
        loop {
            let seen = match tap.recv().await {
                Ok(seen) => seen,
                // Deaf, the probe would prove nothing.
                Err(error) => {
                    return Err(ClaimError::Failed(format!(
                        "cannot listen for answers on {}: {error}",
                        interface.name
                    )));
                }
            };
            let holds = seen.sender == address;
            // Another host probing for the same address at the same time (RFC 5227, 2.1.1).
            let probes_too =
                seen.request && seen.sender.is_unspecified() && seen.target == address && seen.sender_mac != mac;
            if holds || probes_too {
                return Ok(Some(seen.sender_mac));
            }
        }
    };
    let send = async {
        for n in 0..PROBES {
            if n > 0 {
                tokio::time::sleep(PROBE_EVERY).await;
            }
            if let Err(error) = tap.probe(mac, address) {
                return Err(ClaimError::Failed(format!("cannot probe for {address} on {}: {error}", interface.name)));
            }
        }
        tokio::time::sleep(LISTEN_AFTER).await;
        Ok(None)
    };
    tokio::select! {
        answered = listen => answered,
        sent = send => sent,
    }
}

/// The claim's address failed to go on: what to do about it.
fn not_added(error: &std::io::Error, claim: &AddressClaim) -> ClaimError {
    let by_hand = format!("ip addr add {}/{} dev {}", claim.address, claim.prefix, claim.interface);
    if error.kind() == std::io::ErrorKind::PermissionDenied {
        ClaimError::Refused(format!(
            "lifeboat may not change this machine's addresses (it needs CAP_NET_ADMIN); add the address by hand: {by_hand}"
        ))
    } else {
        ClaimError::Failed(format!(
            "cannot add {}/{} to {}: {error} (by hand: {by_hand})",
            claim.address, claim.prefix, claim.interface
        ))
    }
}

/// Put the address back whenever it is gone while the interface is up.
async fn keep(view: ClaimedAddressView, index: u32) {
    let mut every = tokio::time::interval_at(Instant::now() + KEEP_EVERY, KEEP_EVERY);
    loop {
        every.tick().await;
        let Ok(interfaces) = lifeboat_net::interfaces() else { continue };
        let Some(interface) = interfaces.iter().find(|i| i.index == index) else { continue };
        if !interface.up || interface.ipv4.iter().any(|(a, _)| *a == view.address) {
            continue;
        }
        match lifeboat_net::add_claimed(index, &view.interface, view.address, view.prefix).await {
            Ok(()) => {
                tracing::warn!("{} was gone from {} (the link went down?): put back", view.address, view.interface)
            }
            Err(error) => {
                tracing::warn!("{} is gone from {} and cannot be put back: {error}", view.address, view.interface)
            }
        }
    }
}
