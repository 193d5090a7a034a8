//! Writes the seed inputs of every target into `corpus/<target>/seed-<name>`: requests as real
//! TFTP clients send them (FIELD-NOTES), transfer scenarios in the harnesses' step formats, and
//! the captured DHCP packets of `crates/dhcp/tests/fixtures`.
//!
//! `cargo run -p lifeboat-fuzz --example write_seeds`; rerun after changing an input format.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use lifeboat_fuzz::dhcp_responder::{self, Datagram, flags};
use lifeboat_fuzz::tftp_receiver::{self, Step as RStep};
use lifeboat_fuzz::tftp_sender::{self, Step as SStep};
use lifeboat_fuzz::{tftp_options, tftp_pair};
use lifeboat_tftp::{ClientOptions, Direction, ServerLimits};

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    tftp_wire(&corpus.join("tftp_wire"));
    tftp_options(&corpus.join("tftp_options"));
    tftp_sender(&corpus.join("tftp_sender"));
    tftp_receiver(&corpus.join("tftp_receiver"));
    tftp_pair(&corpus.join("tftp_pair"));
    dhcp(&corpus);
    web_input(&corpus.join("web_input"));
}

fn write(folder: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(folder).expect("corpus folder");
    std::fs::write(folder.join(format!("seed-{name}")), bytes).expect("seed file");
}

/// A request packet: opcode, filename, mode, then `name=value` options.
fn request(opcode: u8, file: &str, mode: &str, options: &[(&str, &str)]) -> Vec<u8> {
    let mut out = vec![0, opcode];
    for text in [file, mode].into_iter().chain(options.iter().flat_map(|(n, v)| [*n, *v])) {
        out.extend(text.as_bytes());
        out.push(0);
    }
    out
}

