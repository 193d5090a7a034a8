//! A real Linux to boot in a QEMU guest: Debian's kernel, and an initramfs made here around a
//! static busybox whose `/init` prints the kernel command line and a marker on the serial console
//! and then powers the machine off, so QEMU exits by itself.
//!
//! **Invariant:** nothing here reaches a network. [`boot_direct`] gives its guest no NIC at all
//! (`-nic none`: QEMU's default user-mode network is never created) and runs it outside any
//! namespace; a network boot of the same kernel goes through [`QemuGuest::boot_from_network`] on
//! a [`crate::qemu::PxeLan`]. QEMU is a [`crate::Child`] guard, and the initramfs written for
//! it lives in the guest's temporary folder, removed once QEMU is gone.
//!
//! Parts:
//! - [`LinuxInstall`]: where `.ci/run` unpacked the kernel and busybox-static (overridable).
//! - [`initramfs`] / [`initramfs_with`]: the newc archive; [`init_script`]: its `/init`.
//! - [`kernel_cmdline`], [`printed_cmdline`]: what the guest is told, and what it says it got.
//! - [`boot_direct`]: QEMU loads the kernel and initramfs itself (`-kernel`, `-initrd`).
//!
//! As seen here (QEMU 7.2 under TCG, no KVM, 2 shared cores; Debian's 6.1.0-57 kernel, busybox
//! 1.35, an archive of about 2 MB):
//! - the marker comes about 2 s after the kernel's first message (its own timestamps), and QEMU
//!   exits by itself 5.0 to 6.2 s after it started: SeaBIOS, the kernel loader and the kernel
//!   decompressing itself take the rest;
//! - the guest needs about 96 MiB: with 80 MiB the kernel panics out of memory before `/init`,
//!   with 64 MiB it reboots before its first message (and `-no-reboot` ends QEMU at once, with
//!   status 0). [`GUEST_MEMORY_MIB`] leaves room for iPXE, which holds both files in memory while
//!   it boots them.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use cpio::newc::{self, ModeFileType};

use crate::process::{self, Child};
use crate::qemu::{QemuGuest, QemuInstall};

/// Where `.ci/run` puts the kernel of the package `linux-image-amd64` depends on (the file
/// `PACKAGE` beside it names that package and its version).
pub const DEFAULT_KERNEL: &str = "/opt/lifeboat-peers/linux/vmlinuz";
/// Overrides [`DEFAULT_KERNEL`]: any x86_64 bzImage with a serial console driver built in.
pub const KERNEL_ENV: &str = "LIFEBOAT_LINUX_KERNEL";
/// Where `.ci/run` unpacks Debian's busybox-static (not installed: it conflicts with the
/// busybox package the other tests use).
pub const DEFAULT_STATIC_BUSYBOX: &str = "/opt/lifeboat-peers/busybox-static/bin/busybox";
/// Overrides [`DEFAULT_STATIC_BUSYBOX`]; the binary must be statically linked, since the
/// initramfs holds no shared libraries.
pub const STATIC_BUSYBOX_ENV: &str = "LIFEBOAT_STATIC_BUSYBOX";

/// RAM for a guest that boots this kernel: about 2.5 times what it needs (see the module doc).
pub const GUEST_MEMORY_MIB: u32 = 256;

/// The kernel arguments every boot needs: its messages and `/init`'s output on the first serial
/// port, and an immediate reboot on a panic (QEMU's `-no-reboot` turns it into an exit), so a
/// broken initramfs ends the run at once instead of hanging until the test's timeout.
pub const BASE_CMDLINE: &str = "console=ttyS0 panic=-1";

/// What `/init` prints before the command line it was booted with, at the start of a line.
pub const CMDLINE_PREFIX: &str = "lifeboat-cmdline: ";

/// The kernel and the static busybox, whether or not they exist.
#[derive(Debug, Clone)]
pub struct LinuxInstall {
    pub kernel: PathBuf,
    pub busybox: PathBuf,
}

