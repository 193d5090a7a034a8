//! Decoding and classification of fixture packets. Some are CONSTRUCTED from /work/shared/FIELD-NOTES.md (option order and values
//! as measured there), for firmware that cannot run on this machine: iPXE BIOS, OVMF UEFI PXE,
//! U-Boot 2023.01. Each fixture is a hex file under `tests/fixtures/constructed-*.hex`.

mod support;

use lifeboat_dhcp::{Kind, classify, decode};
use support::fixture;

struct Want {
    file: &'static str,
    order: &'static [u8],
    arch: Option<u16>,
    vendor: Option<&'static str>,
    ipxe: bool,
    pxe: bool,
}

#[test]
fn constructed_firmware_discovers_classify() {
    let cases = [
        Want {
            file: "constructed-ipxe-bios-discover.hex",
            order: &[53, 57, 93, 94, 60, 77, 55, 175, 61, 97],
            arch: Some(0),
            vendor: Some("PXEClient:Arch:00000:UNDI:002001"),
            ipxe: true,
            pxe: true,
        },
        Want {
            file: "constructed-ovmf-uefi-discover.hex",
            order: &[53, 57, 55, 97, 94, 93, 60],
            arch: Some(7),
            vendor: Some("PXEClient:Arch:00007:UNDI:003000"),
            ipxe: false,
            pxe: true,
        },
        Want {
            file: "constructed-uboot-arm64-discover.hex",
            order: &[53, 57, 93, 94, 60, 55],
            arch: Some(11),
            vendor: Some("U-Boot.armv8"),
            ipxe: false,
            pxe: false,
        },
    ];
    for w in cases {
        let req = decode(&fixture(w.file)).unwrap_or_else(|e| panic!("{}: {e}", w.file));
        assert_eq!(req.kind, Kind::Dhcp(1), "{}", w.file);
        let order: Vec<u8> = req.options.iter().map(|o| o.code).collect();
        assert_eq!(order, w.order, "{}", w.file);
        let c = classify(&req);
        assert_eq!(c.arch, w.arch, "{}", w.file);
        assert_eq!(c.vendor_class.as_deref(), w.vendor, "{}", w.file);
        assert_eq!(c.is_ipxe(), w.ipxe, "{}", w.file);
        assert_eq!(c.is_pxe(), w.pxe, "{}", w.file);
    }
}

/// Packets CAPTURED from real Debian clients (see the first line of each fixture).
#[test]
fn captured_client_discovers_decode_as_plain_dhcp() {
    for file in ["captured-udhcpc-discover.hex", "captured-dhclient-discover.hex"] {
        let bytes = fixture(file);
        let req = decode(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(req.kind, Kind::Dhcp(1), "{file}");
        let c = classify(&req);
        assert!(!c.bootp && !c.is_ipxe() && !c.is_pxe() && c.arch.is_none(), "{file}: {c:?}");
        // Damage one option length byte after the cookie: must be rejected, never BOOTP.
        let mut broken = bytes.clone();
        broken[241] = 250;
        assert!(decode(&broken).is_err(), "{file}: damaged copy was accepted");
    }
}
