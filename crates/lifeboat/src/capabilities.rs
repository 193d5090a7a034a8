//! The Linux capabilities `lifeboat serve` uses: raised at start from what it was given, and
//! the missing ones named with what they cost, before anything fails for want of them.
//!
//! The container image gives the binary its capabilities as *permitted* file capabilities
//! (`setcap ...=p`), not effective ones: the kernel refuses to run a binary whose effective file
//! capabilities it cannot grant in full (a runtime started with `--cap-drop NET_RAW`), and says
//! only "operation not permitted". Permitted-only lets lifeboat start with what it got, raise
//! it here, and say what is missing.

use std::collections::HashSet;
use std::net::SocketAddr;

use caps::{CapSet, Capability};

use crate::settings::ServeConfig;

/// Ports below this need `CAP_NET_BIND_SERVICE`, unless the namespace's
/// `net.ipv4.ip_unprivileged_port_start` is lower (Docker sets it to 0 in its containers).
const FIRST_UNPRIVILEGED_PORT: u16 = 1024;

/// A capability the configuration needs, and what does not work without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Need {
    pub(crate) capability: Capability,
    pub(crate) for_what: String,
}

/// The capabilities lifeboat uses: ports below 1024; packet sockets (DHCP replies to clients
/// without an address, the ARP watch and probes); interface addresses ("Answer at", only when
/// granted: its absence is said when an address is claimed, not at start).
const USED: [Capability; 3] = [Capability::CAP_NET_BIND_SERVICE, Capability::CAP_NET_RAW, Capability::CAP_NET_ADMIN];

/// Raise every capability lifeboat uses that the process is permitted but not yet effective.
/// Capabilities belong to threads, and a new thread starts with its creator's: this must run
/// before any other thread exists (the runtime's workers, the log writer). Problems are
/// returned, to be logged once logging runs.
pub(crate) fn raise_permitted() -> Vec<String> {
    let Ok(permitted) = caps::read(None, CapSet::Permitted) else { return Vec::new() };
    USED.into_iter()
        .filter(|capability| permitted.contains(capability))
        .filter_map(|capability| {
            let error = caps::raise(None, CapSet::Effective, capability).err()?;
            Some(format!("cannot raise {capability}, though it is permitted: {error}"))
        })
        .collect()
}

/// Warn about each capability `config` needs and the process lacks, with what it costs.
/// Without capability support (no `/proc`, an old kernel) it says nothing: the bind errors
/// still name what is missing.
pub(crate) fn report_missing(config: &ServeConfig) {
    let Ok(effective) = caps::read(None, CapSet::Effective) else { return };
    let unprivileged_from = unprivileged_port_start();
    for need in missing(&needs(config, unprivileged_from), &effective) {
        tracing::warn!("without {}: {}", need.capability, need.for_what);
    }
}

/// What `config` needs, given that ports from `unprivileged_from` on need nothing.
pub(crate) fn needs(config: &ServeConfig, unprivileged_from: u16) -> Vec<Need> {
    let privileged = |addr: &SocketAddr| addr.port() < unprivileged_from;
    let mut needs = Vec::new();
    if let Some(tftp) = &config.tftp
        && let Some(addr) = tftp.listen.iter().find(|addr| privileged(addr))
    {
        needs.push(Need {
            capability: Capability::CAP_NET_BIND_SERVICE,
            for_what: format!("TFTP cannot listen on port {} (give lifeboat CAP_NET_BIND_SERVICE)", addr.port()),
        });
    }
    if let Some(http) = &config.http
        && let Some(addr) = http.listen.iter().find(|addr| privileged(addr))
    {
        needs.push(Need {
            capability: Capability::CAP_NET_BIND_SERVICE,
            for_what: format!("HTTP boot cannot listen on port {} (give lifeboat CAP_NET_BIND_SERVICE)", addr.port()),
        });
    }
    if config.dhcp.is_some() {
        if privileged(&SocketAddr::from(([0, 0, 0, 0], 67))) {
            needs.push(Need {
                capability: Capability::CAP_NET_BIND_SERVICE,
                for_what: "DHCP cannot listen on port 67 (give lifeboat CAP_NET_BIND_SERVICE)".to_owned(),
            });
        }
        needs.push(Need {
            capability: Capability::CAP_NET_RAW,
            for_what: "DHCP replies to clients without an address are broadcast, and other DHCP servers are heard \
                       only when they answer lifeboat's own probes (give lifeboat CAP_NET_RAW)"
                .to_owned(),
        });
    }
    if let Some(web) = &config.web
        && privileged(&web.listen)
    {
        needs.push(Need {
            capability: Capability::CAP_NET_BIND_SERVICE,
            for_what: format!(
                "the dashboard cannot listen on port {} (give lifeboat CAP_NET_BIND_SERVICE)",
                web.listen.port()
            ),
        });
    }
    needs
}