impl LinuxInstall {
    /// The paths under [`KERNEL_ENV`] (or [`DEFAULT_KERNEL`]) and [`STATIC_BUSYBOX_ENV`] (or
    /// [`DEFAULT_STATIC_BUSYBOX`]).
    pub fn locate() -> LinuxInstall {
        let path =
            |env: &str, default: &str| std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from);
        LinuxInstall {
            kernel: path(KERNEL_ENV, DEFAULT_KERNEL),
            busybox: path(STATIC_BUSYBOX_ENV, DEFAULT_STATIC_BUSYBOX),
        }
    }

    /// [`LinuxInstall::locate`], then fail the test, saying what is missing and where it was
    /// looked for, unless both files exist. (Returns an `Option`, always `Some`, so callers can
    /// use `?`, as [`QemuInstall::require`] does.)
    pub fn require() -> Option<LinuxInstall> {
        let install = LinuxInstall::locate();
        let needed = [
            ("Debian's kernel", &install.kernel, KERNEL_ENV, "the kernel of the package linux-image-amd64 depends on"),
            ("a static busybox", &install.busybox, STATIC_BUSYBOX_ENV, "the package busybox-static"),
        ];
        for (what, path, env, package) in needed {
            if !path.is_file() {
                crate::unavailable(&format!(
                    "{what} is missing at {} (.ci/run unpacks {package} into /opt/lifeboat-peers; \
                     {env} overrides the path)",
                    path.display()
                ));
            }
        }
        Some(install)
    }

    /// [`initramfs_with`] this install's busybox. Panics if it cannot be read.
    pub fn initramfs(&self, marker: &str) -> Vec<u8> {
        let busybox = std::fs::read(&self.busybox)
            .unwrap_or_else(|e| panic!("cannot read the static busybox {}: {e}", self.busybox.display()));
        initramfs_with(&busybox, marker)
    }
}

/// An initramfs (uncompressed newc cpio, which the kernel takes as it is) holding the static
/// busybox of [`LinuxInstall::require`] and the [`init_script`] that prints `marker`. Fails the
/// test when the busybox is missing.
pub fn initramfs(marker: &str) -> Vec<u8> {
    LinuxInstall::require().expect("require() fails the test rather than return None").initramfs(marker)
}

/// The initramfs of [`initramfs`] around the given busybox binary: `/bin/busybox`, `/dev` with
/// a `console` node (so `/init` has its output even if the kernel's built-in archive lacked
/// one), `/proc`, and `/init`. Every entry belongs to root, with mtime 0, so the same inputs
/// give the same bytes.
pub fn initramfs_with(busybox: &[u8], marker: &str) -> Vec<u8> {
    let init = init_script(marker);
    let entries = [
        Entry::dir("bin"),
        Entry::file("bin/busybox", 0o755, busybox),
        Entry::dir("dev"),
        Entry { name: "dev/console", kind: ModeFileType::Char, perm: 0o600, rdev: (5, 1), data: &[] },
        Entry::dir("proc"),
        Entry::file("init", 0o755, init.as_bytes()),
    ];
    let mut archive = Vec::with_capacity(busybox.len() + 4096);
    for (ino, entry) in (1..).zip(entries) {
        archive = entry.write(archive, ino);
    }
    newc::trailer(archive).expect("writing to a Vec cannot fail")
}

/// `/init`: mounts `/proc`, quiets kernel messages on the console (so they cannot split the
/// lines below), prints [`CMDLINE_PREFIX`] and `/proc/cmdline`, then `marker` on a line of its
/// own, last, so that once the marker is on the console every line before it is complete; then
/// powers off. The kernel never prints the archive's contents, so the marker reaches the console
/// only if `/init` ran.
///
/// Panics if `marker` holds a line break or NUL (it could not be found on one console line).
pub fn init_script(marker: &str) -> String {
    assert!(
        !marker.is_empty() && !marker.contains(['\n', '\r', '\0']),
        "the marker must be one non-empty line, not {marker:?}"
    );
    format!(
        "#!/bin/busybox sh\n\
         # /init of lifeboat's test initramfs (tests/src/linux_boot.rs). busybox runs every tool:\n\
         # the archive has no applet links.\n\
         /bin/busybox mount -t proc proc /proc\n\
         echo 1 >/proc/sys/kernel/printk\n\
         read -r cmdline </proc/cmdline\n\
         printf '%s%s\\n' {prefix} \"$cmdline\"\n\
         printf '%s\\n' {marker}\n\
         /bin/busybox poweroff -f\n",
        prefix = shell_quote(CMDLINE_PREFIX),
        marker = shell_quote(marker),
    )
}

