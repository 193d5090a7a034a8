//! The pieces of a Linux netboot, proven without a network: QEMU loads Debian's kernel and the
//! test initramfs itself (`-kernel`, `-initrd`, `-append`), the kernel runs `/init` from the
//! archive, `/init` prints the command line it was given and a marker on the serial console, and
//! powers the machine off, which ends QEMU. A later test boots the same files over HTTP.
//!
//! The guest has no NIC (`-nic none`) and runs outside any namespace; it needs no root, but it
//! needs QEMU, the kernel and busybox-static that `.ci/run` unpacks, so it is ignored by a plain
//! `cargo test` and fails, saying what is missing, when asked to run without them.

use std::time::Duration;

use lifeboat_e2e::linux_boot::{self, GUEST_MEMORY_MIB, LinuxInstall};
use lifeboat_e2e::process;
use lifeboat_e2e::qemu::QemuInstall;
use lifeboat_e2e::{TestRng, require_program};

/// Measured here under TCG (no KVM, 2 cores shared with other builds; QEMU 7.2, Debian's
/// 6.1.0-57 kernel, a 1.9 MiB initramfs): the marker 5.0 to 6.2 s after QEMU started, about 2 s
/// of it the kernel's own boot by its timestamps, and QEMU gone within the same 0.1 s poll. This
/// only bounds a broken run.
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);

/// From the marker to QEMU's exit: `poweroff -f` is immediate.
const POWER_OFF_TIMEOUT: Duration = Duration::from_secs(15);

#[test]
#[ignore = "needs QEMU, Debian's kernel and busybox-static, which .ci/run unpacks into /opt/lifeboat-peers: \
            run with -- --include-ignored, as .ci/run does"]
fn debian_kernel_runs_the_initramfs_init_which_prints_its_cmdline_and_powers_off() {
    let Some(qemu) = QemuInstall::require_direct_boot() else { return };
    let Some(linux) = LinuxInstall::require() else { return };

    let token = format!("{:016x}", TestRng::from_entropy().next_u64());
    let marker = format!("LIFEBOAT-LINUX-OK-{token}");
    // A token on the command line too: the line /init prints must be this boot's.
    let append = linux_boot::kernel_cmdline(&format!("lifeboat.token={token}"));
    let initramfs = linux.initramfs(&marker);
    let mut guest = linux_boot::boot_direct(&qemu, &linux.kernel, &initramfs, &append, GUEST_MEMORY_MIB);
    eprintln!("guest: {}", guest.cmdline());

    let booted = match guest.wait_console(&marker, BOOT_TIMEOUT) {
        Ok(after) => after,
        Err(e) => panic!("the guest never printed {marker}: {e}\n{}", guest.log()),
    };
    let console = guest.console();
    assert_eq!(
        linux_boot::printed_cmdline(&console),
        Some(append.as_str()),
        "/init must print the command line QEMU gave the kernel\n{}",
        guest.log()
    );

    let Some(status) = guest.wait_exit(POWER_OFF_TIMEOUT) else {
        panic!("QEMU still runs {POWER_OFF_TIMEOUT:?} after the marker\n{}", guest.log());
    };
    let exited = guest.uptime();
    assert!(status.success(), "QEMU exited with {status}\n{}", guest.log());
    // A panic would also end QEMU (panic=-1, -no-reboot); only poweroff says this.
    assert!(guest.console().contains("reboot: Power down"), "the kernel did not power off\n{}", guest.log());
    eprintln!(
        "direct boot of {} with a {} KiB initramfs: marker {booted:.1?} after QEMU started, QEMU exited by itself \
         after {exited:.1?}",
        linux.kernel.display(),
        initramfs.len() / 1024
    );
}

/// busybox's own cpio reads the archive as newc and lists every member with its type and mode:
/// a second reader besides the kernel and the crate's.
#[test]
#[ignore = "needs busybox-static, which .ci/run unpacks into /opt/lifeboat-peers: run with -- --include-ignored"]
fn static_busybox_lists_the_initramfs() {
    let Some(linux) = LinuxInstall::require() else { return };
    let Some(busybox) = require_program(&linux.busybox) else { return };
    let dir = tempfile::tempdir().expect("a folder for the archive");
    let archive = dir.path().join("initramfs.cpio");
    std::fs::write(&archive, linux.initramfs("LIFEBOAT-LINUX-OK")).expect("write the archive");

    let argv = [busybox.as_os_str(), "cpio".as_ref(), "-t".as_ref(), "-v".as_ref(), "-F".as_ref(), archive.as_os_str()];
    let out = process::run(process::command(&argv), Duration::from_secs(10));
    out.assert_success();
    let listed: Vec<(&str, &str)> = out
        .stdout
        .lines()
        .filter_map(|line| Some((line.split_whitespace().next()?, line.split_whitespace().last()?)))
        .collect();
    assert_eq!(
        listed,
        [
            ("drwxr-xr-x", "bin"),
            ("-rwxr-xr-x", "bin/busybox"),
            ("drwxr-xr-x", "dev"),
            ("crw-------", "dev/console"),
            ("drwxr-xr-x", "proc"),
            ("-rwxr-xr-x", "init"),
        ],
        "{out}"
    );
}