/// The needs that `effective` does not cover.
pub(crate) fn missing(needs: &[Need], effective: &HashSet<Capability>) -> Vec<Need> {
    needs.iter().filter(|need| !effective.contains(&need.capability)).cloned().collect()
}

/// The namespace's `net.ipv4.ip_unprivileged_port_start`, or the kernel's default.
fn unprivileged_port_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(FIRST_UNPRIVILEGED_PORT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ServeArgs;
    use crate::settings::{FileConfig, serve_config};

    fn config(args: ServeArgs) -> ServeConfig {
        serve_config(FileConfig::default(), &args).expect("a valid configuration")
    }

    fn capabilities(needs: &[Need]) -> Vec<Capability> {
        needs.iter().map(|need| need.capability).collect()
    }

    #[test]
    fn each_service_names_what_it_needs() {
        let tftp = config(ServeArgs { tftp_root: Some("/srv/tftp".into()), ..ServeArgs::default() });
        let tftp_needs = needs(&tftp, 1024);
        assert_eq!(capabilities(&tftp_needs), [Capability::CAP_NET_BIND_SERVICE]);
        assert!(tftp_needs[0].for_what.contains("TFTP cannot listen on port 69"), "{tftp_needs:?}");

        let dhcp = config(ServeArgs { dhcp_range: vec!["10.0.0.100,10.0.0.200".into()], ..ServeArgs::default() });
        let dhcp_needs = needs(&dhcp, 1024);
        assert_eq!(capabilities(&dhcp_needs), [Capability::CAP_NET_BIND_SERVICE, Capability::CAP_NET_RAW]);
        assert!(dhcp_needs[1].for_what.contains("broadcast"), "{dhcp_needs:?}");

        let http = ServeArgs {
            tftp_root: Some("/srv/tftp".into()),
            tftp_listen: vec!["0.0.0.0:6969".into()],
            http_boot_listen: vec!["0.0.0.0:80".into()],
            ..ServeArgs::default()
        };
        let http_needs = needs(&config(http), 1024);
        assert_eq!(capabilities(&http_needs), [Capability::CAP_NET_BIND_SERVICE]);
        assert!(http_needs[0].for_what.contains("HTTP boot cannot listen on port 80"), "{http_needs:?}");
    }

    #[test]
    fn unprivileged_ports_need_nothing() {
        let args = ServeArgs {
            tftp_root: Some("/srv/tftp".into()),
            tftp_listen: vec!["0.0.0.0:6969".into()],
            web_listen: Some("0.0.0.0:80".into()),
            web_token: true,
            ..ServeArgs::default()
        };
        let high = config(args.clone());
        assert_eq!(needs(&high, 1024).len(), 1, "only the dashboard's port 80");
        assert!(needs(&high, 1024)[0].for_what.contains("dashboard cannot listen on port 80"));
        // Docker's containers set net.ipv4.ip_unprivileged_port_start to 0.
        let mut anything = config(args);
        anything.dhcp =
            config(ServeArgs { dhcp_range: vec!["10.0.0.100,10.0.0.200".into()], ..ServeArgs::default() }).dhcp;
        assert_eq!(capabilities(&needs(&anything, 0)), [Capability::CAP_NET_RAW]);
    }

    #[test]
    fn what_the_process_has_is_not_reported() {
        let dhcp = config(ServeArgs { dhcp_range: vec!["10.0.0.100,10.0.0.200".into()], ..ServeArgs::default() });
        let dhcp_needs = needs(&dhcp, 1024);
        let has_raw: HashSet<Capability> = [Capability::CAP_NET_RAW].into();
        assert_eq!(capabilities(&missing(&dhcp_needs, &has_raw)), [Capability::CAP_NET_BIND_SERVICE]);
        let has_both: HashSet<Capability> = [Capability::CAP_NET_RAW, Capability::CAP_NET_BIND_SERVICE].into();
        assert!(missing(&dhcp_needs, &has_both).is_empty());
    }
}
