//! The dashboard's hosts, aliases and boot profiles as the servers use them: which boot file and
//! address DHCP gives a MAC, which file TFTP serves a device (or anyone) for a requested name,
//! and which boot profile iPXE on a machine boots over HTTP.
//!
//! **Invariant:** the servers only ever see a complete snapshot of the store's hosts, aliases and
//! boot profiles: [`HostDirectory::reload`] reads them all, builds the new snapshot, and swaps it in (TFTP)
//! and sends it (DHCP) at once. Names are compared the way TFTP resolves them: normalized
//! (`\` is `/`, no leading `/`) and without case.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use lifeboat_dhcp::config::{Mac, Reservation};
use lifeboat_server::DhcpHosts;
use lifeboat_store::{BootProfileEntry, DEFAULT_BOOT_PROFILE, Host, Store, StoreError};
use lifeboat_tftp::policy;
use tokio::sync::watch;

/// What TFTP serves to whom, by normalized lowercase name.
#[derive(Debug, Default)]
struct Snapshot {
    /// By MAC: the host's image, under each of its names.
    by_mac: HashMap<Mac, HashMap<String, String>>,
    /// For every client: name → file.
    aliases: HashMap<String, String>,
    /// The addresses hosts are given.
    addresses: HashSet<Ipv4Addr>,
    /// By MAC: the host's name and the boot profile it boots.
    boot: HashMap<Mac, HostBoot>,
    /// Every boot profile, by name.
    profiles: BTreeMap<String, BootProfileEntry>,
}

/// What a host says about its HTTP boot.
#[derive(Debug, Clone, Default)]
struct HostBoot {
    name: Option<String>,
    profile: Option<String>,
}

/// What a machine boots over HTTP, as [`HostDirectory::boot_choice`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BootChoice {
    /// This profile (its host's, the one chosen from the menu, or the default).
    Profile(BootProfileEntry),
    /// No profile of its own and no default: a menu of these.
    Menu(Vec<String>),
    /// Nothing to boot, and why.
    Nothing(String),
}

#[derive(Debug)]
pub(crate) struct HostDirectory {
    snapshot: RwLock<Arc<Snapshot>>,
    dhcp: watch::Sender<DhcpHosts>,
    /// Held from the first read of the store to the swap: two reloads in a row apply in order,
    /// so an older read never replaces a newer one.
    reloading: tokio::sync::Mutex<()>,
}

impl Default for HostDirectory {
    fn default() -> HostDirectory {
        HostDirectory {
            snapshot: RwLock::default(),
            dhcp: watch::Sender::new(DhcpHosts::default()),
            reloading: tokio::sync::Mutex::new(()),
        }
    }
}

impl HostDirectory {
    /// Read the hosts and aliases from the store and apply them.
    pub(crate) async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let _in_order = self.reloading.lock().await;
        let hosts = store.hosts().await?;
        let aliases = store.aliases().await?;
        let profiles = store.boot_profiles().await?;
        let profiles = profiles.into_iter().map(|p| (p.entry.name.clone(), p.entry)).collect();
        let mut snapshot = Snapshot { profiles, ..Snapshot::default() };
        for alias in aliases {
            if let Some(name) = name_key(&alias.name) {
                snapshot.aliases.insert(name, alias.file);
            }
        }
        let mut dhcp = DhcpHosts::default();
        for Host { entry, .. } in hosts {
            let Ok(mac) = entry.mac.parse::<Mac>() else {
                tracing::warn!(mac = entry.mac, "host skipped: its MAC is not valid");
                continue;
            };
            if entry.boot_profile.is_some() {
                dhcp.profiled.insert(mac);
            }
            snapshot.boot.insert(mac, HostBoot { name: entry.name.clone(), profile: entry.boot_profile.clone() });
            if let Some(image) = &entry.image {
                dhcp.boot.insert(mac, image.clone());
                let names = entry.names.iter().chain(std::iter::once(image)).filter_map(|n| name_key(n));
                snapshot.by_mac.insert(mac, names.map(|n| (n, image.clone())).collect());
            }
            if let Some(address) = entry.address {
                snapshot.addresses.insert(address);
                dhcp.reservations.push(Reservation { mac, address, name: entry.name.clone(), boot_file: entry.image });
            }
        }
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
        self.dhcp.send_replace(dhcp);
        Ok(())
    }

    /// The hosts for the DHCP server to follow.
    pub(crate) fn dhcp_hosts(&self) -> watch::Receiver<DhcpHosts> {
        self.dhcp.subscribe()
    }

    /// Whether a host is given `address`: a device the person running lifeboat knows.
    pub(crate) fn has_address(&self, address: Ipv4Addr) -> bool {
        self.snapshot.read().unwrap_or_else(|p| p.into_inner()).addresses.contains(&address)
    }

    /// What the machine with `mac` (if known) boots over HTTP: the profile `chosen` from the
    /// menu, else its host's profile, else the default profile, else a menu of every profile.
    /// Also the host's name, for the script.
    pub(crate) fn boot_choice(&self, mac: Option<Mac>, chosen: Option<&str>) -> (BootChoice, Option<String>) {
        let snapshot = Arc::clone(&self.snapshot.read().unwrap_or_else(|p| p.into_inner()));
        let host = mac.and_then(|m| snapshot.boot.get(&m)).cloned().unwrap_or_default();
        let profile = |name: &str| snapshot.profiles.get(name).cloned().map(BootChoice::Profile);
        let choice = match (chosen, &host.profile) {
            (Some(name), _) => {
                profile(name).unwrap_or_else(|| BootChoice::Nothing(format!("no boot profile {name:?}")))
            }
            (None, Some(name)) => profile(name)
                .unwrap_or_else(|| BootChoice::Nothing(format!("its boot profile {name:?} does not exist"))),
            (None, None) => profile(DEFAULT_BOOT_PROFILE).unwrap_or_else(|| {
                if snapshot.profiles.is_empty() {
                    BootChoice::Nothing("no boot profile exists; add one on the Hosts page".to_owned())
                } else {
                    BootChoice::Menu(snapshot.profiles.keys().cloned().collect())
                }
            }),
        };
        (choice, host.name)
    }

    /// The file for a client with `mac` (if known) asking for `requested`: its host's image
    /// under one of the host's names, else an alias. `None`: the usual lookup applies.
    pub(crate) fn substitute(&self, mac: Option<Mac>, requested: &str) -> Option<PathBuf> {
        let name = name_key(requested)?;
        let snapshot = Arc::clone(&self.snapshot.read().unwrap_or_else(|p| p.into_inner()));
        let for_host = mac.and_then(|m| snapshot.by_mac.get(&m)).and_then(|names| names.get(&name));
        for_host.or_else(|| snapshot.aliases.get(&name)).map(PathBuf::from)
    }
}

