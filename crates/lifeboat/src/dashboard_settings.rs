//! The settings saved from the dashboard: a document of the configuration file's shape, stored
//! in the database, laid over the configuration file and under the command line and the
//! environment. This module is the application's [`Configurator`]: it turns a stored document
//! into the services' configurations, with the command line's own rules and messages.
//!
//! Precedence, key by key: a flag (or its environment variable) wins and locks its key; then the
//! dashboard's document; then the file; then the defaults. Tables merge key by key; a list or a
//! value replaces the one below it.

use lifeboat_app::{Configurator, Configured, Lock, SettingsProblem};
use toml::{Table, Value};

use crate::cli::ServeArgs;
use crate::settings::{self, FileConfig};

/// The layers under the dashboard's document, fixed at start.
#[derive(Debug)]
pub(crate) struct Layers {
    /// The configuration file as written (empty without one).
    pub(crate) file: Table,
    /// The command line with the environment's flags.
    pub(crate) args: ServeArgs,
    /// The keys the command line and the environment set.
    pub(crate) locks: Vec<Lock>,
}

impl Configurator for Layers {
    fn configure(&self, stored: &str) -> Result<Configured, Vec<SettingsProblem>> {
        let stored = parse(stored)?;
        refuse_not_live(&stored)?;
        self.refuse_locked(&stored)?;
        let merged = merge(self.file.clone(), stored.clone());
        let file: FileConfig = Value::Table(merged.clone()).try_into().map_err(|e| vec![unreadable(&e)])?;
        let config = settings::serve_config(file, &self.args).map_err(|errors| {
            errors
                .problems
                .into_iter()
                .map(|message| SettingsProblem { key: key_named_in(&message), message })
                .collect::<Vec<_>>()
        })?;
        Ok(Configured {
            tftp: config.tftp,
            dhcp: config.dhcp,
            http: config.http,
            stored: to_json(&stored),
            effective: to_json(&merged),
            effective_toml: toml::to_string_pretty(&merged).unwrap_or_default(),
        })
    }

    fn document_of_json(&self, json: &serde_json::Value) -> Result<String, Vec<SettingsProblem>> {
        let table: Table = serde_json::from_value(without_nulls(json.clone())).map_err(|e| {
            vec![SettingsProblem {
                key: None,
                message: format!("the settings are not a document of the configuration file's shape: {e}"),
            }]
        })?;
        // Checked here too, so that a document that cannot be read is never stored.
        let _: FileConfig = Value::Table(table.clone()).try_into().map_err(|e| vec![unreadable(&e)])?;
        toml::to_string_pretty(&table).map_err(|e| vec![SettingsProblem { key: None, message: e.to_string() }])
    }

    fn document_of_import(&self, text: &str) -> Result<String, Vec<SettingsProblem>> {
        let imported = without_values_of(parse(text)?, &self.file);
        toml::to_string_pretty(&imported).map_err(|e| vec![SettingsProblem { key: None, message: e.to_string() }])
    }

    fn locks(&self) -> Vec<Lock> {
        self.locks.clone()
    }
}

/// `upper` without the values `lower` has the same: what is left is what `upper` changes.
fn without_values_of(upper: Table, lower: &Table) -> Table {
    let mut left = Table::new();
    for (key, value) in upper {
        match (lower.get(&key), value) {
            (Some(Value::Table(below)), Value::Table(above)) => {
                let changed = without_values_of(above, below);
                if !changed.is_empty() {
                    left.insert(key, Value::Table(changed));
                }
            }
            (Some(below), value) if *below == value => {}
            (_, value) => {
                left.insert(key, value);
            }
        }
    }
    left
}

impl Layers {
    /// A key the command line or the environment set cannot be changed from the dashboard:
    /// saying so beats storing a value that would never apply.
    fn refuse_locked(&self, stored: &Table) -> Result<(), Vec<SettingsProblem>> {
        let problems: Vec<SettingsProblem> = self
            .locks
            .iter()
            .filter(|lock| lookup(stored, &lock.key).is_some())
            .map(|lock| SettingsProblem {
                key: Some(lock.key.clone()),
                message: format!("{} is set by {}, which wins over the dashboard; change it there", lock.key, lock.by),
            })
            .collect();
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }
}

