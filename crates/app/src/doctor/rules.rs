//! The host firewall, read from the kernel through its own tools, and the packets of a
//! recovery judged against it: the device's request to port 69, the device's acknowledgements
//! of an answer (conntrack sees them as established), and the answers going out.

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::Duration;

use lifeboat_web::DoctorCheck;
use tokio::process::Command;

use super::firewall::{Judgement, Packet, PacketPath, Ruleset, parse_iptables_save, parse_nft_json};

/// How long a rules tool may take.
const TOOL_BOUND: Duration = Duration::from_secs(5);

/// Where rules come from, and how to write an accepting rule there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Nftables,
    IptablesLegacy,
}

/// The firewall's checks for a device at `device` and lifeboat at `server` on `interface`: the
/// packets of lifeboat serving the device, or with `push` of lifeboat uploading to it.
pub(super) async fn firewall(interface: &str, server: Ipv4Addr, device: Ipv4Addr, push: bool) -> Vec<DoctorCheck> {
    let mut rulesets = Vec::new();
    let mut unread = Vec::new();
    match run(&["nft", "-j", "list", "ruleset"]).await {
        Ok(text) => match parse_nft_json(&text) {
            Ok(rules) => rulesets.push((Tool::Nftables, rules)),
            Err(e) => unread.push(format!("nft's rules could not be read: {e}")),
        },
        Err(e) => unread.push(e),
    }
    // Legacy iptables only when its filter table exists: asking would load the kernel module.
    let legacy = std::fs::read_to_string("/proc/net/ip_tables_names").unwrap_or_default();
    if legacy.lines().any(|t| t == "filter") {
        match run(&["iptables-legacy-save", "-t", "filter"]).await {
            Ok(text) => rulesets.push((Tool::IptablesLegacy, parse_iptables_save(&text))),
            Err(e) => unread.push(e),
        }
    }
    if rulesets.is_empty() {
        let why = unread.join("; ");
        return vec![DoctorCheck::note("Firewall", format!("not checked: {why}"))];
    }
    let cases = if push { upload_cases(interface, server, device) } else { serving_cases(interface, server, device) };
    let mut checks = Vec::new();
    for (title, what, packet) in cases {
        checks.push(check(title, &what, &packet, &rulesets));
    }
    for note in unread {
        checks.push(DoctorCheck::note("Firewall", note));
    }
    checks
}

/// lifeboat serving: the device's request to port 69, its acknowledgements (the reply
/// direction of the flow lifeboat's first answer opened), lifeboat's answers.
fn serving_cases(interface: &str, server: Ipv4Addr, device: Ipv4Addr) -> Vec<(&'static str, String, Packet)> {
    let request = Packet {
        path: PacketPath::Input,
        interface: interface.to_owned(),
        source: device,
        destination: server,
        source_port: 2048,
        destination_port: 69,
        new_flow: true,
    };
    let acknowledgement = Packet { destination_port: 40000, new_flow: false, ..request.clone() };
    let answer = Packet {
        path: PacketPath::Output,
        interface: interface.to_owned(),
        source: server,
        destination: device,
        source_port: 40000,
        destination_port: 2048,
        new_flow: true,
    };
    vec![
        ("Firewall: requests in", format!("UDP from {device} to port 69 on {interface}"), request),
        (
            "Firewall: acknowledgements in",
            format!("the device's acknowledgements from {device} on {interface}"),
            acknowledgement,
        ),
        ("Firewall: answers out", format!("UDP from {server} to {device} out of {interface}"), answer),
    ]
}

/// lifeboat uploading: its request out to the device's port 69, and the device's answers,
/// which come from a new port of the device: conntrack sees them as new flows (unless its
/// TFTP helper is loaded), so "established" rules do not let them in.
fn upload_cases(interface: &str, server: Ipv4Addr, device: Ipv4Addr) -> Vec<(&'static str, String, Packet)> {
    let request = Packet {
        path: PacketPath::Output,
        interface: interface.to_owned(),
        source: server,
        destination: device,
        source_port: 40000,
        destination_port: 69,
        new_flow: true,
    };
    let answer = Packet {
        path: PacketPath::Input,
        interface: interface.to_owned(),
        source: device,
        destination: server,
        source_port: 2048,
        destination_port: 40000,
        new_flow: true,
    };
    vec![
        ("Firewall: upload out", format!("UDP from {server} to {device} port 69 out of {interface}"), request),
        ("Firewall: the device's answers in", format!("UDP from {device} (a new port) on {interface}"), answer),
    ]
}

