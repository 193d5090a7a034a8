//! U-Boot as a QEMU guest's firmware, at its prompt, with a serial console the test types into:
//! a stand-in for a router's bootloader in recovery mode.
//!
//! **Invariant:** as in [`crate::qemu`]: the guest's only NIC is a tap on a [`PxeLan`] bridge
//! inside a namespace this process created, QEMU is a [`crate::Child`] guard (killed when the
//! guest is dropped), and every wait is bounded. The serial console is a Unix socket in a
//! temporary folder; one thread copies what U-Boot prints into a log file and ends when the
//! socket is shut down, which dropping the guest does before QEMU is killed.
//!
//! The firmware is Debian's u-boot-qemu `qemu-x86_64/u-boot.rom` (U-Boot 2023.01), the x86 build
//! that the qemu-system-x86_64 of `.ci/run` runs with `-bios`. What it is like, as seen here:
//! - it drives QEMU's e1000, the pc machine's usual NIC (its virtio-net driver is not used here);
//! - its environment is the built-in default (`Loading Environment from nowhere`):
//!   `loadaddr=0x02000000` in 256 MiB of RAM (U-Boot relocates itself near the top), `bootdelay=2`;
//! - `bootcmd` is the distro boot, which would try USB, disks and then DHCP, so the guest stops
//!   autoboot at `Hit any key to stop autoboot` before anything reaches the network;
//! - from power-on to the prompt takes about a second under TCG.

use std::fs::File;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::qemu::{ConsoleWaitError, PxeLan, QemuGuest, QemuInstall, option_value};

/// The x86_64 U-Boot image of Debian's u-boot-qemu package.
pub const DEFAULT_UBOOT_ROM: &str = "/usr/lib/u-boot/qemu-x86_64/u-boot.rom";
/// Overrides [`DEFAULT_UBOOT_ROM`].
pub const UBOOT_ROM_ENV: &str = "LIFEBOAT_UBOOT_ROM";

/// QEMU creates the console socket and waits for the test before it starts the machine.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// U-Boot's prompt, alone on the last line while it waits for a command.
const PROMPT: &str = "=> ";

/// The U-Boot image under [`UBOOT_ROM_ENV`] (or [`DEFAULT_UBOOT_ROM`]); fails the test when it
/// is missing.
pub fn require_rom() -> Option<PathBuf> {
    let rom = std::env::var_os(UBOOT_ROM_ENV).map_or_else(|| PathBuf::from(DEFAULT_UBOOT_ROM), PathBuf::from);
    if !rom.is_file() {
        crate::unavailable(&format!(
            "U-Boot for QEMU x86_64 is missing at {} (package u-boot-qemu, which .ci/run installs; \
             {UBOOT_ROM_ENV} overrides the path)",
            rom.display()
        ));
    }
    Some(rom)
}

/// A QEMU PC running U-Boot from `-bios`, with an e1000 NIC on the lan's tap and its serial
/// console on a Unix socket: [`UbootGuest::run`] types a command and returns what it printed.
#[derive(Debug)]
pub struct UbootGuest {
    guest: QemuGuest,
    /// The keyboard end of the console; the copier thread reads a clone of it.
    serial: UnixStream,
    copier: Option<JoinHandle<()>>,
}

impl UbootGuest {
    /// Starts QEMU inside `lan`'s namespace and connects to its console, after which U-Boot
    /// starts. Panics, with QEMU's output, if the console does not come up.
    pub fn start(install: &QemuInstall, rom: &Path, lan: &PxeLan) -> UbootGuest {
        let dir = tempfile::Builder::new().prefix("lbt-uboot-").tempdir().expect("folder for the guest's console");
        let (console, socket) = (dir.path().join("console.log"), dir.path().join("serial.sock"));
        let log = File::create(&console).expect("create the console log");
        let mut argv = install.machine_argv(rom);
        // wait=on: QEMU starts the machine only once the test is connected, so nothing U-Boot
        // prints is lost.
        argv.push("-chardev".into());
        argv.push(format!("socket,id=serial0,path={},server=on,wait=on", option_value(&socket)).into());
        argv.extend(["-serial".into(), "chardev:serial0".into()]);
        argv.push("-netdev".into());
        argv.push(format!("tap,id=n0,ifname={},script=no,downscript=no", lan.tap).into());
        // `romfile=`: U-Boot runs no option ROMs, and QEMU would otherwise want efi-e1000.rom.
        argv.push("-device".into());
        argv.push(format!("e1000,netdev=n0,mac={},romfile=", lan.guest_mac).into());
        argv.push("-no-reboot".into());
        let module_dir = install.module_dir.to_string_lossy().into_owned();
        let process = lan.ns.spawn_env(&argv, &[("QEMU_MODULE_DIR", &module_dir)]);
        let mut guest = QemuGuest::started(process, console, dir);

        let serial = connect(&mut guest, &socket);
        let reader = serial.try_clone().expect("clone the console socket");
        let copier = std::thread::spawn(move || copy_console(reader, log));
        UbootGuest { guest, serial, copier: Some(copier) }
    }

