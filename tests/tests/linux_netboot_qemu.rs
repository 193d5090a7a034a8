//! End to end: a QEMU PC whose NIC ROM is iPXE netboots a real Linux from lifeboat over HTTP.
//! DHCP gives iPXE the URL of its script (`/ipxe?mac=${netX/mac}`), the script comes from the
//! machine's boot profile, and iPXE fetches Debian's kernel and an initramfs made here (a static
//! busybox whose `/init` prints the kernel command line and a marker, then powers off).
//!
//! Two machines, one after the other on the same tap: the first has a host entry (made through
//! the dashboard API) that boots profile `lab`; the second is unknown and gets the profile named
//! `default`. Each profile has its own initramfs (its own marker) and its own command line token,
//! so the console shows which profile booted, and the command line `/init` prints shows that the
//! template variables were filled in for that machine. Afterwards the history (through the API)
//! must hold each machine's lease and its HTTP kernel and initramfs downloads under its MAC.
//!
//! The first test has no TFTP stage: the ROM is already iPXE, and lifeboat gives any iPXE of a
//! profiled host its script at once (see `boot_script` in crates/dhcp/src/responder.rs). The
//! second boots a UEFI machine the way lab hardware boots: OVMF's own PXE client (no iPXE in
//! ROM) gets `snponly.efi` by TFTP, that iPXE asks DHCP again and gets the script, and the kernel
//! and initramfs come over HTTP; the history must show all three stages under the VM's MAC. The
//! third does the same by UEFI HTTP boot (`--dhcp-boot-rule efi-x64-http=…`): OVMF gets the
//! loader's URL on lifeboat's HTTP boot server from DHCP, and every byte comes over HTTP.

use std::time::{Duration, Instant};

use lifeboat_e2e::dashboard::{DashboardApi, wait_tcp_listening};
use lifeboat_e2e::linux_boot::{GUEST_MEMORY_MIB, LinuxInstall, printed_cmdline};
use lifeboat_e2e::qemu::{PxeLan, PxeScope, QemuGuest, QemuInstall, UefiBoot};
use lifeboat_e2e::{Child, TestRng, lifeboat_bin, require_netns, wait_server_udp};
use serde_json::{Value, json};

