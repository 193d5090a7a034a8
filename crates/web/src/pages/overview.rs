//! The overview: the last request, the services with their start/stop buttons, live
//! transfers, recent requests and the network interfaces.

use askama::Template;
use axum::extract::State;
use lifeboat_store::TransferFilter;

use crate::control::{ClaimedAddressView, InterfaceInfo, Service, ServiceStatus, WantedAddressView};
use crate::guard::Caller;
use crate::history::TransferRow;
use crate::live::{self, LiveRow};
use crate::pages::{Layout, PageResult, render};
use crate::state::WebState;

/// How many recent requests the overview lists.
const RECENT: u32 = 15;

/// How many missing names the overview counts at most.
const MISSING: u32 = 100;

/// How long a device seen looking for an address stays on the overview.
const WANTED_SHOWN_MS: i64 = 60 * 60 * 1000;

/// A device looking for an address nobody has, as the overview's banner says it.
pub(crate) struct WantedRow {
    ago: String,
    view: WantedAddressView,
    /// lifeboat holds the address now.
    answered: bool,
}

pub(crate) struct ServiceView {
    name: String,
    slug: &'static str,
    running: bool,
    configured: bool,
    listening: Vec<String>,
    detail: Option<String>,
    /// Seconds until it stops itself when idle, for the card's countdown.
    idle_left: Option<u64>,
    /// Transfers running now: the stop button asks first, and offers to wait for them.
    transfers: usize,
    /// The id of its part of the Settings page.
    setup_anchor: &'static str,
}

impl ServiceView {
    fn new(s: ServiceStatus, transfers: usize) -> Self {
        ServiceView {
            name: s.service.to_string(),
            slug: Service::slug(s.service),
            // Where its settings are: the quick set-up for DHCP, the section of fields else.
            setup_anchor: match s.service {
                Service::Dhcp => "dhcp",
                Service::Tftp => "tftp-fields",
                Service::Http => "http_boot-fields",
            },
            running: s.running,
            configured: s.configured,
            listening: s.listening,
            detail: s.detail,
            idle_left: s.stops_when_idle_in.map(|left| left.as_secs()),
            transfers: if s.service == Service::Tftp { transfers } else { 0 },
        }
    }

    /// The idle countdown as text, `14m 32s`.
    fn idle_left_text(&self) -> String {
        self.idle_left.map(|secs| format!("{}m {:02}s", secs / 60, secs % 60)).unwrap_or_default()
    }
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    layout: Layout,
    latest: Option<TransferRow>,
    services: Vec<ServiceView>,
    live: Vec<LiveRow>,
    /// The last DHCP or BOOTP request, beside the last TFTP one.
    latest_dhcp: Option<crate::pages::leases::ExchangeRow>,
    recent: Vec<TransferRow>,
    /// Devices looking for an address nobody has (the last hour).
    wanted: Vec<WantedRow>,
    /// The addresses lifeboat holds to answer there.
    claimed: Vec<ClaimedAddressView>,
    missing_count: usize,
    interfaces: Vec<InterfaceInfo>,
}

/// `GET /`.
pub(crate) async fn page(State(state): State<WebState>, caller: Caller) -> PageResult {
    let now = state.now_ms();
    let everything = TransferFilter::default();
    let recent = state.store().transfers_page(&everything, None, RECENT).await?;
    let latest = recent.items.first().map(|t| TransferRow::new(t, now));
    let recent: Vec<TransferRow> = recent.items.iter().map(|t| TransferRow::new(t, now)).collect();
    let missing_count = state.store().missing_files(MISSING).await?.len();
    let claimed = state.control().claimed_addresses().await;
    let page = OverviewPage {
        layout: Layout::new(&state, &caller, "/", "Overview"),
        latest,
        services: {
            let running = state.control().live_transfers().iter().filter(|t| t.outcome.is_none()).count();
            state.services().into_iter().map(|s| ServiceView::new(s, running)).collect()
        },
        live: live::rows(&state),
        latest_dhcp: state
            .control()
            .dhcp_exchanges()
            .into_iter()
            .next()
            .map(|e| crate::pages::leases::ExchangeRow::new(e, now)),
        recent,
        wanted: state
            .control()
            .wanted_addresses()
            .into_iter()
            .filter(|w| now - w.at < WANTED_SHOWN_MS)
            .map(|view| WantedRow {
                ago: crate::format::relative(view.at, now),
                answered: claimed.iter().any(|c| c.address == view.wanted),
                view,
            })
            .collect(),
        claimed,
        missing_count,
        interfaces: state.control().interfaces(),
    };
    Ok(render(&page))
}
