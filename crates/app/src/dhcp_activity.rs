//! The recent DHCP and BOOTP requests and what became of each, for the dashboard: what the log
//! says, kept in memory (the last [`KEPT`]; a flood only pushes older ones out). And, per client,
//! when it was last heard and the boot file it was last given (for the last [`CLIENTS_KEPT`]
//! clients heard: a flood of made-up MACs pushes the oldest out, in O(log n) each).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use lifeboat_clock::Clock;
use lifeboat_dhcp::Explanation;
use lifeboat_web::DhcpExchange;

/// How many requests are kept.
pub(crate) const KEPT: usize = 200;

/// How many clients' last request is kept.
pub(crate) const CLIENTS_KEPT: usize = 4096;

pub(crate) struct DhcpActivity {
    recent: Mutex<Recent>,
    clock: Arc<dyn Clock>,
}

/// A client as last heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientSeen {
    /// Unix ms of its last request.
    pub(crate) at: i64,
    /// The boot file it was last given, if any.
    pub(crate) boot_file: Option<String>,
}

#[derive(Default)]
struct Recent {
    exchanges: VecDeque<DhcpExchange>,
    /// By MAC, with the number of the request that last updated it.
    clients: HashMap<String, (u64, ClientSeen)>,
    /// The clients by the number of their last request: the first is the one heard longest ago.
    by_age: BTreeMap<u64, String>,
    counted: u64,
}

impl Recent {
    fn heard(&mut self, mac: &str, at: i64, boot_file: Option<&String>) {
        self.counted += 1;
        let number = self.counted;
        let boot_file = boot_file.cloned();
        match self.clients.get_mut(mac) {
            Some((last, seen)) => {
                self.by_age.remove(last);
                *last = number;
                seen.at = at;
                if boot_file.is_some() {
                    seen.boot_file = boot_file;
                }
            }
            None => {
                self.clients.insert(mac.to_owned(), (number, ClientSeen { at, boot_file }));
            }
        }
        self.by_age.insert(number, mac.to_owned());
        if self.clients.len() > CLIENTS_KEPT
            && let Some((_, oldest)) = self.by_age.pop_first()
        {
            self.clients.remove(&oldest);
        }
    }
}

impl DhcpActivity {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> DhcpActivity {
        let recent = Recent { exchanges: VecDeque::with_capacity(KEPT), ..Recent::default() };
        DhcpActivity { recent: Mutex::new(recent), clock }
    }

    /// Note one request (called on the DHCP server's task: a lock and a push).
    pub(crate) fn note(&self, explanation: &Explanation) {
        let (boot_file, boot_rule) = explanation.boot.clone().unzip();
        let exchange = DhcpExchange {
            at: self.clock.unix_ms(),
            client: explanation.client.clone(),
            request: explanation.request.to_owned(),
            class: explanation.class.clone(),
            outcome: explanation.outcome.clone(),
            boot_file,
            boot_rule,
        };
        let mut recent = self.lock();
        if explanation.client != "?" {
            recent.heard(&exchange.client, exchange.at, exchange.boot_file.as_ref());
        }
        if recent.exchanges.len() == KEPT {
            recent.exchanges.pop_back();
        }
        recent.exchanges.push_front(exchange);
    }

    /// The kept requests, newest first.
    pub(crate) fn recent(&self) -> Vec<DhcpExchange> {
        self.lock().exchanges.iter().cloned().collect()
    }

    /// When the client with hardware address `mac` (as the DHCP server writes it) was last
    /// heard, and the boot file it was last given.
    #[cfg(test)]
    pub(crate) fn last_seen(&self, mac: &str) -> Option<ClientSeen> {
        self.last_seen_each([mac]).pop().flatten()
    }

    /// [`last_seen`](Self::last_seen) of each of `macs`, in order, under one lock (the DHCP
    /// task takes the same lock for every request).
    pub(crate) fn last_seen_each<'a>(&self, macs: impl IntoIterator<Item = &'a str>) -> Vec<Option<ClientSeen>> {
        let recent = self.lock();
        macs.into_iter().map(|mac| recent.clients.get(mac).map(|(_, seen)| seen.clone())).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeboat_dhcp::Level;

    fn explanation(n: usize) -> Explanation {
        Explanation {
            level: Level::Info,
            client: format!("02:00:00:00:00:{n:02x}"),
            request: "DHCPDISCOVER",
            class: "UEFI x64 PXE".into(),
            outcome: "DHCPOFFER 10.0.0.50".into(),
            boot: Some(("snponly.efi".into(), "--dhcp-boot-rule efi-x64".into())),
        }
    }

    #[test]
    fn the_newest_come_first_and_only_the_last_are_kept() {
        let activity = DhcpActivity::new(Arc::new(lifeboat_clock::SystemClock));
        for n in 0..KEPT + 5 {
            activity.note(&explanation(n % 256));
        }
        let recent = activity.recent();
        assert_eq!(recent.len(), KEPT);
        assert_eq!(recent[0].client, format!("02:00:00:00:00:{:02x}", (KEPT + 4) % 256));
        assert_eq!(recent[0].boot_file.as_deref(), Some("snponly.efi"));
        assert_eq!(recent[0].boot_rule.as_deref(), Some("--dhcp-boot-rule efi-x64"));
    }

    #[test]
    fn each_client_is_remembered_with_its_last_request_and_boot_file() {
        let activity = DhcpActivity::new(Arc::new(lifeboat_clock::SystemClock));
        activity.note(&explanation(1));
        let mut ignored = explanation(1);
        ignored.boot = None;
        ignored.outcome = "ignored: not for this server".into();
        activity.note(&ignored);
        let seen = activity.last_seen("02:00:00:00:00:01").expect("heard");
        assert_eq!(seen.boot_file.as_deref(), Some("snponly.efi"), "a request without a boot file keeps the last one");
        assert_eq!(activity.last_seen("02:00:00:00:00:02"), None);
    }

    #[test]
    fn a_flood_of_clients_pushes_out_the_one_heard_longest_ago_only() {
        let activity = DhcpActivity::new(Arc::new(lifeboat_clock::SystemClock));
        let mac = |n: usize| format!("02:00:00:00:{:02x}:{:02x}", n >> 8, n & 0xff);
        let mut first = explanation(0);
        first.client = mac(0);
        activity.note(&first);
        let mut second = explanation(0);
        second.client = mac(1);
        activity.note(&second);
        // The first comes back: the second is now the oldest.
        activity.note(&first);
        for n in 2..=CLIENTS_KEPT {
            let mut flood = explanation(0);
            flood.client = mac(n);
            activity.note(&flood);
        }
        assert!(activity.last_seen(&mac(0)).is_some(), "heard again, so kept");
        assert_eq!(activity.last_seen(&mac(1)), None, "heard longest ago, so pushed out");
        assert!(activity.last_seen(&mac(CLIENTS_KEPT)).is_some());
        let recent = activity.lock();
        assert_eq!((recent.clients.len(), recent.by_age.len()), (CLIENTS_KEPT, CLIENTS_KEPT));
    }
}
