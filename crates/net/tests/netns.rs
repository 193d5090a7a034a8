//! Broadcast and link-local behaviour between two throwaway network namespaces joined by a veth
//! pair. Needs root (`ip netns add`): the tests are `#[ignore]`d, and run with
//! `cargo test -- --include-ignored` as root (as `.ci/run` does), where they fail if they cannot
//! set up their namespaces.
//! Every address used exists only inside the namespaces, which are deleted by name afterwards.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::process::Command;
use std::time::Duration;

use lifeboat_net::{ClientPortTap, Datagram, PktInfoSocket, TransferSocket};
use nix::sched::{CloneFlags, setns};
use tokio::net::UdpSocket;
use tokio::time::timeout;

const SERVER_V4: Ipv4Addr = Ipv4Addr::new(10, 231, 7, 1);
const SERVER_V4_SECONDARY: Ipv4Addr = Ipv4Addr::new(10, 231, 7, 10);
const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(10, 231, 7, 2);
const BROADCAST_V4: Ipv4Addr = Ipv4Addr::new(10, 231, 7, 255);
const SERVER_ULA: Ipv6Addr = Ipv6Addr::new(0xfd42, 0x231, 7, 0, 0, 0, 0, 1);
const CLIENT_ULA: Ipv6Addr = Ipv6Addr::new(0xfd42, 0x231, 7, 0, 0, 0, 0, 2);
const SERVER_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const CLIENT_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("`ip {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Fails the test: it was asked to run (`--include-ignored`) and cannot.
fn unavailable(reason: &str) -> ! {
    panic!("cannot run this namespace test: {reason} (needs root to create network namespaces)")
}

/// A network namespace deleted by name on drop.
struct Netns(String);

impl Netns {
    fn add(name: String) -> Result<Self, String> {
        ip(&["netns", "add", &name])?;
        Ok(Self(name))
    }

    fn ip(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["-n", self.0.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Moves the *calling thread* into this namespace; sockets it opens afterwards live there.
    fn enter(&self) {
        let file = File::open(format!("/run/netns/{}", self.0)).expect("netns file");
        setns(file, CloneFlags::CLONE_NEWNET).expect("setns");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.0]) {
            eprintln!("cleanup: {e}");
        }
    }
}

/// Server and client namespaces joined by veth `lbs<pid>` (server) – `lbc<pid>` (client).
struct Lab {
    server: Netns,
    client: Netns,
    server_if: String,
    client_if: String,
}

impl Lab {
    fn new(tag: &str) -> Result<Self, String> {
        let pid = std::process::id();
        let server = Netns::add(format!("lifeboat-net-{tag}-s-{pid}"))?;
        let client = Netns::add(format!("lifeboat-net-{tag}-c-{pid}"))?;
        let lab = Self { server, client, server_if: format!("lbs{tag}{pid}"), client_if: format!("lbc{tag}{pid}") };
        lab.server.ip(&[
            "link",
            "add",
            &lab.server_if,
            "type",
            "veth",
            "peer",
            "name",
            &lab.client_if,
            "netns",
            &lab.client.0,
        ])?;
        for (ns, dev) in [(&lab.server, &lab.server_if), (&lab.client, &lab.client_if)] {
            // No automatic link-local address: the tests add fixed ones.
            ns.ip(&["link", "set", dev, "addrgenmode", "none"])?;
            ns.ip(&["link", "set", "lo", "up"])?;
        }
        Ok(lab)
    }

    fn up(&self) -> Result<(), String> {
        self.server.ip(&["link", "set", &self.server_if, "up"])?;
        self.client.ip(&["link", "set", &self.client_if, "up"])
    }

    /// Runs `f` on a fresh thread (so `setns` cannot leak into the test harness) with a
    /// current-thread runtime entered.
    fn run<F: FnOnce(&Self, &tokio::runtime::Runtime) + Send>(&self, f: F) {
        std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let _guard = rt.enter();
                f(self, &rt);
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        });
    }
}

