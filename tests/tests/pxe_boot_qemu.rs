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
use lifeboat_e2e::{TestRng, require_netns};

/// The server that runs when `LIFEBOAT_PXE_TEST_SERVER` is unset.
const DEFAULT_SERVER: PxeServerKind = PxeServerKind::Lifeboat;

/// Power-on to marker on TCG takes about 18.5 s here, most of it iPXE waiting for IPv6 router
/// advertisements (none come) before it fetches the script; this only bounds a broken run.
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);

/// After the script exits, SeaBIOS reboots at once and `-no-reboot` stops QEMU.
const POWER_OFF_TIMEOUT: Duration = Duration::from_secs(15);

#[test]
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