/// [`BASE_CMDLINE`] followed by `extra` (for example a token the test looks for in
/// [`printed_cmdline`]).
pub fn kernel_cmdline(extra: &str) -> String {
    if extra.is_empty() { BASE_CMDLINE.to_owned() } else { format!("{BASE_CMDLINE} {extra}") }
}

/// The command line `/init` printed on `console` (without [`CMDLINE_PREFIX`] and trailing
/// blanks), if it got that far. The kernel's own `Command line:` message does not count.
pub fn printed_cmdline(console: &str) -> Option<&str> {
    console.lines().find_map(|line| line.strip_prefix(CMDLINE_PREFIX)).map(str::trim_end)
}

/// Starts a QEMU PC (SeaBIOS, TCG, one vCPU, `memory_mib` MiB, no NIC, no disk) that loads
/// `kernel` and `initramfs` itself and boots them with `append` as the command line. Its serial
/// console is captured as for any [`QemuGuest`]; `-no-reboot` makes a reboot or a panic (with
/// `panic=-1`) end QEMU, as `poweroff` does.
pub fn boot_direct(qemu: &QemuInstall, kernel: &Path, initramfs: &[u8], append: &str, memory_mib: u32) -> QemuGuest {
    let dir = tempfile::Builder::new().prefix("lbt-linux-").tempdir().expect("folder for the guest's files");
    let console = dir.path().join("console.log");
    let initrd = dir.path().join("initramfs.cpio");
    std::fs::write(&initrd, initramfs).expect("write the initramfs");
    let mut argv = qemu.machine_argv_with_memory(&qemu.bios, memory_mib);
    argv.extend(["-nic".into(), "none".into()]);
    argv.extend(["-serial".into(), format!("file:{}", crate::qemu::option_value(&console)).into()]);
    argv.extend(["-kernel".into(), kernel.as_os_str().to_owned()]);
    argv.extend(["-initrd".into(), initrd.into_os_string()]);
    argv.extend(["-append".into(), OsString::from(append)]);
    argv.push("-no-reboot".into());
    let mut command = process::command(&argv);
    command.env("QEMU_MODULE_DIR", &qemu.module_dir);
    QemuGuest::started(Child::spawn(command), console, dir)
}

/// One member of the archive.
struct Entry<'a> {
    name: &'a str,
    kind: ModeFileType,
    perm: u32,
    /// Major and minor number of a device node.
    rdev: (u32, u32),
    data: &'a [u8],
}

impl<'a> Entry<'a> {
    fn dir(name: &'a str) -> Entry<'a> {
        Entry { name, kind: ModeFileType::Directory, perm: 0o755, rdev: (0, 0), data: &[] }
    }

    fn file(name: &'a str, perm: u32, data: &'a [u8]) -> Entry<'a> {
        Entry { name, kind: ModeFileType::Regular, perm, rdev: (0, 0), data }
    }

    /// Appends the header, the data and the padding to `archive`.
    fn write(self, archive: Vec<u8>, ino: u32) -> Vec<u8> {
        let nlink = if matches!(self.kind, ModeFileType::Directory) { 2 } else { 1 };
        let size = u32::try_from(self.data.len()).expect("an initramfs member under 4 GiB");
        let mut writer = newc::Builder::new(self.name)
            .ino(ino)
            .mode(self.perm)
            .set_mode_file_type(self.kind)
            .nlink(nlink)
            .rdev_major(self.rdev.0)
            .rdev_minor(self.rdev.1)
            .write(archive, size);
        writer.write_all(self.data).expect("writing to a Vec cannot fail");
        writer.finish().expect("writing to a Vec cannot fail")
    }
}

