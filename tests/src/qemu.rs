//! Real PXE boots: a QEMU guest whose NIC option ROM is iPXE, on a bridge inside a server
//! namespace, booting from the DHCP + TFTP server under test (dnsmasq now, lifeboat once its
//! DHCP responder lands; see [`PxeServerKind`]).
//!
//! **Invariant:** every process and device this module creates is removed, and every wait is
//! bounded. The bridge and the tap device exist only inside a [`Netns`] this process created
//! (deleting the namespace deletes them); QEMU and the servers are [`Child`] guards, killed by
//! process group and PID when dropped; their console logs, TFTP roots and lease databases live
//! in temporary folders removed after the processes are gone. Waits take an explicit timeout.
//!
//! Parts:
//! - [`QemuInstall`]: where `.ci/run` unpacked QEMU (a private prefix, overridable).
//! - [`PxeLan`]: the server namespace with bridge `br0` (the server's address) and tap `tap0`.
//! - [`PxeServer`] / [`PxeScope`]: the DHCP + TFTP server on the bridge and what it hands out.
//! - [`QemuGuest`]: the machine itself, its serial console and its exit.
//!
//! [`crate::uboot`] boots U-Boot instead of SeaBIOS + iPXE on the same kind of LAN.

use std::ffi::OsString;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::netns::{Netns, admin, next_subnet, wait_server_udp};
use crate::peers::{PeerServers, START_TIMEOUT};
use crate::process::{Child, tail};

/// Where `.ci/run` unpacks qemu-system-x86, qemu-system-common, qemu-system-data and seabios
/// (installing qemu-system-x86 would replace the machine's newer qemu-utils).
pub const DEFAULT_QEMU_PREFIX: &str = "/opt/lifeboat-peers/qemu";
/// Overrides [`DEFAULT_QEMU_PREFIX`]; the prefix must hold `usr/bin/qemu-system-x86_64`.
pub const QEMU_PREFIX_ENV: &str = "LIFEBOAT_QEMU_PREFIX";
/// The iPXE option ROM for the guest's virtio NIC (package ipxe-qemu).
pub const DEFAULT_NIC_ROM: &str = "/usr/lib/ipxe/qemu/pxe-virtio.rom";
/// Overrides [`DEFAULT_NIC_ROM`].
pub const NIC_ROM_ENV: &str = "LIFEBOAT_QEMU_NIC_ROM";
/// OVMF, EDK2's UEFI firmware for QEMU (package ovmf), as one image for `-bios`: its own PXE
/// client, not iPXE, as on a lab's real UEFI machines.
pub const DEFAULT_OVMF: &str = "/usr/share/ovmf/OVMF.fd";
/// Overrides [`DEFAULT_OVMF`].
pub const OVMF_ENV: &str = "LIFEBOAT_OVMF";
/// iPXE as a UEFI application that drives the NIC through the firmware (package ipxe, which
/// `.ci/run` unpacks beside QEMU): the loader a UEFI PXE client fetches by TFTP.
pub const DEFAULT_EFI_IPXE: &str = "/opt/lifeboat-peers/qemu/usr/lib/ipxe/snponly.efi";
/// Overrides [`DEFAULT_EFI_IPXE`].
pub const EFI_IPXE_ENV: &str = "LIFEBOAT_EFI_IPXE";
/// Environment variable choosing the PXE server: `dnsmasq` or `lifeboat`.
pub const PXE_SERVER_ENV: &str = "LIFEBOAT_PXE_TEST_SERVER";

/// The files of a QEMU install, whether or not they exist.
#[derive(Debug, Clone)]
pub struct QemuInstall {
    pub system_x86_64: PathBuf,
    /// Loadable modules; `accel-tcg-x86_64.so` (the TCG accelerator) must be here.
    pub module_dir: PathBuf,
    /// `-L`: option ROMs QEMU loads by itself (`kvmvapic.bin`).
    pub data_dir: PathBuf,
    /// SeaBIOS, given explicitly with `-bios`.
    pub bios: PathBuf,
    pub nic_rom: PathBuf,
    /// UEFI firmware for [`QemuGuest::boot_uefi_from_network_as`].
    pub ovmf: PathBuf,
    /// The UEFI iPXE loader such a guest is given over TFTP.
    pub efi_ipxe: PathBuf,
}

