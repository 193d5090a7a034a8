//! Socket behaviour on loopback only (127.0.0.0/8 and ::1, port 0): no traffic leaves the host.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use lifeboat_net::{BindError, Datagram, PktInfoSocket, TransferSocket};
use tokio::net::UdpSocket;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn lo_index() -> u32 {
    nix::net::if_::if_nametoindex("lo").expect("loopback interface")
}

async fn recv(socket: &PktInfoSocket, buf: &mut [u8]) -> Datagram {
    timeout(WAIT, socket.recv(buf)).await.expect("no datagram within 5 s").expect("recv")
}

async fn recv_from(socket: &UdpSocket, buf: &mut [u8]) -> (usize, SocketAddr) {
    timeout(WAIT, socket.recv_from(buf)).await.expect("no datagram within 5 s").expect("recv_from")
}

/// A plain client socket; no lifeboat code involved on the client side.
async fn client(at: &str) -> UdpSocket {
    UdpSocket::bind(at).await.expect("client socket")
}

/// Port of a socket bound to a wildcard address.
fn port(socket: &PktInfoSocket) -> u16 {
    socket.local_addr().unwrap().port()
}

#[tokio::test]
async fn ipv4_datagram_reports_sender_and_the_address_it_was_sent_to() {
    let server = PktInfoSocket::bind(addr("0.0.0.0:0")).unwrap();
    let client = client("127.0.0.1:0").await;
    // 127.0.0.2 is local (all of 127/8 is) but is not the address the kernel would pick.
    client.send_to(b"read request", (Ipv4Addr::new(127, 0, 0, 2), port(&server))).await.unwrap();

    let mut buf = [0u8; 64];
    let dgram = recv(&server, &mut buf).await;
    assert_eq!(&buf[..dgram.len], b"read request");
    assert!(!dgram.truncated);
    assert_eq!(dgram.peer, client.local_addr().unwrap());
    assert_eq!(dgram.local, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    assert_eq!(dgram.ifindex, lo_index());
}

#[tokio::test]
async fn send_from_sets_the_source_address_of_the_reply() {
    let server = PktInfoSocket::bind(addr("0.0.0.0:0")).unwrap();
    let server_port = port(&server);
    let client = client("127.0.0.1:0").await;
    client.send_to(b"hi", (Ipv4Addr::new(127, 0, 0, 2), server_port)).await.unwrap();
    let mut buf = [0u8; 64];
    let dgram = recv(&server, &mut buf).await;

    // Reply exactly as the single-port driver will: from the address the client talked to.
    let sent = server.send_from(b"from .2", dgram.peer, Some(dgram.local), dgram.ifindex).await.unwrap();
    assert_eq!(sent, 7);
    let (n, from) = recv_from(&client, &mut buf).await;
    assert_eq!(&buf[..n], b"from .2");
    assert_eq!(from, addr(&format!("127.0.0.2:{server_port}")));

    // An explicit source without an interface.
    server.send_from(b"from .3", dgram.peer, Some("127.0.0.3".parse().unwrap()), 0).await.unwrap();
    let (n, from) = recv_from(&client, &mut buf).await;
    assert_eq!(&buf[..n], b"from .3");
    assert_eq!(from, addr(&format!("127.0.0.3:{server_port}")));

    // No source given: the kernel picks 127.0.0.1, which is what a plain send_to would do
    // and why the two replies above prove the control message took effect.
    server.send_from(b"kernel", dgram.peer, None, 0).await.unwrap();
    let (n, from) = recv_from(&client, &mut buf).await;
    assert_eq!(&buf[..n], b"kernel");
    assert_eq!(from, addr(&format!("127.0.0.1:{server_port}")));
}

#[tokio::test]
async fn oversized_datagram_is_reported_as_truncated() {
    let server = PktInfoSocket::bind(addr("127.0.0.1:0")).unwrap();
    let client = client("127.0.0.1:0").await;
    client.send_to(&[7u8; 100], server.local_addr().unwrap()).await.unwrap();
    let mut buf = [0u8; 10];
    let dgram = recv(&server, &mut buf).await;
    assert_eq!(dgram.len, 10);
    assert!(dgram.truncated);
    assert_eq!(buf, [7u8; 10]);
}

#[tokio::test]
async fn send_from_rejects_mixed_address_families() {
    let server = PktInfoSocket::bind(addr("127.0.0.1:0")).unwrap();
    let err = server.send_from(b"x", addr("127.0.0.1:9"), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)), 0).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let err = server.send_from(b"x", addr("[::1]:9"), None, 0).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