fn ifindex(name: &str) -> u32 {
    nix::net::if_::if_nametoindex(name).expect("interface index")
}

/// A plain client socket bound to `at` in the calling thread's namespace, registered with the
/// runtime that `Lab::run` entered.
fn client_socket(at: SocketAddr) -> UdpSocket {
    let socket = std::net::UdpSocket::bind(at).unwrap_or_else(|e| panic!("client bind {at}: {e}"));
    socket.set_nonblocking(true).unwrap();
    UdpSocket::from_std(socket).unwrap()
}

/// Binds a transfer socket on the address and interface a request arrived on, answers the
/// client from it, and checks the client's answer comes back to it: returns the socket's address.
fn transfer_exchange(rt: &tokio::runtime::Runtime, client: &UdpSocket, dgram: &Datagram) -> SocketAddr {
    let mut transfer = TransferSocket::bind_local(dgram.local, dgram.ifindex).unwrap();
    let local = transfer.local_addr().unwrap();
    assert_eq!(local.ip(), dgram.local);
    assert_ne!(local.port(), 0);
    transfer.send_to(b"data", dgram.peer).unwrap();
    let from = rt.block_on(async {
        let from = reply_source(client, b"data").await;
        client.send_to(b"ack", from).await.unwrap();
        from
    });
    assert_eq!((from.ip(), from.port()), (local.ip(), local.port()));
    // A plain thread, not an async task: block in the socket's own bounded receive.
    let mut buf = [0u8; 16];
    let (n, peer) = transfer
        .recv_from(&mut buf, Duration::from_micros(50), Duration::from_secs(5))
        .unwrap()
        .expect("no answer to the transfer socket within 5 s");
    assert_eq!((&buf[..n], peer), (&b"ack"[..], dgram.peer));
    local
}

/// Sends `payload` until the server sees it (the veth carrier and neighbour discovery take a
/// moment), bounded to about 5 s.
async fn deliver(client: &UdpSocket, to: SocketAddr, server: &PktInfoSocket) -> Datagram {
    let port = client.local_addr().expect("client address").port();
    let mut buf = [0u8; 64];
    for _ in 0..20 {
        client.send_to(b"request", to).await.expect("send");
        // A second copy of an earlier client's request (sent again because the server was slow
        // to read the first) may still be queued: only this client's datagrams count.
        let from_client = async {
            loop {
                let dgram = server.recv(&mut buf).await.expect("recv");
                if dgram.peer.port() == port {
                    return dgram;
                }
            }
        };
        if let Ok(dgram) = timeout(Duration::from_millis(250), from_client).await {
            assert_eq!(&buf[..dgram.len], b"request");
            return dgram;
        }
    }
    panic!("nothing sent to {to} reached the server within 5 s");
}