/// The keys the dashboard's settings cannot change while lifeboat runs: the database, the
/// instance name, the dashboard itself, the idle stop, the announcements and the history's
/// limits are read once at start. Refused, rather than stored and ignored.
const NOT_LIVE: [&str; 7] = ["db", "instance", "web", "stop_when_idle", "announce", "history_days", "history_max_rows"];

fn refuse_not_live(stored: &Table) -> Result<(), Vec<SettingsProblem>> {
    let problems: Vec<SettingsProblem> = NOT_LIVE
        .iter()
        .filter(|key| stored.contains_key(**key))
        .map(|key| SettingsProblem {
            key: Some((*key).to_owned()),
            message: format!(
                "{key} is read once at start: set it on the command line, in the environment or in the configuration file"
            ),
        })
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

fn parse(text: &str) -> Result<Table, Vec<SettingsProblem>> {
    text.parse::<Table>()
        .map_err(|e| vec![SettingsProblem { key: None, message: format!("the settings are not valid TOML: {e}") }])
}

fn unreadable(error: &impl std::fmt::Display) -> SettingsProblem {
    SettingsProblem { key: None, message: format!("the settings do not fit the configuration file's shape: {error}") }
}

/// `upper` laid over `lower`: tables merge key by key, anything else replaces.
pub(crate) fn merge(mut lower: Table, upper: Table) -> Table {
    for (key, value) in upper {
        match (lower.get_mut(&key), value) {
            (Some(Value::Table(below)), Value::Table(above)) => {
                let merged = merge(std::mem::take(below), above);
                *below = merged;
            }
            (_, value) => {
                lower.insert(key, value);
            }
        }
    }
    lower
}

/// The value at a dotted `key` (`dhcp.range`).
fn lookup<'a>(table: &'a Table, key: &str) -> Option<&'a Value> {
    let (section, name) = key.split_once('.').map_or((None, key), |(s, n)| (Some(s), n));
    match section {
        Some(section) => table.get(section)?.as_table()?.get(name),
        None => table.get(name),
    }
}

/// The key a message names first: a flag (`--dhcp-range "x": ...` is `dhcp.range`) or a key of
/// the file (`dhcp.range "x": ...`, `stop_when_idle "x": ...`).
fn key_named_in(message: &str) -> Option<String> {
    let first = message.split([' ', ':']).next()?;
    if let Some(flag) = first.strip_prefix("--") {
        return Some(key_of_flag(flag));
    }
    let sectioned = ["tftp.", "dhcp.", "web."].iter().any(|section| first.starts_with(section));
    let top_level = ["db", "instance", "stop_when_idle", "history_days", "history_max_rows"].contains(&first);
    (sectioned || top_level).then(|| first.to_owned())
}

/// The configuration key of the flag `--long` (without its dashes): `dhcp-range` is
/// `dhcp.range`, `no-web` is `web.enabled`, `db` is `db`.
pub(crate) fn key_of_flag(long: &str) -> String {
    let long = long.strip_prefix("no-").unwrap_or(long);
    if matches!(long, "tftp" | "dhcp" | "web" | "http-boot") {
        return format!("{}.enabled", long.replace('-', "_"));
    }
    for section in ["http-boot", "tftp", "dhcp", "web"] {
        if let Some(name) = long.strip_prefix(section).and_then(|rest| rest.strip_prefix('-')) {
            return format!("{}.{}", section.replace('-', "_"), name.replace('-', "_"));
        }
    }
    long.replace('-', "_")
}

fn to_json(table: &Table) -> serde_json::Value {
    serde_json::to_value(table).unwrap_or_default()
}

