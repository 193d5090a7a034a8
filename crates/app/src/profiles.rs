//! Device profiles: what a family of devices does in recovery mode, as data in
//! `config/profiles/*.toml` (one file each), never as code: whether the device fetches from us
//! (`pull`), runs a TFTP server we upload to (`push`) or asks BOOTP/DHCP first (`bootp`), the
//! addresses and file names involved, quirks, what the person must do, and the public sources
//! the facts come from.
//!
//! **Invariant:** a profile that loads is complete: a known mode, steps to follow, dotted IPv4
//! addresses, and at least one source with an https address.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// How the device takes its image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecoveryMode {
    /// The device is the TFTP client: it fetches from a server at a fixed address.
    Pull,
    /// The device runs a TFTP server for a while: the image is uploaded to it.
    Push,
    /// The device asks BOOTP or DHCP for an address and a file name, then fetches.
    Bootp,
}

/// A public page a fact comes from.
impl std::fmt::Display for RecoveryMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecoveryMode::Pull => "pull",
            RecoveryMode::Push => "push",
            RecoveryMode::Bootp => "bootp",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub title: String,
    pub url: String,
}

/// One device family's recovery.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The file's stem (`tplink`).
    pub name: String,
    pub family: String,
    pub mode: RecoveryMode,
    /// The addresses this machine must have (pull, bootp), the most common first.
    #[serde(default)]
    pub server_addresses: Vec<Ipv4Addr>,
    #[serde(default)]
    pub prefix: Option<u8>,
    /// The device's own address during recovery, where it is documented.
    #[serde(default)]
    pub device_address: Option<Ipv4Addr>,
    /// The names the device asks for (pull) or the name to upload (push); may hold `{model}`.
    #[serde(default)]
    pub filenames: Vec<String>,
    #[serde(default)]
    pub image_kind: Option<String>,
    #[serde(default)]
    pub image_max_bytes: Option<u64>,
    /// The largest TFTP block size the device takes, where it is limited.
    #[serde(default)]
    pub blksize_max: Option<u16>,
    /// `false`: the device breaks on option negotiation (send none).
    #[serde(default)]
    pub tftp_options: Option<bool>,
    /// What the person does, in order.
    pub steps: Vec<String>,
    /// The steps (counted from 1) that lifeboat does itself: the address, the file name, the
    /// server, the upload.
    #[serde(default)]
    pub lifeboat_does: Vec<usize>,
    #[serde(default)]
    pub notes: Vec<String>,
    pub sources: Vec<Source>,
}

/// Why a profile did not load.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("no profile {name:?}: choose one of {}", known.join(", "))]
    Unknown { name: String, known: Vec<String> },
}

impl Profile {
    /// The profile in `text`, read from `path` (whose stem must be its name).
    pub fn parse(path: &Path, text: &str) -> Result<Profile, ProfileError> {
        let invalid = |message: String| ProfileError::Invalid { path: path.to_owned(), message };
        let profile: Profile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        if profile.name != stem {
            return Err(invalid(format!("name = {:?}, but the file is {stem}.toml", profile.name)));
        }
        if profile.steps.len() < 2 || profile.steps.iter().any(|s| s.trim().is_empty()) {
            return Err(invalid("steps: say what the person does, at least two steps".into()));
        }
        if profile.lifeboat_does.iter().any(|n| !(1..=profile.steps.len()).contains(n)) {
            return Err(invalid(format!("lifeboat_does: step numbers from 1 to {}", profile.steps.len())));
        }
        if profile.sources.is_empty()
            || profile.sources.iter().any(|s| !s.url.starts_with("https://") || s.title.trim().is_empty())
        {
            return Err(invalid("sources: at least one, each with a title and an https address".into()));
        }
        if profile.mode != RecoveryMode::Push && profile.server_addresses.is_empty() {
            return Err(invalid(
                "server_addresses: a pull or bootp profile names the address the device looks for".into(),
            ));
        }
        if profile.prefix.is_some_and(|p| !(8..=30).contains(&p)) {
            return Err(invalid("prefix: between 8 and 30".into()));
        }
        Ok(profile)
    }
}

/// Every profile in `dir` (`*.toml`), sorted by name.
/// The profiles of `config/profiles`, built into the binary (a test checks the list is the
/// folder's).
const BUILT_IN: [(&str, &str); 8] = [
    ("asus", include_str!("../../../config/profiles/asus.toml")),
    ("linksys", include_str!("../../../config/profiles/linksys.toml")),
    ("mikrotik", include_str!("../../../config/profiles/mikrotik.toml")),
    ("netgear", include_str!("../../../config/profiles/netgear.toml")),
    ("tplink", include_str!("../../../config/profiles/tplink.toml")),
    ("ubiquiti", include_str!("../../../config/profiles/ubiquiti.toml")),
    ("uboot", include_str!("../../../config/profiles/uboot.toml")),
    ("xiaomi", include_str!("../../../config/profiles/xiaomi.toml")),
];

/// Every built-in profile, by name.
pub fn built_in_profiles() -> Vec<Profile> {
    BUILT_IN
        .iter()
        // The test below loads each one: a broken profile fails the build's tests, not a user.
        .filter_map(|(name, text)| Profile::parse(Path::new(&format!("{name}.toml")), text).ok())
        .collect()
}

