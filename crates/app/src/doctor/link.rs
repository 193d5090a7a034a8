//! The interface the device is on: there, up, with carrier, with the address the device looks
//! for; reverse-path filtering; the device's ARP entry; another DHCP server on the segment.

use std::net::Ipv4Addr;
use std::path::Path;

use ipnet::Ipv4Net;
use lifeboat_net::{Interface, interfaces, neighbour};
use lifeboat_web::DoctorCheck;

use crate::{Profile, RecoveryMode};

/// The interface named `name`, if this machine has it.
pub(super) fn find(name: &str) -> Option<Interface> {
    interfaces().ok()?.into_iter().find(|i| i.name == name)
}

/// There, up, and with a cable in.
pub(super) fn interface_state(name: &str, interface: Option<&Interface>) -> DoctorCheck {
    let title = format!("Interface {name}");
    let Some(interface) = interface else {
        let names: Vec<String> = interfaces().unwrap_or_default().into_iter().map(|i| i.name).collect();
        return DoctorCheck::fail(
            title,
            "this machine has no such interface",
            format!("name one of: {}", names.join(", ")),
        );
    };
    if !interface.up {
        return DoctorCheck::fail(title, "it is down", format!("`ip link set {name} up`"));
    }
    let carrier = std::fs::read_to_string(Path::new("/sys/class/net").join(name).join("carrier"));
    match carrier.as_deref().map(str::trim) {
        Ok("0") => DoctorCheck::fail(
            title,
            "it is up but has no carrier: nothing is connected, or the device is off",
            "plug the cable into one of the device's LAN ports and switch the device on",
        ),
        _ => DoctorCheck::pass(title, "up, with carrier"),
    }
}

/// The address (and prefix) the profile says the device looks for, or for a `push` profile an
/// address in the device's network.
pub(super) fn expected_address(interface: &Interface, profile: &Profile) -> DoctorCheck {
    let name = &interface.name;
    let title = format!("Address on {name}");
    let prefix = profile.prefix.unwrap_or(24);
    let held: Vec<String> = interface.ipv4.iter().map(|(a, p)| format!("{a}/{p}")).collect();
    let held_text = if held.is_empty() { "no IPv4 address".to_owned() } else { held.join(", ") };
    if profile.mode == RecoveryMode::Push {
        let Some(device) = profile.device_address else {
            return DoctorCheck::note(title, format!("{held_text}; the profile names no device address"));
        };
        let Some((network, suggestion)) = profile.push_source() else {
            return DoctorCheck::note(title, format!("{held_text}; the profile's prefix /{prefix} is not usable"));
        };
        if interface.ipv4.iter().any(|(a, _)| network.contains(a)) {
            return DoctorCheck::pass(title, format!("{held_text}: in the device's network with {device}"));
        }
        return DoctorCheck::fail(
            title,
            format!("{held_text}: none in the network of the device at {device}"),
            format!("`ip addr add {suggestion}/{prefix} dev {name}`"),
        );
    }
    for expected in &profile.server_addresses {
        match interface.ipv4.iter().find(|(a, _)| a == expected) {
            Some((_, p)) if *p == prefix => {
                return DoctorCheck::pass(title, format!("{expected}/{prefix}, where the device looks"));
            }
            Some((_, p)) => {
                return DoctorCheck::fail(
                    title,
                    format!("{expected}/{p}, but the device expects /{prefix}"),
                    format!("`ip addr del {expected}/{p} dev {name} && ip addr add {expected}/{prefix} dev {name}`"),
                );
            }
            None => {}
        }
    }
    let wanted: Vec<String> = profile.server_addresses.iter().map(|a| format!("{a}/{prefix}")).collect();
    // Not a fault: `recover` and the Recovery page take it for the recovery.
    DoctorCheck::note(
        title,
        format!(
            "{held_text}; the device looks for {}, which a recovery (lifeboat recover, the Recovery page) takes on {name}",
            wanted.join(" or ")
        ),
    )
}

/// Strict reverse-path filtering drops a device's packets when its address is not reached
/// through the interface they came in on.
pub(super) fn reverse_path(name: &str, interface: Option<&Interface>, device: Ipv4Addr) -> DoctorCheck {
    let title = "Reverse-path filter";
    let read = |scope: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{scope}/rp_filter"))
            .ok()
            .and_then(|v| v.trim().parse::<u8>().ok())
    };
    let (Some(all), Some(own)) = (read("all"), read(name)) else {
        return DoctorCheck::note(title, format!("cannot read net.ipv4.conf.{name}.rp_filter"));
    };
    // The kernel uses the larger of the two.
    let effective = all.max(own);
    let on_link = interface
        .is_some_and(|i| i.ipv4.iter().any(|(a, p)| Ipv4Net::new(*a, *p).is_ok_and(|n| n.trunc().contains(&device))));
    match (effective, on_link) {
        (1, false) => DoctorCheck::fail(
            title,
            format!(
                "strict (rp_filter {effective}), and {device} is not in a network of {name}: its packets are dropped"
            ),
            format!(
                "`sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.{name}.rp_filter=2`, or give {name} an address in the device's network"
            ),
        ),
        (1, true) => DoctorCheck::pass(title, format!("strict, and {device} is in a network of {name}")),
        (0, _) => DoctorCheck::pass(title, "off"),
        _ => DoctorCheck::pass(title, "loose"),
    }
}

/// The kernel's ARP entry for the device.
pub(super) fn device_neighbour(name: &str, device: Ipv4Addr) -> DoctorCheck {
    let title = format!("Device at {device}");
    match neighbour(device, name) {
        // Another host of that address elsewhere (the home router at 192.168.1.1 on the main
        // network, say) says nothing about the device on this interface.
        None => {
            DoctorCheck::note(title, format!("no ARP entry on {name}: this machine has not talked to it there yet"))
        }
        Some(entry) => match entry.mac {
            Some(mac) => DoctorCheck::pass(title, format!("answers ARP as {mac}")),
            None => DoctorCheck::fail(
                title,
                format!("asked by ARP on {name}, no answer (incomplete entry)"),
                "put the device in recovery mode (see the profile's steps) and check the cable is in a LAN port",
            ),
        },
    }
}

/// Another DHCP server on the segment answers the device first.
pub(super) async fn other_dhcp_server(interface: &Interface) -> DoctorCheck {
    let title = "Other DHCP servers";
    let own: Vec<Ipv4Addr> =
        interfaces().unwrap_or_default().into_iter().flat_map(|i| i.ipv4.into_iter().map(|(a, _)| a)).collect();
    match lifeboat_server::find_other_dhcp_server(interface, lifeboat_server::PROBE_WAIT, &own).await {
        Ok(None) => DoctorCheck::pass(
            title,
            format!("none answered on {} in {} s", interface.name, lifeboat_server::PROBE_WAIT.as_secs()),
        ),
        Ok(Some(other)) => {
            let mac = other.mac.map(|m| format!(" (MAC {m})")).unwrap_or_default();
            DoctorCheck::fail(
                title,
                format!("{}{mac} answers on {} and offered {}", other.address, interface.name, other.offered),
                "switch that server off or disconnect it: the device would take its answer instead of lifeboat's",
            )
        }
        Err(e) => DoctorCheck::note(title, format!("cannot ask on {}: {e}", interface.name)),
    }
}
