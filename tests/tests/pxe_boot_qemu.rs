//! A real PXE boot: a QEMU PC (SeaBIOS, TCG) whose virtio NIC carries the iPXE option ROM asks
//! the server under test for an address and a boot file over DHCP, fetches the iPXE script over
//! TFTP and runs it. The script prints what iPXE learnt from DHCP and then a marker only iPXE
//! can produce (it assembles it from a variable), then exits, so the firmware gives up and QEMU
//! stops by itself. The boot counts when the marker appears on the serial console.
//!
//! The server is lifeboat unless `LIFEBOAT_PXE_TEST_SERVER=dnsmasq` is set (the same test passes
//! against dnsmasq, which shows it tests PXE rather than lifeboat's reading of it); see
//! [`DEFAULT_SERVER`].

use std::net::Ipv4Addr;
use std::time::Duration;

use lifeboat_e2e::qemu::{PxeLan, PxeScope, PxeServer, PxeServerKind, QemuGuest, QemuInstall};
use lifeboat_e2e::{Netns, PeerServers, TestRng, lifeboat_bin, require_netns, require_program, wait_server_udp};

/// The server that runs when `LIFEBOAT_PXE_TEST_SERVER` is unset.
const DEFAULT_SERVER: PxeServerKind = PxeServerKind::Lifeboat;

/// Power-on to marker on TCG takes about 18.5 s here, most of it iPXE waiting for IPv6 router
/// advertisements (none come) before it fetches the script; this only bounds a broken run.
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);

/// After the script exits, SeaBIOS reboots at once and `-no-reboot` stops QEMU.
const POWER_OFF_TIMEOUT: Duration = Duration::from_secs(15);

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn ipxe_rom_boots_the_script_from_dhcp_and_tftp() {
    require_netns!();
    let Some(qemu) = QemuInstall::require() else { return };
    let kind = PxeServerKind::from_env(DEFAULT_SERVER);
    if kind.require().is_none() {
        return;
    }

    let lan = PxeLan::new();
    let scope = PxeScope::for_lan(&lan);
    let tftp_root = tempfile::Builder::new().prefix("lbt-pxe-root-").tempdir().expect("TFTP root");
    let token = format!("{:016x}", TestRng::from_entropy().next_u64());
    let marker = format!("LIFEBOAT-PXE-OK-{token}");
    std::fs::write(tftp_root.path().join(&scope.ipxe_file), boot_script(&token)).expect("write the iPXE script");

    let mut server = PxeServer::start(kind, &lan, &scope, tftp_root.path());
    let mut guest = QemuGuest::boot_from_network(&qemu, &lan);
    eprintln!("server: {}\nguest:  {}", kind.label(), guest.cmdline());

    let booted = match guest.wait_console(&marker, BOOT_TIMEOUT) {
        Ok(after) => after,
        Err(e) => panic!("the guest never printed {marker}: {e}\n{}\n{}", guest.log(), server.log()),
    };
    let console = guest.console();
    let facts = BootFacts::read(&console, &marker);
    let failure = |what: String| -> String { format!("{what}\n{}\n{}", guest_console_tail(&console), server.log()) };

    let ip = facts.ip.unwrap_or_else(|| panic!("{}", failure("the script printed no usable lifeboat-ip".into())));
    assert!(scope.in_range(ip), "{}", failure(format!("iPXE got {ip}, outside {}", scope.range_arg())));
    assert_eq!(
        facts.next_server,
        Some(lan.server_ip),
        "{}",
        failure("next-server must be the server's own address".into())
    );
    assert_eq!(
        facts.filename.as_deref(),
        Some(scope.ipxe_file.as_str()),
        "{}",
        failure("iPXE (user class iPXE) must get the script, not the fallback".into())
    );
    if let Err(e) = server.check_running() {
        panic!("{e}");
    }

    let powered_off = guest.wait_exit(POWER_OFF_TIMEOUT);
    eprintln!(
        "PXE boot via {}: marker on the console {booted:.1?} after QEMU started; leased {ip}; QEMU {}",
        kind.label(),
        match powered_off {
            Some(status) => format!("stopped by itself ({status}) {:.1?} after start", guest.uptime()),
            None => format!("still running after {POWER_OFF_TIMEOUT:?} (killed by the harness)"),
        }
    );
}

