//! Checking what a person typed for a host mapping, field by field, with messages that say what
//! is wrong and how to write it instead.
//!
//! **Invariant:** a [`HostEntry`] built here has a MAC in the store's form (lowercase,
//! colon-separated), an IPv4 address or none, an image that exists as a file under the TFTP
//! root (or none), names in the TFTP server's normalized form, without duplicates, and a boot
//! profile name of the right form (whether it exists is the store's to say).

use std::net::Ipv4Addr;
use std::path::Path;

use lifeboat_dhcp::config::Mac;
use lifeboat_store::HostEntry;

use crate::error::FieldError;
use crate::images;

/// The most names one host may list.
const MAX_NAMES: usize = 32;
/// The longest host name.
const MAX_HOST_NAME: usize = 63;
/// The longest notes.
const MAX_NOTES: usize = 4000;

/// A host as typed into the form or sent to the API, before it is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HostInput {
    pub(crate) mac: String,
    pub(crate) name: String,
    pub(crate) address: String,
    pub(crate) image: String,
    pub(crate) names: Vec<String>,
    pub(crate) boot_profile: String,
    pub(crate) notes: String,
}

impl HostInput {
    /// The input that shows `entry` in the edit form.
    pub(crate) fn from_entry(entry: &HostEntry) -> HostInput {
        HostInput {
            mac: entry.mac.clone(),
            name: entry.name.clone().unwrap_or_default(),
            address: entry.address.map(|a| a.to_string()).unwrap_or_default(),
            image: entry.image.clone().unwrap_or_default(),
            names: entry.names.clone(),
            boot_profile: entry.boot_profile.clone().unwrap_or_default(),
            notes: entry.notes.clone(),
        }
    }
}

/// Split the names text area: one name per line, or separated by commas.
pub(crate) fn split_names(text: &str) -> Vec<String> {
    text.split(['\n', ',']).map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect()
}

/// Check every field of `input`; `root` is the TFTP root, if one is configured.
/// Where a host's image must be found for the host to be saved.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ImageCheck<'a> {
    /// In this lifeboat's TFTP root (`None`: it has none, so no image can be assigned).
    Root(Option<&'a Path>),
    /// On whichever lifeboat of the fleet serves the host, which may be another one: the name
    /// is checked, the file is not.
    Fleet,
}