/// A client's name, the file it asks for and its options.
type Client = (&'static str, &'static str, &'static [(&'static str, &'static str)]);

/// Read requests as the clients of FIELD-NOTES.md send them.
const CLIENTS: [Client; 7] = [
    ("ipxe", "boot.ipxe", &[("blksize", "1432"), ("tsize", "0")]),
    ("ovmf", "snponly.efi", &[("tsize", "0"), ("blksize", "1468"), ("windowsize", "4")]),
    ("uboot", "0A4D006F.img", &[("timeout", "5"), ("blksize", "1468")]),
    ("curl", "firmware.bin", &[("tsize", "0"), ("blksize", "512"), ("timeout", "6")]),
    ("tftp-hpa", "pxelinux.0", &[]),
    ("tplink", "wr841nv8_tp_recovery.bin", &[]),
    ("atftp", "openwrt.bin", &[("blksize", "8192"), ("windowsize", "16")]),
];

fn tftp_wire(folder: &Path) {
    for (name, file, options) in CLIENTS {
        write(folder, &format!("rrq-{name}"), &request(1, file, "octet", options));
    }
    write(folder, "wrq-atftp", &request(2, "upload.bin", "octet", &[("tsize", "4096"), ("blksize", "1468")]));
    write(folder, "rrq-netascii-windows-path", &request(1, "\\boot\\x64\\wdsnbp.com", "NetASCII", &[]));
    write(folder, "rrq-padded", &[request(1, "/pxelinux.cfg/default", "octet", &[]), vec![0; 4]].concat());
    write(folder, "data", b"\x00\x03\xff\xfehello");
    write(folder, "ack", b"\x00\x04\x00\x01");
    write(folder, "error", b"\x00\x05\x00\x01File not found\x00");
    write(folder, "error-ovmf-no-nul", b"\x00\x05\x00\x08tsize only");
    write(folder, "oack", b"\x00\x06tsize\x001048576\x00blksize\x001468\x00");
}

fn tftp_options(folder: &Path) {
    let limits = ServerLimits::default();
    for (name, _, options) in CLIENTS {
        let requested: Vec<(String, String)> = options.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        let number = |n: &str| options.iter().find(|(o, _)| *o == n).map(|(_, v)| v.parse::<u64>().unwrap());
        let client = ClientOptions {
            blksize: number("blksize").map(|v| v as u16),
            windowsize: number("windowsize").map(|v| v as u16),
            timeout: number("timeout").map(|v| v as u8),
            tsize: number("tsize"),
        };
        for (suffix, direction, read_size) in
            [("read", Direction::Read, Some(8_388_608)), ("write", Direction::Write, None)]
        {
            let input = tftp_options::Input { limits, direction, read_size, requested: requested.clone(), client };
            write(folder, &format!("{name}-{suffix}"), &input.encode());
        }
    }
    let odd = tftp_options::Input {
        limits: ServerLimits { max_blksize: 4, max_windowsize: 0, options_enabled: true },
        direction: Direction::Read,
        read_size: Some(0),
        requested: vec![
            ("BLKSIZE".into(), " 65535 ".into()),
            ("blksize".into(), "512".into()),
            ("tsize".into(), "0".into()),
            ("multicast".into(), String::new()),
        ],
        client: ClientOptions { blksize: Some(65535), windowsize: Some(65535), timeout: Some(255), tsize: Some(0) },
    };
    write(folder, "limits-below-the-rfc", &odd.encode());
}

fn sender(blksize: u16, windowsize: u16, len: u64, oack: bool, steps: Vec<SStep>) -> Vec<u8> {
    let setup = tftp_sender::Setup { blksize, windowsize, timeout: 0, len, oack, max_retries: 8 };
    tftp_sender::Input { setup, steps }.encode()
}

fn tftp_sender(folder: &Path) {
    use SStep::*;
    let rtt = Advance { micros: 300 };
    let lock_step: Vec<SStep> = (0..9).flat_map(|_| [Drain, rtt.clone(), AckAhead { ahead: 1 }]).collect();
    write(folder, "tplink-lock-step-512", &sender(512, 1, 4000, false, lock_step));
    write(
        folder,
        "ovmf-declines-the-oack",
        &sender(1468, 4, 1 << 20, true, vec![Drain, rtt.clone(), Error { code: 8 }, Drain]),
    );
    let gap = vec![
        Drain,
        rtt.clone(),
        AckAhead { ahead: 0 },
        Drain,
        rtt.clone(),
        AckAhead { ahead: 2 },
        Drain,
        AckAhead { ahead: 0 },
        AckAhead { ahead: 0 },
        Drain,
        rtt.clone(),
        AckAhead { ahead: 4 },
        Cruise { windows: 20 },
    ];
    write(folder, "window-4-gap-and-duplicate-acks", &sender(1468, 4, 60_000, true, gap));
    let probe = vec![
        Drain,
        rtt.clone(),
        AckAhead { ahead: 4 },
        Drain,
        Timeout { jump: true, extra_micros: 0 },
        Drain,
        rtt.clone(),
        AckAhead { ahead: 4 },
        AckAhead { ahead: 0 },
        Drain,
        Timeout { jump: true, extra_micros: 0 },
        Drain,
        AckAhead { ahead: 2 },
        Drain,
        Cruise { windows: 10 },
    ];
    write(folder, "window-4-tail-probe", &sender(1468, 4, 40_000, false, probe));
    let silence: Vec<SStep> = (0..12).flat_map(|_| [Drain, Timeout { jump: true, extra_micros: 5 }]).collect();
    write(folder, "silent-peer-times-out", &sender(512, 1, 10_000, false, silence.clone()));
    write(folder, "silent-peer-oack-repeated", &sender(1468, 8, 10_000, true, silence));
    write(folder, "long-cruise-window-64", &sender(8, 64, 8 * 15_000, false, vec![Cruise { windows: 250 }]));
    let last_ack =
        vec![Cruise { windows: 2 }, Drain, Timeout { jump: true, extra_micros: 0 }, Drain, AckRaw { block: 3 }];
    write(folder, "lost-final-ack", &sender(512, 1, 1024, false, last_ack));
    write(folder, "abort-mid-transfer", &sender(1468, 16, 1 << 20, false, vec![Cruise { windows: 3 }, Abort, Drain]));
    let stray = vec![
        Drain,
        Stray { kind: 0 },
        Stray { kind: 1 },
        Stray { kind: 2 },
        AckRaw { block: 9 },
        AckAhead { ahead: 1 },
        Drain,
    ];
    write(folder, "stray-packets", &sender(1468, 2, 5000, false, stray));
    write(folder, "empty-file", &sender(512, 1, 0, false, vec![Drain, AckAhead { ahead: 1 }, Drain]));
}

fn receiver(blksize: u16, windowsize: u16, opening: u8, max_len: Option<u64>, steps: Vec<RStep>) -> Vec<u8> {
    let setup =
        tftp_receiver::Setup { blksize, windowsize, timeout: 0, opening, max_len, expect_len: None, max_retries: 8 };
    tftp_receiver::Input { setup, steps }.encode()
}

/// A receiver held to the size its sender announced (a WRQ with `tsize`).
fn announced(len: u64, steps: Vec<RStep>) -> Vec<u8> {
    let setup = tftp_receiver::Setup {
        blksize: 512,
        windowsize: 1,
        timeout: 0,
        opening: 2,
        max_len: None,
        expect_len: Some(len),
        max_retries: 8,
    };
    tftp_receiver::Input { setup, steps }.encode()
}

fn tftp_receiver(folder: &Path) {
    use RStep::*;
    let next_full = Data { block: 0, skip: 0x55, size: 0, raw: 0 };
    let next_short = Data { block: 0, skip: 0x55, size: 1, raw: 100 };
    let repeat = Data { block: 1, skip: 0x55, size: 0, raw: 0 };
    let gap = Data { block: 2, skip: 0, size: 0, raw: 0 };
    let mut lock_step = vec![Drain];
    for _ in 0..5 {
        lock_step.extend([Advance { micros: 200 }, next_full.clone(), Drain]);
    }
    lock_step.extend([repeat.clone(), Drain, next_short.clone(), Drain, repeat.clone(), Drain]);
    write(folder, "upload-lock-step-with-dally", &receiver(512, 1, 1, None, lock_step));
    let window = vec![
        Drain,
        next_full.clone(),
        next_full.clone(),
        gap.clone(),
        Drain,
        gap,
        Drain,
        next_full.clone(),
        next_full.clone(),
        Drain,
        Timeout { jump: true, extra_micros: 0 },
        Drain,
        next_short.clone(),
        Drain,
    ];
    write(folder, "window-4-gap-and-timeout", &receiver(1468, 4, 2, None, window));
    write(
        folder,
        "oversized-block",
        &receiver(512, 1, 1, None, vec![Drain, next_full.clone(), Data { block: 0, skip: 0, size: 2, raw: 0 }, Drain]),
    );
    write(
        folder,
        "over-max-len",
        &receiver(512, 2, 2, Some(1000), vec![Drain, next_full.clone(), next_full.clone(), Drain, Drain]),
    );
    write(
        folder,
        "peer-error",
        &receiver(512, 1, 1, None, vec![Drain, next_full.clone(), Drain, Error { code: 3 }, Drain]),
    );
    let silent: Vec<RStep> = (0..12).flat_map(|_| [Drain, Timeout { jump: true, extra_micros: 1 }]).collect();
    write(folder, "silent-sender", &receiver(512, 1, 1, None, silent));
    write(
        folder,
        "direct-data-1-without-opening",
        &receiver(1432, 1, 0, None, vec![next_full.clone(), Drain, next_short.clone(), Drain]),
    );
    write(
        folder,
        "abort-after-complete",
        &receiver(512, 1, 1, None, vec![Drain, Data { block: 0, skip: 1, size: 1, raw: 7 }, Abort, Drain]),
    );
    // 512 + 512 + 100 bytes, against an announced size that matches, is smaller, is larger.
    let upload = vec![Drain, next_full.clone(), Drain, next_full.clone(), Drain, next_short.clone(), Drain];
    write(folder, "tsize-held-exact", &announced(1124, upload.clone()));
    write(folder, "tsize-held-more-data", &announced(1000, upload.clone()));
    write(folder, "tsize-held-ends-early", &announced(5000, upload));
}

fn tftp_pair(folder: &Path) {
    let setups = [
        ("read-oack-window-4", 1468, 4, 100_000, 0, vec![]),
        ("read-lock-step-lossy", 512, 1, 20_000, 1, [0u8, 0, 150, 0, 0, 180, 0, 220, 0, 0, 160, 160, 0].repeat(4)),
        ("write-oack-window-8-reordered", 1024, 8, 60_000, 2, [0u8, 210, 0, 0, 0, 250, 0, 140, 0, 0].repeat(6)),
        ("write-ack0-duplicates", 8, 3, 900, 3, [190u8, 0, 0].repeat(20)),
        ("write-oack-tsize-lossy", 512, 4, 7000, 6, [0u8, 0, 0, 140, 0, 0, 0, 0, 205].repeat(5)),
        ("read-last-block-lost", 1468, 16, 16 * 1468 * 3, 0, {
            let mut fates = vec![0u8; 16];
            fates[15] = 150;
            fates
        }),
    ];
    for (name, blksize, windowsize, len, mode, fates) in setups {
        let input = tftp_pair::Input { setup: tftp_pair::Setup { blksize, windowsize, timeout: 0, len, mode }, fates };
        write(folder, name, &input.encode());
    }
}

/// A fixture of `crates/dhcp/tests/fixtures`: hex, `#` lines are comments.
fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures().join(format!("{name}.hex"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let hex: String = text.lines().filter(|l| !l.starts_with('#')).flat_map(|l| l.split_whitespace()).collect();
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dhcp/tests/fixtures")
}

/// `bytes` with every occurrence of address `from` replaced by `to` (ciaddr, option 50).
fn readdress(mut bytes: Vec<u8>, from: Ipv4Addr, to: Ipv4Addr) -> Vec<u8> {
    let (from, to) = (from.octets(), to.octets());
    for i in 0..bytes.len().saturating_sub(3) {
        if bytes[i..i + 4] == from {
            bytes[i..i + 4].copy_from_slice(&to);
        }
    }
    bytes
}

/// A datagram from a client on the LAN (0.0.0.0:68 unless `source` says otherwise).
fn lan(bytes: Vec<u8>, wait: u8) -> Datagram {
    Datagram { interface: 0, local: 0, source: 0, raw_addr: 0, raw_port: 0, wait, bytes }
}

fn dhcp(corpus: &Path) {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .expect("fixtures")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".hex").map(str::to_owned))
        .collect();
    names.sort();
    for name in &names {
        let bytes = fixture(name);
        write(&corpus.join("dhcp_decode"), name, &bytes);
        let datagram = if name.contains("dhcrelay") {
            Datagram { interface: 3, local: 0, source: 1, ..lan(bytes, 0) }
        } else if name.contains("renew") || name.contains("release") {
            Datagram { source: 2, ..lan(bytes, 0) }
        } else {
            lan(bytes, 0)
        };
        let input = dhcp_responder::Input { flags: flags::BOOTP_DYNAMIC, datagrams: vec![datagram] };
        write(&corpus.join("dhcp_responder"), name, &input.encode());
    }

    let responder = |name: &str, flags: u8, datagrams: Vec<Datagram>| {
        write(&corpus.join("dhcp_responder"), name, &dhcp_responder::Input { flags, datagrams }.encode());
    };
    let f = |name: &str| fixture(&format!("captured-{name}"));
    responder(
        "ipxe-bios-dora",
        0,
        vec![lan(f("ipxe-bios-discover"), 0), lan(f("ipxe-bios-request"), 1), lan(f("ipxe-bios-request"), 250)],
    );
    responder(
        "ovmf-dora-then-ipxe",
        flags::DEFAULT_BOOT_SERVER,
        vec![lan(f("ovmf-uefi-discover"), 0), lan(f("ovmf-uefi-request"), 1), lan(f("ipxe-efi-x64-discover"), 13)],
    );
    let a = |last: u8| Ipv4Addr::new(10, 77, 0, last);
    responder(
        "dhclient-lifecycle",
        flags::EXTRA_OPTIONS,
        vec![
            lan(f("dhclient-discover"), 0),
            lan(readdress(f("dhclient-request"), a(125), a(106)), 1),
            Datagram { source: 2, ..lan(readdress(f("dhclient-renew"), a(125), a(106)), 150) },
            lan(readdress(f("dhclient-init-reboot"), a(125), a(106)), 220),
            Datagram { source: 2, ..lan(readdress(f("dhclient-release"), a(125), a(106)), 5) },
        ],
    );
    responder(
        "uboot-reserved-in-pool",
        0,
        vec![
            lan(f("uboot-arm64-discover"), 0),
            lan(readdress(f("uboot-arm64-request"), a(132), a(107)), 2),
            lan(f("udhcpc-discover"), 3),
        ],
    );
    responder(
        "decline-then-quarantine",
        0,
        vec![
            lan(f("udhcpc-decline"), 0),
            lan(readdress(f("dhclient-decline"), a(66), a(108)), 0),
            lan(f("dhclient-discover"), 10),
            lan(f("dhclient-discover"), 201),
        ],
    );
    let relayed = |bytes| Datagram { interface: 3, local: 0, source: 1, ..lan(bytes, 1) };
    responder("dhcrelay-dora", 0, vec![relayed(f("dhcrelay-discover")), relayed(f("dhcrelay-request"))]);
    responder(
        "bootp-clients",
        flags::BOOTP_DYNAMIC,
        vec![
            lan(f("bootpc-bootrequest"), 0),
            lan(f("bootptest-nocookie-bootrequest"), 1),
            lan(readdress(f("udhcpc-discover"), a(0), a(0)), 1),
        ],
    );
    responder(
        "pxe-port-4011-and-proxy-segment",
        0,
        vec![
            Datagram { local: 0x80, source: 3, raw_addr: u32::from(a(111)), ..lan(f("ovmf-uefi-request"), 0) },
            Datagram { interface: 5, ..lan(f("ovmf-uefi-discover"), 1) },
            Datagram { interface: 5, ..lan(f("dhclient-discover"), 1) },
        ],
    );
    responder(
        "stored-leases-and-rate-limit",
        flags::STORED_LEASES | flags::RATE_LIMIT,
        vec![
            lan(f("dhclient-discover"), 0),
            lan(f("dhclient-discover"), 0),
            lan(f("dhclient-discover"), 0),
            lan(f("dhclient-discover"), 0),
            lan(readdress(f("dhclient-request"), a(125), a(108)), 1),
            lan(f("udhcpc-renew"), 1),
        ],
    );
}