impl QemuInstall {
    /// The paths under [`QEMU_PREFIX_ENV`] (or [`DEFAULT_QEMU_PREFIX`]) and [`NIC_ROM_ENV`] (or
    /// [`DEFAULT_NIC_ROM`]).
    pub fn locate() -> QemuInstall {
        let prefix =
            std::env::var_os(QEMU_PREFIX_ENV).map_or_else(|| PathBuf::from(DEFAULT_QEMU_PREFIX), PathBuf::from);
        let file =
            |env: &str, default: &str| std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from);
        QemuInstall {
            system_x86_64: prefix.join("usr/bin/qemu-system-x86_64"),
            module_dir: prefix.join("usr/lib/x86_64-linux-gnu/qemu"),
            data_dir: prefix.join("usr/share/qemu"),
            bios: prefix.join("usr/share/seabios/bios-256k.bin"),
            nic_rom: file(NIC_ROM_ENV, DEFAULT_NIC_ROM),
            ovmf: file(OVMF_ENV, DEFAULT_OVMF),
            efi_ipxe: file(EFI_IPXE_ENV, DEFAULT_EFI_IPXE),
        }
    }

    /// [`QemuInstall::locate`], then fail the test unless every file of a PXE boot (QEMU,
    /// SeaBIOS, the iPXE NIC ROM) and the tun device exist.
    pub fn require() -> Option<QemuInstall> {
        let install = QemuInstall::require_machine()?;
        let needed = [
            ("SeaBIOS", install.bios.clone()),
            ("the iPXE NIC option ROM (package ipxe-qemu)", install.nic_rom.clone()),
        ];
        install.require_files(needed);
        Some(install)
    }

    /// [`QemuInstall::locate`], then fail the test unless what a UEFI network boot needs exists:
    /// QEMU, OVMF, the UEFI iPXE loader and the tun device.
    pub fn require_uefi() -> Option<QemuInstall> {
        let install = QemuInstall::require_machine()?;
        let needed = [
            ("OVMF (package ovmf)", install.ovmf.clone()),
            ("the UEFI iPXE loader (package ipxe)", install.efi_ipxe.clone()),
        ];
        install.require_files(needed);
        Some(install)
    }

    /// [`QemuInstall::locate`], then fail the test unless QEMU itself (binary, TCG module, data
    /// folder) and the tun device exist: for guests that bring their own firmware.
    pub fn require_machine() -> Option<QemuInstall> {
        let install = QemuInstall::locate();
        install.require_files(install.emulator_files());
        install.require_files([("the tun/tap device", PathBuf::from("/dev/net/tun"))]);
        Some(install)
    }

    /// [`QemuInstall::locate`], then fail the test unless what `-kernel`/`-initrd` needs exists:
    /// QEMU itself, SeaBIOS and the option ROM that loads the kernel (`linuxboot_dma.bin`). No tun
    /// device: such a guest has no network ([`crate::linux_boot::boot_direct`]).
    pub fn require_direct_boot() -> Option<QemuInstall> {
        let install = QemuInstall::locate();
        install.require_files(install.emulator_files());
        install.require_files([
            ("SeaBIOS", install.bios.clone()),
            ("QEMU's kernel loader ROM", install.data_dir.join("linuxboot_dma.bin")),
        ]);
        Some(install)
    }

    fn emulator_files(&self) -> [(&'static str, PathBuf); 3] {
        [
            ("QEMU", self.system_x86_64.clone()),
            ("QEMU's TCG accelerator module", self.module_dir.join("accel-tcg-x86_64.so")),
            ("QEMU's data folder", self.data_dir.join("kvmvapic.bin")),
        ]
    }

    fn require_files<const N: usize>(&self, needed: [(&str, PathBuf); N]) {
        for (what, path) in needed {
            if !path.exists() {
                crate::unavailable(&format!(
                    "{what} is missing at {} (.ci/run unpacks QEMU into {DEFAULT_QEMU_PREFIX} and installs \
                     the firmware; {QEMU_PREFIX_ENV}, {NIC_ROM_ENV}, {OVMF_ENV} and {EFI_IPXE_ENV} override the paths)",
                    path.display()
                ));
            }
        }
    }

    /// The start of every guest's command line: this QEMU, its data folder, `firmware` as the
    /// BIOS, and the [`MACHINE`] with [`DEFAULT_MEMORY_MIB`].
    pub(crate) fn machine_argv(&self, firmware: &Path) -> Vec<OsString> {
        self.machine_argv_with_memory(firmware, DEFAULT_MEMORY_MIB)
    }

    /// [`QemuInstall::machine_argv`] with `memory_mib` MiB of RAM.
    pub(crate) fn machine_argv_with_memory(&self, firmware: &Path, memory_mib: u32) -> Vec<OsString> {
        let mut argv: Vec<OsString> = vec![self.system_x86_64.clone().into()];
        argv.extend(["-L".into(), self.data_dir.clone().into_os_string()]);
        argv.extend(["-bios".into(), firmware.as_os_str().to_owned()]);
        argv.extend(MACHINE.map(OsString::from));
        argv.extend(["-m".into(), memory_mib.to_string().into()]);
        argv
    }
}