/// proxyDHCP: another server (dnsmasq, in a namespace of its own on the same LAN) hands out the
/// addresses and knows nothing of booting; lifeboat, with `--dhcp-range NETWORK,proxy`, adds the
/// boot file and next server for PXE clients only, and serves the file over TFTP. iPXE combines
/// the two offers, as PXE firmware does.
#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn ipxe_rom_boots_through_lifeboat_as_proxy_dhcp_beside_another_server() {
    require_netns!();
    let Some(qemu) = QemuInstall::require() else { return };
    let dnsmasq = PeerServers::locate().dnsmasq;
    if require_program(&dnsmasq).is_none() {
        return;
    }
    let lan = PxeLan::new();
    let scope = PxeScope::for_lan(&lan);

    // The other DHCP server, plugged into the bridge through a veth.
    let other = Netns::new();
    let step = Duration::from_secs(10);
    lan.ns.run_ok(&["ip", "link", "add", "lan1", "type", "veth", "peer", "name", "eth0", "netns", other.name()], step);
    lan.ns.run_ok(&["ip", "link", "set", "lan1", "master", &lan.bridge, "up"], step);
    other.run_ok(&["ip", "addr", "add", &format!("{}/24", lan.host(2)), "dev", "eth0"], step);
    other.run_ok(&["ip", "link", "set", "eth0", "up"], step);
    let state = tempfile::Builder::new().prefix("lbt-pxe-proxy-").tempdir().expect("state folder");
    let dnsmasq_argv = [
        dnsmasq.to_string_lossy().into_owned(),
        "--no-daemon".into(),
        "--conf-file=/dev/null".into(),
        "--port=0".into(),
        "--bind-interfaces".into(),
        "--interface=eth0".into(),
        "--user=root".into(),
        "--group=root".into(),
        "--pid-file=".into(),
        "--log-facility=-".into(),
        "--log-dhcp".into(),
        "--no-ping".into(),
        "--dhcp-authoritative".into(),
        format!("--dhcp-range={}", scope.range_arg()),
        format!("--dhcp-leasefile={}", state.path().join("dnsmasq.leases").display()),
    ];
    let mut addresses = other.spawn(&dnsmasq_argv);
    wait_server_udp(&other, &mut addresses, 67, step);

    let tftp_root = tempfile::Builder::new().prefix("lbt-pxe-root-").tempdir().expect("TFTP root");
    let token = format!("{:016x}", TestRng::from_entropy().next_u64());
    let marker = format!("LIFEBOAT-PXE-OK-{token}");
    std::fs::write(tftp_root.path().join(&scope.ipxe_file), boot_script(&token)).expect("write the iPXE script");
    let bin = lifeboat_bin().to_string_lossy().into_owned();
    let root = tftp_root.path().to_string_lossy().into_owned();
    let db = state.path().join("leases.sqlite").to_string_lossy().into_owned();
    let (listen, proxy) = (format!("{}:69", lan.server_ip), format!("{},proxy", lan.host(0)));
    let boot = format!("ipxe={}", scope.ipxe_file);
    #[rustfmt::skip]
    let lifeboat_argv = [
        bin.as_str(), "serve", "--tftp-root", &root, "--tftp-listen", &listen, "--tftp-allow", "10.0.0.0/8",
        "--dhcp-interface", &lan.bridge, "--dhcp-range", &proxy, "--dhcp-boot-rule", &boot, "--dhcp-boot", &scope.fallback_file,
        "--db", &db,
    ];
    let mut lifeboat = lan.ns.spawn(&lifeboat_argv);
    for port in [67, 69, 4011] {
        wait_server_udp(&lan.ns, &mut lifeboat, port, step);
    }

    let mut guest = QemuGuest::boot_from_network(&qemu, &lan);
    let logs = |guest: &mut QemuGuest, lifeboat: &mut lifeboat_e2e::Child, addresses: &mut lifeboat_e2e::Child| {
        format!("{}\n--- lifeboat ---\n{}\n--- dnsmasq ---\n{}", guest.log(), lifeboat.output(), addresses.output())
    };
    if let Err(e) = guest.wait_console(&marker, BOOT_TIMEOUT) {
        panic!("the guest never printed {marker}: {e}\n{}", logs(&mut guest, &mut lifeboat, &mut addresses));
    }
    let facts = BootFacts::read(&guest.console(), &marker);
    let context = logs(&mut guest, &mut lifeboat, &mut addresses);
    let ip = facts.ip.unwrap_or_else(|| panic!("the script printed no usable lifeboat-ip\n{context}"));
    assert!(scope.in_range(ip), "iPXE got {ip}, not from dnsmasq's {}\n{context}", scope.range_arg());
    assert_eq!(facts.proxy_next_server, Some(lan.server_ip), "the proxy offer must name lifeboat\n{context}");
    assert_eq!(facts.filename.as_deref(), Some(scope.ipxe_file.as_str()), "{context}");
    let log = lifeboat.output().stdout;
    assert!(log.contains("DHCPOFFER of boot information only (proxyDHCP)"), "{context}");
    assert!(!log.contains("DHCPACK 10."), "lifeboat leased an address in proxy mode:\n{context}");
}

