//! What the address watch found, for the dashboard: the last devices seen looking for an address
//! nobody has (each also an event), newest first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use lifeboat_clock::Clock;
use lifeboat_dhcp::WantedAddress;
use lifeboat_store::{Event, EventKind, LogWriter};
use lifeboat_web::WantedAddressView;
use tokio::sync::mpsc;

/// How many findings the dashboard keeps.
const KEPT: usize = 20;

pub(crate) struct WantedLog {
    recent: Mutex<VecDeque<WantedAddressView>>,
    clock: Arc<dyn Clock>,
    log: LogWriter,
}

/// A finding as the dashboard shows it, found at `at` (Unix ms).
pub(crate) fn view(wanted: &WantedAddress, at: i64) -> WantedAddressView {
    WantedAddressView {
        at,
        interface: wanted.interface.clone(),
        mac: wanted.mac.to_string(),
        device: wanted.device,
        wanted: wanted.wanted,
        prefix: wanted.prefix(),
        claim_command: wanted.claim_command(),
    }
}

impl WantedLog {
    pub(crate) fn new(clock: Arc<dyn Clock>, log: LogWriter) -> WantedLog {
        WantedLog { recent: Mutex::default(), clock, log }
    }

    /// Note a finding: kept for the overview, recorded as an event.
    pub(crate) fn note(&self, wanted: &WantedAddress) {
        let at = self.clock.unix_ms();
        let view = view(wanted, at);
        self.log.event(Event {
            at,
            kind: EventKind::AddressWanted,
            origin: "address watch".into(),
            detail: wanted.to_string(),
        });
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == KEPT {
            recent.pop_back();
        }
        recent.push_front(view);
    }

    pub(crate) fn recent(&self) -> Vec<WantedAddressView> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }

    /// Note every finding that comes on `found`, until the watch ends.
    pub(crate) async fn follow(self: Arc<Self>, mut found: mpsc::Receiver<WantedAddress>) {
        while let Some(wanted) = found.recv().await {
            self.note(&wanted);
        }
    }
}
