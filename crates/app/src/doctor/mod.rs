//! The doctor: the troubleshooting list of a recovery guide, checked. `lifeboat doctor` and the
//! dashboard's Doctor page both call [`examine`]; each check says ✓ or ✗ with its fix in one line.
//!
//! - `port.rs`: who holds UDP port 69.
//! - `rules.rs`: reads the firewall's rules (nftables, legacy iptables) and judges the packets
//!   of a recovery with `firewall.rs`, which holds no I/O.
//! - `link.rs`: the interface, its carrier and addresses, reverse-path filtering, the device's
//!   ARP entry, another DHCP server on the segment.
//! - `image.rs`: the image: there, readable, named as the device asks, the kind it needs.
//! - `watch.rs`: what the address watch saw.

mod firewall;
mod image;
mod link;
mod port;
mod rules;
mod watch;

use std::net::Ipv4Addr;
use std::path::PathBuf;

use lifeboat_web::{DoctorCheck, WantedAddressView};

use crate::{Profile, RecoveryMode};

pub use watch::watch_for;

/// What the doctor looks at.
#[derive(Debug, Clone, Default)]
pub struct Examination {
    pub interface: Option<String>,
    pub profile: Option<Profile>,
    pub image: Option<PathBuf>,
    /// The names the image is also served under (aliases).
    pub image_aliases: Vec<String>,
    /// Whether the image is (or will be) armed, so that the device gets it whatever it asks.
    pub image_armed: bool,
    /// What the address watch saw, newest first, when one ran.
    pub wanted: Option<Vec<WantedAddressView>>,
    /// The process ids that are lifeboat (this one, a running instance).
    pub lifeboat_pids: Vec<i32>,
}

/// Run every check `exam` calls for, in the order a person would work through them.
pub async fn examine(exam: &Examination) -> Vec<DoctorCheck> {
    let pids = exam.lifeboat_pids.clone();
    let port = tokio::task::spawn_blocking(move || port::tftp_port(&pids))
        .await
        .unwrap_or_else(|e| DoctorCheck::note("UDP port 69", format!("not checked: {e}")));
    let mut checks = vec![port];
    let interface = match &exam.interface {
        Some(name) => {
            let found = link::find(name);
            checks.push(link::interface_state(name, found.as_ref()));
            // The other checks of an interface only for one that exists: a name from a link
            // someone shared never ends up in a command the page suggests.
            if found.is_none() {
                return checks;
            }
            found
        }
        None => None,
    };
    let push = exam.profile.as_ref().is_some_and(|p| p.mode == RecoveryMode::Push);
    let addresses = Addresses::of(exam, interface.as_ref());
    if let (Some(iface), Some(profile)) = (&interface, &exam.profile) {
        checks.push(link::expected_address(iface, profile));
    }
    match (&interface, &addresses) {
        (Some(iface), Some(addresses)) => {
            checks.extend(rules::firewall(&iface.name, addresses.server, addresses.device, push).await);
            checks.push(link::reverse_path(&iface.name, Some(iface), addresses.device));
        }
        (Some(iface), None) => checks.push(DoctorCheck::note(
            "Firewall",
            format!("not checked: {} has no IPv4 address, and no profile names one", iface.name),
        )),
        (None, _) => checks.push(DoctorCheck::note(
            "Firewall",
            "not checked: name the interface (and a profile) to check the rules for the device's packets",
        )),
    }
    if let Some(image) = &exam.image {
        checks.extend(image::image(image, exam.profile.as_ref(), &exam.image_aliases, exam.image_armed));
    }
    if let Some(iface) = &interface
        && exam.profile.as_ref().is_some_and(|p| p.mode == RecoveryMode::Bootp)
    {
        checks.push(link::other_dhcp_server(iface).await);
    }
    if let (Some(iface), Some(device)) = (&interface, addresses.as_ref().and_then(|a| a.known_device)) {
        checks.push(link::device_neighbour(&iface.name, device));
    }
    if let (Some(iface), Some(wanted)) = (&interface, &exam.wanted) {
        checks.push(watch::seen(&iface.name, Some(iface), wanted));
    }
    checks
}

/// `text` as one word of a shell command: as it is when it is plain, else in single quotes.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@' | '+' | '=' | ','));
    if plain { text.to_owned() } else { format!("'{}'", text.replace('\'', "'\\''")) }
}

/// The addresses of the packets the firewall is asked about.
struct Addresses {
    /// lifeboat's address: the profile's, else the interface's first (for a push profile, the
    /// interface's address in the device's network when it has one).
    server: Ipv4Addr,
    /// The device's: the profile's, the one the watch saw, else one of the interface's network.
    device: Ipv4Addr,
    /// The device's address when it is known rather than made up.
    known_device: Option<Ipv4Addr>,
}

impl Addresses {
    fn of(exam: &Examination, interface: Option<&lifeboat_net::Interface>) -> Option<Addresses> {
        let profile = exam.profile.as_ref();
        let own = interface.and_then(|i| i.ipv4.first().copied());
        let seen = exam
            .wanted
            .as_ref()
            .and_then(|w| w.iter().find(|w| Some(&w.interface) == exam.interface.as_ref()).and_then(|w| w.device));
        let known_device = profile.and_then(|p| p.device_address).or(seen);
        // A push: whichever address of ours is in the device's network.
        let push_source =
            profile.filter(|p| p.mode == RecoveryMode::Push).and_then(Profile::push_source).and_then(|(network, _)| {
                interface.and_then(|i| i.ipv4.iter().map(|(a, _)| *a).find(|a| network.contains(a)))
            });
        let server =
            push_source.or_else(|| profile.and_then(|p| p.server_addresses.first().copied())).or(own.map(|(a, _)| a))?;
        let device = known_device.or_else(|| {
            // Made up: a host of our network that is not us.
            let (address, prefix) = own.unwrap_or((server, 24));
            let network = ipnet::Ipv4Net::new(address, prefix.clamp(8, 30)).ok()?.trunc();
            network.hosts().skip(1).find(|h| *h != address)
        })?;
        Some(Addresses { server, device, known_device })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_words_are_quoted_for_the_shell() {
        assert_eq!(shell_word("eth1"), "eth1");
        assert_eq!(shell_word("/srv/tftp/tp_recovery.bin"), "/srv/tftp/tp_recovery.bin");
        assert_eq!(shell_word("my image.bin"), "'my image.bin'");
        assert_eq!(shell_word("a'$(b)"), "'a'\\''$(b)'");
    }
}
