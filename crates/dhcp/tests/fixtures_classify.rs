//! Decoding and classification of the fixture packets in `tests/fixtures/`. Each is the UDP
//! payload of a request, in hex, whose first line says where it comes from: `captured-*` files
//! were recorded with tcpdump from real programs and firmware (iPXE, OVMF, AAVMF and U-Boot in
//! QEMU; dhclient, udhcpc, bootpc, bootptest and dhcrelay in network namespaces); a
//! `constructed-*` file would be one built by hand for firmware that could not be run, and must
//! say so.

#![allow(clippy::disallowed_methods, reason = "a test is a driver: it reads its fixture files")]

mod support;

use lifeboat_dhcp::wire::MessageType;
use lifeboat_dhcp::{Kind, classify, decode};
use support::fixture;

struct Want {
    file: &'static str,
    order: &'static [u8],
    arch: Option<u16>,
    vendor: Option<&'static str>,
    /// Option 57, the largest IP datagram the client accepts.
    max_message: Option<u16>,
    ipxe: bool,
    pxe: bool,
}

#[test]
fn firmware_discovers_classify() {
    let cases = [
        Want {
            file: "captured-ipxe-bios-discover.hex",
            order: &[53, 57, 93, 94, 60, 77, 55, 175, 61, 97],
            arch: Some(0),
            vendor: Some("PXEClient:Arch:00000:UNDI:002001"),
            max_message: Some(1472),
            ipxe: true,
            pxe: true,
        },
        Want {
            file: "captured-ipxe-efi-x64-discover.hex",
            order: &[53, 57, 93, 94, 60, 77, 55, 175, 61, 97],
            arch: Some(7),
            vendor: Some("PXEClient:Arch:00007:UNDI:003010"),
            max_message: Some(1472),
            ipxe: true,
            pxe: true,
        },
        Want {
            file: "captured-ovmf-uefi-discover.hex",
            order: &[53, 57, 55, 97, 94, 93, 60],
            arch: Some(7),
            vendor: Some("PXEClient:Arch:00007:UNDI:003000"),
            max_message: Some(1472),
            ipxe: false,
            pxe: true,
        },
        Want {
            file: "captured-aavmf-uefi-arm64-discover.hex",
            order: &[53, 57, 55, 97, 94, 93, 60],
            arch: Some(11),
            vendor: Some("PXEClient:Arch:00011:UNDI:003000"),
            max_message: Some(1472),
            ipxe: false,
            pxe: true,
        },
        Want {
            file: "captured-uboot-arm64-discover.hex",
            order: &[53, 57, 93, 94, 60, 55],
            arch: Some(22),
            vendor: Some("U-Boot.armv8"),
            max_message: Some(576),
            ipxe: false,
            pxe: false,
        },
    ];
    for w in cases {
        let req = decode(&fixture(w.file)).unwrap_or_else(|e| panic!("{}: {e}", w.file));
        assert_eq!(req.kind, Kind::Dhcp(MessageType::Discover), "{}", w.file);
        let order: Vec<u8> = req.options.iter().map(|o| o.code).collect();
        assert_eq!(order, w.order, "{}", w.file);
        let max = req.option(57).map(|d| u16::from_be_bytes([d[0], d[1]]));
        assert_eq!(max, w.max_message, "{}", w.file);
        let c = classify(&req);
        assert_eq!(c.arch, w.arch, "{}", w.file);
        assert_eq!(c.vendor_class.as_deref(), w.vendor, "{}", w.file);
        assert_eq!(c.is_ipxe(), w.ipxe, "{}", w.file);
        assert_eq!(c.is_pxe(), w.pxe, "{}", w.file);
    }
}

/// Every other captured packet decodes as the message its client sent, and the operating-system
/// clients are not mistaken for firmware.
#[test]
fn captured_client_packets_decode_as_their_kind() {
    let cases = [
        ("captured-udhcpc-discover.hex", Kind::Dhcp(MessageType::Discover)),
        ("captured-udhcpc-renew.hex", Kind::Dhcp(MessageType::Request)),
        ("captured-udhcpc-decline.hex", Kind::Dhcp(MessageType::Decline)),
        ("captured-udhcpc-release.hex", Kind::Dhcp(MessageType::Release)),
        ("captured-dhclient-discover.hex", Kind::Dhcp(MessageType::Discover)),
        ("captured-dhclient-request.hex", Kind::Dhcp(MessageType::Request)),
        ("captured-dhclient-init-reboot.hex", Kind::Dhcp(MessageType::Request)),
        ("captured-dhclient-renew.hex", Kind::Dhcp(MessageType::Request)),
        ("captured-dhclient-decline.hex", Kind::Dhcp(MessageType::Decline)),
        ("captured-dhclient-release.hex", Kind::Dhcp(MessageType::Release)),
        ("captured-dhcrelay-discover.hex", Kind::Dhcp(MessageType::Discover)),
        ("captured-dhcrelay-request.hex", Kind::Dhcp(MessageType::Request)),
        ("captured-bootpc-bootrequest.hex", Kind::Bootp { cookie: true }),
        ("captured-bootptest-nocookie-bootrequest.hex", Kind::Bootp { cookie: false }),
    ];
    for (file, kind) in cases {
        let bytes = fixture(file);
        let req = decode(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(req.kind, kind, "{file}");
        let c = classify(&req);
        assert!(!c.is_ipxe() && !c.is_pxe() && c.arch.is_none(), "{file}: {c:?}");
        assert_eq!(c.bootp, matches!(kind, Kind::Bootp { .. }), "{file}");
        if let Kind::Dhcp(_) = kind {
            // Damage the first option's length byte: must be rejected, never taken for BOOTP.
            let mut broken = bytes.clone();
            broken[241] = 250;
            assert!(decode(&broken).is_err(), "{file}: damaged copy was accepted");
        }
    }
}

/// Each fixture's name and first line agree on whether it was captured or constructed.
#[test]
fn fixtures_say_where_they_come_from() {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let first = std::fs::read_to_string(&path).unwrap().lines().next().unwrap_or_default().to_owned();
        let label = match name.split('-').next() {
            Some("captured") => "# CAPTURED from ",
            Some("constructed") => "# CONSTRUCTED",
            _ => panic!("{name}: fixture names start with captured- or constructed-"),
        };
        assert!(first.starts_with(label), "{name}: first line must start with {label:?}, is {first:?}");
        assert!(name.ends_with(".hex"), "{name}");
        decode(&fixture(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        seen += 1;
    }
    assert!(seen >= 20, "only {seen} fixtures in {dir}");
}
