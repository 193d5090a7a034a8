//! The dashboard's hosts and aliases as the servers use them: which boot file and address DHCP
//! gives a MAC, and which file TFTP serves a device (or anyone) for a requested name.
//!
//! **Invariant:** the servers only ever see a complete snapshot of the store's hosts and
//! aliases: [`HostDirectory::reload`] reads both, builds the new snapshot, and swaps it in (TFTP)
//! and sends it (DHCP) at once. Names are compared the way TFTP resolves them: normalized
//! (`\` is `/`, no leading `/`) and without case.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use lifeboat_dhcp::config::{Mac, Reservation};
use lifeboat_server::DhcpHosts;
use lifeboat_store::{Host, Store, StoreError};
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
        let mut snapshot = Snapshot::default();
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