/// The dashboard inside the server namespace (its own loopback).
const DASHBOARD: &str = "http://127.0.0.1:8080";
const HTTP_BOOT_PORT: u16 = 4080;
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Power-on to marker under TCG, measured here (2 shared cores, QEMU 7.2, Debian's 6.1 kernel, a
/// 2 MiB initramfs): 24 to 27 s per machine, against about 6 s for the same files given to QEMU
/// directly (linux_boot_qemu.rs); iPXE's wait for IPv6 router advertisements (about 13 s) is most
/// of the difference. This only bounds a broken run.
const BOOT_TIMEOUT: Duration = Duration::from_secs(240);

/// From the marker to QEMU's exit: `poweroff -f` is immediate.
const POWER_OFF_TIMEOUT: Duration = Duration::from_secs(20);

/// Records reach the history in the background, within about a second.
const HISTORY_TIMEOUT: Duration = Duration::from_secs(10);

const KERNEL: &str = "debian/vmlinuz";

/// OVMF, its PXE client, the TFTP download of iPXE and iPXE's own start, on top of the boot
/// above; this only bounds a broken run.
const UEFI_BOOT_TIMEOUT: Duration = Duration::from_secs(420);

/// OVMF with the kernel and initramfs loaded by iPXE needs more than a BIOS guest.
const UEFI_GUEST_MEMORY_MIB: u32 = 512;

/// The name of the UEFI iPXE loader in the boot root.
const EFI_LOADER: &str = "snponly.efi";

/// One machine of the test and what it must show.
struct Machine {
    mac: String,
    profile: &'static str,
    initrd: String,
    marker: String,
    /// Words the command line `/init` prints must contain.
    cmdline_words: Vec<String>,
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn ipxe_netboots_debian_over_http_by_the_hosts_boot_profile_and_an_unknown_machine_gets_the_default() {
    require_netns!("curl");
    let Some(qemu) = QemuInstall::require() else { return };
    let Some(linux) = LinuxInstall::require() else { return };

    let lan = PxeLan::new();
    let scope = PxeScope::for_lan(&lan);
    let state = tempfile::Builder::new().prefix("lbt-netboot-").tempdir().expect("state folder");
    let root = state.path().join("boot");
    for dir in ["debian", "lab", "default"] {
        std::fs::create_dir_all(root.join(dir)).expect("boot root folders");
    }
    std::fs::copy(&linux.kernel, root.join(KERNEL)).expect("copy the kernel into the boot root");

    let token = format!("{:016x}", TestRng::from_entropy().next_u64());
    let lab_mac = lan.guest_mac.clone();
    // Another machine on the same LAN: the same MAC with its fourth byte changed.
    let other_mac = format!("52:54:00:2b:{}", &lan.guest_mac[12..]);
    let lab = Machine {
        mac: lab_mac.clone(),
        profile: "lab",
        initrd: "lab/initramfs.cpio".to_owned(),
        marker: format!("LIFEBOAT-NETBOOT-LAB-{token}"),
        cmdline_words: vec![
            format!("lifeboat.token=lab-{token}"),
            "lifeboat-host=node-1".to_owned(),
            format!("mac={lab_mac}"),
        ],
    };
    let unknown = Machine {
        mac: other_mac.clone(),
        profile: "default",
        initrd: "default/initramfs.cpio".to_owned(),
        marker: format!("LIFEBOAT-NETBOOT-DEFAULT-{token}"),
        cmdline_words: vec![format!("lifeboat.token=default-{token}"), format!("mac={other_mac}")],
    };
    for machine in [&lab, &unknown] {
        std::fs::write(root.join(&machine.initrd), linux.initramfs(&machine.marker)).expect("write an initramfs");
    }

    let mut server = start_lifeboat(&lan, &scope, &root, &state.path().join("lifeboat.db"), &[]);
    let api = DashboardApi::connect(&lan.ns, DASHBOARD, START_TIMEOUT);
    let lab_cmdline =
        format!("console=ttyS0 panic=-1 lifeboat.token=lab-{token} lifeboat-host={{{{ hostname }}}} mac={{{{ mac }}}}");
    let default_cmdline =
        format!("console=ttyS0 panic=-1 lifeboat.token=default-{token} mac={{{{ mac }}}} ip={{{{ ip }}}}");
    for (machine, cmdline) in [(&lab, lab_cmdline), (&unknown, default_cmdline)] {
        let body = json!({ "kernel": KERNEL, "initrds": [machine.initrd], "cmdline": cmdline });
        let saved = api.put(&format!("/api/v1/boot-profiles/{}", machine.profile), &body);
        assert_eq!(saved.status, 200, "PUT boot profile {}: {saved:?}", machine.profile);
    }
    let host = api.post("/api/v1/hosts", &json!({ "mac": lab.mac, "name": "node-1", "boot_profile": lab.profile }));
    assert_eq!(host.status, 201, "POST host: {host:?}");

    let (mut boot_times, mut cmdlines) = (Vec::new(), Vec::new());
    for machine in [&lab, &unknown] {
        let mut guest = QemuGuest::boot_from_network_as(&qemu, &lan, &machine.mac, GUEST_MEMORY_MIB);
        eprintln!("guest {} ({}): {}", machine.mac, machine.profile, guest.cmdline());
        let booted = match guest.wait_console(&machine.marker, BOOT_TIMEOUT) {
            Ok(after) => after,
            Err(e) => {
                panic!("{} never printed {}: {e}\n{}\n{}", machine.mac, machine.marker, guest.log(), log(&mut server))
            }
        };
        let console = guest.console();
        let announced = format!("lifeboat: {} boots profile {}", machine.mac, machine.profile);
        assert!(console.contains(&announced), "the script did not say {announced:?}\n{}", guest.log());
        let cmdline = printed_cmdline(&console)
            .unwrap_or_else(|| panic!("/init printed no command line\n{}", guest.log()))
            .to_owned();
        for word in &machine.cmdline_words {
            assert!(
                cmdline.split_whitespace().any(|w| w == word),
                "{} booted with {cmdline:?}, without {word:?}\n{}",
                machine.mac,
                guest.log()
            );
        }
        let Some(status) = guest.wait_exit(POWER_OFF_TIMEOUT) else {
            panic!("QEMU still runs {POWER_OFF_TIMEOUT:?} after the marker\n{}", guest.log());
        };
        assert!(guest.console().contains("reboot: Power down"), "the kernel did not power off\n{}", guest.log());
        eprintln!(
            "{} ({}) booted: marker {booted:.1?} after QEMU started, QEMU exited ({status}) after {:.1?}; \
             command line {cmdline:?}",
            machine.mac,
            machine.profile,
            guest.uptime()
        );
        boot_times.push(booted);
        cmdlines.push(cmdline);
    }

    // iPXE filled in ${netX/mac}: lifeboat knew each machine by the MAC its request named.
    let stdout = server.stdout();
    for line in stdout.lines().filter(|l| l.contains("HTTP boot: ") && l.contains("profile")) {
        eprintln!("lifeboat: {line}");
    }
    for machine in [&lab, &unknown] {
        let line = format!("HTTP boot: {} (by ?mac=) boots profile \"{}\"", machine.mac, machine.profile);
        assert!(stdout.contains(&line), "lifeboat never logged {line:?}\n{}", log(&mut server));
    }

    let leases = api.get_ok("/api/v1/leases");
    let dhcp = api.get_ok("/api/v1/dhcp/requests");
    for (machine, cmdline) in [&lab, &unknown].into_iter().zip(&cmdlines) {
        let lease = leases
            .as_array()
            .and_then(|l| l.iter().find(|l| l["mac"] == machine.mac.as_str()))
            .unwrap_or_else(|| panic!("no lease for {}: {leases}", machine.mac));
        let address = lease["address"].as_str().and_then(|a| a.parse().ok()).expect("a lease address");
        assert!(scope.in_range(address), "{} leased {address}, outside {}", machine.mac, scope.range_arg());
        if machine.profile == "default" {
            // {{ ip }} in the default profile's command line: the address the machine leased.
            let word = format!("ip={address}");
            assert!(cmdline.split_whitespace().any(|w| w == word), "{cmdline:?} lacks {word:?}");
        }
        let script_url = format!("http://{}:{HTTP_BOOT_PORT}/ipxe?mac=${{netX/mac}}", lan.server_ip);
        let acked = dhcp.as_array().is_some_and(|requests| {
            requests.iter().any(|r| {
                r["client"].as_str().is_some_and(|c| c.contains(machine.mac.as_str()))
                    && r["outcome"].as_str().is_some_and(|o| o.starts_with(&format!("DHCPACK {address} ")))
                    && r["boot_file"] == script_url.as_str()
            })
        });
        assert!(acked, "no DHCPACK of {address} with {script_url} for {}: {dhcp:#}", machine.mac);
    }

    let deadline = Instant::now() + HISTORY_TIMEOUT;
    loop {
        let history = api.get_ok("/api/v1/transfers?limit=100");
        let items = history["items"].as_array().cloned().unwrap_or_default();
        let missing: Vec<String> = [&lab, &unknown]
            .iter()
            .flat_map(|m| [(m, KERNEL.to_owned()), (m, m.initrd.clone())])
            .filter(|(m, requested)| !items.iter().any(|t| is_complete_http(t, requested, &m.mac)))
            .map(|(m, requested)| format!("{requested} for {}", m.mac))
            .collect();
        if missing.is_empty() {
            let tftp = items.iter().filter(|t| t["protocol"] == "tftp").count();
            assert_eq!(tftp, 0, "no TFTP stage was set up, yet the history has TFTP transfers: {history:#}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the history lacks complete HTTP downloads of {missing:?}: {history:#}\n{}",
            log(&mut server)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("boot times (QEMU start to marker): {boot_times:.1?}");
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn a_uefi_machine_gets_ipxe_over_tftp_then_debian_over_http_by_its_boot_profile() {
    uefi_netboot(UefiBoot::Pxe);
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn a_uefi_http_boot_machine_gets_ipxe_and_debian_over_http_alone() {
    uefi_netboot(UefiBoot::Http);
}

/// OVMF boots the VM by `boot`: iPXE (`snponly.efi`) as the loader, then the host's profile
/// boots Debian over HTTP. The history must show the loader (over TFTP or HTTP), the kernel and
/// the initramfs under the VM's MAC, and DHCP must have acknowledged the loader and then the
/// script URL.
fn uefi_netboot(boot: UefiBoot) {
    require_netns!("curl");
    let Some(qemu) = QemuInstall::require_uefi() else { return };
    let Some(linux) = LinuxInstall::require() else { return };

    let lan = PxeLan::new();
    let scope = PxeScope::for_lan(&lan);
    let state = tempfile::Builder::new().prefix("lbt-uefi-netboot-").tempdir().expect("state folder");
    let root = state.path().join("boot");
    for dir in ["debian", "uefi"] {
        std::fs::create_dir_all(root.join(dir)).expect("boot root folders");
    }
    std::fs::copy(&linux.kernel, root.join(KERNEL)).expect("copy the kernel into the boot root");
    std::fs::copy(&qemu.efi_ipxe, root.join(EFI_LOADER)).expect("copy the UEFI iPXE loader into the boot root");
    let token = format!("{:016x}", TestRng::from_entropy().next_u64());
    let marker = format!("LIFEBOAT-UEFI-NETBOOT-{token}");
    let initrd = "uefi/initramfs.cpio";
    std::fs::write(root.join(initrd), linux.initramfs(&marker)).expect("write the initramfs");

    let loader_rule = match boot {
        UefiBoot::Pxe => format!("efi-x64={EFI_LOADER}"),
        UefiBoot::Http => format!("efi-x64-http={EFI_LOADER}"),
    };
    let extra = ["--dhcp-boot-rule", loader_rule.as_str()];
    let mut server = start_lifeboat(&lan, &scope, &root, &state.path().join("lifeboat.db"), &extra);
    let api = DashboardApi::connect(&lan.ns, DASHBOARD, START_TIMEOUT);
    let cmdline = format!(
        "console=ttyS0 panic=-1 lifeboat.token=uefi-{token} lifeboat-host={{{{ hostname }}}} mac={{{{ mac }}}}"
    );
    let body = json!({ "kernel": KERNEL, "initrds": [initrd], "cmdline": cmdline });
    let saved = api.put("/api/v1/boot-profiles/uefi-lab", &body);
    assert_eq!(saved.status, 200, "PUT boot profile: {saved:?}");
    let mac = lan.guest_mac.clone();
    let host = api.post("/api/v1/hosts", &json!({ "mac": mac, "name": "uefi-1", "boot_profile": "uefi-lab" }));
    assert_eq!(host.status, 201, "POST host: {host:?}");

    let mut guest = QemuGuest::boot_uefi_from_network_as(&qemu, &lan, &mac, UEFI_GUEST_MEMORY_MIB, boot);
    eprintln!("UEFI guest {mac}: {}", guest.cmdline());
    let booted = match guest.wait_console(&marker, UEFI_BOOT_TIMEOUT) {
        Ok(after) => after,
        Err(e) => panic!("{mac} never printed {marker}: {e}\n{}\n{}", guest.log(), log(&mut server)),
    };
    let console = guest.console();
    let announced = format!("lifeboat: {mac} boots profile uefi-lab");
    assert!(console.contains(&announced), "the script did not say {announced:?}\n{}", guest.log());
    let printed = printed_cmdline(&console).unwrap_or_else(|| panic!("/init printed no command line\n{}", guest.log()));
    for word in [format!("lifeboat.token=uefi-{token}"), "lifeboat-host=uefi-1".to_owned(), format!("mac={mac}")] {
        assert!(printed.split_whitespace().any(|w| w == word), "booted with {printed:?}, without {word:?}");
    }
    let Some(status) = guest.wait_exit(POWER_OFF_TIMEOUT) else {
        panic!("QEMU still runs {POWER_OFF_TIMEOUT:?} after the marker\n{}", guest.log());
    };
    eprintln!(
        "{mac} (UEFI) booted: marker {booted:.1?} after QEMU started, QEMU exited ({status}); command line {printed:?}"
    );

    // Two DHCP exchanges: OVMF's (the loader: a TFTP name, or a URL on the HTTP boot server)
    // and iPXE's (the script URL).
    let dhcp = api.get_ok("/api/v1/dhcp/requests");
    let base = format!("http://{}:{HTTP_BOOT_PORT}", lan.server_ip);
    let (loader_file, loader_protocol) = match boot {
        UefiBoot::Pxe => (EFI_LOADER.to_owned(), "tftp"),
        UefiBoot::Http => (format!("{base}/{EFI_LOADER}"), "http"),
    };
    let script_url = format!("{base}/ipxe?mac=${{netX/mac}}");
    for boot_file in [loader_file.as_str(), script_url.as_str()] {
        let acked = dhcp.as_array().is_some_and(|requests| {
            requests.iter().any(|r| {
                r["client"].as_str().is_some_and(|c| c.contains(mac.as_str()))
                    && r["outcome"].as_str().is_some_and(|o| o.starts_with("DHCPACK "))
                    && r["boot_file"] == boot_file
            })
        });
        assert!(acked, "no DHCPACK with boot file {boot_file} for {mac}: {dhcp:#}");
    }

    let deadline = Instant::now() + HISTORY_TIMEOUT;
    loop {
        let history = api.get_ok("/api/v1/transfers?limit=100");
        let items = history["items"].as_array().cloned().unwrap_or_default();
        let loader = items.iter().any(|t| is_complete(t, loader_protocol, EFI_LOADER, &mac));
        let missing: Vec<&str> =
            [KERNEL, initrd].into_iter().filter(|r| !items.iter().any(|t| is_complete_http(t, r, &mac))).collect();
        if loader && missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the history lacks the {loader_protocol} loader (found: {loader}) or HTTP downloads {missing:?} for {mac}: {history:#}\n{}",
            log(&mut server)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A complete HTTP download of `requested` recorded under `mac`.
fn is_complete_http(transfer: &Value, requested: &str, mac: &str) -> bool {
    is_complete(transfer, "http", requested, mac)
}

/// A complete download of `requested` over `protocol` recorded under `mac`.
fn is_complete(transfer: &Value, protocol: &str, requested: &str, mac: &str) -> bool {
    transfer["protocol"] == protocol
        && transfer["requested"] == requested
        && transfer["outcome"] == "complete"
        && transfer["mac"] == mac
}

/// `lifeboat serve` on the LAN's bridge: DHCP for the scope, TFTP and HTTP boot over `root`,
/// the dashboard on the namespace's loopback, and `extra` arguments. Waits until all of them listen.
fn start_lifeboat(
    lan: &PxeLan,
    scope: &PxeScope,
    root: &std::path::Path,
    db: &std::path::Path,
    extra: &[&str],
) -> Child {
    let bin = lifeboat_bin().to_string_lossy().into_owned();
    let root = root.to_string_lossy().into_owned();
    let db = db.to_string_lossy().into_owned();
    let tftp = format!("{}:69", lan.server_ip);
    let http = format!("{}:{HTTP_BOOT_PORT}", lan.server_ip);
    #[rustfmt::skip]
    let argv = [
        bin.as_str(), "serve", "--tftp-root", &root, "--tftp-listen", &tftp, "--tftp-allow", "10.0.0.0/8",
        "--dhcp-interface", &lan.bridge, "--dhcp-range", &scope.range_arg(), "--dhcp-skip-probe",
        "--dhcp-authoritative", "--http-boot-listen", &http, "--db", &db,
    ];
    let argv: Vec<&str> = argv.iter().copied().chain(extra.iter().copied()).collect();
    let mut server = lan.ns.spawn(&argv);
    for port in [67, 69] {
        wait_server_udp(&lan.ns, &mut server, port, START_TIMEOUT);
    }
    wait_tcp_listening(&lan.ns, &mut server, HTTP_BOOT_PORT, START_TIMEOUT);
    server
}

fn log(server: &mut Child) -> String {
    format!("--- lifeboat ---\n{}", server.output())
}