async fn reply_source(client: &UdpSocket, expect: &[u8]) -> SocketAddr {
    let mut buf = [0u8; 64];
    let (n, from) = timeout(Duration::from_secs(5), client.recv_from(&mut buf))
        .await
        .expect("no reply within 5 s")
        .expect("recv_from");
    assert_eq!(&buf[..n], expect);
    from
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn broadcast_request_is_answered_from_the_interface_unicast_address() {
    let lab = match Lab::new("4") {
        Ok(lab) => lab,
        Err(reason) => unavailable(&reason),
    };
    let setup = (|| {
        let addr = |a: Ipv4Addr| format!("{a}/24");
        lab.server.ip(&["addr", "add", &addr(SERVER_V4), "brd", "+", "dev", &lab.server_if])?;
        lab.server.ip(&["addr", "add", &addr(SERVER_V4_SECONDARY), "dev", &lab.server_if])?;
        lab.client.ip(&["addr", "add", &addr(CLIENT_V4), "brd", "+", "dev", &lab.client_if])?;
        lab.up()
    })();
    setup.expect("namespace setup");

    lab.run(|lab, rt| {
        lab.server.enter();
        let server_ifindex = ifindex(&lab.server_if);
        let server = PktInfoSocket::bind("0.0.0.0:0".parse().unwrap()).unwrap();
        let port = server.local_addr().unwrap().port();
        lab.client.enter();
        let client = client_socket("0.0.0.0:0".parse().unwrap());
        client.set_broadcast(true).unwrap();
        let client_port = client.local_addr().unwrap().port();

        let dgram = rt.block_on(async {
            // To the subnet broadcast address: reply from the interface's unicast address.
            let dgram = deliver(&client, (BROADCAST_V4, port).into(), &server).await;
            assert_eq!(dgram.peer, (CLIENT_V4, client_port).into());
            assert_eq!(dgram.local, IpAddr::V4(SERVER_V4), "not the broadcast address");
            assert_eq!(dgram.ifindex, server_ifindex);
            server.send_from(b"reply", dgram.peer, Some(dgram.local), dgram.ifindex).await.unwrap();
            assert_eq!(reply_source(&client, b"reply").await, (SERVER_V4, port).into());
            dgram
        });

        // A per-transfer socket on that address answers from it too, and hears the client.
        lab.server.enter();
        let transfer = transfer_exchange(rt, &client, &dgram);
        assert_eq!(transfer.ip(), IpAddr::V4(SERVER_V4));

        rt.block_on(async {
            // To a secondary address: the reply must come from it, not from the primary
            // address the kernel would choose for a plain send_to.
            let dgram = deliver(&client, (SERVER_V4_SECONDARY, port).into(), &server).await;
            assert_eq!(dgram.local, IpAddr::V4(SERVER_V4_SECONDARY));
            server.send_from(b"secondary", dgram.peer, Some(dgram.local), dgram.ifindex).await.unwrap();
            let from = reply_source(&client, b"secondary").await;
            assert_eq!(from, (SERVER_V4_SECONDARY, port).into());
        });
    });
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn ipv6_link_local_request_keeps_its_scope_for_replies_and_transfers() {
    let lab = match Lab::new("6") {
        Ok(lab) => lab,
        Err(reason) => unavailable(&reason),
    };
    let setup = (|| {
        let add = |ns: &Netns, a: Ipv6Addr, dev: &str| ns.ip(&["addr", "add", &format!("{a}/64"), "dev", dev, "nodad"]);
        add(&lab.server, SERVER_ULA, &lab.server_if)?;
        add(&lab.server, SERVER_LL, &lab.server_if)?;
        add(&lab.client, CLIENT_ULA, &lab.client_if)?;
        add(&lab.client, CLIENT_LL, &lab.client_if)?;
        lab.up()
    })();
    if let Err(reason) = setup {
        unavailable(&format!("IPv6 unavailable in namespaces: {reason}"));
    }

    lab.run(|lab, rt| {
        lab.server.enter();
        let server_ifindex = ifindex(&lab.server_if);
        let server = PktInfoSocket::bind("[::]:0".parse().unwrap()).unwrap();
        let port = server.local_addr().unwrap().port();
        lab.client.enter();
        let client_ifindex = ifindex(&lab.client_if);
        let client_ula = client_socket(SocketAddr::new(CLIENT_ULA.into(), 0));
        let client_ll = client_socket(SocketAddrV6::new(CLIENT_LL, 0, 0, client_ifindex).into());
        let ll_port = client_ll.local_addr().unwrap().port();

        let dgram = rt.block_on(async {
            let dgram = deliver(&client_ula, (SERVER_ULA, port).into(), &server).await;
            assert_eq!(dgram.peer, client_ula.local_addr().unwrap());
            assert_eq!(dgram.local, IpAddr::V6(SERVER_ULA));
            assert_eq!(dgram.ifindex, server_ifindex);

            let to = SocketAddrV6::new(SERVER_LL, port, 0, client_ifindex).into();
            let dgram = deliver(&client_ll, to, &server).await;
            assert_eq!(dgram.peer, SocketAddrV6::new(CLIENT_LL, ll_port, 0, server_ifindex).into());
            assert_eq!(dgram.local, IpAddr::V6(SERVER_LL));
            assert_eq!(dgram.ifindex, server_ifindex);
            server.send_from(b"reply", dgram.peer, Some(dgram.local), dgram.ifindex).await.unwrap();
            let from = reply_source(&client_ll, b"reply").await;
            assert_eq!(from.ip(), IpAddr::V6(SERVER_LL));
            assert_eq!(from.port(), port);
            dgram
        });

        lab.server.enter();
        // A link-local address cannot be bound without its interface...
        let err = TransferSocket::bind_local(dgram.local, 0).unwrap_err();
        assert_eq!(err.addr(), SocketAddr::new(dgram.local, 0), "{err}");
        // ...so the transfer socket takes it from the datagram.
        let transfer = transfer_exchange(rt, &client_ll, &dgram);
        assert_eq!(transfer, SocketAddrV6::new(SERVER_LL, transfer.port(), 0, server_ifindex).into());
    });
}

/// The tap sees what another DHCP server sends to port 68 on the segment, with its MAC, and
/// nothing else: not other ports, not what this machine sends itself.
#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn the_client_port_tap_sees_replies_to_port_68_with_the_senders_mac() {
    let lab = match Lab::new("t") {
        Ok(lab) => lab,
        Err(reason) => unavailable(&reason),
    };
    let other_mac = "02:00:00:00:01:02";
    let setup = (|| {
        lab.client.ip(&["link", "set", &lab.client_if, "address", other_mac])?;
        lab.server.ip(&["addr", "add", &format!("{SERVER_V4}/24"), "brd", "+", "dev", &lab.server_if])?;
        lab.client.ip(&["addr", "add", &format!("{CLIENT_V4}/24"), "brd", "+", "dev", &lab.client_if])?;
        lab.up()
    })();
    setup.expect("namespace setup");

    lab.run(|lab, rt| {
        lab.server.enter();
        let ifindex = ifindex(&lab.server_if);
        let tap = ClientPortTap::open(ifindex).expect("open the tap (needs CAP_NET_RAW)");
        let own = client_socket("0.0.0.0:67".parse().unwrap());
        own.set_broadcast(true).unwrap();
        lab.client.enter();
        let other_server = client_socket("0.0.0.0:67".parse().unwrap());
        other_server.set_broadcast(true).unwrap();
        rt.block_on(async {
            // Sent until seen: the veth carrier takes a moment to come up.
            for attempt in 0..20 {
                // This machine's own broadcast, another port, then the other server's reply.
                own.send_to(b"ours", (BROADCAST_V4, 68)).await.unwrap();
                other_server.send_to(b"tftp", (SERVER_V4, 69)).await.unwrap();
                other_server.send_to(format!("offer {attempt}").as_bytes(), (BROADCAST_V4, 68)).await.unwrap();
                if let Ok(tapped) = timeout(Duration::from_millis(250), tap.recv()).await {
                    let tapped = tapped.expect("tap receive");
                    assert!(tapped.payload.starts_with(b"offer"), "the tap let through {:?}", tapped.payload);
                    assert_eq!(tapped.source, std::net::SocketAddrV4::new(CLIENT_V4, 67));
                    assert_eq!(tapped.mac.to_string(), other_mac);
                    return;
                }
            }
            panic!("the tap saw nothing of the other server's broadcasts within 5 s");
        });
    });
}

/// What tells a container behind a bridge from one on macvlan: the driver of its interface, and
/// where its default route leads.
#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn interface_drivers_and_the_default_route_are_read_in_the_namespace() {
    let lab = match Lab::new("d") {
        Ok(lab) => lab,
        Err(reason) => unavailable(&reason),
    };
    let macvlan = format!("lbm{}", std::process::id());
    let setup = (|| {
        lab.server.ip(&[
            "link",
            "add",
            "link",
            &lab.server_if,
            "name",
            &macvlan,
            "type",
            "macvlan",
            "mode",
            "bridge",
        ])?;
        lab.server.ip(&["addr", "add", &format!("{SERVER_V4}/24"), "dev", &lab.server_if])?;
        lab.up()?;
        lab.server.ip(&["route", "add", "default", "via", &CLIENT_V4.to_string(), "dev", &lab.server_if])
    })();
    setup.expect("namespace setup");

    lab.run(|lab, _| {
        lab.server.enter();
        assert_eq!(lifeboat_net::link_driver(&lab.server_if).expect("the veth's driver"), "veth");
        assert_eq!(lifeboat_net::link_driver(&macvlan).expect("the macvlan's driver"), "macvlan");
        assert!(lifeboat_net::link_driver("no-such-if").is_err());
        let route = lifeboat_net::default_route().expect("the default route just added");
        assert_eq!(route, lifeboat_net::DefaultRoute { interface: lab.server_if.clone(), gateway: Some(CLIENT_V4) });
    });
    lab.run(|lab, _| {
        lab.client.enter();
        assert_eq!(lifeboat_net::default_route(), None, "the client namespace has no default route");
    });
}