/// RAM of a guest unless its test says otherwise.
pub const DEFAULT_MEMORY_MIB: u32 = 256;

/// The machine of every guest: a TCG PC with one vCPU, no display, no monitor (the memory is
/// added by [`QemuInstall::machine_argv_with_memory`]).
const MACHINE: [&str; 11] =
    ["-machine", "pc", "-accel", "tcg", "-smp", "1", "-nographic", "-vga", "none", "-monitor", "none"];

/// A server namespace holding bridge `br0` with `10.N.0.1/24` and tap `tap0` enslaved to it,
/// for one guest. Dropping it deletes the namespace and with it both devices.
#[derive(Debug)]
pub struct PxeLan {
    pub ns: Netns,
    pub bridge: String,
    pub tap: String,
    pub server_ip: Ipv4Addr,
    pub prefix_len: u8,
    /// The guest NIC's MAC, lower-case with colons.
    pub guest_mac: String,
}

impl PxeLan {
    pub fn new() -> PxeLan {
        let n = next_subnet();
        PxeLan::build(Ipv4Addr::new(10, n, 0, 1), 24, n)
    }

    /// A LAN whose bridge has `server_ip/prefix_len`, such as the fixed 192.168.0.x of a router's
    /// recovery mode (the namespace keeps it apart from the machine's own networks).
    pub fn with_address(server_ip: Ipv4Addr, prefix_len: u8) -> PxeLan {
        PxeLan::build(server_ip, prefix_len, next_subnet())
    }

    /// `n` makes the guest's MAC unique within this test process.
    fn build(server_ip: Ipv4Addr, prefix_len: u8, n: u8) -> PxeLan {
        let ns = Netns::new();
        let (bridge, tap) = ("br0", "tap0");
        let name = ns.name().to_owned();
        admin(&["ip", "-n", &name, "link", "add", bridge, "type", "bridge"]);
        admin(&["ip", "-n", &name, "addr", "add", &format!("{server_ip}/{prefix_len}"), "dev", bridge]);
        admin(&["ip", "-n", &name, "link", "set", bridge, "up"]);
        // A persistent tap that QEMU attaches to by name (script=no): no helper touches it.
        admin(&["ip", "-n", &name, "tuntap", "add", "dev", tap, "mode", "tap"]);
        admin(&["ip", "-n", &name, "link", "set", tap, "master", bridge]);
        admin(&["ip", "-n", &name, "link", "set", tap, "up"]);
        PxeLan {
            ns,
            bridge: bridge.to_owned(),
            tap: tap.to_owned(),
            server_ip,
            prefix_len,
            guest_mac: format!("52:54:00:1b:00:{n:02x}"),
        }
    }

    /// The bridge address with its last octet replaced (`10.N.0.host` for [`PxeLan::new`]).
    pub fn host(&self, host: u8) -> Ipv4Addr {
        let [a, b, c, _] = self.server_ip.octets();
        Ipv4Addr::new(a, b, c, host)
    }
}

impl Default for PxeLan {
    fn default() -> Self {
        PxeLan::new()
    }
}

/// The PXE server implementation under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PxeServerKind {
    /// dnsmasq 2.90 with DHCP and TFTP (the reference the test is proven against).
    Dnsmasq,
    /// `lifeboat serve` with `--dhcp-range` and `--tftp-root`: DHCP and TFTP in one process.
    Lifeboat,
}

