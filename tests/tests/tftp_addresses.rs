//! Replies come from the address the device talked to: a secondary address of the server, and
//! the interface's own address when the request went to the broadcast address. Bootloaders
//! drop answers from any other address.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use lifeboat_e2e::{Client, Pair, random_file, require_netns, sha256_file, spawn_lifeboat_serve};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Sends an RRQ for `name` to `to` (with SO_BROADCAST) from the client namespace and prints
/// the source address of the first answer. Python's socket module, since no packaged client
/// sends a request to a broadcast address.
const FIRST_ANSWER_FROM: &str = r#"
import socket, sys
to, name = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.settimeout(5)
s.sendto(b"\x00\x01" + name.encode() + b"\x00octet\x00", (to, 69))
data, (host, port) = s.recvfrom(1024)
opcode = int.from_bytes(data[:2], "big")
print(host, port, opcode)
"#;

fn first_answer_from(pair: &Pair, to: Ipv4Addr, name: &str) -> (IpAddr, u16, u16) {
    let out = pair.client.run_ok(&["python3", "-c", FIRST_ANSWER_FROM, &to.to_string(), name], TIMEOUT);
    let stdout = out.stdout.clone();
    let mut fields = stdout.split_whitespace();
    let mut next = || fields.next().unwrap_or_else(|| panic!("unexpected output: {stdout}")).to_owned();
    (next().parse().unwrap(), next().parse().unwrap(), next().parse().unwrap())
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn replies_come_from_the_secondary_address_the_client_asked() {
    require_netns!("python3", "curl");
    let pair = Pair::new();
    let secondary =
        Ipv4Addr::new(pair.server_ip.octets()[0], pair.server_ip.octets()[1], pair.server_ip.octets()[2], 10);
    pair.server.run_ok(&["ip", "addr", "add", &format!("{secondary}/24"), "dev", &pair.server_dev], TIMEOUT);
    let root = tempfile::tempdir().unwrap();
    let expected = random_file(root.path().join("image.bin"), 300_000, 11);
    let _server = spawn_lifeboat_serve(&pair.server, root.path(), IpAddr::V4(Ipv4Addr::UNSPECIFIED), &[]);

    let (from, port, opcode) = first_answer_from(&pair, secondary, "image.bin");
    assert_eq!(from, IpAddr::V4(secondary), "the answer must come from the address the request went to");
    assert_ne!(port, 69, "a transfer answers from a port of its own");
    assert_eq!(opcode, 3, "DATA");

    let out_dir = tempfile::tempdir().unwrap();
    let local = out_dir.path().join("image.bin");
    let client = Client::Curl { blksize: Some(1468) };
    let out = client.get(&pair.client, IpAddr::V4(secondary), "image.bin", &local, TIMEOUT);
    out.assert_success();
    assert_eq!(sha256_file(&local), expected);
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn a_broadcast_request_is_answered_from_the_interface_address() {
    require_netns!("python3");
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    random_file(root.path().join("image.bin"), 1000, 12);
    let _server = spawn_lifeboat_serve(&pair.server, root.path(), IpAddr::V4(Ipv4Addr::UNSPECIFIED), &[]);
    let [a, b, c, _] = pair.server_ip.octets();
    let (from, _, opcode) = first_answer_from(&pair, Ipv4Addr::new(a, b, c, 255), "image.bin");
    assert_eq!(from, IpAddr::V4(pair.server_ip));
    assert_eq!(opcode, 3, "DATA");
}