/// The MAC the client's neighbour table holds for `address` now, if any.
fn neighbour_mac_of(lab: &Lab, address: IpAddr) -> Option<String> {
    let out = Command::new("ip")
        .args(["-n", &lab.client.0, "neigh", "show", &address.to_string(), "dev", &lab.client_if])
        .output()
        .expect("ip neigh show");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    words.find(|w| *w == "lladdr").and(words.next()).map(str::to_owned)
}

/// A neighbour that cached another MAC for lifeboat's address (lifeboat restarted with a new
/// MAC) takes the new one as soon as lifeboat announces the address: ARP for IPv4, an
/// unsolicited Neighbor Advertisement for IPv6.
#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn announcements_replace_a_stale_mac_in_the_neighbours_table() {
    let lab = match Lab::new("a") {
        Ok(lab) => lab,
        Err(reason) => unavailable(&reason),
    };
    let server_mac = "02:00:00:00:0a:01";
    let old_mac = "02:00:00:00:0a:99";
    let setup = (|| {
        lab.server.ip(&["link", "set", &lab.server_if, "address", server_mac])?;
        lab.server.ip(&["addr", "add", &format!("{SERVER_V4}/24"), "dev", &lab.server_if])?;
        lab.client.ip(&["addr", "add", &format!("{CLIENT_V4}/24"), "dev", &lab.client_if])?;
        lab.server.ip(&["addr", "add", &format!("{SERVER_ULA}/64"), "dev", &lab.server_if, "nodad"])?;
        lab.client.ip(&["addr", "add", &format!("{CLIENT_ULA}/64"), "dev", &lab.client_if, "nodad"])?;
        lab.up()?;
        for address in [SERVER_V4.to_string(), SERVER_ULA.to_string()] {
            lab.client.ip(&["neigh", "replace", &address, "lladdr", old_mac, "dev", &lab.client_if, "nud", "stale"])?;
        }
        // The kernel ignores ARP for an entry it changed less than `locktime` ago (1 s).
        let sysctl = format!("net.ipv4.neigh.{}.locktime=0", lab.client_if);
        let out = Command::new("ip").args(["netns", "exec", &lab.client.0, "sysctl", "-qw", &sysctl]).output();
        out.map_err(|e| e.to_string()).and_then(|o| if o.status.success() { Ok(()) } else { Err("sysctl".into()) })
    })();
    setup.expect("namespace setup");
    assert_eq!(neighbour_mac_of(&lab, IpAddr::V4(SERVER_V4)).as_deref(), Some(old_mac));

    let mac = lifeboat_dhcp::Mac([0x02, 0, 0, 0, 0x0a, 0x01]);
    lab.run(|lab, _rt| {
        lab.server.enter();
        let sender = lifeboat_net::FrameSender::open().expect("a packet socket (needs CAP_NET_RAW)");
        let ifindex = ifindex(&lab.server_if);
        for address in [IpAddr::V4(SERVER_V4), IpAddr::V6(SERVER_ULA)] {
            let announcement = match address {
                IpAddr::V4(v4) => lifeboat_net::Announcement::ipv4(mac, v4),
                IpAddr::V6(v6) => lifeboat_net::Announcement::ipv6(mac, v6),
            };
            // Announced until taken (bounded): the veth carrier takes a moment to come up.
            let mut taken = false;
            for _ in 0..50 {
                sender.announce(ifindex, &announcement).expect("send the announcement");
                std::thread::sleep(Duration::from_millis(100));
                if neighbour_mac_of(lab, address).as_deref() == Some(server_mac) {
                    taken = true;
                    break;
                }
            }
            assert!(taken, "{address}: the client still holds {:?}", neighbour_mac_of(lab, address));
        }
    });
}