/// Binds `[::]:0`, or explains why IPv6 loopback cannot be tested here.
fn ipv6_server() -> Option<PktInfoSocket> {
    let probe = std::net::UdpSocket::bind("[::1]:0");
    match (probe, PktInfoSocket::bind(addr("[::]:0"))) {
        (Ok(_), Ok(server)) => Some(server),
        (probe, server) => {
            eprintln!(
                "SKIP: IPv6 loopback unavailable ({:?} / {:?})",
                probe.err(),
                server.err().map(|e| e.to_string())
            );
            None
        }
    }
}

#[tokio::test]
async fn ipv6_datagram_reports_destination_and_reply_keeps_it() {
    let Some(server) = ipv6_server() else { return };
    let server_port = port(&server);
    let client = client("[::1]:0").await;
    client.send_to(b"v6 request", (Ipv6Addr::LOCALHOST, server_port)).await.unwrap();

    let mut buf = [0u8; 64];
    let dgram = recv(&server, &mut buf).await;
    assert_eq!(&buf[..dgram.len], b"v6 request");
    assert_eq!(dgram.peer, client.local_addr().unwrap());
    assert_eq!(dgram.local, IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert_eq!(dgram.ifindex, lo_index());

    server.send_from(b"v6 reply", dgram.peer, Some(dgram.local), dgram.ifindex).await.unwrap();
    let (n, from) = recv_from(&client, &mut buf).await;
    assert_eq!(&buf[..n], b"v6 reply");
    assert_eq!(from, addr(&format!("[::1]:{server_port}")));
}

#[tokio::test]
async fn ipv6_socket_is_v6only_so_it_coexists_with_ipv4_on_the_same_port() {
    let v4 = PktInfoSocket::bind(addr("0.0.0.0:0")).unwrap();
    let p = port(&v4);
    match PktInfoSocket::bind(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), p)) {
        Ok(v6) => assert_eq!(port(&v6), p),
        // Without IPV6_V6ONLY this would be `InUse`.
        Err(BindError::Unsupported { .. }) => eprintln!("SKIP: IPv6 disabled"),
        Err(e) => panic!("[::]:{p} should bind next to 0.0.0.0:{p}: {e}"),
    }
}

#[tokio::test]
async fn binding_a_taken_port_is_in_use() {
    // Another program (no SO_REUSEADDR) owns the port.
    let other = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let taken = other.local_addr().unwrap();
    let err = PktInfoSocket::bind(taken).unwrap_err();
    assert!(matches!(err, BindError::InUse { .. }), "{err:?}");
    assert_eq!(err.addr(), taken);
    assert!(err.to_string().contains(&format!("ss -ulpn 'sport = :{}'", taken.port())), "{err}");

    // Two lifeboat sockets must not share a port either (SO_REUSEADDR would allow it on Linux).
    let first = PktInfoSocket::bind(addr("127.0.0.1:0")).unwrap();
    let err = PktInfoSocket::bind(first.local_addr().unwrap()).unwrap_err();
    assert!(matches!(err, BindError::InUse { .. }), "{err:?}");
    let first = TransferSocket::bind(addr("127.0.0.1:0")).unwrap();
    let taken = first.local_addr().unwrap();
    let err = TransferSocket::bind(taken).unwrap_err();
    assert!(matches!(err, BindError::InUse { .. }), "{err:?}");
    assert_eq!(err.addr(), taken);
    // Nor a listening socket and a transfer socket.
    let err = PktInfoSocket::bind(taken).unwrap_err();
    assert!(matches!(err, BindError::InUse { .. }), "{err:?}");
}