pub(crate) fn validate(input: &HostInput, images: ImageCheck<'_>) -> Result<HostEntry, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut fail = |field: &'static str, message: String| errors.push(FieldError { field: field.into(), message });

    let mac = input.mac.trim();
    let mac = if mac.is_empty() {
        fail("mac", "the MAC address is missing: write it like 3c:84:6a:12:34:56".into());
        String::new()
    } else {
        match mac.parse::<Mac>() {
            Ok(mac) => mac.to_string(),
            Err(_) => {
                fail(
                    "mac",
                    format!("{mac:?} is not a MAC address: write six pairs of hex digits, like 3c:84:6a:12:34:56"),
                );
                String::new()
            }
        }
    };

    let name = input.name.trim();
    if name.len() > MAX_HOST_NAME {
        fail("name", format!("the name is longer than {MAX_HOST_NAME} characters"));
    } else if name.chars().any(|c| c.is_control()) {
        fail("name", "the name contains control characters".into());
    }

    let address = input.address.trim();
    let address = if address.is_empty() {
        None
    } else {
        match address.parse::<Ipv4Addr>() {
            Ok(ip) if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() => {
                fail("address", format!("{ip} cannot be given to a device: choose a unicast address"));
                None
            }
            Ok(ip) => Some(ip),
            Err(_) => {
                fail("address", format!("{address:?} is not an IPv4 address: write it like 192.168.1.50"));
                None
            }
        }
    };

    let image = input.image.trim();
    let image = if image.is_empty() {
        None
    } else {
        match (images::normalize_name(image), images) {
            (Err(why), _) => {
                fail("image", why);
                None
            }
            (Ok(file), ImageCheck::Fleet) => Some(file),
            (Ok(_), ImageCheck::Root(None)) => {
                fail(
                    "image",
                    "no TFTP root is configured, so no image can be assigned: start lifeboat with --tftp-root DIR"
                        .into(),
                );
                None
            }
            (Ok(file), ImageCheck::Root(Some(root))) => match images::existing(root, &file) {
                Ok(_) => Some(file),
                Err(_) => {
                    fail(
                        "image",
                        format!("there is no file {file:?} in the TFTP root: upload it on the Images page first"),
                    );
                    None
                }
            },
        }
    };

    let mut names: Vec<String> = Vec::new();
    if input.names.len() > MAX_NAMES {
        fail("names", format!("at most {MAX_NAMES} names per host"));
    }
    for raw in input.names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        match images::normalize_name(raw) {
            Ok(name) if !names.contains(&name) => names.push(name),
            Ok(_) => {}
            Err(why) => fail("names", why),
        }
    }

    let boot_profile = input.boot_profile.trim();
    if !boot_profile.is_empty()
        && let Err(why) = crate::boot_profile_input::check_name(boot_profile)
    {
        fail("boot_profile", why);
    }

    if input.notes.len() > MAX_NOTES {
        fail("notes", format!("the notes are longer than {MAX_NOTES} characters"));
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(HostEntry {
        mac,
        name: (!name.is_empty()).then(|| name.to_owned()),
        address,
        image,
        names,
        boot_profile: (!boot_profile.is_empty()).then(|| boot_profile.to_owned()),
        notes: input.notes.trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(mac: &str) -> HostInput {
        HostInput { mac: mac.into(), ..HostInput::default() }
    }

    fn fields(result: Result<HostEntry, Vec<FieldError>>) -> Vec<String> {
        result.unwrap_err().into_iter().map(|e| e.field.into_owned()).collect()
    }

    #[test]
    fn mac_is_normalized_to_lowercase_colons() {
        let entry = validate(&input(" 3C-84-6A-12-34-56 "), ImageCheck::Root(None)).unwrap();
        assert_eq!(entry.mac, "3c:84:6a:12:34:56");
        assert_eq!(entry.name, None);
        assert_eq!(entry.image, None);
    }

    #[test]
    fn bad_macs_say_how_to_write_one() {
        for bad in ["", "3c:84:6a:12:34", "3c:84:6a:12:34:56:78", "zz:84:6a:12:34:56", "3c846a123456", "<script>"] {
            let errors = validate(&input(bad), ImageCheck::Root(None)).unwrap_err();
            assert_eq!(errors[0].field, "mac", "{bad}");
            assert!(errors[0].message.contains("3c:84:6a:12:34:56"), "{}", errors[0].message);
        }
    }

    #[test]
    fn every_wrong_field_is_reported_at_once() {
        let bad = HostInput {
            mac: "nope".into(),
            name: "x".repeat(100),
            address: "300.1.1.1".into(),
            image: "../etc/passwd".into(),
            names: vec!["ok.bin".into(), "../../x".into()],
            boot_profile: "no spaces please".into(),
            notes: String::new(),
        };
        assert_eq!(
            fields(validate(&bad, ImageCheck::Root(None))),
            ["mac", "name", "address", "image", "names", "boot_profile"]
        );
    }

    #[test]
    fn image_must_exist_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("openwrt.bin"), b"x").unwrap();
        let mut host = input("3c:84:6a:12:34:56");
        host.image = "/openwrt.bin".into();
        assert_eq!(validate(&host, ImageCheck::Root(Some(dir.path()))).unwrap().image.as_deref(), Some("openwrt.bin"));
        host.image = "missing.bin".into();
        let errors = validate(&host, ImageCheck::Root(Some(dir.path()))).unwrap_err();
        assert!(errors[0].message.contains("no file \"missing.bin\""), "{}", errors[0].message);
        host.image = "openwrt.bin".into();
        assert_eq!(fields(validate(&host, ImageCheck::Root(None))), ["image"]);
        // In a fleet the file is on the instance serving the host: only its name is checked.
        host.image = "missing.bin".into();
        assert_eq!(validate(&host, ImageCheck::Fleet).unwrap().image.as_deref(), Some("missing.bin"));
    }

    #[test]
    fn names_are_normalized_and_deduplicated() {
        let mut host = input("3c:84:6a:12:34:56");
        host.names = split_names("/tp_recovery.bin\nTP_RECOVERY.BIN, tp_recovery.bin\n\n");
        host.address = "192.168.0.66".into();
        let entry = validate(&host, ImageCheck::Root(None)).unwrap();
        assert_eq!(entry.names, ["tp_recovery.bin", "TP_RECOVERY.BIN"]);
        assert_eq!(entry.address, Some(Ipv4Addr::new(192, 168, 0, 66)));
        host.address = "255.255.255.255".into();
        assert_eq!(fields(validate(&host, ImageCheck::Root(None))), ["address"]);
    }
}
