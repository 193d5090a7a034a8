//! Turns the TOML file and the `serve` flags into a validated [`ServeConfig`]: the TFTP part
//! here, the DHCP part in `dhcp_settings.rs`, HTTP boot in `http_settings.rs`.
//!
//! The file is read into plain serde structs that refuse unknown keys; flags are laid over
//! it; then every value is checked and all problems are reported together, each naming where
//! it came from.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use lifeboat_server::{AllowList, DEFAULT_UPLOAD_MAX_SIZE, TftpConfig, UploadConfig};
use lifeboat_store::{DatabaseLocation, Retention};
use lifeboat_tftp::options::{MAX_BLKSIZE, MIN_BLKSIZE};
use serde::Deserialize;

use crate::cli::{ServeArgs, switch};
use crate::dhcp_settings::{FileDhcp, dhcp_section};
use crate::http_settings::{FileHttpBoot, dhcp_target, http_section};
use crate::instance::check_instance_name;
use crate::old_spellings;
use crate::web_settings::{FileWeb, web_section};
use lifeboat_app::DashboardConfig;

/// The configuration file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// The database (leases, hosts, transfer history, the dashboard's password hash): a SQLite
    /// file, or a `postgres://` URL.
    pub(crate) db: Option<String>,
    /// This lifeboat's name in a fleet (default: the host name).
    pub(crate) instance: Option<String>,
    /// Stop a service nobody used for this long, e.g. "15m".
    pub(crate) stop_when_idle: Option<String>,
    /// Announce the served addresses (default true).
    pub(crate) announce: Option<bool>,
    /// Days the history is kept.
    pub(crate) history_days: Option<u32>,
    /// Rows of history kept per table.
    pub(crate) history_max_rows: Option<u64>,
    #[serde(default)]
    pub(crate) tftp: FileTftp,
    #[serde(default)]
    pub(crate) dhcp: FileDhcp,
    #[serde(default)]
    pub(crate) http_boot: FileHttpBoot,
    #[serde(default)]
    pub(crate) web: FileWeb,
}

/// What `lifeboat serve` runs. At least one of the servers is on.
#[derive(Debug)]
pub(crate) struct ServeConfig {
    pub(crate) tftp: Option<TftpConfig>,
    pub(crate) dhcp: Option<lifeboat_server::DhcpConfig>,
    /// The HTTP boot server; `None` when it is off.
    pub(crate) http: Option<lifeboat_server::HttpBootConfig>,
    /// The dashboard; `None` when it is turned off.
    pub(crate) web: Option<DashboardConfig>,
    /// `None`: the default place (`state_dir.rs`), chosen when serving starts.
    pub(crate) db: Option<DatabaseLocation>,
    /// `--instance`, `instance` in the file; `None`: the host name, found at start.
    pub(crate) instance: Option<String>,
    pub(crate) stop_when_idle: Option<Duration>,
    /// `--once`: stop after the first complete download.
    pub(crate) once: bool,
    /// `--announce`/`--no-announce`, `announce` in the file: announce the served addresses.
    pub(crate) announce: bool,
    pub(crate) retention: Retention,
    /// Said at start: old spellings, changed meanings.
    pub(crate) warnings: Vec<String>,
}

/// `[tftp]` as written: each key is a `--tftp-` flag without its prefix.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileTftp {
    pub(crate) root: Option<PathBuf>,
    pub(crate) listen: Option<Vec<String>>,
    pub(crate) allow: Option<Vec<String>>,
    /// NAME = FILE, as `--tftp-alias NAME=FILE`.
    pub(crate) alias: Option<BTreeMap<String, PathBuf>>,
    pub(crate) upload: Option<UploadKey>,
    pub(crate) upload_dir: Option<PathBuf>,
    pub(crate) upload_max_size: Option<u64>,
    pub(crate) upload_overwrite: Option<bool>,
    pub(crate) max_blksize: Option<u16>,
    pub(crate) max_windowsize: Option<u16>,
    pub(crate) options: Option<bool>,
    pub(crate) single_port: Option<bool>,
    pub(crate) max_transfers: Option<usize>,
    pub(crate) max_transfers_per_client: Option<usize>,
    /// Old spellings (`old_spellings.rs`).
    pub(crate) aliases: Option<BTreeMap<String, PathBuf>>,
    pub(crate) no_options: Option<bool>,
}