#[tokio::test]
async fn binding_an_address_this_host_does_not_have_is_not_available() {
    // 192.0.2.0/24 is TEST-NET-1; binding sends nothing.
    let err = PktInfoSocket::bind(addr("192.0.2.1:0")).unwrap_err();
    assert!(matches!(err, BindError::AddrNotAvailable { .. }), "{err:?}");
    assert!(err.to_string().contains("no interface on this machine has 192.0.2.1"));
    let err = TransferSocket::bind_local("192.0.2.1".parse().unwrap(), 0).unwrap_err();
    assert!(matches!(err, BindError::AddrNotAvailable { .. }), "{err:?}");
    assert_eq!(err.addr(), addr("192.0.2.1:0"));
    let err = TransferSocket::bind(addr("192.0.2.1:6969")).unwrap_err();
    assert!(matches!(err, BindError::AddrNotAvailable { .. }), "{err:?}");
}

/// Effective capabilities of this process include CAP_NET_BIND_SERVICE (bit 10).
fn can_bind_low_ports() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
        .unwrap();
    let unprivileged_start: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024);
    cap_eff & (1 << 10) != 0 || unprivileged_start <= 9
}

/// Set in the child that [`binding_a_low_port_without_privilege_is_permission_denied`] starts
/// without the privilege.
const UNPRIVILEGED_CHILD: &str = "LIFEBOAT_TEST_UNPRIVILEGED_CHILD";

#[tokio::test]
async fn binding_a_low_port_without_privilege_is_permission_denied() {
    if can_bind_low_ports() {
        assert!(
            std::env::var_os(UNPRIVILEGED_CHILD).is_none(),
            "still allowed to bind port 9 after dropping CAP_NET_BIND_SERVICE in a new network namespace"
        );
        // Root, as in CI: run this test again in a child that lacks CAP_NET_BIND_SERVICE, in a
        // network namespace of its own (net.ipv4.ip_unprivileged_port_start is per namespace, and
        // a container may have set it to 0 in ours).
        let exe = std::env::current_exe().expect("the test binary's path");
        let output = std::process::Command::new("unshare")
            .args(["--net", "--", "setpriv", "--bounding-set=-net_bind_service", "--inh-caps=-net_bind_service", "--"])
            .arg(exe)
            .args(["--exact", "binding_a_low_port_without_privilege_is_permission_denied", "--test-threads=1"])
            .env(UNPRIVILEGED_CHILD, "1")
            .output()
            .expect("run unshare and setpriv (util-linux)");
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "the unprivileged run failed:\n{text}");
        assert!(text.contains("1 passed"), "the unprivileged run did not run the test:\n{text}");
        return;
    }
    // Any address: only the port's privilege is at stake, and binding sends nothing.
    let err = PktInfoSocket::bind(addr("0.0.0.0:9")).unwrap_err();
    assert!(matches!(err, BindError::PermissionDenied { .. }), "{err:?}");
    assert!(err.to_string().contains("CAP_NET_BIND_SERVICE"));
}

/// `(rb, tb)` of the UDP socket bound to `local`, as `ss -m` reports them (the kernel's view of
/// SO_RCVBUF / SO_SNDBUF; `TransferSocket` does not expose its descriptor). `None` if `ss` is
/// missing or says nothing useful.
fn ss_buffer_sizes(local: SocketAddr) -> Option<(usize, usize)> {
    let out = std::process::Command::new("ss")
        .args(["-uanmH", &format!("src {local}")])
        .output()
        .map_err(|e| eprintln!("cannot run `ss`: {e}"))
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let skmem = text.split("skmem:(").nth(1)?.split(')').next()?;
    let field = |name: &str| skmem.split(',').find_map(|f| f.strip_prefix(name)?.parse::<usize>().ok());
    Some((field("rb")?, field("tb")?))
}

