//! The `[dhcp]` section of the configuration file and the DHCP flags, merged into a
//! [`DhcpConfig`]. Repeatable flags replace the file's list; a switch given as a flag (`--x` or
//! `--no-x`) wins over the file.

use lifeboat_dhcp::boot::{BootRule, DefaultBoot};
use lifeboat_dhcp::config::{ExtraOption, Range, Reservation, parse_subnet};
use lifeboat_server::DhcpConfig;
use serde::Deserialize;

use crate::cli::{ServeArgs, switch};
use crate::old_spellings;

/// `[dhcp]` as written: each key is a `--dhcp-` flag without its prefix.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileDhcp {
    pub(crate) range: Option<Vec<String>>,
    pub(crate) reservation: Option<Vec<String>>,
    pub(crate) boot: Option<String>,
    pub(crate) boot_rule: Option<Vec<String>>,
    pub(crate) option: Option<Vec<String>>,
    pub(crate) interface: Option<Vec<String>>,
    pub(crate) relay_allow: Option<Vec<String>>,
    pub(crate) bootp_dynamic: Option<bool>,
    pub(crate) authoritative: Option<bool>,
    pub(crate) skip_probe: Option<bool>,
    /// Old spellings (`old_spellings.rs`).
    pub(crate) ranges: Option<Vec<String>>,
    pub(crate) hosts: Option<Vec<String>>,
    pub(crate) boot_rules: Option<Vec<String>>,
    pub(crate) options: Option<Vec<String>>,
    pub(crate) interfaces: Option<Vec<String>>,
}

/// The DHCP server's configuration, or `None` when no range is set (DHCP off).
pub(crate) fn dhcp_section(
    file: FileDhcp,
    args: &ServeArgs,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Option<DhcpConfig> {
    let ranges: Vec<Range> = parse_all(pick(&args.dhcp_range, file.range), "--dhcp-range", "dhcp.range", problems);
    let reservations: Vec<Reservation> =
        parse_all(pick(&args.dhcp_reservation, file.reservation), "--dhcp-reservation", "dhcp.reservation", problems);
    let boot_rules: Vec<BootRule> =
        parse_all(pick(&args.dhcp_boot_rule, file.boot_rule), "--dhcp-boot-rule", "dhcp.boot_rule", problems);
    let extra_options: Vec<ExtraOption> =
        parse_all(pick(&args.dhcp_option, file.option), "--dhcp-option", "dhcp.option", problems);
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
        if args.dhcp_interface.is_empty() { file.interface.unwrap_or_default() } else { args.dhcp_interface.clone() };
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
    config.bootp_dynamic =
        switch(args.dhcp_bootp_dynamic, args.no_dhcp_bootp_dynamic).or(file.bootp_dynamic).unwrap_or(false);
    config.authoritative =
        switch(args.dhcp_authoritative, args.no_dhcp_authoritative).or(file.authoritative).unwrap_or(false);
    let skip_probe = switch(args.dhcp_skip_probe, args.no_dhcp_skip_probe).or(file.skip_probe);
    let (skip_probe, warning) = old_spellings::authoritative_skips_probe(config.authoritative, skip_probe);
    config.skip_probe = skip_probe;
    warnings.extend(warning);
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
            "range = [\"10.1.0.100,10.1.0.200\"]\nreservation = [\"52:54:00:00:00:01,10.1.0.5\"]\nboot = \"pxelinux.0\"\nbootp_dynamic = true\n",
        )
        .unwrap();
        let args = ServeArgs {
            dhcp_boot_rule: vec!["ipxe=boot.ipxe".into()],
            dhcp_interface: vec!["lab0".into()],
            ..ServeArgs::default()
        };
        let mut problems = Vec::new();
        let c = dhcp_section(file, &args, &mut problems, &mut Vec::new()).unwrap();
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
        let file = FileDhcp { reservation: Some(vec!["nope".into()]), ..FileDhcp::default() };
        let args = ServeArgs {
            dhcp_range: vec!["10.0.0.9,10.0.0.1".into()],
            dhcp_boot_rule: vec!["efi-x86=a".into()],
            dhcp_option: vec!["51,1".into()],
            dhcp_boot: Some("".into()),
            ..ServeArgs::default()
        };
        let mut problems = Vec::new();
        assert!(dhcp_section(file, &args, &mut problems, &mut Vec::new()).is_none());
        let text = problems.join("\n");
        assert_eq!(problems.len(), 5, "{text}");
        for part in [
            "--dhcp-range \"10.0.0.9,10.0.0.1\"",
            "dhcp.reservation \"nope\"",
            "--dhcp-boot-rule \"efi-x86=a\"",
            "--dhcp-option \"51,1\"",
            "--dhcp-boot",
        ] {
            assert!(text.contains(part), "{part} missing from {text}");
        }
    }
}