impl PxeServerKind {
    /// The server named by [`PXE_SERVER_ENV`], or `default` when it is unset or empty. Panics on
    /// any other value, so a typo cannot silently test the wrong server.
    pub fn from_env(default: PxeServerKind) -> PxeServerKind {
        match std::env::var(PXE_SERVER_ENV).as_deref() {
            Err(std::env::VarError::NotPresent) | Ok("") => default,
            Ok("dnsmasq") => PxeServerKind::Dnsmasq,
            Ok("lifeboat") => PxeServerKind::Lifeboat,
            other => panic!("{PXE_SERVER_ENV} must be `dnsmasq` or `lifeboat`, not {other:?}"),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            PxeServerKind::Dnsmasq => "dnsmasq",
            PxeServerKind::Lifeboat => "lifeboat",
        }
    }

    /// Checks that the server's program exists (skip, or fail in CI, otherwise). The lifeboat
    /// binary is built on first use instead.
    pub fn require(self) -> Option<()> {
        match self {
            PxeServerKind::Dnsmasq => crate::require_program(PeerServers::locate().dnsmasq).map(drop),
            PxeServerKind::Lifeboat => Some(()),
        }
    }
}

/// What the server hands out on a [`PxeLan`]; both implementations get it through their own,
/// dnsmasq-compatible, command lines.
#[derive(Debug, Clone)]
pub struct PxeScope {
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
    pub netmask: Ipv4Addr,
    /// dnsmasq syntax: `1h`.
    pub lease_time: String,
    /// The file for clients whose user class (option 77) is `iPXE`: the script.
    pub ipxe_file: String,
    /// The file for every other client. The test's TFTP root does not hold it, so a server that
    /// fails to recognise iPXE makes the boot fail visibly.
    pub fallback_file: String,
}

impl PxeScope {
    /// `.100`–`.150` of the bridge's /24, one-hour leases, `boot.ipxe` for iPXE and
    /// `undionly.kpxe` for anyone else.
    pub fn for_lan(lan: &PxeLan) -> PxeScope {
        PxeScope {
            first: lan.host(100),
            last: lan.host(150),
            netmask: Ipv4Addr::new(255, 255, 255, 0),
            lease_time: "1h".to_owned(),
            ipxe_file: "boot.ipxe".to_owned(),
            fallback_file: "undionly.kpxe".to_owned(),
        }
    }

    pub fn in_range(&self, addr: Ipv4Addr) -> bool {
        (self.first..=self.last).contains(&addr)
    }

    /// `START,END,NETMASK,LEASE`, the syntax of both dnsmasq and lifeboat.
    pub fn range_arg(&self) -> String {
        format!("{},{},{},{}", self.first, self.last, self.netmask, self.lease_time)
    }
}

/// The DHCP + TFTP server on a [`PxeLan`]'s bridge; stopped (by process group) when dropped.
#[derive(Debug)]
pub struct PxeServer {
    kind: PxeServerKind,
    process: Child,
    // Lease database; removed after the process is gone (fields drop in order).
    _state: tempfile::TempDir,
}

impl PxeServer {
    /// Starts `kind` on `lan`'s bridge serving `tftp_root`, and waits until it listens on UDP
    /// ports 67 and 69 in the namespace (panicking with its output otherwise).
    pub fn start(kind: PxeServerKind, lan: &PxeLan, scope: &PxeScope, tftp_root: &Path) -> PxeServer {
        let state = tempfile::Builder::new().prefix("lbt-pxe-server-").tempdir().expect("server state folder");
        let argv = match kind {
            PxeServerKind::Dnsmasq => dnsmasq_argv(lan, scope, tftp_root, state.path()),
            PxeServerKind::Lifeboat => lifeboat_argv(lan, scope, tftp_root, state.path()),
        };
        let mut process = lan.ns.spawn(&argv);
        for port in [67, 69] {
            wait_server_udp(&lan.ns, &mut process, port, START_TIMEOUT);
        }
        PxeServer { kind, process, _state: state }
    }

    pub fn kind(&self) -> PxeServerKind {
        self.kind
    }

    /// The server's command line and the tail of its output, for failure messages.
    pub fn log(&self) -> String {
        format!(
            "--- {} server: {} ---\nstdout (tail):\n{}\nstderr (tail):\n{}",
            self.kind.label(),
            self.process.cmdline(),
            tail(&self.process.stdout()),
            tail(&self.process.stderr())
        )
    }

