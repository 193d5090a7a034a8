//! Which addresses devices are looking for that nobody on their segment has: ARP packets and
//! the time in, at most one finding per device and address out.
//!
//! A bootloader that wants a TFTP server at a fixed address asks "who has 192.168.0.66?" by
//! ARP long before it sends a TFTP packet, and when no host has that address nothing else ever
//! arrives. A device asking for an address at least twice within [`ASK_WINDOW_MS`], which
//! nobody has been heard holding (as the sender of any ARP packet) and which is none of this
//! machine's, is waiting for a server there. Probes (sender `0.0.0.0`, RFC 5227) do not count:
//! they are a host checking that an address is free before it takes it (every DHCP client that
//! detects conflicts sends them for its new lease), and taking that address would be the very
//! conflict the probe looks for. Announcements (gratuitous ARP)
//! only say who holds an address.
//!
//! **Invariant:** memory is bounded ([`KEPT`] asks, [`KEPT`] holders, [`KEPT`] findings) and
//! findings are rate-limited ([`FINDINGS_PER_MINUTE`]), whatever a flood of ARP packets says.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::net::Ipv4Addr;

use crate::config::Mac;

/// How many asks, holders and findings are remembered, each.
pub const KEPT: usize = 256;

/// Findings at most, per minute.
pub const FINDINGS_PER_MINUTE: usize = 10;

/// The asks of one device for one address that make a finding, within [`ASK_WINDOW_MS`].
const ASKS: u32 = 2;
pub const ASK_WINDOW_MS: u64 = 30_000;

/// How long an address counts as held after its holder was last heard.
pub const HELD_FOR_MS: u64 = 120_000;

/// An ARP packet (IPv4 over Ethernet) another host sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpSeen {
    /// A request ("who has `target`?") rather than a reply.
    pub request: bool,
    /// The hardware address the packet gives for its sender.
    pub sender_mac: Mac,
    /// The sender's address: `0.0.0.0` in a probe of a host checking an address.
    pub sender: Ipv4Addr,
    pub target: Ipv4Addr,
}

impl ArpSeen {
    /// An announcement of the sender's own address (gratuitous ARP: sender and target alike).
    pub fn is_announcement(&self) -> bool {
        self.sender == self.target
    }
}

/// A device looking for an address nobody has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedAddress {
    pub interface: String,
    pub mac: Mac,
    /// The device's own address, if it has one.
    pub device: Option<Ipv4Addr>,
    pub wanted: Ipv4Addr,
}

impl WantedAddress {
    /// The prefix this machine should take the wanted address with: the longest, up to /24,
    /// that also covers the device's address (so replies to it leave by this interface), but
    /// never shorter than /16: the device's packets choose it, and a short prefix would route
    /// much of the Internet to the recovery port. A device farther away gets /24.
    pub fn prefix(&self) -> u8 {
        let Some(device) = self.device else { return 24 };
        let shared = (u32::from(device) ^ u32::from(self.wanted)).leading_zeros();
        if shared < 16 { 24 } else { u8::try_from(shared.min(24)).unwrap_or(24) }
    }

    /// The command that gives this machine the wanted address by hand.
    pub fn claim_command(&self) -> String {
        format!("ip addr add {}/{} dev {}", self.wanted, self.prefix(), self.interface)
    }
}

/// `50:c7:bf:00:00:86 at 192.168.0.86 on eth1 is looking for 192.168.0.66`.
impl fmt::Display for WantedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.mac)?;
        match self.device {
            Some(device) => write!(f, " at {device}")?,
            None => write!(f, " (without an address)")?,
        }
        write!(f, " on {} is looking for {}", self.interface, self.wanted)
    }
}

#[derive(Debug)]
struct Ask {
    count: u32,
    first_ms: u64,
}

/// What the watch has seen. Times are milliseconds of a monotonic clock the driver keeps.
#[derive(Debug, Default)]
pub struct WantedAddresses {
    own: BTreeSet<Ipv4Addr>,
    asks: BTreeMap<(Mac, Ipv4Addr), Ask>,
    /// Addresses someone was heard holding, with when.
    held: BTreeMap<Ipv4Addr, u64>,
    /// Device and address pairs already found: one finding each.
    found: BTreeSet<(Mac, Ipv4Addr)>,
    found_order: VecDeque<(Mac, Ipv4Addr)>,
    /// When the findings of the last minute were made.
    recent_findings: VecDeque<u64>,
}