/// The profile `name`: from the folder `dir` when given, else built in.
pub fn profile_named(name: &str, dir: Option<&Path>) -> Result<Profile, ProfileError> {
    let profiles = match dir {
        Some(dir) => load_profiles(dir)?,
        None => built_in_profiles(),
    };
    let known: Vec<String> = profiles.iter().map(|p| p.name.clone()).collect();
    profiles.into_iter().find(|p| p.name == name).ok_or_else(|| ProfileError::Unknown { name: name.to_owned(), known })
}

impl Profile {
    /// For a push: the device's network, and the address this host takes there when it has
    /// none: the profile's server address, else the tenth of the network (the eleventh when the
    /// device is the tenth). `None` without a device address.
    pub fn push_source(&self) -> Option<(ipnet::Ipv4Net, Ipv4Addr)> {
        let device = self.device_address?;
        let network = ipnet::Ipv4Net::new(device, self.prefix.unwrap_or(24)).ok()?.trunc();
        let address = self.server_addresses.first().copied().unwrap_or_else(|| {
            let nth = |n: u32| Ipv4Addr::from(u32::from(network.network()) + n);
            if nth(10) == device { nth(11) } else { nth(10) }
        });
        Some((network, address))
    }

    /// The steps as the person reads them for `image_name`: the placeholders filled in, and
    /// whether lifeboat does the step itself.
    pub fn steps_for(&self, image_name: &str) -> Vec<(String, bool)> {
        let server = self.server_addresses.first().map_or_else(|| "SERVER".to_owned(), ToString::to_string);
        let device = self.device_address.map_or_else(|| "DEVICE".to_owned(), |d| d.to_string());
        self.steps
            .iter()
            .enumerate()
            .map(|(n, step)| {
                let text = step
                    .replace("{server_address}", &server)
                    .replace("{device_address}", &device)
                    .replace("{filename}", image_name);
                (text, self.lifeboat_does.contains(&(n + 1)))
            })
            .collect()
    }
}

pub fn load_profiles(dir: &Path) -> Result<Vec<Profile>, ProfileError> {
    let read = |path: &Path, source| ProfileError::Read { path: path.to_owned(), source };
    let mut profiles = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| read(dir, e))? {
        let path = entry.map_err(|e| read(dir, e))?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).map_err(|e| read(&path, e))?;
            profiles.push(Profile::parse(&path, &text)?);
        }
    }
    profiles.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(profiles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_takes_the_tenth_address_of_the_device_network_unless_it_is_the_device() {
        let netgear = profile_named("netgear", None).unwrap();
        let (network, address) = netgear.push_source().unwrap();
        assert_eq!((network.to_string(), address), ("192.168.1.0/24".to_owned(), Ipv4Addr::new(192, 168, 1, 10)));
        let tenth = Profile { device_address: Some(Ipv4Addr::new(10, 0, 0, 10)), ..netgear };
        assert_eq!(tenth.push_source().unwrap().1, Ipv4Addr::new(10, 0, 0, 11));
    }

    #[test]
    fn every_profile_of_the_folder_is_built_in_and_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/profiles");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.unwrap().path().file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect();
        on_disk.sort();
        let built_in: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
        assert_eq!(on_disk, built_in);
        for (name, text) in BUILT_IN {
            Profile::parse(Path::new(&format!("{name}.toml")), text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert_eq!(built_in_profiles().len(), BUILT_IN.len());
        assert_eq!(profile_named("tplink", None).unwrap().name, "tplink");
        assert!(profile_named("nokia", None).unwrap_err().to_string().contains("choose one of asus, linksys"));
    }

    const GOOD: &str = r#"
name = "example"
family = "Example routers"
mode = "pull"
server_addresses = ["192.168.0.66"]
prefix = 24
filenames = ["tp_recovery.bin"]
steps = ["Connect the router's LAN port.", "Hold reset while powering on."]
[[sources]]
title = "A page"
url = "https://example.org/page"
"#;

    #[test]
    fn a_complete_profile_loads() {
        let profile = Profile::parse(Path::new("profiles/example.toml"), GOOD).unwrap();
        assert_eq!(profile.mode, RecoveryMode::Pull);
        assert_eq!(profile.server_addresses, [Ipv4Addr::new(192, 168, 0, 66)]);
    }

    #[test]
    fn an_incomplete_or_unsourced_profile_is_refused_with_the_reason() {
        let path = Path::new("example.toml");
        let refused = |text: &str| Profile::parse(path, text).unwrap_err().to_string();
        assert!(refused(&GOOD.replace("https://", "http://")).contains("https"));
        assert!(refused(&GOOD.replace("mode = \"pull\"", "mode = \"pray\"")).contains("mode"));
        assert!(refused(&GOOD.replace("192.168.0.66", "192.168.0.666")).contains("server_addresses"));
        assert!(refused(&GOOD.replace("\"Hold reset while powering on.\"", "")).contains("steps"));
        assert!(refused(&GOOD.replace("server_addresses = [\"192.168.0.66\"]", "")).contains("server_addresses"));
        assert!(refused(&GOOD.replace("prefix = 24", "prefix = 24\nguess = true")).contains("guess"));
        let renamed = Profile::parse(Path::new("other.toml"), GOOD).unwrap_err().to_string();
        assert!(renamed.contains("other.toml"), "{renamed}");
    }
}