    /// `Err` with the server's output if it has exited.
    pub fn check_running(&mut self) -> Result<(), String> {
        if self.process.is_running() { Ok(()) } else { Err(format!("the server exited:\n{}", self.process.output())) }
    }
}

/// dnsmasq with DHCP and TFTP on the bridge only: no DNS, no config file, no ping before
/// offering, every exchange logged (`--log-dhcp` shows the client's options) to stderr.
fn dnsmasq_argv(lan: &PxeLan, scope: &PxeScope, tftp_root: &Path, state: &Path) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec![PeerServers::locate().dnsmasq.into()];
    argv.extend(PeerServers::DNSMASQ_ISOLATED.map(OsString::from));
    let fixed = [
        "--log-dhcp",
        "--no-ping",
        "--dhcp-authoritative",
        "--enable-tftp",
        // iPXE's option 77 is the bare string `iPXE`; dnsmasq matches it as one class.
        "--dhcp-userclass=set:ipxe,iPXE",
    ];
    argv.extend(fixed.map(OsString::from));
    argv.push(format!("--interface={}", lan.bridge).into());
    argv.push(format!("--dhcp-range={}", scope.range_arg()).into());
    argv.push(format!("--dhcp-boot=tag:ipxe,{}", scope.ipxe_file).into());
    argv.push(format!("--dhcp-boot=tag:!ipxe,{}", scope.fallback_file).into());
    argv.push(prefixed("--dhcp-leasefile=", &state.join("dnsmasq.leases")));
    argv.push(prefixed("--tftp-root=", tftp_root));
    argv
}

/// `lifeboat serve` with the same scope: `--dhcp-boot-rule ipxe=FILE` for iPXE, `--dhcp-boot` for the
/// rest, its SQLite lease database in `state`, TFTP on the bridge address.
fn lifeboat_argv(lan: &PxeLan, scope: &PxeScope, tftp_root: &Path, state: &Path) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec![crate::lifeboat_bin().into(), "serve".into()];
    argv.extend(["--tftp-root".into(), tftp_root.as_os_str().to_owned()]);
    argv.extend(["--tftp-listen".into(), format!("{}:69", lan.server_ip).into()]);
    argv.extend(["--tftp-allow".into(), "10.0.0.0/8".into()]);
    argv.extend(["--dhcp-interface".into(), OsString::from(&lan.bridge)]);
    argv.extend(["--dhcp-range".into(), scope.range_arg().into()]);
    argv.extend(["--dhcp-boot-rule".into(), format!("ipxe={}", scope.ipxe_file).into()]);
    argv.extend(["--dhcp-boot".into(), OsString::from(&scope.fallback_file)]);
    argv.extend(["--dhcp-skip-probe".into(), "--dhcp-authoritative".into()]);
    argv.extend(["--db".into(), state.join("leases.sqlite").into_os_string()]);
    argv
}

fn prefixed(flag: &str, path: &Path) -> OsString {
    let mut arg = OsString::from(flag);
    arg.push(path);
    arg
}

/// How OVMF boots from the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UefiBoot {
    /// PXE: DHCP with architecture 7, the loader by TFTP.
    Pxe,
    /// UEFI HTTP boot: DHCP with architecture 16 and vendor class `HTTPClient`, the loader by
    /// HTTP from the URL in the answer.
    Http,
}

/// Why [`QemuGuest::wait_console`] gave up.
#[derive(Debug, Clone)]
pub enum ConsoleWaitError {
    /// QEMU exited (the firmware gave up and rebooted, which `-no-reboot` turns into an exit).
    Exited {
        status: ExitStatus,
        after: Duration,
    },
    TimedOut {
        after: Duration,
    },
}

impl fmt::Display for ConsoleWaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsoleWaitError::Exited { status, after } => {
                write!(f, "QEMU exited ({status}) after {after:.1?} without printing it")
            }
            ConsoleWaitError::TimedOut { after } => write!(f, "it did not appear within {after:.1?}"),
        }
    }
}

impl std::error::Error for ConsoleWaitError {}

