//! What the address watch saw on the interface: a device asking for an address this machine
//! does not have is the commonest reason a recovery never starts.

use std::time::Duration;

use lifeboat_clock::{Clock as _, SystemClock};

use lifeboat_net::Interface;
use lifeboat_web::{DoctorCheck, WantedAddressView};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Watch `interface` for `duration` as the address watch does, for a doctor run without a
/// running lifeboat to ask: what devices there looked for; or why it cannot watch (without
/// `CAP_NET_RAW` no packet socket opens, and saying "nobody asked" would be wrong).
pub async fn watch_for(interface: &str, duration: Duration) -> Result<Vec<WantedAddressView>, String> {
    if let Some(found) = super::link::find(interface)
        && let Err(e) = lifeboat_net::ArpTap::open(found.index)
    {
        return Err(format!("not watched: cannot listen to ARP on {interface} ({e}); run the doctor as root"));
    }
    let (found, mut received) = mpsc::channel(16);
    let stop = CancellationToken::new();
    let name = interface.to_owned();
    let list = move || super::link::find(&name).into_iter().collect();
    let watching = tokio::spawn(lifeboat_server::watch_addresses(list, found, stop.clone()));
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + duration;
    while let Ok(Some(wanted)) = tokio::time::timeout_at(deadline, received.recv()).await {
        let at = SystemClock.unix_ms();
        seen.insert(0, crate::wanted_log::view(&wanted, at));
    }
    stop.cancel();
    let _ = watching.await;
    Ok(seen)
}

/// How old a finding may be to count: five minutes.
const RECENT_MS: i64 = 5 * 60 * 1000;

pub(super) fn seen(name: &str, interface: Option<&Interface>, wanted: &[WantedAddressView]) -> DoctorCheck {
    let title = "Address watch";
    // What was seen in the last minutes: an old finding is no longer what the device does.
    let now = SystemClock.unix_ms();
    let recent = |w: &&WantedAddressView| now.saturating_sub(w.at) <= RECENT_MS;
    let here: Vec<&WantedAddressView> = wanted.iter().filter(|w| w.interface == name).filter(recent).collect();
    let unanswered = here.iter().find(|w| !interface.is_some_and(|i| i.ipv4.iter().any(|(a, _)| *a == w.wanted)));
    match (unanswered, here.first()) {
        (Some(w), _) => DoctorCheck::fail(
            title,
            format!(
                "{} at {} is looking for {}, which this machine does not have",
                w.mac,
                w.device.map_or_else(|| "?".to_owned(), |d| d.to_string()),
                w.wanted
            ),
            format!("answer at {}: the overview's button, `lifeboat recover`, or `{}`", w.wanted, w.claim_command),
        ),
        (None, Some(w)) => {
            DoctorCheck::pass(title, format!("{} looked for {}, and this machine has it now", w.mac, w.wanted))
        }
        (None, None) => DoctorCheck::note(title, format!("no device on {name} asked for an address nobody has lately")),
    }
}