fn web_input(folder: &Path) {
    let seeds: [(&str, &[&str]); 8] = [
        (
            "host-form",
            &[
                "3C-84-6A-12-34-56",
                "lab router",
                " 192.168.0.66 ",
                "",
                "/tp_recovery.bin\nTP_RECOVERY.BIN, tp_recovery.bin",
                "notes",
            ],
        ),
        ("host-form-bad", &["3c:84:6a:12:34", "x\u{7}", "300.1.1.1", "../etc/passwd", "../../x", ""]),
        ("history-filter", &["3c:84:6a:12:34:56", "openwrt.bin", "complete", "2h", "2026-11-29 08:00"]),
        ("history-times", &["", "", "not_found", "2026-11-29", "1764403200000", "30min", "2026-11-29T08:00:00Z"]),
        (
            "next-targets",
            &["/hosts?mac=3c:84:6a:12:34:56", "//evil.example", "/\\evil", "/\t/evil", "https://evil", "/ok"],
        ),
        (
            "image-names",
            &["/images/openwrt.bin", "\\boot\\x64\\wdsnbp.com", "a/./b//c", "../x", ".lifeboat-upload-1", "ä/ö.bin"],
        ),
        (
            "cookies",
            &[
                "lifeboat_session=0123456789abcdef; theme=dark",
                "lifeboat_session= ABCDEF ",
                "other=1;lifeboat_session=xyz",
            ],
        ),
        ("empty-fields", &["", "", "", "", "", "", "", ""]),
    ];
    for (name, fields) in seeds {
        let bytes: Vec<u8> = fields.iter().map(|f| f.as_bytes().to_vec()).collect::<Vec<_>>().join(&0xff);
        write(folder, name, &bytes);
    }
}
