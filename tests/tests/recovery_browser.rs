//! The Recovery page in a real browser, from the start to "Done". `lifeboat serve` runs in the
//! server namespace with an image in its TFTP root and nothing but its own address on the veth;
//! headless Chromium in the client namespace logs in, opens the Recovery page, picks the veth,
//! the image and the TP-Link profile, and starts. lifeboat takes 192.168.0.66/24 on the veth (seen
//! with `ip` in the server namespace); the "device" (the client namespace at 192.168.0.86, as a
//! TP-Link bootloader) downloads `tp_recovery.bin` from there with tftp-hpa and gets the image's
//! bytes. The page, reloading itself, reaches "Done" with the image's SHA-256 in its summary;
//! by then the address is gone and nothing listens on UDP 69, and the page stops reloading.
//! The events page has the recovery's start and end. Each page is saved as a screenshot under
//! `target/e2e-artifacts/recovery/` (start, waiting and done are in the README; downloading when
//! a reload caught it).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use lifeboat_e2e::browser::{CHROMEDRIVER, CHROMIUM, run_scenario};
use lifeboat_e2e::dashboard::{set_password, wait_tcp_listening};
use lifeboat_e2e::page::{Page, artifacts_dir};
use lifeboat_e2e::{
    Browser, Child, Client as TftpClient, Netns, Pair, clear_netem, lifeboat_bin, netem, random_file, require_netns,
    sha256_file, spawn_lifeboat_serve,
};
use serde_json::json;

const PASSWORD: &str = "e2e-recovery-password";
/// The image in the TFTP root, and the name a TP-Link bootloader asks for.
const IMAGE: &str = "openwrt-factory.bin";
const IMAGE_SIZE: u64 = 1_500_000;
const DEVICE_ASKS_FOR: &str = "tp_recovery.bin";
/// The profile chosen, the address it makes lifeboat take, and where the device is.
const PROFILE: &str = "tplink";
const CLAIMED: &str = "192.168.0.66/24";
const DEVICE: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 86);
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 66);
const WEB_PORT: u16 = 8080;
const WINDOW: (u32, u32) = (1280, 900);
/// One-way delay on the server's UDP packets, so that the download lasts a few seconds: the
/// page may show it under way (not required: it reloads only every 1.5 s).
const SERVER_DELAY: &str = "delay 1ms";
/// app.js reloads the page this often while a recovery is under way.
const RELOAD_EVERY: Duration = Duration::from_millis(1500);

const PHASE_WAITING: &str = "Waiting for the device";
const PHASE_DOWNLOADING: &str = "The device is downloading the image";
const PHASE_DONE: &str = "Done";

const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn recovery_page_from_start_to_done() {
    require_netns!("tftp", CHROMEDRIVER, CHROMIUM);
    // Build the binary before the clock of the scenario starts.
    let bin = lifeboat_bin();
    run_scenario("the recovery browser scenario", SCENARIO_TIMEOUT, scenario(&bin));
}

async fn scenario(bin: &Path) {
    let started = Instant::now();
    let shots = artifacts_dir("recovery");
    eprintln!("recovery screenshots: {}", shots.display());

    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let sha = random_file(root.path().join(IMAGE), IMAGE_SIZE, 7);
    let db = state.path().join("lifeboat.db");
    set_password(bin, &db, PASSWORD);

    // TFTP on every address: the device asks at the address lifeboat takes for it.
    let web = format!("0.0.0.0:{WEB_PORT}");
    let db_arg = db.to_str().expect("a UTF-8 temporary path");
    let extra = ["--web-listen", &web, "--db", db_arg];
    let mut server = spawn_lifeboat_serve(&pair.server, root.path(), IpAddr::V4(Ipv4Addr::UNSPECIFIED), &extra);
    wait_tcp_listening(&pair.server, &mut server, WEB_PORT, STEP_TIMEOUT);
    let before = addresses(&pair.server, &pair.server_dev);
    assert!(!before.contains(&format!("{SERVER}/")), "the server already has {SERVER} before the recovery:\n{before}");
    let device_mac = mac_address(&pair.client, &pair.client_dev);

    let browser = Browser::start(&pair.client, WINDOW.0, WINDOW.1).await;
    let base = format!("http://{}:{WEB_PORT}", pair.server_ip);
    let page = Page::new(browser.client().clone(), base, shots, WINDOW);

    log_in(&page).await;
    start_recovery(&page, &pair.server_dev).await;
    wait_for_the_device(&page, &pair).await;

    let local = work.path().join("got.bin");
    device_downloads(&page, &pair, &mut server, &local).await;
    assert_eq!(sha256_file(&local), sha, "the device got other bytes than the image");

    done(&page, &pair, &sha, &device_mac).await;
    check_events(&page).await;

    browser.close().await;
    server.assert_running("lifeboat serve");
    eprintln!("recovery browser scenario took {:.1?}", started.elapsed());
}

async fn log_in(page: &Page) {
    page.goto("/").await;
    page.fill("#password", PASSWORD).await;
    page.click("form[action='/login'] button[type=submit]").await;
    page.wait_text("h1", "Overview", "the overview after logging in").await;
}