impl WantedAddresses {
    /// This machine's addresses: nobody looking for one of them is waiting for anything.
    pub fn set_own(&mut self, own: impl IntoIterator<Item = Ipv4Addr>) {
        self.own = own.into_iter().collect();
    }

    /// One ARP packet seen on `interface` at `now_ms`; a finding when it makes one.
    pub fn note(&mut self, interface: &str, seen: &ArpSeen, now_ms: u64) -> Option<WantedAddress> {
        if !seen.sender.is_unspecified() {
            self.heard_holding(seen.sender, now_ms);
        }
        let probe = seen.sender.is_unspecified();
        if !seen.request
            || probe
            || seen.is_announcement()
            || seen.target.is_unspecified()
            || seen.target.is_broadcast()
        {
            return None;
        }
        let key = (seen.sender_mac, seen.target);
        if self.own.contains(&seen.target) || self.is_held(seen.target, now_ms) || self.found.contains(&key) {
            return None;
        }
        if !self.asks.contains_key(&key) && self.asks.len() >= KEPT {
            self.asks.retain(|_, ask| now_ms.saturating_sub(ask.first_ms) <= ASK_WINDOW_MS);
            if self.asks.len() >= KEPT {
                return None;
            }
        }
        let ask = self.asks.entry(key).or_insert(Ask { count: 0, first_ms: now_ms });
        if now_ms.saturating_sub(ask.first_ms) > ASK_WINDOW_MS {
            *ask = Ask { count: 0, first_ms: now_ms };
        }
        ask.count += 1;
        if ask.count < ASKS || !self.may_report(now_ms) {
            return None;
        }
        self.asks.remove(&key);
        self.remember_found(key);
        Some(WantedAddress {
            interface: interface.to_owned(),
            mac: seen.sender_mac,
            device: (!seen.sender.is_unspecified()).then_some(seen.sender),
            wanted: seen.target,
        })
    }

    fn heard_holding(&mut self, address: Ipv4Addr, now_ms: u64) {
        if !self.held.contains_key(&address) && self.held.len() >= KEPT {
            self.held.retain(|_, heard| now_ms.saturating_sub(*heard) < HELD_FOR_MS);
            // Still full: the least recently heard goes.
            if self.held.len() >= KEPT
                && let Some(oldest) = self.held.iter().min_by_key(|(_, heard)| **heard).map(|(a, _)| *a)
            {
                self.held.remove(&oldest);
            }
        }
        self.held.insert(address, now_ms);
        self.asks.retain(|(_, target), _| *target != address);
    }

    fn is_held(&self, address: Ipv4Addr, now_ms: u64) -> bool {
        self.held.get(&address).is_some_and(|heard| now_ms.saturating_sub(*heard) < HELD_FOR_MS)
    }

    fn may_report(&mut self, now_ms: u64) -> bool {
        while self.recent_findings.front().is_some_and(|at| now_ms.saturating_sub(*at) >= 60_000) {
            self.recent_findings.pop_front();
        }
        if self.recent_findings.len() >= FINDINGS_PER_MINUTE {
            return false;
        }
        self.recent_findings.push_back(now_ms);
        true
    }

