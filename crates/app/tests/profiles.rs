//! The device profiles shipped in `config/profiles`: each loads (complete, with its sources),
//! the families the recovery assistant promises are there, and the README's table of profiles
//! lists every one of them.

use std::path::PathBuf;

use lifeboat_app::{RecoveryMode, load_profiles};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_profile_loads_with_its_sources_and_the_promised_families_are_there() {
    let profiles = load_profiles(&workspace_root().join("config/profiles")).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
    for family in ["asus", "linksys", "mikrotik", "netgear", "tplink", "ubiquiti", "uboot", "xiaomi"] {
        assert!(names.contains(&family), "no {family} profile among {names:?}");
    }
    for profile in &profiles {
        match profile.mode {
            RecoveryMode::Pull | RecoveryMode::Bootp => {
                assert!(!profile.server_addresses.is_empty(), "{}: no server address", profile.name);
            }
            RecoveryMode::Push => {
                assert!(
                    profile.device_address.is_some(),
                    "{}: a push profile names the device's address",
                    profile.name
                );
            }
        }
    }
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    for name in names {
        assert!(readme.contains(&format!("`{name}`")), "the README's table of profiles lacks `{name}`");
    }
}