/// `tftp.upload`: the switch, or the table of the last release.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum UploadKey {
    Switch(bool),
    Table(OldUploadTable),
}

/// `[tftp.upload]` of the last release.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OldUploadTable {
    pub(crate) enabled: Option<bool>,
    pub(crate) dir: Option<PathBuf>,
    pub(crate) max_size: Option<u64>,
    pub(crate) overwrite: Option<bool>,
}

/// Every problem found in the configuration, one per line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", problems.join("\n  - "))]
pub(crate) struct ConfigErrors {
    pub(crate) problems: Vec<String>,
}

/// Reads and parses a configuration file.
pub(crate) fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    use anyhow::Context as _;
    let table = read_table(path)?;
    toml::Value::Table(table)
        .try_into()
        .with_context(|| format!("the configuration file {} is not valid", path.display()))
}

/// The configuration file as a TOML table, before it is read as a [`FileConfig`] (the
/// dashboard's settings are laid over it key by key: `dashboard_settings.rs`).
pub(crate) fn read_table(path: &Path) -> anyhow::Result<toml::Table> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
    text.parse().with_context(|| format!("the configuration file {} is not valid", path.display()))
}

/// Merges flags over the file and validates the result; every problem is reported at once.
pub(crate) fn serve_config(mut file: FileConfig, args: &ServeArgs) -> Result<ServeConfig, ConfigErrors> {
    let mut args = args.clone();
    let mut warnings = old_spellings::apply(&mut args, &mut file);
    let args = &args;
    let mut problems = Vec::new();
    let retention = retention(&file, args, &mut problems);
    let tftp = tftp_section(file.tftp, args, &mut problems);
    let mut dhcp = dhcp_section(file.dhcp, args, &mut problems, &mut warnings);
    let http = http_section(file.http_boot, args, tftp.as_ref(), &mut problems);
    if let (Some(dhcp), Some(http)) = (dhcp.as_mut(), http.as_ref()) {
        dhcp.http_boot = dhcp_target(http);
    }
    let web = web_section(file.web, args, &mut problems);
    if tftp.is_none() && dhcp.is_none() && problems.is_empty() {
        problems.push(
            "nothing to serve: pass --tftp-root DIR for TFTP and/or --dhcp-range RANGE for DHCP (or set tftp.root / dhcp.range in the configuration file)"
                .to_owned(),
        );
    }
    let file_db = file.db.and_then(|text| match text.parse::<DatabaseLocation>() {
        Ok(db) => Some(db),
        Err(error) => {
            problems.push(format!("db: {error}"));
            None
        }
    });
    let db = args.db.clone().or(file_db);
    let instance = args.instance.clone().or(file.instance);
    if let Some(name) = &instance
        && let Err(problem) = check_instance_name(name)
    {
        problems.push(problem);
    }
    let stop_when_idle = args.stop_when_idle.or_else(|| {
        let text = file.stop_when_idle?;
        match humantime::parse_duration(&text) {
            Ok(idle) if !idle.is_zero() => Some(idle),
            _ => {
                problems.push(format!("stop_when_idle {text:?}: expected a duration like 15m or 1h"));
                None
            }
        }
    });
    let announce = switch(args.announce, args.no_announce).or(file.announce).unwrap_or(true);
    if problems.is_empty() {
        let once = args.once;
        Ok(ServeConfig { tftp, dhcp, http, web, db, instance, stop_when_idle, once, announce, retention, warnings })
    } else {
        // A problem names the new spelling of what was written the old way; the note says which.
        problems.extend(warnings.into_iter().map(|w| format!("note: {w}")));
        Err(ConfigErrors { problems })
    }
}