    fn remember_found(&mut self, key: (Mac, Ipv4Addr)) {
        if self.found_order.len() >= KEPT
            && let Some(oldest) = self.found_order.pop_front()
        {
            self.found.remove(&oldest);
        }
        self.found.insert(key);
        self.found_order.push_back(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEVICE: Mac = Mac([0x50, 0xc7, 0xbf, 0, 0, 0x86]);

    fn ask(mac: Mac, sender: [u8; 4], target: [u8; 4]) -> ArpSeen {
        ArpSeen { request: true, sender_mac: mac, sender: sender.into(), target: target.into() }
    }

    fn reply(sender: [u8; 4]) -> ArpSeen {
        ArpSeen { request: false, sender_mac: Mac([2, 0, 0, 0, 0, 1]), sender: sender.into(), target: [0; 4].into() }
    }

    /// Asked twice, a second apart, from `at`.
    fn twice(watch: &mut WantedAddresses, seen: &ArpSeen, at: u64) -> Option<WantedAddress> {
        watch.note("eth1", seen, at).or_else(|| watch.note("eth1", seen, at + 1000))
    }

    #[test]
    fn a_device_asking_twice_for_an_address_nobody_has_is_found_once() {
        let mut watch = WantedAddresses::default();
        watch.set_own([Ipv4Addr::new(192, 168, 0, 10)]);
        let asking = ask(DEVICE, [192, 168, 0, 86], [192, 168, 0, 66]);
        assert_eq!(watch.note("eth1", &asking, 0), None, "once may be a slip");
        let found = watch.note("eth1", &asking, 1000).expect("asked twice");
        assert_eq!(
            found,
            WantedAddress {
                interface: "eth1".into(),
                mac: DEVICE,
                device: Some(Ipv4Addr::new(192, 168, 0, 86)),
                wanted: Ipv4Addr::new(192, 168, 0, 66),
            }
        );
        assert_eq!(found.to_string(), "50:c7:bf:00:00:86 at 192.168.0.86 on eth1 is looking for 192.168.0.66");
        assert_eq!(found.claim_command(), "ip addr add 192.168.0.66/24 dev eth1");
        for n in 2..10 {
            assert_eq!(watch.note("eth1", &asking, n * 1000), None, "one finding per pair");
        }
    }

    #[test]
    fn own_held_announced_and_slow_asks_are_not_findings() {
        let mut watch = WantedAddresses::default();
        watch.set_own([Ipv4Addr::new(192, 168, 0, 10)]);
        assert_eq!(twice(&mut watch, &ask(DEVICE, [192, 168, 0, 86], [192, 168, 0, 10]), 0), None, "ours");
        watch.note("eth1", &reply([192, 168, 0, 1]), 0);
        assert_eq!(twice(&mut watch, &ask(DEVICE, [192, 168, 0, 86], [192, 168, 0, 1]), 0), None, "its router answers");
        let announcement = ask(DEVICE, [192, 168, 0, 86], [192, 168, 0, 86]);
        assert_eq!(twice(&mut watch, &announcement, 0), None, "gratuitous ARP");
        let slow = ask(DEVICE, [192, 168, 0, 86], [192, 168, 0, 99]);
        assert_eq!(watch.note("eth1", &slow, 0), None);
        assert_eq!(watch.note("eth1", &slow, ASK_WINDOW_MS + 1), None, "too far apart");
        assert!(watch.note("eth1", &slow, ASK_WINDOW_MS + 2).is_some(), "two within the window");
        // A holder heard long ago no longer counts.
        assert!(twice(&mut watch, &ask(DEVICE, [192, 168, 0, 86], [192, 168, 0, 1]), HELD_FOR_MS).is_some());
    }

    #[test]
    fn a_host_probing_for_its_own_new_address_is_no_finding() {
        let mut watch = WantedAddresses::default();
        let probe = ask(DEVICE, [0; 4], [10, 10, 10, 3]);
        for at in [0, 1000, 2000] {
            assert_eq!(watch.note("eth1", &probe, at), None, "RFC 5227 probes of a DHCP client");
        }
    }

    #[test]
    fn the_prefix_covers_the_device_but_never_widens_past_16() {
        let found =
            WantedAddress { interface: "eth1".into(), mac: DEVICE, device: None, wanted: Ipv4Addr::new(10, 10, 10, 3) };
        assert_eq!(found.prefix(), 24, "without the device's address");
        assert!(found.to_string().contains("(without an address)"), "{found}");
        let near = WantedAddress { device: Some(Ipv4Addr::new(10, 10, 9, 1)), ..found.clone() };
        assert_eq!(near.prefix(), 22, "the longest prefix that covers both");
        let hostile = WantedAddress { device: Some(Ipv4Addr::new(128, 0, 0, 1)), ..found };
        assert_eq!(hostile.prefix(), 24, "a device's address never widens the prefix past /16");
    }

    #[test]
    fn a_flood_stays_bounded_and_rate_limited() {
        let mut watch = WantedAddresses::default();
        let mut findings = 0;
        for n in 0..10_000u32 {
            let [_, a, b, c] = n.to_be_bytes();
            let seen = ask(Mac([2, 0, 0, a, b, c]), [10, a, b, c], [10, 99, b, c]);
            findings += usize::from(watch.note("eth1", &seen, 0).is_some());
            findings += usize::from(watch.note("eth1", &seen, 0).is_some());
        }
        assert_eq!(findings, FINDINGS_PER_MINUTE, "per minute");
        assert!(watch.asks.len() <= KEPT && watch.held.len() <= KEPT && watch.found.len() <= KEPT);
        assert_eq!(watch.found.len(), watch.found_order.len());
        // A minute later, findings come again.
        let later = ask(DEVICE, [10, 1, 1, 1], [10, 1, 1, 2]);
        assert!(twice(&mut watch, &later, 61_000).is_some());
    }
}
