//! lifeboat's DHCP server against attackers on the segment, with real clients in namespaces: a
//! flood of DISCOVERs from made-up MACs must neither keep a new client from an address for long
//! nor delay a reserved host, and a relayed DISCOVER whose relay address nobody configured must
//! get no answer (it would send the OFFER wherever the sender chose).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use lifeboat_e2e::dhcp::{DhcpLink, DhcpScope, DhcpServer, DhcpServerKind, STEP_TIMEOUT, Udhcpc};
use lifeboat_e2e::require_netns;

/// A DISCOVER from `mac` with the broadcast flag, and `giaddr` when relayed.
fn discover(mac: [u8; 6], xid: u32, giaddr: Ipv4Addr) -> Vec<u8> {
    let mut packet = vec![0u8; 236];
    packet[..3].copy_from_slice(&[1, 1, 6]);
    packet[4..8].copy_from_slice(&xid.to_be_bytes());
    packet[10] = 0x80;
    packet[24..28].copy_from_slice(&giaddr.octets());
    packet[28..34].copy_from_slice(&mac);
    packet.extend_from_slice(&[99, 130, 83, 99, 53, 1, 1, 255]);
    packet
}

fn set_client_mac(link: &DhcpLink, mac: &str) {
    for step in [
        &["ip", "link", "set", "dev", &link.client_dev, "down"][..],
        &["ip", "link", "set", "dev", &link.client_dev, "address", mac],
        &["ip", "link", "set", "dev", &link.client_dev, "up"],
    ] {
        link.client.run_ok(step, STEP_TIMEOUT);
    }
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn a_hundred_made_up_macs_in_a_second_neither_starve_a_new_client_nor_delay_a_reserved_host() {
    require_netns!("udhcpc");
    let link = DhcpLink::new();
    let mut scope = DhcpScope::for_link(&link);
    let reserved_mac = "02:1b:00:00:aa:01";
    let reserved_ip = link.host(20);
    scope.reservations = vec![(reserved_mac.to_owned(), reserved_ip)];
    let server = DhcpServer::start(DhcpServerKind::Lifeboat, &link, &scope);
    // The flood: broadcast DISCOVERs from port 68 of the client's side, a new MAC each.
    link.client.run_ok(&["ip", "route", "add", "255.255.255.255/32", "dev", &link.client_dev], STEP_TIMEOUT);
    let flooder = link.client.udp_socket(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 68)), Duration::from_millis(10));
    let started = Instant::now();
    for n in 0..100u32 {
        let [_, b, c, d] = n.to_be_bytes();
        let mac = [0x06, 0x66, 0, b, c, d];
        flooder.send_to(&discover(mac, n, Ipv4Addr::UNSPECIFIED), (Ipv4Addr::BROADCAST, 67)).unwrap();
        std::thread::sleep(Duration::from_millis(8));
    }
    drop(flooder);
    eprintln!("100 DISCOVERs sent in {:?}", started.elapsed());

    // The reserved host, at once.
    set_client_mac(&link, reserved_mac);
    let asked = Instant::now();
    let mut reserved = Udhcpc::new();
    reserved.start(&link);
    let bound = reserved.wait_for(&["bound"], STEP_TIMEOUT).unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert_eq!(bound.ipv4("ip"), Some(reserved_ip));
    let reserved_took = asked.elapsed();
    assert!(reserved_took < Duration::from_secs(2), "the reserved host waited {reserved_took:?}");
    drop(reserved);

    // A new client, right after the flood.
    set_client_mac(&link, "02:1b:00:00:bb:02");
    let asked = Instant::now();
    let mut newcomer = Udhcpc::new();
    newcomer.start(&link);
    let bound = newcomer.wait_for(&["bound"], STEP_TIMEOUT).unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    let took = asked.elapsed();
    let address = bound.ipv4("ip").expect("udhcpc reports the address");
    assert!(scope.in_range(address), "{address}");
    assert!(took < Duration::from_secs(5), "the new client waited {took:?} after the flood:\n{}", server.log());
    eprintln!("reserved host bound in {reserved_took:?}, new client in {took:?}");
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn a_relayed_discover_with_a_relay_address_nobody_configured_gets_nothing() {
    require_netns!();
    let link = DhcpLink::new();
    let scope = DhcpScope::for_link(&link);
    let server = DhcpServer::start(DhcpServerKind::Lifeboat, &link, &scope);
    // The "relay" is any host of the segment the attacker names: its port 67 would get the OFFER.
    let victim = link.host(77);
    link.client.run_ok(&["ip", "addr", "add", &format!("{victim}/24"), "dev", &link.client_dev], STEP_TIMEOUT);
    let listener = link.client.udp_socket(SocketAddr::from((victim, 67)), Duration::from_secs(3));
    let attacker = link.client.udp_socket(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), Duration::from_millis(10));
    for xid in 0..3 {
        attacker.send_to(&discover([6, 0, 0, 0, 0, 7], xid, victim), (link.server_ip, 67)).unwrap();
    }
    let mut buf = [0u8; 1500];
    match listener.recv_from(&mut buf) {
        Ok((len, from)) => panic!("{from} sent {len} bytes to the spoofed relay address:\n{}", server.log()),
        Err(e) => assert!(matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut), "{e}"),
    }
}
