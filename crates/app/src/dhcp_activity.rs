//! The recent DHCP and BOOTP requests and what became of each, for the dashboard: what the log
//! says, kept in memory (the last [`KEPT`]; a flood only pushes older ones out).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use lifeboat_clock::Clock;
use lifeboat_dhcp::Explanation;
use lifeboat_web::DhcpExchange;

/// How many requests are kept.
pub(crate) const KEPT: usize = 200;

pub(crate) struct DhcpActivity {
    recent: Mutex<VecDeque<DhcpExchange>>,
    clock: Arc<dyn Clock>,
}

impl DhcpActivity {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> DhcpActivity {
        DhcpActivity { recent: Mutex::new(VecDeque::with_capacity(KEPT)), clock }
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
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == KEPT {
            recent.pop_back();
        }
        recent.push_front(exchange);
    }

    /// The kept requests, newest first.
    pub(crate) fn recent(&self) -> Vec<DhcpExchange> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
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
}