    /// Waits for the autoboot countdown, presses a key, and waits for the prompt. Returns the
    /// time from QEMU's start to the prompt.
    pub fn stop_autoboot(&mut self, timeout: Duration) -> Result<Duration, ConsoleWaitError> {
        let deadline = Instant::now() + timeout;
        self.guest.wait_console("Hit any key to stop autoboot", timeout)?;
        self.type_text(" ");
        self.guest.wait_console_until(at_prompt, deadline.saturating_duration_since(Instant::now()))
    }

    /// Types `command` at the prompt and waits up to `timeout` for the next prompt. Returns what
    /// the command printed: the lines between its echo and the next prompt.
    pub fn run(&mut self, command: &str, timeout: Duration) -> Result<String, ConsoleWaitError> {
        let start = self.guest.console().len();
        self.type_text(&format!("{command}\r"));
        // The echo ends with a line break; the command is done when the prompt is back.
        let done = |console: &str| console.get(start..).is_some_and(|out| out.contains('\n') && at_prompt(out));
        self.guest.wait_console_until(done, timeout)?;
        let console = self.guest.console();
        let out = console.get(start..).unwrap_or_default();
        let printed = out.split_once('\n').map_or("", |(_echo, rest)| rest);
        Ok(printed.strip_suffix(PROMPT).unwrap_or(printed).to_owned())
    }

    pub fn cmdline(&self) -> &str {
        self.guest.cmdline()
    }

    /// The serial console so far, as plain text.
    pub fn console(&self) -> String {
        self.guest.console()
    }

    /// The command line, QEMU's own output and the console tail, for failure messages.
    pub fn log(&mut self) -> String {
        self.guest.log()
    }

    fn type_text(&mut self, text: &str) {
        // QEMU takes from the socket only what the emulated UART has room for, so nothing typed
        // is dropped however fast it is written.
        if let Err(e) = self.serial.write_all(text.as_bytes()) {
            panic!("cannot type {text:?} on the U-Boot console: {e}\n{}", self.guest.log());
        }
    }
}

impl Drop for UbootGuest {
    fn drop(&mut self) {
        // Ends the copier's read at once (it holds a clone of this socket); QEMU is killed after,
        // when `guest` drops.
        let _ = self.serial.shutdown(Shutdown::Both);
        if let Some(copier) = self.copier.take() {
            let _ = copier.join();
        }
    }
}

/// True when the console's last line is U-Boot's prompt with nothing typed after it.
fn at_prompt(console: &str) -> bool {
    console.rsplit('\n').next() == Some(PROMPT)
}

/// Connects to QEMU's console socket, which appears once QEMU has parsed its command line.
fn connect(guest: &mut QemuGuest, socket: &Path) -> UnixStream {
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    loop {
        let error = match UnixStream::connect(socket) {
            Ok(stream) => return stream,
            Err(e) => e,
        };
        if guest.wait_exit(Duration::ZERO).is_some() {
            panic!("QEMU exited before its console came up:\n{}", guest.log());
        }
        if Instant::now() >= deadline {
            panic!(
                "QEMU's console socket {} did not accept within {CONNECT_TIMEOUT:?} ({error}):\n{}",
                socket.display(),
                guest.log()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Appends everything read from the console to `log` until the socket closes or is shut down.
fn copy_console(mut serial: UnixStream, mut log: File) {
    let mut buf = [0u8; 4096];
    loop {
        match serial.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if log.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_counts_only_alone_on_the_last_line() {
        assert!(at_prompt("Hit any key to stop autoboot:  0 \n=> "));
        assert!(at_prompt("=> "));
        assert!(!at_prompt("=> tftpboot ${loadaddr} x.bin\nLoading: ###"));
        assert!(!at_prompt("crc32 for 02000000 ... 020fffff ==> "));
        assert!(!at_prompt("\n=> crc"));
    }
}