/// The script: one `lifeboat-KEY=VALUE` line per DHCP fact (each well under the 80 columns
/// where the console wraps), then the marker, assembled from a variable so that it reaches the
/// console only if iPXE ran the script. The marker comes last: the serial console is slow under
/// TCG, and once the whole marker is there, every line before it is complete.
fn boot_script(token: &str) -> String {
    format!(
        "#!ipxe\n\
         echo lifeboat-ip=${{ip}}\n\
         echo lifeboat-next-server=${{next-server}}\n\
         echo lifeboat-filename=${{filename}}\n\
         echo lifeboat-proxy-next-server=${{proxydhcp/next-server}}\n\
         set lifeboat-marker LIFEBOAT-PXE-OK\n\
         echo ${{lifeboat-marker}}-{token}\n\
         exit\n"
    )
}

/// What the script printed before the marker.
#[derive(Debug, Default)]
struct BootFacts {
    ip: Option<Ipv4Addr>,
    next_server: Option<Ipv4Addr>,
    filename: Option<String>,
    /// What a proxyDHCP offer said (iPXE keeps it apart from the address server's settings).
    proxy_next_server: Option<Ipv4Addr>,
}

impl BootFacts {
    fn read(console: &str, marker: &str) -> BootFacts {
        let mut facts = BootFacts::default();
        let before = console.lines().take_while(|line| !line.contains(marker));
        for line in before {
            let line = line.trim();
            if let Some(v) = line.strip_prefix("lifeboat-ip=") {
                facts.ip = v.parse().ok();
            } else if let Some(v) = line.strip_prefix("lifeboat-next-server=") {
                facts.next_server = v.parse().ok();
            } else if let Some(v) = line.strip_prefix("lifeboat-proxy-next-server=") {
                facts.proxy_next_server = v.parse().ok();
            } else if let Some(v) = line.strip_prefix("lifeboat-filename=") {
                facts.filename = Some(v.to_owned());
            }
        }
        facts
    }
}

fn guest_console_tail(console: &str) -> String {
    format!("--- serial console (tail) ---\n{}", lifeboat_e2e::process::tail(console))
}