/// Netlink lists an IPv6 address only once it may be announced: one added with `nodad` at once,
/// one still under duplicate address detection (on a link that is down, it stays there) not.
#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn only_ipv6_addresses_past_duplicate_detection_are_usable() {
    let lab = match Lab::new("v") {
        Ok(lab) => lab,
        Err(reason) => unavailable(&reason),
    };
    let tentative = Ipv6Addr::new(0xfd42, 0x231, 7, 0, 0, 0, 0, 0x99);
    let setup = (|| {
        lab.server.ip(&["-6", "addr", "add", &format!("{SERVER_ULA}/64"), "dev", &lab.server_if, "nodad"])?;
        lab.server.ip(&["-6", "addr", "add", &format!("{tentative}/64"), "dev", &lab.server_if])
    })();
    setup.expect("namespace setup");
    lab.run(|lab, rt| {
        lab.server.enter();
        let index = ifindex(&lab.server_if);
        let usable = rt.block_on(lifeboat_net::usable_ipv6_addresses()).expect("the addresses");
        let on_veth: Vec<Ipv6Addr> = usable.iter().filter(|a| a.interface_index == index).map(|a| a.address).collect();
        assert_eq!(on_veth, [SERVER_ULA], "{usable:?}");
        assert!(usable.iter().any(|a| a.address == Ipv6Addr::LOCALHOST), "{usable:?}");
    });
}

/// The kernel says when an address is added and when an interface's MAC changes; nothing
/// needs to look.
#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn address_changes_report_an_added_address_and_a_new_mac() {
    use futures_util::{FutureExt as _, StreamExt as _};
    let lab = match Lab::new("n") {
        Ok(lab) => lab,
        Err(reason) => unavailable(&reason),
    };
    lab.up().expect("links up");
    lab.run(|lab, rt| {
        lab.server.enter();
        rt.block_on(async {
            let mut changes = lifeboat_net::AddressChanges::subscribe().expect("subscribe");
            let bound = Duration::from_secs(5);
            let server_if = lab.server_if.as_str();
            for change in [
                vec!["addr", "add", "10.231.7.77/24", "dev", server_if],
                vec!["link", "set", "dev", server_if, "address", "02:00:00:77:00:01"],
            ] {
                // What came before (the links going up) is not this change.
                while let Some(Some(())) = changes.next().now_or_never() {}
                lab.server.ip(&change).expect("the change");
                let heard = timeout(bound, changes.next()).await;
                assert_eq!(heard, Ok(Some(())), "no notification within {bound:?} of `ip {}`", change.join(" "));
            }
        });
    });
}