/// The Recovery page from the menu: the form offers the server's veth (with its address), the
/// image and the TP-Link profile; they are chosen (the screenshot shows them) and the recovery
/// started.
async fn start_recovery(page: &Page, dev: &str) {
    page.click("nav a[href='/recovery']").await;
    page.wait_text("h1", "Recovery", "the Recovery page from the menu").await;
    page.find("#recovery-form").await;
    let interfaces = page.texts("#recovery-interface option").await;
    assert!(interfaces.iter().any(|o| o.starts_with(dev) && o.contains("10.77.")), "interfaces: {interfaces:?}");
    let images = page.texts("#recovery-image option").await;
    assert!(images.iter().any(|o| o == IMAGE), "images offered: {images:?}");
    let profiles = page.texts("#recovery-profile option").await;
    assert!(profiles.iter().any(|o| o.starts_with("TP-Link")), "device families offered: {profiles:?}");
    assert!(page.texts("#recovery").await.is_empty(), "a recovery is shown before any started");

    page.choose("#recovery-interface", dev).await;
    page.choose("#recovery-image", IMAGE).await;
    page.choose("#recovery-profile", PROFILE).await;
    // The form as filled in, for the README (without the focus ring of the last choice).
    page.script("document.activeElement.blur(); return true;", json!([])).await;
    page.shot("recovery-start").await;
    page.click("#recovery-form button[type=submit]").await;
}

/// Waiting for the device: the steps, the Cancel button, what lifeboat did so far; the address
/// is on the server's veth.
async fn wait_for_the_device(page: &Page, pair: &Pair) {
    page.wait_text("#recovery-phase", PHASE_WAITING, "the recovery to wait for the device").await;
    let on = format!("{CLAIMED} is on {}", pair.server_dev);
    let waiting = format!("waiting for the device on {}", pair.server_dev);
    // Said in the background: the page shows it at one of its own reloads.
    page.wait("the claimed address and the wait in the seen lines", STEP_TIMEOUT, || async {
        let seen = page.texts("#recovery-seen li").await;
        (seen.iter().any(|l| l.contains(&on)) && seen.iter().any(|l| l.contains(&waiting))).then_some(())
    })
    .await;
    let steps = page.texts("#recovery ol.steps li").await;
    assert!(!steps.is_empty() && steps.iter().any(|s| s.contains("reset")), "the profile's steps: {steps:?}");
    let by_lifeboat: Vec<&String> = steps.iter().filter(|s| s.contains("lifeboat does this")).collect();
    assert!(by_lifeboat.len() == 2 && by_lifeboat[0].contains("192.168.0.66"), "the steps lifeboat does: {steps:?}");
    let lead = page.texts("#recovery p.lead").await.join(" ");
    assert!(lead.contains("TP-Link") && lead.contains(&pair.server_dev) && lead.contains(IMAGE), "lead: {lead}");
    assert_eq!(page.find("#recovery-progress").await.attr("value").await.ok().flatten().as_deref(), Some("0"));
    page.find("form[action='/recovery/cancel'] button").await;
    fresh_shot(page, "recovery-waiting").await;
    assert_eq!(active(page).await.as_deref(), Some("true"), "the recovery is not marked active");

    let now = addresses(&pair.server, &pair.server_dev);
    assert!(now.contains(&format!("inet {CLAIMED} ")), "the page says {CLAIMED} is taken, `ip` does not:\n{now}");
}

/// The device, at its fixed address, downloads the name it asks for from the address lifeboat
/// took, slowed down a little; the page follows by itself (no navigation) until "Done".
async fn device_downloads(page: &Page, pair: &Pair, server: &mut Child, local: &Path) {
    let device = format!("{DEVICE}/24");
    pair.client.run_ok(&["ip", "addr", "add", &device, "dev", &pair.client_dev], ADMIN_TIMEOUT);
    netem(&pair.server, &pair.server_dev, SERVER_DELAY);
    let argv = TftpClient::TftpHpa.get_argv(IpAddr::V4(SERVER), DEVICE_ASKS_FOR, local);
    let mut download = pair.client.spawn(&argv);
    let deadline = Instant::now() + DOWNLOAD_TIMEOUT;
    let mut under_way = None;
    loop {
        let phase = page.texts("#recovery-phase").await.into_iter().next();
        match phase.as_deref() {
            Some(PHASE_DONE) => break,
            Some(ended @ ("Failed" | "Cancelled")) => {
                let lifeboat = server.output();
                panic!("{}\n  lifeboat:\n{lifeboat}", page.diagnose(&format!("the recovery ended: {ended}")).await);
            }
            Some(PHASE_DOWNLOADING) if under_way.is_none() => {
                let bytes = page.texts("#recovery-bytes").await.join(" ");
                under_way = Some(bytes);
                page.shot("recovery-downloading").await;
            }
            _ => {}
        }
        let failed = !download.is_running() && !TftpClient::TftpHpa.checked(download.output()).success();
        if failed || Instant::now() >= deadline {
            let why = if failed { "the device's download failed" } else { "the page to say Done after the download" };
            let (out, lifeboat) = (download.output(), server.output());
            panic!("{}\n  tftp-hpa:\n{out}\n  lifeboat:\n{lifeboat}", page.diagnose(why).await);
        }
        tokio::time::sleep(POLL).await;
    }
    let out = TftpClient::TftpHpa.checked(download.finish(DOWNLOAD_TIMEOUT));
    clear_netem(&pair.server, &pair.server_dev);
    assert!(out.success(), "the device could not download {DEVICE_ASKS_FOR} from {SERVER}:\n{out}");
    match under_way {
        Some(bytes) => eprintln!("the page showed the download under way: {bytes}"),
        None => eprintln!("the page went from waiting to done between two reloads"),
    }
}