fn sysctl(path: &str) -> usize {
    std::fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

const SPIN: Duration = Duration::from_micros(50);

#[test]
fn transfer_socket_gets_an_ephemeral_port_on_the_address_and_big_buffers() {
    // No runtime: the transfer socket is driven by plain blocking calls on its own thread.
    let mut transfer = TransferSocket::bind_local(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 0).unwrap();
    let local = transfer.local_addr().unwrap();
    assert_eq!(local.ip(), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    assert_ne!(local.port(), 0);
    // The interface index only matters for IPv6 link-local addresses.
    let mut other = TransferSocket::bind_local(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), lo_index()).unwrap();
    assert_eq!(other.local_addr().unwrap().ip(), local.ip());
    assert_ne!(other.local_addr().unwrap().port(), local.port());

    // The kernel doubles the request and caps it at rmem_max / wmem_max; only check when the
    // caps allow 1 MiB.
    match ss_buffer_sizes(local) {
        Some((rb, tb)) => {
            let (rmem_max, wmem_max) = (sysctl("/proc/sys/net/core/rmem_max"), sysctl("/proc/sys/net/core/wmem_max"));
            if rmem_max >= 1 << 20 {
                assert!(rb >= 1 << 20, "receive buffer is {rb}");
            } else {
                eprintln!("net.core.rmem_max is {rmem_max}; receive buffer got {rb}");
            }
            if wmem_max >= 1 << 20 {
                assert!(tb >= 1 << 20, "send buffer is {tb}");
            } else {
                eprintln!("net.core.wmem_max is {wmem_max}; send buffer got {tb}");
            }
        }
        None => eprintln!("SKIP buffer size check: `ss -m` did not report the socket's buffers"),
    }

    let mut client = TransferSocket::bind(addr("127.0.0.1:0")).unwrap();
    let client_addr = client.local_addr().unwrap();
    let mut buf = [0u8; 16];
    client.send_to(b"ack", local).unwrap();
    let (n, from) = transfer.recv_from(&mut buf, SPIN, WAIT).unwrap().expect("no datagram within 5 s");
    assert_eq!((&buf[..n], from), (&b"ack"[..], client_addr));
    transfer.send_to(b"data", from).unwrap();
    let (n, from) = client.recv_from(&mut buf, SPIN, WAIT).unwrap().expect("no datagram within 5 s");
    assert_eq!((&buf[..n], from), (&b"data"[..], local));
    // Nothing else was sent, and the other socket on the address got none of it.
    assert_eq!(other.recv_from(&mut buf, Duration::ZERO, Duration::from_millis(20)).unwrap(), None);
}

#[tokio::test]
async fn try_send_from_sets_the_source_address_without_waiting() {
    let server = PktInfoSocket::bind(addr("0.0.0.0:0")).unwrap();
    let server_port = port(&server);
    let client = client("127.0.0.1:0").await;
    client.send_to(b"hi", (Ipv4Addr::new(127, 0, 0, 2), server_port)).await.unwrap();
    let mut buf = [0u8; 64];
    let dgram = recv(&server, &mut buf).await;

    // From the address the client talked to, the way a transfer thread answers.
    assert_eq!(server.try_send_from(b"from .2", dgram.peer, Some(dgram.local), dgram.ifindex).unwrap(), 7);
    let (n, from) = recv_from(&client, &mut buf).await;
    assert_eq!((&buf[..n], from), (&b"from .2"[..], addr(&format!("127.0.0.2:{server_port}"))));

    // An explicit source, sent from a thread outside the runtime.
    std::thread::scope(|s| {
        s.spawn(|| server.try_send_from(b"from .3", dgram.peer, Some("127.0.0.3".parse().unwrap()), 0)).join().unwrap()
    })
    .unwrap();
    let (n, from) = recv_from(&client, &mut buf).await;
    assert_eq!((&buf[..n], from), (&b"from .3"[..], addr(&format!("127.0.0.3:{server_port}"))));

    // No source: the kernel's choice, 127.0.0.1, so the two replies above were not luck.
    server.try_send_from(b"kernel", dgram.peer, None, 0).unwrap();
    let (n, from) = recv_from(&client, &mut buf).await;
    assert_eq!((&buf[..n], from), (&b"kernel"[..], addr(&format!("127.0.0.1:{server_port}"))));

    // The same family checks as send_from.
    let err = server.try_send_from(b"x", dgram.peer, Some(IpAddr::V6(Ipv6Addr::LOCALHOST)), 0).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let err = server.try_send_from(b"x", addr("[::1]:9"), None, 0).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}
