//! The `[dhcp]` section of the configuration file and the DHCP flags, merged into a
//! [`DhcpConfig`]. Repeatable flags replace the file's list; switches turn on if either says so.

use lifeboat_dhcp::boot::{BootRule, DefaultBoot};
use lifeboat_dhcp::config::{ExtraOption, Range, Reservation, parse_subnet};
use lifeboat_server::DhcpConfig;
use serde::Deserialize;

use crate::cli::ServeArgs;

/// `[dhcp]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileDhcp {
    pub(crate) ranges: Option<Vec<String>>,
    pub(crate) hosts: Option<Vec<String>>,
    pub(crate) boot: Option<String>,
    pub(crate) boot_rules: Option<Vec<String>>,
    pub(crate) options: Option<Vec<String>>,
    pub(crate) interfaces: Option<Vec<String>>,
    pub(crate) relay_allow: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) bootp_dynamic: bool,
    #[serde(default)]
    pub(crate) authoritative: bool,
}

/// The DHCP server's configuration, or `None` when no range is set (DHCP off).
pub(crate) fn dhcp_section(file: FileDhcp, args: &ServeArgs, problems: &mut Vec<String>) -> Option<DhcpConfig> {
    let ranges: Vec<Range> = parse_all(pick(&args.dhcp_range, file.ranges), "--dhcp-range", "dhcp.ranges", problems);
    let reservations: Vec<Reservation> =
        parse_all(pick(&args.dhcp_host, file.hosts), "--dhcp-host", "dhcp.hosts", problems);
    let boot_rules: Vec<BootRule> = parse_all(pick(&args.boot, file.boot_rules), "--boot", "dhcp.boot_rules", problems);
    let extra_options: Vec<ExtraOption> =
        parse_all(pick(&args.dhcp_option, file.options), "--dhcp-option", "dhcp.options", problems);
    let (texts, from_file) = pick(&args.dhcp_relay_allow, file.relay_allow);
    let origin = if from_file { "dhcp.relay_allow" } else { "--dhcp-relay-allow" };
    let relay_allow = texts
        .iter()
        .filter_map(|t| parse_subnet(t).map_err(|e| problems.push(format!("{origin} {t:?}: {e}"))).ok())
        .collect();
    let default_boot = match (&args.dhcp_boot, file.boot) {
        (Some(text), _) => parse_one::<DefaultBoot>(text, "--dhcp-boot", problems),
        (None, Some(text)) => parse_one::<DefaultBoot>(&text, "dhcp.boot", problems),
        (None, None) => None,
    };
    let interfaces =
        if args.interface.is_empty() { file.interfaces.unwrap_or_default() } else { args.interface.clone() };
    if ranges.is_empty() {
        return None;
    }
    let mut config = DhcpConfig::new(ranges);
    config.reservations = reservations;
    config.boot_rules = boot_rules;
    config.default_boot = default_boot;
    config.extra_options = extra_options;
    config.interfaces = interfaces;
    config.relay_allow = relay_allow;
    config.bootp_dynamic = args.bootp_dynamic || file.bootp_dynamic;
    config.authoritative = args.dhcp_authoritative || file.authoritative;
    Some(config)
}

/// The flag's values if any were given, else the file's list, each tagged with where it came from.
fn pick(flags: &[String], file: Option<Vec<String>>) -> (Vec<String>, bool) {
    if flags.is_empty() { (file.unwrap_or_default(), true) } else { (flags.to_vec(), false) }
}

fn parse_all<T>(values: (Vec<String>, bool), flag: &str, key: &str, problems: &mut Vec<String>) -> Vec<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let (texts, from_file) = values;
    let origin = if from_file { key } else { flag };
    texts.iter().filter_map(|text| parse_one(text, origin, problems)).collect()
}

fn parse_one<T>(text: &str, origin: &str, problems: &mut Vec<String>) -> Option<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| problems.push(format!("{origin} {text:?}: {e}"))).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_file_merge() {
        let file: FileDhcp = toml::from_str(
            "ranges = [\"10.1.0.100,10.1.0.200\"]\nhosts = [\"52:54:00:00:00:01,10.1.0.5\"]\nboot = \"pxelinux.0\"\nbootp_dynamic = true\n",
        )
        .unwrap();
        let args =
            ServeArgs { boot: vec!["ipxe=boot.ipxe".into()], interface: vec!["lab0".into()], ..ServeArgs::default() };
        let mut problems = Vec::new();
        let c = dhcp_section(file, &args, &mut problems).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.ranges.len(), 1);
        assert_eq!(c.reservations.len(), 1);
        assert_eq!(c.boot_rules[0].file, "boot.ipxe");
        assert_eq!(c.default_boot.unwrap().file, "pxelinux.0");
        assert_eq!(c.interfaces, ["lab0"]);
        assert!(c.bootp_dynamic && !c.authoritative);
    }

    #[test]
    fn every_bad_value_is_named_with_its_origin() {
        let file = FileDhcp { hosts: Some(vec!["nope".into()]), ..FileDhcp::default() };
        let args = ServeArgs {
            dhcp_range: vec!["10.0.0.9,10.0.0.1".into()],
            boot: vec!["efi-x86=a".into()],
            dhcp_option: vec!["51,1".into()],
            dhcp_boot: Some("".into()),
            ..ServeArgs::default()
        };
        let mut problems = Vec::new();
        assert!(dhcp_section(file, &args, &mut problems).is_none());
        let text = problems.join("\n");
        assert_eq!(problems.len(), 5, "{text}");
        for part in [
            "--dhcp-range \"10.0.0.9,10.0.0.1\"",
            "dhcp.hosts \"nope\"",
            "--boot \"efi-x86=a\"",
            "--dhcp-option \"51,1\"",
            "--dhcp-boot",
        ] {
            assert!(text.contains(part), "{part} missing from {text}");
        }
    }
}