/// JSON's `null` has no TOML twin: a key set to null is left out (back to the layers below).
fn without_nulls(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, without_nulls(v))).collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(file: &str, args: ServeArgs, locks: Vec<Lock>) -> Layers {
        Layers { file: file.parse().unwrap(), args, locks }
    }

    const FILE: &str = "[tftp]\nroot = \"/srv/tftp\"\nsingle_port = true\n";

    #[test]
    fn flags_win_over_the_dashboard_which_wins_over_the_file() {
        let args = ServeArgs { tftp_max_blksize: Some(1024), ..ServeArgs::default() };
        let layers = layers(FILE, args, vec![]);
        let stored = "[tftp]\nsingle_port = false\nmax_blksize = 512\n[dhcp]\nrange = [\"10.0.0.100,10.0.0.200\"]\n";
        let configured = layers.configure(stored).unwrap();
        let tftp = configured.tftp.unwrap();
        assert!(!tftp.single_port, "the dashboard's single_port = false beats the file's true");
        assert_eq!(tftp.root, std::path::PathBuf::from("/srv/tftp"), "the file's root stays");
        assert_eq!(configured.dhcp.unwrap().ranges.len(), 1);
        assert_eq!(configured.effective["tftp"]["root"], "/srv/tftp");
        assert_eq!(configured.stored["tftp"]["max_blksize"], 512);
        // Without the dashboard's document: the file alone.
        assert!(layers.configure("").unwrap().tftp.unwrap().single_port);
    }

    #[test]
    fn an_export_with_the_files_start_time_keys_imports_again() {
        let file = "db = \"/data/lifeboat.db\"\n[tftp]\nroot = \"/srv/tftp\"\n[web]\nlisten = \"0.0.0.0:8080\"\n";
        let layers = layers(file, ServeArgs::default(), vec![]);
        let stored = layers.document_of_json(&serde_json::json!({"tftp": {"single_port": true}})).unwrap();
        let exported = layers.configure(&stored).unwrap().effective_toml;
        assert!(exported.contains("[web]") && exported.contains("single_port"), "{exported}");
        let imported = layers.document_of_import(&exported).unwrap();
        assert_eq!(imported.parse::<Table>().unwrap(), stored.parse::<Table>().unwrap(), "only the change is stored");
        assert!(layers.configure(&imported).unwrap().tftp.unwrap().single_port);
    }

    #[test]
    fn keys_read_only_at_start_are_refused_rather_than_ignored() {
        let layers = layers(FILE, ServeArgs::default(), vec![]);
        for document in [
            "db = \"/tmp/x.db\"\n",
            "[web]\nlisten = \"0.0.0.0:9000\"\n",
            "stop_when_idle = \"5m\"\n",
            "announce = false\n",
        ] {
            let problems = layers.configure(document).unwrap_err();
            assert!(problems[0].message.contains("read once at start"), "{document}: {problems:?}");
        }
    }

    #[test]
    fn a_locked_key_is_refused_by_name() {
        let lock = Lock { key: "dhcp.range".into(), by: "LIFEBOAT_DHCP_RANGE".into() };
        let layers = layers(FILE, ServeArgs::default(), vec![lock]);
        let problems = layers.configure("[dhcp]\nrange = [\"10.0.0.100,10.0.0.200\"]\n").unwrap_err();
        assert_eq!(problems[0].key.as_deref(), Some("dhcp.range"));
        assert!(problems[0].message.contains("LIFEBOAT_DHCP_RANGE"), "{problems:?}");
    }

    #[test]
    fn invalid_values_give_the_command_lines_messages_with_their_key() {
        let layers = layers(FILE, ServeArgs::default(), vec![]);
        let problems = layers.configure("[dhcp]\nrange = [\"nonsense\"]\n").unwrap_err();
        assert_eq!(problems[0].key.as_deref(), Some("dhcp.range"), "{problems:?}");
        assert!(problems[0].message.contains("expected START,END"), "{problems:?}");
        let unknown = layers.document_of_json(&serde_json::json!({"tftp": {"no_such_key": 1}})).unwrap_err();
        assert!(unknown[0].message.contains("no_such_key"), "{unknown:?}");
    }

    #[test]
    fn json_round_trips_to_the_stored_toml_and_null_means_unset() {
        let layers = layers(FILE, ServeArgs::default(), vec![]);
        let json = serde_json::json!({"dhcp": {"range": ["10.0.0.100,10.0.0.200"], "boot": null}});
        let text = layers.document_of_json(&json).unwrap();
        assert_eq!(text.parse::<Table>().unwrap()["dhcp"]["range"][0].as_str(), Some("10.0.0.100,10.0.0.200"));
        assert!(!text.contains("boot"));
        let exported = layers.configure(&text).unwrap().effective_toml;
        let reimported = layers.configure(&layers.document_of_import(&exported).unwrap()).unwrap();
        assert_eq!(
            reimported.effective,
            layers.configure(&text).unwrap().effective,
            "export → import keeps everything"
        );
    }

    #[test]
    fn flags_name_their_keys() {
        assert_eq!(key_of_flag("dhcp-range"), "dhcp.range");
        assert_eq!(key_of_flag("tftp-max-blksize"), "tftp.max_blksize");
        assert_eq!(key_of_flag("no-web"), "web.enabled");
        assert_eq!(key_of_flag("no-dhcp-skip-probe"), "dhcp.skip_probe");
        assert_eq!(key_of_flag("stop-when-idle"), "stop_when_idle");
        assert_eq!(key_of_flag("no-http-boot"), "http_boot.enabled");
        assert_eq!(key_of_flag("http-boot-listen"), "http_boot.listen");
    }

    #[test]
    fn every_field_of_the_settings_page_is_a_key_the_configuration_takes() {
        let document = serde_json::json!({
            "tftp": {
                "root": "/srv/images", "alias": {"tp_recovery.bin": "openwrt.bin"}, "listen": ["10.0.0.1:69"],
                "allow": ["10.0.0.0/8"], "max_blksize": 8192, "max_windowsize": 16, "options": false,
                "single_port": true, "max_transfers": 32, "max_transfers_per_client": 2, "upload": true,
                "upload_dir": "/srv/up", "upload_max_size": 1048576, "upload_overwrite": true,
            },
            "dhcp": {
                "range": ["10.0.0.100,10.0.0.200"], "interface": ["eth1"], "reservation": ["02:00:00:00:00:01,10.0.0.10,sw"],
                "boot_rule": ["efi-x64=snponly.efi"], "option": ["option:router,10.0.0.1"], "bootp_dynamic": true,
                "relay_allow": ["10.8.0.0/16"], "skip_probe": true, "authoritative": true,
            },
            "http_boot": { "enabled": true, "listen": ["10.0.0.1:4080"] },
        });
        let mut set: Vec<String> = ["tftp", "dhcp", "http_boot"]
            .iter()
            .flat_map(|table| document[table].as_object().unwrap().keys().map(move |k| format!("{table}.{k}")))
            .collect();
        let mut offered: Vec<String> = lifeboat_web::settings_page_keys().collect();
        set.sort();
        offered.sort();
        assert_eq!(set, offered, "this test sets every key the page offers");
        let layers = layers(FILE, ServeArgs::default(), vec![]);
        let configured = layers.configure(&layers.document_of_json(&document).unwrap()).unwrap();
        let tftp = configured.tftp.unwrap();
        assert_eq!((tftp.max_transfers, tftp.single_port, tftp.aliases.len()), (32, true, 1));
        assert!(tftp.upload.is_some_and(|upload| upload.overwrite));
        let dhcp = configured.dhcp.unwrap();
        assert!(dhcp.authoritative);
        assert_eq!(configured.http.unwrap().listen, ["10.0.0.1:4080".parse().unwrap()]);
        assert_eq!(dhcp.http_boot.map(|h| h.port), Some(4080), "DHCP points iPXE to the HTTP boot server");
        let refused = layers.configure("[tftp]\nmax_blksize = 4\n").unwrap_err();
        assert_eq!(refused[0].key.as_deref(), Some("tftp.max_blksize"), "{refused:?}");
    }
}