fn check(title: &str, what: &str, packet: &Packet, rulesets: &[(Tool, Ruleset)]) -> DoctorCheck {
    let mut perhaps = None;
    for (tool, rules) in rulesets {
        match rules.judge(packet) {
            Judgement::Allowed => {}
            Judgement::Blocked { by, chain } => {
                let fix = format!("allow it before that: `{}`", accept_command(*tool, &chain, packet));
                return DoctorCheck::fail(title, format!("{what}: dropped by {by}"), fix);
            }
            Judgement::Perhaps { by } => perhaps = perhaps.or(Some(by)),
        }
    }
    match perhaps {
        Some(by) => DoctorCheck::note(
            title,
            format!("{what}: perhaps dropped by {by} (a match lifeboat does not read; look at it)"),
        ),
        None => DoctorCheck::pass(title, format!("{what}: let through")),
    }
}

/// The command that accepts `packet` at the top of `chain` (`inet filter input`,
/// `ip filter INPUT`).
fn accept_command(tool: Tool, chain: &str, packet: &Packet) -> String {
    let iface = &packet.interface;
    match (tool, packet.path, packet.new_flow) {
        (Tool::Nftables, PacketPath::Input, true) if packet.destination_port == 69 => {
            format!("nft insert rule {chain} iifname \"{iface}\" ip saddr {} udp dport 69 accept", packet.source)
        }
        (Tool::Nftables, PacketPath::Input, true) => {
            format!("nft insert rule {chain} iifname \"{iface}\" ip saddr {} meta l4proto udp accept", packet.source)
        }
        (Tool::Nftables, PacketPath::Input, false) => {
            format!("nft insert rule {chain} iifname \"{iface}\" ct state established,related accept")
        }
        (Tool::Nftables, PacketPath::Output, _) => {
            format!(
                "nft insert rule {chain} oifname \"{iface}\" ip daddr {} meta l4proto udp accept",
                packet.destination
            )
        }
        (Tool::IptablesLegacy, path, new_flow) => {
            let name = chain.rsplit(' ').next().unwrap_or("INPUT");
            match (path, new_flow) {
                (PacketPath::Input, true) if packet.destination_port == 69 => {
                    format!("iptables-legacy -I {name} -i {iface} -s {} -p udp --dport 69 -j ACCEPT", packet.source)
                }
                (PacketPath::Input, true) => {
                    format!("iptables-legacy -I {name} -i {iface} -s {} -p udp -j ACCEPT", packet.source)
                }
                (PacketPath::Input, false) => {
                    format!("iptables-legacy -I {name} -i {iface} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT")
                }
                (PacketPath::Output, _) => {
                    format!("iptables-legacy -I {name} -o {iface} -d {} -p udp -j ACCEPT", packet.destination)
                }
            }
        }
    }
}

/// A tool's standard output, or why there is none, in words.
async fn run(argv: &[&str]) -> Result<String, String> {
    let mut command = Command::new(argv[0]);
    command.args(&argv[1..]).stdin(Stdio::null()).kill_on_drop(true);
    let output = match tokio::time::timeout(TOOL_BOUND, command.output()).await {
        Err(_) => return Err(format!("`{}` did not answer within {} s", argv.join(" "), TOOL_BOUND.as_secs())),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("{} is not installed, so its rules were not read", argv[0]));
        }
        Ok(Err(e)) => return Err(format!("cannot run {}: {e}", argv[0])),
        Ok(Ok(output)) => output,
    };
    if !output.status.success() {
        // On one line: the check says it in a sentence.
        let stderr = String::from_utf8_lossy(&output.stderr).split_whitespace().collect::<Vec<_>>().join(" ");
        let hint = if stderr.contains("Operation not permitted") || stderr.contains("Permission denied") {
            " (reading the rules needs root or CAP_NET_ADMIN)"
        } else {
            ""
        };
        return Err(format!("`{}` failed: {stderr}{hint}", argv.join(" ")));
    }
    String::from_utf8(output.stdout).map_err(|_| format!("`{}` printed something that is not UTF-8", argv.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accepting_command_fits_the_tool_and_the_packet() {
        let request = Packet {
            path: PacketPath::Input,
            interface: "eth1".into(),
            source: Ipv4Addr::new(192, 168, 0, 86),
            destination: Ipv4Addr::new(192, 168, 0, 66),
            source_port: 2048,
            destination_port: 69,
            new_flow: true,
        };
        assert_eq!(
            accept_command(Tool::Nftables, "inet filter input", &request),
            "nft insert rule inet filter input iifname \"eth1\" ip saddr 192.168.0.86 udp dport 69 accept"
        );
        assert_eq!(
            accept_command(Tool::IptablesLegacy, "ip filter INPUT", &request),
            "iptables-legacy -I INPUT -i eth1 -s 192.168.0.86 -p udp --dport 69 -j ACCEPT"
        );
    }
}
