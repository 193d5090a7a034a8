//! The address watch: an [`ArpTap`] on every Ethernet interface that is up (new ones are picked
//! up as they appear, a USB adapter plugged in for the recovery), feeding the core's
//! [`WantedAddresses`], whose findings go to `found`. Read-only, off every hot path: the taps
//! see ARP frames only, and a full queue drops packets rather than wait.

use std::collections::HashSet;
use std::time::Duration;

use lifeboat_dhcp::{ArpSeen, WantedAddress, WantedAddresses};
use lifeboat_net::{ArpTap, Interface};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often the interfaces (and this machine's addresses) are looked at again.
pub const RESCAN_EVERY: Duration = Duration::from_secs(5);

/// ARP packets waiting for the watch, at most.
const QUEUE: usize = 256;

/// Watch until `shutdown`; each finding goes to `found`. `list` gives the interfaces (the
/// system's, or a test's); loopback and interfaces without a MAC are skipped.
pub async fn watch_addresses(
    list: impl Fn() -> Vec<Interface> + Send + 'static,
    found: mpsc::Sender<WantedAddress>,
    shutdown: CancellationToken,
) {
    let (packets, mut received) = mpsc::channel::<(String, ArpSeen)>(QUEUE);
    let mut taps = JoinSet::new();
    let mut tapped: HashSet<String> = HashSet::new();
    let mut cannot_tap: HashSet<String> = HashSet::new();
    let mut watch = WantedAddresses::default();
    let mut rescan = tokio::time::interval(RESCAN_EVERY);
    let started = Instant::now();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = rescan.tick() => {
                // A tap that ended (its interface went away or went down) is opened again.
                while let Some(ended) = taps.try_join_next() {
                    if let Ok(name) = ended {
                        tapped.remove(&name);
                    }
                }
                let interfaces = list();
                let mut opened = Vec::new();
                watch.set_own(interfaces.iter().flat_map(|i| i.ipv4.iter().map(|(address, _)| *address)));
                let mut refused = Vec::new();
                for interface in interfaces.iter().filter(|i| i.up && i.mac.is_some() && !tapped.contains(&i.name)) {
                    match ArpTap::open(interface.index) {
                        Ok(tap) => {
                            opened.push(interface.name.clone());
                            taps.spawn(forward(tap, interface.name.clone(), packets.clone()));
                        }
                        Err(error) if cannot_tap.insert(interface.name.clone()) => refused.push((interface.name.clone(), error)),
                        Err(_) => {}
                    }
                }
                if let Some((_, error)) = refused.first() {
                    let names: Vec<&str> = refused.iter().map(|(name, _)| name.as_str()).collect();
                    tracing::warn!(
                        "cannot watch {} for devices looking for an address ({error}): give lifeboat CAP_NET_RAW",
                        names.join(", ")
                    );
                }
                tapped.extend(opened);
            }
            Some((interface, seen)) = received.recv() => {
                let now_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                if let Some(wanted) = watch.note(&interface, &seen, now_ms) {
                    tracing::info!("{wanted}");
                    if found.try_send(wanted).is_err() {
                        tracing::debug!("an address finding was dropped: nobody takes them");
                    }
                }
            }
        }
    }
    taps.shutdown().await;
}

/// Hands the tap's packets to the watch until the tap fails (its interface went away);
/// returns the interface's name.
async fn forward(tap: ArpTap, interface: String, packets: mpsc::Sender<(String, ArpSeen)>) -> String {
    loop {
        match tap.recv().await {
            Ok(seen) => {
                // A full queue drops: the watch must never hold up the network.
                if let Err(mpsc::error::TrySendError::Closed(_)) = packets.try_send((interface.clone(), seen)) {
                    return interface;
                }
            }
            Err(error) => {
                tracing::debug!("the ARP tap on {interface} ended: {error}");
                return interface;
            }
        }
    }
}
