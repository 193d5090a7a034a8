//! The flags and configuration keys of the last release. Each still works for this release: its
//! value moves to the new spelling (unless the new one is given too, which wins), and a warning
//! names the new spelling. Remove this file in the release after.

use std::mem::take;

use crate::cli::ServeArgs;
use crate::dhcp_settings::FileDhcp;
use crate::settings::{FileConfig, FileTftp, UploadKey};

/// Move every old spelling in `args` and `file` to its new place; one warning per old spelling
/// used.
pub(crate) fn apply(args: &mut ServeArgs, file: &mut FileConfig) -> Vec<String> {
    let mut warnings = Vec::new();
    flags(args, &mut warnings);
    tftp_keys(&mut file.tftp, &mut warnings);
    dhcp_keys(&mut file.dhcp, &mut warnings);
    warnings
}

fn said(warnings: &mut Vec<String>, old: &str, new: &str) {
    warnings.push(format!("{old} is spelled {new} now; the old spelling goes away in the next release"));
}

fn flags(args: &mut ServeArgs, warnings: &mut Vec<String>) {
    let old = take(&mut args.old);
    let list = |warnings: &mut Vec<String>, old_name: &str, old: Vec<String>, new: &mut Vec<String>| {
        if !old.is_empty() {
            said_flag(warnings, old_name);
            if new.is_empty() {
                *new = old;
            }
        }
    };
    list(warnings, "allow", old.allow, &mut args.tftp_allow);
    list(warnings, "dhcp-host", old.dhcp_host, &mut args.dhcp_reservation);
    list(warnings, "boot", old.boot, &mut args.dhcp_boot_rule);
    list(warnings, "interface", old.interface, &mut args.dhcp_interface);
    let switch = |warnings: &mut Vec<String>, old_name: &str, old: bool, on: &mut bool, off: &mut bool| {
        if old {
            said_flag(warnings, old_name);
            if !*off {
                *on = true;
            }
        }
    };
    switch(warnings, "enable-upload", old.enable_upload, &mut args.tftp_upload, &mut args.no_tftp_upload);
    switch(
        warnings,
        "upload-overwrite",
        old.upload_overwrite,
        &mut args.tftp_upload_overwrite,
        &mut args.no_tftp_upload_overwrite,
    );
    switch(warnings, "bootp-dynamic", old.bootp_dynamic, &mut args.dhcp_bootp_dynamic, &mut args.no_dhcp_bootp_dynamic);
    // A negative switch: the old flag is the new one's `--no-` form.
    switch(warnings, "tftp-no-options", old.tftp_no_options, &mut args.no_tftp_options, &mut args.tftp_options);
    moved_flag(warnings, "upload-dir", old.upload_dir, &mut args.tftp_upload_dir);
    moved_flag(warnings, "upload-max-size", old.upload_max_size, &mut args.tftp_upload_max_size);
    moved_flag(warnings, "max-transfers", old.max_transfers, &mut args.tftp_max_transfers);
    moved_flag(
        warnings,
        "max-transfers-per-client",
        old.max_transfers_per_client,
        &mut args.tftp_max_transfers_per_client,
    );
}

/// The value of the old flag `--old_name`, said and moved to its new flag unless that is given.
fn moved_flag<T>(warnings: &mut Vec<String>, old_name: &str, old: Option<T>, new: &mut Option<T>) {
    if old.is_some() {
        said_flag(warnings, old_name);
        if new.is_none() {
            *new = old;
        }
    }
}

fn moved<T>(warnings: &mut Vec<String>, old_name: &str, new_name: &str, old: Option<T>, new: &mut Option<T>) {
    if old.is_some() {
        said(warnings, old_name, new_name);
        if new.is_none() {
            *new = old;
        }
    }
}

fn tftp_keys(tftp: &mut FileTftp, warnings: &mut Vec<String>) {
    moved(warnings, "tftp.aliases", "tftp.alias", tftp.aliases.take(), &mut tftp.alias);
    moved(warnings, "tftp.no_options", "tftp.options = false", tftp.no_options.take().map(|no| !no), &mut tftp.options);
    match tftp.upload.take() {
        Some(UploadKey::Table(table)) => {
            said(
                warnings,
                "the [tftp.upload] table",
                "tftp.upload, tftp.upload_dir, tftp.upload_max_size, tftp.upload_overwrite",
            );
            tftp.upload = table.enabled.map(UploadKey::Switch);
            moved(warnings, "tftp.upload.dir", "tftp.upload_dir", table.dir, &mut tftp.upload_dir);
            moved(warnings, "tftp.upload.max_size", "tftp.upload_max_size", table.max_size, &mut tftp.upload_max_size);
            moved(
                warnings,
                "tftp.upload.overwrite",
                "tftp.upload_overwrite",
                table.overwrite,
                &mut tftp.upload_overwrite,
            );
        }
        switch => tftp.upload = switch,
    }
}