/// How long the history is kept: the flags, else the file, else [`Retention::DEFAULT`].
fn retention(file: &FileConfig, args: &ServeArgs, problems: &mut Vec<String>) -> Retention {
    let mut retention = Retention::DEFAULT;
    match args.history_days.map(|d| (d, "--history-days")).or(file.history_days.map(|d| (d, "history_days"))) {
        Some((0, from)) => problems.push(format!("{from} 0: keep the history for at least one day")),
        Some((days, _)) => retention.days = days,
        None => {}
    }
    let rows = args.history_max_rows.map(|n| (n, "--history-max-rows"));
    match rows.or(file.history_max_rows.map(|n| (n, "history_max_rows"))) {
        Some((0, from)) => problems.push(format!("{from} 0: keep at least one row")),
        Some((rows, _)) => retention.max_rows = rows,
        None => {}
    }
    retention
}

/// A setting's value and where it came from, for messages: the flag wins over the file's key.
fn either<T>(
    flag: Option<T>,
    flag_name: &'static str,
    file: Option<T>,
    key: &'static str,
) -> Option<(T, &'static str)> {
    flag.map(|value| (value, flag_name)).or_else(|| file.map(|value| (value, key)))
}

/// The TFTP server's configuration, or `None` when no root is set (TFTP off).
fn tftp_section(file: FileTftp, args: &ServeArgs, problems: &mut Vec<String>) -> Option<TftpConfig> {
    let root = args.tftp_root.clone().or(file.root.clone())?;
    let mut config = TftpConfig::new(root);

    let (listen, from) = if args.tftp_listen.is_empty() {
        (file.listen, "tftp.listen")
    } else {
        (Some(args.tftp_listen.clone()), "--tftp-listen")
    };
    if let Some(listen) = listen {
        config.listen = listen
            .iter()
            .filter_map(|text| {
                parse_socket_addr(text, 69).map_err(|e| problems.push(format!("{from} {text:?}: {e}"))).ok()
            })
            .collect();
    }

    let (allow, from) = if args.tftp_allow.is_empty() {
        (file.allow, "tftp.allow")
    } else {
        (Some(args.tftp_allow.clone()), "--tftp-allow")
    };
    if let Some(allow) = allow {
        let ranges = allow
            .iter()
            .filter_map(|text| parse_range(text).map_err(|e| problems.push(format!("{from} {text:?}: {e}"))).ok())
            .collect();
        config.allow = AllowList::new(ranges);
    }

    // Like every repeatable flag, --tftp-alias replaces the file's list.
    if args.tftp_alias.is_empty() {
        config.aliases = file.alias.unwrap_or_default();
    }
    for text in &args.tftp_alias {
        match text.split_once('=') {
            Some((name, target)) if !name.is_empty() && !target.is_empty() => {
                config.aliases.insert(name.to_owned(), PathBuf::from(target));
            }
            _ => problems.push(format!("--tftp-alias {text:?}: expected NAME=FILE")),
        }
    }

    match either(args.tftp_max_blksize, "--tftp-max-blksize", file.max_blksize, "tftp.max_blksize") {
        Some((blksize, _)) if (MIN_BLKSIZE..=MAX_BLKSIZE).contains(&blksize) => config.limits.max_blksize = blksize,
        Some((blksize, from)) => {
            problems.push(format!(
                "{from} {blksize}: the largest block size must be between {MIN_BLKSIZE} and {MAX_BLKSIZE}"
            ));
        }
        None => {}
    }
    match either(args.tftp_max_windowsize, "--tftp-max-windowsize", file.max_windowsize, "tftp.max_windowsize") {
        Some((0, from)) => problems.push(format!("{from} 0: the largest window must be between 1 and 65535")),
        Some((window, _)) => config.limits.max_windowsize = window,
        None => {}
    }
    config.limits.options_enabled = switch(args.tftp_options, args.no_tftp_options).or(file.options).unwrap_or(true);
    config.single_port = switch(args.tftp_single_port, args.no_tftp_single_port).or(file.single_port).unwrap_or(false);
    for (value, name, slot) in [
        (
            either(args.tftp_max_transfers, "--tftp-max-transfers", file.max_transfers, "tftp.max_transfers"),
            "transfers at once",
            &mut config.max_transfers,
        ),
        (
            either(
                args.tftp_max_transfers_per_client,
                "--tftp-max-transfers-per-client",
                file.max_transfers_per_client,
                "tftp.max_transfers_per_client",
            ),
            "transfers per client",
            &mut config.max_transfers_per_client,
        ),
    ] {
        match value {
            Some((0, from)) => problems.push(format!("{from} 0: allow at least 1 {name}")),
            Some((n, _)) => *slot = n,
            None => {}
        }
    }

    let file_upload = match file.upload {
        Some(UploadKey::Switch(on)) => Some(on),
        // Moved to the switch by `old_spellings::apply`.
        Some(UploadKey::Table(_)) | None => None,
    };
    if switch(args.tftp_upload, args.no_tftp_upload).or(file_upload).unwrap_or(false) {
        match args.tftp_upload_dir.clone().or(file.upload_dir) {
            Some(dir) => {
                config.upload = Some(UploadConfig {
                    dir,
                    max_size: args.tftp_upload_max_size.or(file.upload_max_size).unwrap_or(DEFAULT_UPLOAD_MAX_SIZE),
                    overwrite: switch(args.tftp_upload_overwrite, args.no_tftp_upload_overwrite)
                        .or(file.upload_overwrite)
                        .unwrap_or(false),
                });
            }
            None => problems.push("uploads are enabled but no directory is set: add --tftp-upload-dir DIR".to_owned()),
        }
    }
    Some(config)
}