/// A QEMU/TCG PC (SeaBIOS, 256 MiB unless told otherwise, one vCPU, no disks, no display) whose
/// only boot device is a virtio NIC on the lan's tap with the iPXE option ROM. Its serial console
/// goes to a file. When booting fails or the booted script exits, SeaBIOS reboots at once
/// (`reboot-timeout=0`) and `-no-reboot` turns that into QEMU exiting.
#[derive(Debug)]
pub struct QemuGuest {
    process: Child,
    console: PathBuf,
    started: Instant,
    // Console log; removed after the process is gone (fields drop in order).
    _dir: tempfile::TempDir,
}

impl QemuGuest {
    /// Starts the guest inside `lan`'s namespace with [`DEFAULT_MEMORY_MIB`]. It starts booting
    /// at once.
    pub fn boot_from_network(install: &QemuInstall, lan: &PxeLan) -> QemuGuest {
        QemuGuest::boot_from_network_with_memory(install, lan, DEFAULT_MEMORY_MIB)
    }

    /// [`QemuGuest::boot_from_network`] with `memory_mib` MiB of RAM, for guests that load more
    /// than a script (a Linux kernel and its initramfs: see [`crate::linux_boot`]).
    pub fn boot_from_network_with_memory(install: &QemuInstall, lan: &PxeLan, memory_mib: u32) -> QemuGuest {
        QemuGuest::boot_from_network_as(install, lan, &lan.guest_mac, memory_mib)
    }

    /// [`QemuGuest::boot_from_network_with_memory`] with the NIC's MAC `mac` instead of the
    /// lan's [`PxeLan::guest_mac`]: another machine on the same tap, once the one before it has
    /// exited (a tap takes one guest at a time).
    pub fn boot_from_network_as(install: &QemuInstall, lan: &PxeLan, mac: &str, memory_mib: u32) -> QemuGuest {
        let dir = tempfile::Builder::new().prefix("lbt-qemu-").tempdir().expect("folder for the guest's console");
        let console = dir.path().join("console.log");
        let argv = qemu_argv(install, lan, mac, &console, memory_mib);
        let module_dir = install.module_dir.to_string_lossy().into_owned();
        let process = lan.ns.spawn_env(&argv, &[("QEMU_MODULE_DIR", &module_dir)]);
        QemuGuest::started(process, console, dir)
    }

    /// A UEFI PC (OVMF) with `memory_mib` MiB whose only boot device is a virtio NIC with the MAC
    /// `mac` on the lan's tap, without an option ROM: OVMF's own driver and network boot client
    /// boot it, as on real UEFI hardware, by `boot`.
    pub fn boot_uefi_from_network_as(
        install: &QemuInstall,
        lan: &PxeLan,
        mac: &str,
        memory_mib: u32,
        boot: UefiBoot,
    ) -> QemuGuest {
        let dir = tempfile::Builder::new().prefix("lbt-qemu-").tempdir().expect("folder for the guest's console");
        let console = dir.path().join("console.log");
        let mut argv = install.machine_argv_with_memory(&install.ovmf, memory_mib);
        if boot == UefiBoot::Http {
            // OVMF's switches (fw_cfg) for its boot options: no PXE and no IPv6, so the first
            // network boot option it tries is HTTP over IPv4.
            for knob in ["IPv4PXESupport", "IPv6PXESupport", "IPv6Support"] {
                argv.extend(["-fw_cfg".into(), format!("name=opt/org.tianocore/{knob},string=no").into()]);
            }
        }
        argv.extend(nic_argv(lan, mac, &console, None));
        let module_dir = install.module_dir.to_string_lossy().into_owned();
        let process = lan.ns.spawn_env(&argv, &[("QEMU_MODULE_DIR", &module_dir)]);
        QemuGuest::started(process, console, dir)
    }

    /// A guest already started as `process`, whose serial console is captured in `console`
    /// inside `dir` (removed once the process is gone).
    pub(crate) fn started(process: Child, console: PathBuf, dir: tempfile::TempDir) -> QemuGuest {
        QemuGuest { process, console, started: Instant::now(), _dir: dir }
    }

    pub fn cmdline(&self) -> &str {
        self.process.cmdline()
    }

    /// Time since QEMU was started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The serial console so far as plain text (see [`console_text`]).
    pub fn console(&self) -> String {
        console_text(&std::fs::read(&self.console).unwrap_or_default())
    }

