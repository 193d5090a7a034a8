//! The IPv4 default route of the calling thread's network namespace, from
//! `/proc/thread-self/net/route` (readable without privileges; netlink would be a second async
//! stack for one lookup). `/proc/net` would show the namespace of the process's main thread.

use std::net::Ipv4Addr;

/// Where the default route leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRoute {
    pub interface: String,
    /// `None` for a route straight onto the link (no gateway).
    pub gateway: Option<Ipv4Addr>,
}

/// RTF_UP: the route is usable.
const UP: u32 = 0x1;

/// The default route with the lowest metric, if there is one.
pub fn default_route() -> Option<DefaultRoute> {
    let table = std::fs::read_to_string("/proc/thread-self/net/route").ok()?;
    default_route_in(&table)
}

/// The default route in the text of `/proc/net/route`, whose addresses are hexadecimal in the
/// machine's byte order.
fn default_route_in(table: &str) -> Option<DefaultRoute> {
    // The kernel prints the address's four bytes read as one native-endian number.
    let address = |hex: &str| u32::from_str_radix(hex, 16).ok().map(|raw| Ipv4Addr::from(raw.to_ne_bytes()));
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [interface, destination, gateway, flags, _refs, _use, metric, mask, ..] = fields[..] else {
                return None;
            };
            let flags = u32::from_str_radix(flags, 16).ok()?;
            let default = address(destination)?.is_unspecified() && address(mask)?.is_unspecified();
            let metric: u32 = metric.parse().ok()?;
            let gateway = address(gateway).filter(|g| !g.is_unspecified());
            (default && flags & UP != 0).then(|| (metric, DefaultRoute { interface: interface.to_owned(), gateway }))
        })
        .min_by_key(|(metric, _)| *metric)
        .map(|(_, route)| route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_route_with_the_lowest_metric_wins() {
        // Written on a little-endian machine, as the kernel writes it there.
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t00000000\t010011AC\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
                     eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
                     wg0\t00000000\t00000000\t0001\t0\t0\t50\t00000000\t0\t0\t0\n";
        if cfg!(target_endian = "little") {
            assert_eq!(default_route_in(table), Some(DefaultRoute { interface: "wg0".into(), gateway: None }));
            let without_wg = table.lines().filter(|l| !l.starts_with("wg0")).collect::<Vec<_>>().join("\n");
            assert_eq!(
                default_route_in(&without_wg),
                Some(DefaultRoute { interface: "eth0".into(), gateway: Some(Ipv4Addr::new(172, 17, 0, 1)) })
            );
        }
        assert_eq!(default_route_in("Iface\tDestination\n"), None);
    }
}