/// Parses `ADDR`, `ADDR:PORT`, `[V6]:PORT` or bare `V6`, with `default_port` when none is given.
pub(crate) fn parse_socket_addr(text: &str, default_port: u16) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, default_port))
        .map_err(|_| "expected an IP address with an optional port, like 192.168.1.10:69 or [fe80::1]:69".to_owned())
}

fn parse_range(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| "expected an address range like 192.168.0.0/16 or an address".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> FileConfig {
        let text = include_str!("../../../config/lifeboat.toml");
        toml::from_str(text).expect("the example configuration must parse")
    }

    fn tftp_config(file: FileConfig, args: &ServeArgs) -> Result<TftpConfig, ConfigErrors> {
        serve_config(file, args).map(|c| c.tftp.expect("TFTP is on"))
    }

    use crate::web_settings::FileWeb;

    #[test]
    fn the_example_configuration_parses_and_validates() {
        let config = tftp_config(example(), &ServeArgs::default()).unwrap();
        assert_eq!(config.root, PathBuf::from("/srv/tftp"));
        assert_eq!(config.limits.max_blksize, 1468);
        assert!(config.aliases.contains_key("tp_recovery.bin"));
        assert!(config.upload.is_none());
        assert!(config.allow.permits("192.168.0.86".parse().unwrap()));
        let all = serve_config(example(), &ServeArgs::default()).unwrap();
        let dhcp = all.dhcp.expect("the example turns DHCP on");
        assert_eq!((dhcp.ranges.len(), dhcp.reservations.len(), dhcp.boot_rules.len()), (1, 1, 4));
        assert_eq!(dhcp.default_boot.unwrap().file, "undionly.kpxe");
        assert_eq!(dhcp.extra_options.len(), 2);
        assert_eq!(all.db, Some(DatabaseLocation::File("/var/lib/lifeboat/lifeboat.db".into())));
        assert_eq!(all.instance, None, "the host name, found at start");
    }

    #[test]
    fn a_postgres_url_and_an_instance_name_come_from_the_file_and_bad_ones_are_named() {
        let mut file = example();
        file.db = Some("postgres://lifeboat:secret@db/lifeboat".to_owned());
        file.instance = Some("rack-3".to_owned());
        let config = serve_config(file, &ServeArgs::default()).unwrap();
        assert!(config.db.as_ref().is_some_and(DatabaseLocation::is_postgres), "{:?}", config.db);
        assert_eq!(config.instance.as_deref(), Some("rack-3"));

        let mut file = example();
        file.db = Some("postgres://lifeboat:secret@[db/lifeboat".to_owned());
        file.instance = Some("rack 3".to_owned());
        let problems = serve_config(file, &ServeArgs::default()).unwrap_err().problems.join("\n");
        assert!(problems.contains("db: ") && !problems.contains("secret"), "{problems}");
        assert!(problems.contains("instance \"rack 3\""), "{problems}");
    }

    #[test]
    fn flags_override_the_file() {
        let args = ServeArgs {
            tftp_root: Some("/tmp/images".into()),
            tftp_listen: vec!["127.0.0.1:6969".into()],
            tftp_allow: vec!["127.0.0.0/8".into()],
            tftp_max_blksize: Some(8192),
            tftp_single_port: true,
            ..ServeArgs::default()
        };
        let config = tftp_config(example(), &args).unwrap();
        assert_eq!(config.root, PathBuf::from("/tmp/images"));
        assert_eq!(config.listen, ["127.0.0.1:6969".parse().unwrap()]);
        assert!(config.allow.permits("127.0.0.1".parse().unwrap()));
        assert!(!config.allow.permits("192.168.0.86".parse().unwrap()));
        assert_eq!(config.limits.max_blksize, 8192);
        assert!(config.single_port);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let args = ServeArgs {
            tftp_root: Some("/srv/tftp".into()),
            tftp_listen: vec!["nonsense".into()],
            tftp_allow: vec!["10.0.0.0/33".into()],
            tftp_alias: vec!["broken".into()],
            tftp_max_blksize: Some(4),
            tftp_upload: true,
            ..ServeArgs::default()
        };
        let error = tftp_config(FileConfig::default(), &args).unwrap_err();
        assert_eq!(error.problems.len(), 5, "{error}");
        let text = error.to_string();
        for part in [
            "--tftp-listen \"nonsense\"",
            "--tftp-allow \"10.0.0.0/33\"",
            "--tftp-alias \"broken\"",
            "--tftp-max-blksize 4: the largest block size must be between 8 and 65464",
            "--tftp-upload-dir",
        ] {
            assert!(text.contains(part), "{part:?} missing from:\n{text}");
        }
    }

    #[test]
    fn stop_when_idle_comes_from_the_flag_or_the_file_and_must_be_a_duration() {
        let args = ServeArgs { tftp_root: Some("/srv/tftp".into()), ..ServeArgs::default() };
        let file = |text: &str| FileConfig { stop_when_idle: Some(text.into()), ..FileConfig::default() };
        assert_eq!(serve_config(file("15m"), &args).unwrap().stop_when_idle, Some(Duration::from_secs(900)));
        let flag = ServeArgs { stop_when_idle: Some(Duration::from_secs(30)), ..args.clone() };
        assert_eq!(serve_config(file("15m"), &flag).unwrap().stop_when_idle, Some(Duration::from_secs(30)));
        for bad in ["soon", "0s"] {
            let error = serve_config(file(bad), &args).unwrap_err();
            assert!(error.to_string().contains("stop_when_idle"), "{error}");
        }
        assert_eq!(serve_config(FileConfig::default(), &args).unwrap().stop_when_idle, None);
    }

    #[test]
    fn announcements_are_on_unless_the_file_or_the_flag_turns_them_off() {
        let args = ServeArgs { tftp_root: Some("/srv/tftp".into()), ..ServeArgs::default() };
        let file = |announce| FileConfig { announce, ..FileConfig::default() };
        let announce = |file, args: &ServeArgs| serve_config(file, args).unwrap().announce;
        assert!(announce(file(None), &args));
        assert!(!announce(file(Some(false)), &args));
        let off = ServeArgs { no_announce: true, ..args.clone() };
        assert!(!announce(file(None), &off));
        assert!(!announce(file(Some(true)), &off), "the flag wins over the file");
        let on = ServeArgs { announce: true, ..args.clone() };
        assert!(announce(file(Some(false)), &on));
    }

    #[test]
    fn retention_comes_from_the_flags_or_the_file_and_is_never_zero() {
        let args = ServeArgs { tftp_root: Some("/srv/tftp".into()), ..ServeArgs::default() };
        assert_eq!(serve_config(FileConfig::default(), &args).unwrap().retention, Retention::DEFAULT);
        let file = || FileConfig { history_days: Some(30), history_max_rows: Some(1000), ..FileConfig::default() };
        assert_eq!(serve_config(file(), &args).unwrap().retention, Retention { days: 30, max_rows: 1000 });
        let flags = ServeArgs { history_days: Some(7), ..args.clone() };
        assert_eq!(serve_config(file(), &flags).unwrap().retention, Retention { days: 7, max_rows: 1000 });
        let zero = FileConfig { history_days: Some(0), history_max_rows: Some(0), ..FileConfig::default() };
        let error = serve_config(zero, &args).unwrap_err().to_string();
        assert!(error.contains("history_days 0") && error.contains("history_max_rows 0"), "{error}");
    }

    #[test]
    fn without_root_or_range_there_is_nothing_to_serve() {
        let error = serve_config(FileConfig::default(), &ServeArgs::default()).unwrap_err();
        assert_eq!(error.problems.len(), 1);
        assert!(error.problems[0].contains("--tftp-root") && error.problems[0].contains("--dhcp-range"), "{error}");
        let dhcp_only = ServeArgs { dhcp_range: vec!["10.0.0.10,10.0.0.20".into()], ..ServeArgs::default() };
        let config = serve_config(FileConfig::default(), &dhcp_only).unwrap();
        assert!(config.tftp.is_none() && config.dhcp.is_some());
        assert_eq!(config.db, None, "the default place is chosen at start");
    }

    #[test]
    fn the_example_configuration_uses_no_old_spelling() {
        let config = serve_config(example(), &ServeArgs::default()).unwrap();
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }

    #[test]
    fn a_switch_flag_wins_over_the_file_both_ways() {
        let file = || FileConfig {
            tftp: FileTftp {
                root: Some("/srv/tftp".into()),
                single_port: Some(true),
                options: Some(false),
                ..FileTftp::default()
            },
            ..FileConfig::default()
        };
        let config = tftp_config(file(), &ServeArgs::default()).unwrap();
        assert!(config.single_port && !config.limits.options_enabled, "the file alone");
        let args = ServeArgs { no_tftp_single_port: true, tftp_options: true, ..ServeArgs::default() };
        let config = tftp_config(file(), &args).unwrap();
        assert!(!config.single_port && config.limits.options_enabled, "the flags win");
    }

    #[test]
    fn repeatable_flags_replace_the_files_list_aliases_too() {
        let file = FileConfig {
            tftp: FileTftp {
                root: Some("/srv/tftp".into()),
                alias: Some([("a.bin".to_owned(), PathBuf::from("x.bin"))].into()),
                ..FileTftp::default()
            },
            ..FileConfig::default()
        };
        let args = ServeArgs { tftp_alias: vec!["b.bin=y.bin".into()], ..ServeArgs::default() };
        let config = tftp_config(file, &args).unwrap();
        assert_eq!(config.aliases.keys().collect::<Vec<_>>(), ["b.bin"]);
    }

    #[test]
    fn uploads_turn_on_from_the_file_and_a_flag_turns_them_off() {
        let text = "[tftp]\nroot = \"/srv/tftp\"\nupload = true\nupload_dir = \"/srv/up\"\nupload_overwrite = true\n";
        let file = || toml::from_str::<FileConfig>(text).unwrap();
        let config = serve_config(file(), &ServeArgs::default()).unwrap();
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
        let upload = config.tftp.unwrap().upload.expect("uploads on");
        assert_eq!((upload.dir, upload.overwrite), (PathBuf::from("/srv/up"), true));
        let off = ServeArgs { no_tftp_upload: true, ..ServeArgs::default() };
        assert!(tftp_config(file(), &off).unwrap().upload.is_none());
    }

    #[test]
    fn web_max_upload_has_a_flag() {
        let args =
            ServeArgs { tftp_root: Some("/srv/tftp".into()), web_max_upload: Some(1 << 20), ..ServeArgs::default() };
        let file = FileConfig { web: FileWeb { max_upload: Some(5), ..FileWeb::default() }, ..FileConfig::default() };
        assert_eq!(serve_config(file, &args).unwrap().web.unwrap().max_upload, 1 << 20);
    }

    #[test]
    fn old_flags_still_work_and_name_their_new_spelling() {
        let args = ServeArgs {
            tftp_root: Some("/srv/tftp".into()),
            dhcp_range: vec!["10.0.0.10,10.0.0.20".into()],
            old: crate::cli::OldSpellings {
                allow: vec!["10.0.0.0/8".into()],
                enable_upload: true,
                upload_dir: Some("/srv/up".into()),
                tftp_no_options: true,
                max_transfers: Some(9),
                dhcp_host: vec!["52:54:00:00:00:01,10.0.0.5".into()],
                boot: vec!["ipxe=boot.ipxe".into()],
                interface: vec!["lab0".into()],
                bootp_dynamic: true,
                ..crate::cli::OldSpellings::default()
            },
            ..ServeArgs::default()
        };
        let config = serve_config(FileConfig::default(), &args).unwrap();
        let tftp = config.tftp.unwrap();
        assert!(tftp.allow.permits("10.1.2.3".parse().unwrap()) && !tftp.allow.permits("192.168.1.1".parse().unwrap()));
        assert_eq!(tftp.upload.unwrap().dir, PathBuf::from("/srv/up"));
        assert!(!tftp.limits.options_enabled);
        assert_eq!(tftp.max_transfers, 9);
        let dhcp = config.dhcp.unwrap();
        assert_eq!((dhcp.reservations.len(), dhcp.boot_rules.len()), (1, 1));
        assert_eq!(dhcp.interfaces, ["lab0"]);
        assert!(dhcp.bootp_dynamic);
        let said = config.warnings.join("\n");
        for new in [
            "--tftp-allow",
            "--tftp-upload",
            "--tftp-upload-dir",
            "--no-tftp-options",
            "--tftp-max-transfers",
            "--dhcp-reservation",
            "--dhcp-boot-rule",
            "--dhcp-interface",
            "--dhcp-bootp-dynamic",
        ] {
            assert!(said.contains(&format!("spelled {new} now")), "{new} not named:\n{said}");
        }
        assert_eq!(config.warnings.len(), 9, "{said}");
    }

    #[test]
    fn old_keys_still_work_and_name_their_new_spelling() {
        let text = "[tftp]\nroot = \"/srv/tftp\"\nno_options = true\n[tftp.aliases]\n\"a.bin\" = \"x.bin\"\n[tftp.upload]\nenabled = true\ndir = \"/srv/up\"\noverwrite = true\n[dhcp]\nranges = [\"10.0.0.10,10.0.0.20\"]\nhosts = [\"52:54:00:00:00:01,10.0.0.5\"]\nboot_rules = [\"ipxe=boot.ipxe\"]\noptions = [\"option:router,10.0.0.1\"]\ninterfaces = [\"lab0\"]\n";
        let file: FileConfig = toml::from_str(text).unwrap();
        let config = serve_config(file, &ServeArgs::default()).unwrap();
        let tftp = config.tftp.unwrap();
        assert!(!tftp.limits.options_enabled);
        assert!(tftp.aliases.contains_key("a.bin"));
        let upload = tftp.upload.unwrap();
        assert_eq!((upload.dir, upload.overwrite), (PathBuf::from("/srv/up"), true));
        let dhcp = config.dhcp.unwrap();
        assert_eq!((dhcp.reservations.len(), dhcp.boot_rules.len(), dhcp.extra_options.len()), (1, 1, 1));
        assert_eq!(dhcp.interfaces, ["lab0"]);
        let said = config.warnings.join("\n");
        for new in [
            "tftp.options = false",
            "tftp.alias",
            "tftp.upload_dir",
            "tftp.upload_overwrite",
            "dhcp.range",
            "dhcp.reservation",
            "dhcp.boot_rule",
            "dhcp.option",
            "dhcp.interface",
        ] {
            assert!(said.contains(&format!("spelled {new}")), "{new} not named:\n{said}");
        }
    }

    #[test]
    fn a_problem_with_an_old_spelling_comes_with_its_note() {
        let args = ServeArgs {
            tftp_root: Some("/srv/tftp".into()),
            old: crate::cli::OldSpellings { allow: vec!["10.0.0.0/33".into()], ..crate::cli::OldSpellings::default() },
            ..ServeArgs::default()
        };
        let text = serve_config(FileConfig::default(), &args).unwrap_err().to_string();
        assert!(
            text.contains("--tftp-allow \"10.0.0.0/33\"") && text.contains("note: --allow is spelled --tftp-allow"),
            "{text}"
        );
    }

    #[test]
    fn authoritative_still_skips_the_probe_for_this_release_and_says_so() {
        let dhcp = |extra: fn(&mut ServeArgs)| {
            let mut args = ServeArgs { dhcp_range: vec!["10.0.0.10,10.0.0.20".into()], ..ServeArgs::default() };
            extra(&mut args);
            serve_config(FileConfig::default(), &args).unwrap()
        };
        let plain = dhcp(|_| {});
        let d = plain.dhcp.as_ref().unwrap();
        assert!(!d.authoritative && !d.skip_probe && plain.warnings.is_empty());
        let warned = dhcp(|a| a.dhcp_authoritative = true);
        let d = warned.dhcp.as_ref().unwrap();
        assert!(d.authoritative && d.skip_probe, "the old meaning, for one more release");
        assert_eq!(warned.warnings.len(), 1);
        assert!(warned.warnings[0].contains("--dhcp-skip-probe"), "{:?}", warned.warnings);
        let skipping = dhcp(|a| (a.dhcp_authoritative, a.dhcp_skip_probe) = (true, true));
        let checking = dhcp(|a| (a.dhcp_authoritative, a.no_dhcp_skip_probe) = (true, true));
        assert!(skipping.dhcp.as_ref().unwrap().skip_probe && !checking.dhcp.as_ref().unwrap().skip_probe);
        for settled in [skipping, checking] {
            assert!(settled.warnings.is_empty(), "{:?}", settled.warnings);
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("[tftp]\nroot = \"/x\"\nblocksize = 3\n").is_err());
    }

    #[test]
    fn addresses_take_a_default_port() {
        assert_eq!(parse_socket_addr("10.0.0.1", 69).unwrap(), "10.0.0.1:69".parse().unwrap());
        assert_eq!(parse_socket_addr("10.0.0.1:6969", 69).unwrap(), "10.0.0.1:6969".parse().unwrap());
        assert_eq!(parse_socket_addr("fe80::1", 69).unwrap(), "[fe80::1]:69".parse().unwrap());
        assert_eq!(parse_socket_addr("[::1]", 69).unwrap(), "[::1]:69".parse().unwrap());
        assert!(parse_socket_addr("router.lan", 69).is_err());
    }
}