/// A requested name as TFTP resolves it, lowercased; `None` for names TFTP refuses anyway.
fn name_key(name: &str) -> Option<String> {
    policy::normalize(name.as_bytes()).ok().map(|path| path.to_string().to_lowercase())
}

#[cfg(test)]
mod tests {
    use lifeboat_store::HostEntry;

    use super::*;

    #[tokio::test]
    async fn hosts_and_aliases_become_files_for_tftp_and_boot_files_for_dhcp() {
        let store = Store::open_memory().await.unwrap();
        let router = HostEntry {
            mac: "c4:6e:1f:00:00:01".into(),
            name: Some("archer".into()),
            address: Some("192.168.0.66".parse().unwrap()),
            image: Some("openwrt/factory.bin".into()),
            names: vec!["ArcherC7v5_tp_recovery.bin".into()],
            boot_profile: None,
            notes: String::new(),
        };
        store.insert_host(&router).await.unwrap();
        let no_image = HostEntry { mac: "02:00:00:00:00:02".into(), image: None, ..Default::default() };
        store.insert_host(&no_image).await.unwrap();
        store.set_alias("pxelinux.0", "bios/lpxelinux.0").await.unwrap();

        let directory = HostDirectory::default();
        let dhcp = directory.dhcp_hosts();
        directory.reload(&store).await.unwrap();

        let router_mac = Some(Mac([0xc4, 0x6e, 0x1f, 0, 0, 1]));
        let file = |mac, name| directory.substitute(mac, name).map(|p| p.display().to_string());
        assert_eq!(file(router_mac, "ArcherC7v5_tp_recovery.bin").as_deref(), Some("openwrt/factory.bin"));
        assert_eq!(file(router_mac, "/archerc7v5_TP_recovery.bin").as_deref(), Some("openwrt/factory.bin"));
        assert_eq!(file(router_mac, "\\openwrt\\factory.bin").as_deref(), Some("openwrt/factory.bin"));
        assert_eq!(file(Some(Mac([2, 0, 0, 0, 0, 9])), "ArcherC7v5_tp_recovery.bin"), None, "another device");
        assert_eq!(file(None, "ArcherC7v5_tp_recovery.bin"), None, "an unknown device");
        assert_eq!(file(None, "PXELINUX.0").as_deref(), Some("bios/lpxelinux.0"), "aliases are for everyone");
        assert_eq!(file(router_mac, "../etc/passwd"), None);

        let hosts = dhcp.borrow().clone();
        let mac: Mac = "c4:6e:1f:00:00:01".parse().unwrap();
        assert_eq!(hosts.boot.get(&mac).map(String::as_str), Some("openwrt/factory.bin"));
        assert_eq!(hosts.boot.len(), 1);
        assert_eq!(hosts.reservations.len(), 1);
        assert_eq!(hosts.reservations[0].address, "192.168.0.66".parse::<std::net::Ipv4Addr>().unwrap());
        assert!(directory.has_address("192.168.0.66".parse().unwrap()));
        assert!(!directory.has_address("192.168.0.67".parse().unwrap()));

        // A change applies at the next reload.
        store.delete_alias("pxelinux.0").await.unwrap();
        directory.reload(&store).await.unwrap();
        assert_eq!(file(None, "pxelinux.0"), None);
    }
}