/// Done: the summary names the image, its size, the device and the SHA-256; lifeboat has given
/// the address back and stopped TFTP; the page no longer reloads itself.
async fn done(page: &Page, pair: &Pair, sha: &str, mac: &str) {
    let summary = page.wait_text("#recovery-summary", sha, "the summary with the image's SHA-256").await;
    let served = format!("served {IMAGE} ({IMAGE_SIZE} bytes) to {DEVICE}:");
    assert!(summary.starts_with(&served), "summary: {summary}");
    assert!(summary.contains(&format!("({mac})")), "the summary does not name the device's MAC {mac}: {summary}");
    assert!(summary.contains(&format!("sha256 {sha}: the device writes it now")), "summary: {summary}");
    let seen = page.texts("#recovery-seen li").await;
    let asked = format!("at {DEVICE} asks for {DEVICE_ASKS_FOR}");
    assert!(seen.iter().any(|l| l.contains(&asked)), "no {asked:?} among the seen lines: {seen:#?}");
    let ended = seen.last().map_or("", String::as_str);
    assert!(ended.contains("TFTP stopped") && ended.contains("given back"), "the last seen line: {ended}");
    assert_eq!(active(page).await.as_deref(), Some("false"), "a recovery that is done is still marked active");
    assert!(page.texts("form[action='/recovery/cancel']").await.is_empty(), "Cancel is offered after Done");
    page.wait_text("#recovery-start h2", "Start another", "the form for another recovery").await;

    // lifeboat gives the address back and stops TFTP before it says Done.
    let now = addresses(&pair.server, &pair.server_dev);
    assert!(!now.contains(&format!("{SERVER}/")), "the page says Done but {SERVER} is still there:\n{now}");
    let tftp = pair.server.run(&["ss", "-Hlun", "sport = :69"], ADMIN_TIMEOUT);
    tftp.assert_success();
    assert!(tftp.stdout.trim().is_empty(), "the page says Done but UDP 69 is still open:\n{tftp}");

    // No more reloads: a mark left on the page survives two reload periods.
    page.script(MARK_JS, json!([])).await.expect("mark the page");
    tokio::time::sleep(RELOAD_EVERY * 2 + Duration::from_millis(500)).await;
    let stayed = page.script("return window.lifeboatStayed === true;", json!([])).await;
    assert_eq!(stayed, Some(json!(true)), "the page still reloads itself after Done");
    page.shot("recovery-done").await;
}

/// The events page has the recovery's start and end.
async fn check_events(page: &Page) {
    page.show("/events", "h1", "Events").await;
    let rows = page.rows("table.grid tbody tr").await;
    for kind in ["recovery started", "recovery ended"] {
        assert!(rows.iter().any(|cells| cells.get(1).is_some_and(|c| c == kind)), "no {kind:?} event in {rows:#?}");
    }
}

/// Takes the screenshot `name` right after one of the page's own reloads, so that the next one
/// (1.5 s later) does not catch it half drawn.
async fn fresh_shot(page: &Page, name: &str) {
    const RELOADED_JS: &str = "return window.lifeboatStayed !== true && document.readyState === 'complete'
        && document.getElementById('recovery-phase') !== null;";
    page.script(MARK_JS, json!([])).await.expect("mark the page");
    page.wait("the page to reload itself", RELOAD_EVERY * 4, || async {
        (page.script(RELOADED_JS, json!([])).await == Some(json!(true))).then_some(())
    })
    .await;
    page.shot(name).await;
}

/// A mark on the page that a reload removes.
const MARK_JS: &str = "window.lifeboatStayed = true; return true;";

/// The page's `data-active` of the recovery shown.
async fn active(page: &Page) -> Option<String> {
    let js = "const r = document.getElementById('recovery'); return r ? r.getAttribute('data-active') : null;";
    page.script(js, json!([])).await.and_then(|v| v.as_str().map(str::to_owned))
}

/// `ip -4 addr show dev DEV` in `ns`.
fn addresses(ns: &Netns, dev: &str) -> String {
    ns.run_ok(&["ip", "-4", "addr", "show", "dev", dev], ADMIN_TIMEOUT).stdout
}

/// The MAC address of `dev` in `ns`, lowercase with colons.
fn mac_address(ns: &Netns, dev: &str) -> String {
    let path = format!("/sys/class/net/{dev}/address");
    ns.run_ok(&["cat", &path], ADMIN_TIMEOUT).stdout.trim().to_owned()
}