fn dhcp_keys(dhcp: &mut FileDhcp, warnings: &mut Vec<String>) {
    moved(warnings, "dhcp.ranges", "dhcp.range", dhcp.ranges.take(), &mut dhcp.range);
    moved(warnings, "dhcp.hosts", "dhcp.reservation", dhcp.hosts.take(), &mut dhcp.reservation);
    moved(warnings, "dhcp.boot_rules", "dhcp.boot_rule", dhcp.boot_rules.take(), &mut dhcp.boot_rule);
    moved(warnings, "dhcp.options", "dhcp.option", dhcp.options.take(), &mut dhcp.option);
    moved(warnings, "dhcp.interfaces", "dhcp.interface", dhcp.interfaces.take(), &mut dhcp.interface);
}

/// The one meaning that changed: `--dhcp-authoritative` used to skip the check for other DHCP
/// servers; now it is dnsmasq's switch (`--dhcp-skip-probe` skips the check). For this release,
/// the old meaning comes with the new one when nothing settles the check: whether to skip it,
/// and the warning that says so.
pub(crate) fn authoritative_skips_probe(authoritative: bool, skip_probe: Option<bool>) -> (bool, Option<String>) {
    match skip_probe {
        Some(skip) => (skip, None),
        None if authoritative => (
            true,
            Some("--dhcp-authoritative (dhcp.authoritative) now means what it means in dnsmasq: requests of clients without a lease here are answered at once. For this release it also still skips the check for other DHCP servers, as it did; from the next, only --dhcp-skip-probe (dhcp.skip_probe = true) does: add it to keep skipping the check, or --no-dhcp-skip-probe to run it".to_owned()),
        ),
        None => (false, None),
    }
}
/// Each flag of the last release (without its dashes) and the flag of this release it is now.
const RENAMED_FLAGS: [(&str, &str); 12] = [
    ("allow", "tftp-allow"),
    ("enable-upload", "tftp-upload"),
    ("upload-dir", "tftp-upload-dir"),
    ("upload-max-size", "tftp-upload-max-size"),
    ("upload-overwrite", "tftp-upload-overwrite"),
    ("tftp-no-options", "no-tftp-options"),
    ("max-transfers", "tftp-max-transfers"),
    ("max-transfers-per-client", "tftp-max-transfers-per-client"),
    ("dhcp-host", "dhcp-reservation"),
    ("boot", "dhcp-boot-rule"),
    ("interface", "dhcp-interface"),
    ("bootp-dynamic", "dhcp-bootp-dynamic"),
];

/// The flag of this release that `old` (a flag of the last one, without its dashes) now is:
/// `dhcp-host` is `dhcp-reservation`. Also names the configuration key a lock sets.
pub(crate) fn new_flag(old: &str) -> Option<&'static str> {
    RENAMED_FLAGS.iter().find(|(was, _)| *was == old).map(|(_, now)| *now)
}

/// Say that the flag `--old` is spelled as its new flag now.
fn said_flag(warnings: &mut Vec<String>, old: &str) {
    let new = new_flag(old).expect("every old flag is in RENAMED_FLAGS");
    said(warnings, &format!("--{old}"), &format!("--{new}"));
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_old_flag_names_a_flag_of_this_release() {
        use clap::CommandFactory as _;
        let command = crate::cli::Cli::command();
        let serve = command.find_subcommand("serve").unwrap();
        let longs: Vec<&str> = serve.get_arguments().filter_map(|a| a.get_long()).collect();
        for old in serve.get_arguments().filter(|a| a.is_hide_set()).filter_map(|a| a.get_long()) {
            let new = super::new_flag(old).unwrap_or_else(|| panic!("--{old} has no new name"));
            assert!(longs.contains(&new), "--{old} → --{new}, which serve does not have");
        }
    }
}
