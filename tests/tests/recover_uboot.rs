//! Issue 14: `lifeboat recover --profile tplink` against a real bootloader. U-Boot (Debian's
//! u-boot-qemu, the x86_64 build) in QEMU plays a TP-Link router in recovery mode: a fixed
//! address (`ipaddr` 192.168.0.86), a fixed server (`serverip` 192.168.0.66), `tftpboot` of the
//! profile's file name, then `crc32` over what arrived. The host's port has only
//! 192.168.0.10/24; lifeboat takes .66 as the profile says, serves the image, and once U-Boot
//! has it stops by itself and gives .66 back.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use lifeboat_e2e::qemu::{PxeLan, QemuInstall};
use lifeboat_e2e::uboot::{self, UbootGuest};
use lifeboat_e2e::{crc32, lifeboat_bin, random_file, require_netns};

/// The host's own address on the port the router is plugged into.
const HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 10);
/// What the tplink profile takes, and the router asks for.
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 66);
/// The router's fixed address in recovery mode.
const DEVICE: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 86);
/// One of the profile's file names (the one without a model in it).
const FILENAME: &str = "tp_recovery.bin";
/// About 1 MB; U-Boot loads it at `loadaddr` (0x02000000), far below where it relocated itself.
const IMAGE_SIZE: u64 = 1_048_576;

/// lifeboat says it is waiting once the address is on and TFTP listens (well under a second here).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Power-on to the prompt took about 1 s here under TCG.
const PROMPT_TIMEOUT: Duration = Duration::from_secs(60);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// The transfer took about 3 s here; U-Boot's own retries give up after 10 × 5 s.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(90);
/// From U-Boot's last ACK to lifeboat's exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn recover_tplink_serves_uboot_tftpboot_then_exits_and_gives_the_address_back() {
    require_netns!();
    let Some(qemu) = QemuInstall::require_machine() else { return };
    let Some(rom) = uboot::require_rom() else { return };

    let lan = PxeLan::with_address(HOST, 24);
    let images = tempfile::tempdir().expect("folder for the image");
    let image = images.path().join("openwrt-factory.bin");
    random_file(&image, IMAGE_SIZE, 14);
    let image_crc = crc32(&std::fs::read(&image).expect("read the image back"));

    let bin = lifeboat_bin().to_string_lossy().into_owned();
    let image_arg = image.to_string_lossy().into_owned();
    let argv = [bin.as_str(), "recover", "--interface", &lan.bridge, "--image", &image_arg, "--profile", "tplink"];
    let mut recover = lan.ns.spawn(&argv);
    let deadline = Instant::now() + START_TIMEOUT;
    while !recover.stdout().contains("waiting for the device") {
        recover.assert_running("lifeboat recover");
        assert!(Instant::now() < deadline, "recover did not start within {START_TIMEOUT:?}:\n{}", recover.output());
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut guest = UbootGuest::start(&qemu, &rom, &lan);
    eprintln!("guest: {}", guest.cmdline());
    let at_prompt = guest
        .stop_autoboot(PROMPT_TIMEOUT)
        .unwrap_or_else(|e| panic!("U-Boot never reached its prompt: {e}\n{}", guest.log()));
    let mut run = |command: &str, timeout: Duration| -> String {
        guest.run(command, timeout).unwrap_or_else(|e| panic!("`{command}` did not finish: {e}\n{}", guest.log()))
    };
    let loadaddr = run("printenv loadaddr", COMMAND_TIMEOUT);
    assert!(loadaddr.trim().starts_with("loadaddr=0x"), "U-Boot has no load address: {loadaddr:?}");
    run(&format!("setenv ipaddr {DEVICE}"), COMMAND_TIMEOUT);
    run(&format!("setenv serverip {SERVER}"), COMMAND_TIMEOUT);
    let asked = Instant::now();
    let fetched = run(&format!("tftpboot ${{loadaddr}} {FILENAME}"), TRANSFER_TIMEOUT);
    let transferred = Instant::now();
    let transfer = transferred - asked;
    let summed = run("crc32 ${loadaddr} ${filesize}", COMMAND_TIMEOUT);
    let console = guest.console();

    assert!(
        fetched.contains(&format!("Bytes transferred = {IMAGE_SIZE} ({IMAGE_SIZE:x} hex)")),
        "U-Boot did not get the whole image:\n{fetched}\n{}",
        recover.output()
    );
    assert_eq!(
        printed_crc(&summed),
        Some(image_crc),
        "U-Boot's crc32 of what it loaded is not the image's ({image_crc:08x}):\n{summed}"
    );

    let out = recover.finish(EXIT_TIMEOUT);
    let exited = transferred.elapsed();
    assert!(out.success(), "recover did not exit 0 by itself within {EXIT_TIMEOUT:?} of the transfer:\n{out}");
    assert!(
        out.stdout.contains(&format!("{SERVER}/24 is on {}", lan.bridge)),
        "recover did not say it took {SERVER}:\n{out}"
    );
    assert!(out.stderr.contains("stopping (--once)"), "{out}");
    let show = ["ip", "-4", "-o", "addr", "show", "dev", lan.bridge.as_str()];
    let addresses = lan.ns.run_ok(&show, COMMAND_TIMEOUT).stdout;
    assert!(!addresses.contains(&format!("{SERVER}/")), "{SERVER} was left on {}:\n{addresses}", lan.bridge);
    assert!(addresses.contains(&format!("{HOST}/24")), "the host's own address went away:\n{addresses}");

    eprintln!(
        "U-Boot at its prompt {at_prompt:.1?} after QEMU started; tftpboot of {IMAGE_SIZE} bytes took \
         {transfer:.1?}; crc32 {image_crc:08x}; recover exited {exited:.1?} after the transfer, {:.1?} \
         after its start\n--- U-Boot console ---\n{}\n--- lifeboat recover ---\n{}{}",
        out.elapsed,
        console.trim_end(),
        out.stdout,
        out.stderr
    );
}

/// The checksum of U-Boot's `crc32 ADDR SIZE` line: `crc32 for 02000000 ... 020fffff ==> 1a2b3c4d`.
fn printed_crc(printed: &str) -> Option<u32> {
    printed.lines().find_map(|line| {
        let (_, crc) = line.split_once("==> ")?;
        u32::from_str_radix(crc.trim(), 16).ok()
    })
}