    /// Polls the console until a line contains `needle`, for at most `timeout` or until QEMU
    /// exits. Returns the time since QEMU started.
    pub fn wait_console(&mut self, needle: &str, timeout: Duration) -> Result<Duration, ConsoleWaitError> {
        self.wait_console_until(|console| console.lines().any(|line| line.contains(needle)), timeout)
    }

    /// Polls the console until `done` holds for its whole text, for at most `timeout` or until
    /// QEMU exits. Returns the time since QEMU started.
    pub fn wait_console_until(
        &mut self,
        mut done: impl FnMut(&str) -> bool,
        timeout: Duration,
    ) -> Result<Duration, ConsoleWaitError> {
        let deadline = Instant::now() + timeout;
        loop {
            // Check the exit first and read the console after, so nothing written just before
            // the exit is missed.
            let exited = self.process.try_status();
            if done(&self.console()) {
                return Ok(self.uptime());
            }
            if let Some(status) = exited {
                return Err(ConsoleWaitError::Exited { status, after: self.uptime() });
            }
            if Instant::now() >= deadline {
                return Err(ConsoleWaitError::TimedOut { after: self.uptime() });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits up to `timeout` for QEMU to exit by itself; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.process.wait_timeout(timeout)
    }

    /// The command line, QEMU's own output and the console tail, for failure messages.
    pub fn log(&mut self) -> String {
        let out = self.process.output();
        format!("--- QEMU guest ---\n{out}\n  serial console (tail):\n{}", tail(&self.console()))
    }
}

/// The QEMU command line. Paths go into comma-separated option values, so commas are doubled.
fn qemu_argv(install: &QemuInstall, lan: &PxeLan, mac: &str, console: &Path, memory_mib: u32) -> Vec<OsString> {
    let mut argv = install.machine_argv_with_memory(&install.bios, memory_mib);
    argv.extend(nic_argv(lan, mac, console, Some(&install.nic_rom)));
    argv
}

/// The serial console into `console`, and the guest's only boot device: a virtio NIC with `mac`
/// on the lan's tap, with the option ROM `rom`, or none (`romfile=`) for firmware that drives the
/// NIC itself. Its firmware reboots at once when booting fails, which `-no-reboot` turns into
/// QEMU's exit.
fn nic_argv(lan: &PxeLan, mac: &str, console: &Path, rom: Option<&Path>) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec!["-serial".into(), format!("file:{}", option_value(console)).into()];
    argv.push("-netdev".into());
    argv.push(format!("tap,id=n0,ifname={},script=no,downscript=no", lan.tap).into());
    // The ROM's PCI header names 1af4:1041 (virtio 1.0), so the device must be modern-only for
    // SeaBIOS to run it; a transitional 1af4:1000 device silently gets no ROM.
    let rom = rom.map(option_value).unwrap_or_default();
    argv.push("-device".into());
    argv.push(format!("virtio-net-pci,disable-legacy=on,netdev=n0,mac={mac},romfile={rom},bootindex=1").into());
    argv.extend(["-boot", "strict=on,reboot-timeout=0", "-no-reboot"].map(OsString::from));
    argv
}

pub(crate) fn option_value(path: &Path) -> String {
    path.to_string_lossy().replace(',', ",,")
}

/// A serial console capture as plain text: ANSI escape sequences dropped, backspaces applied,
/// carriage returns removed.
pub fn console_text(raw: &[u8]) -> String {
    let raw = String::from_utf8_lossy(raw);
    let mut text = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI: ESC [ parameters... final byte (0x40..=0x7e); otherwise ESC + one char.
                if chars.next_if_eq(&'[').is_some() {
                    while chars.next().is_some_and(|c| !('\u{40}'..='\u{7e}').contains(&c)) {}
                } else {
                    chars.next();
                }
            }
            '\u{8}' => {
                if text.ends_with(|c| c != '\n') {
                    text.pop();
                }
            }
            '\r' => {}
            c => text.push(c),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_text_drops_escapes_and_applies_backspaces() {
        let raw =
            b"\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS\r\n\x1b[0;1miPXE\x1b[0m ok\r\nline...\x08 \x08\x08 \x08done\r\n\x08x";
        assert_eq!(console_text(raw), "SeaBIOS\niPXE ok\nline.done\nx");
    }

    #[test]
    fn option_values_double_commas() {
        assert_eq!(option_value(Path::new("/tmp/a,b/rom")), "/tmp/a,,b/rom");
    }
}