/// `word` as one single-quoted shell word.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read};

    use super::*;

    /// What one member of an archive says about itself.
    #[derive(Debug, PartialEq)]
    struct Member {
        name: String,
        mode: u32,
        rdev: (u32, u32),
        data: Vec<u8>,
    }

    /// Reads `archive` back with the crate's own newc reader, up to the trailer, and checks that
    /// nothing follows it but padding.
    fn members(archive: &[u8]) -> Vec<Member> {
        let mut cursor = Cursor::new(archive);
        let mut members = Vec::new();
        loop {
            let mut reader = newc::Reader::new(cursor).expect("a newc header");
            let entry = reader.entry();
            if entry.is_trailer() {
                cursor = reader.finish().expect("the trailer");
                break;
            }
            let (name, mode, rdev) = (entry.name().to_owned(), entry.mode(), (entry.rdev_major(), entry.rdev_minor()));
            let mut data = Vec::new();
            reader.read_to_end(&mut data).expect("a member's data");
            members.push(Member { name, mode, rdev, data });
            cursor = reader.finish().expect("the end of a member");
        }
        let rest = &archive[usize::try_from(cursor.position()).expect("a small archive")..];
        assert!(rest.iter().all(|&b| b == 0), "{} bytes after the trailer", rest.len());
        members
    }

    #[test]
    fn initramfs_holds_busybox_the_init_script_and_the_directories_it_needs() {
        // An odd length, so the padding after the data is exercised.
        let busybox = b"\x7fELF not really busybox".to_vec();
        let archive = initramfs_with(&busybox, "LIFEBOAT-LINUX-OK-1234");
        assert!(archive.starts_with(b"070701"), "newc magic");
        assert_eq!(archive.len() % 4, 0);

        let found = members(&archive);
        let names: Vec<&str> = found.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["bin", "bin/busybox", "dev", "dev/console", "proc", "init"]);
        let by_name = |name: &str| found.iter().find(|m| m.name == name).expect(name);
        for dir in ["bin", "dev", "proc"] {
            assert_eq!(by_name(dir).mode, 0o040755, "{dir}");
        }
        assert_eq!(by_name("bin/busybox").mode, 0o100755);
        assert_eq!(by_name("bin/busybox").data, busybox);
        assert_eq!((by_name("dev/console").mode, by_name("dev/console").rdev), (0o020600, (5, 1)));
        let init = by_name("init");
        assert_eq!(init.mode, 0o100755);
        assert_eq!(init.data, init_script("LIFEBOAT-LINUX-OK-1234").as_bytes());
    }

    #[test]
    fn initramfs_is_the_same_for_the_same_inputs() {
        assert_eq!(initramfs_with(b"bb", "M"), initramfs_with(b"bb", "M"));
        assert_ne!(initramfs_with(b"bb", "M"), initramfs_with(b"bb", "N"));
    }

    #[test]
    fn init_script_prints_the_cmdline_then_the_marker_then_powers_off() {
        let script = init_script("OK-42");
        assert!(script.starts_with("#!/bin/busybox sh\n"));
        let cmdline = script.find("/proc/cmdline").expect("reads the command line");
        let marker = script.find("'OK-42'").expect("prints the marker");
        let poweroff = script.find("poweroff -f").expect("powers off");
        assert!(cmdline < marker && marker < poweroff, "{script}");
    }

    #[test]
    fn init_script_quotes_the_marker_for_the_shell() {
        let script = init_script("it's $HOME `x`");
        assert!(script.contains(r"printf '%s\n' 'it'\''s $HOME `x`'"), "{script}");
    }

    #[test]
    #[should_panic(expected = "one non-empty line")]
    fn init_script_refuses_a_marker_on_two_lines() {
        init_script("a\nb");
    }

    #[test]
    fn printed_cmdline_is_the_line_init_printed_not_the_kernel_message() {
        let console = "[    0.000000] Command line: console=ttyS0 x=1\n\
                       lifeboat-cmdline: console=ttyS0 x=1 \n\
                       MARKER\n";
        assert_eq!(printed_cmdline(console), Some("console=ttyS0 x=1"));
        assert_eq!(printed_cmdline("[    0.000000] Command line: console=ttyS0\n"), None);
    }

    #[test]
    fn kernel_cmdline_adds_to_the_base() {
        assert_eq!(kernel_cmdline(""), "console=ttyS0 panic=-1");
        assert_eq!(kernel_cmdline("lifeboat.token=7"), "console=ttyS0 panic=-1 lifeboat.token=7");
    }
}
