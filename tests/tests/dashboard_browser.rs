//! The dashboard in a real browser. Headless Chromium, under chromedriver in the client namespace,
//! uses `lifeboat serve` in the server namespace over the veth: it logs in (a wrong password is
//! refused), uploads an image, maps the client's MAC to it under the name a TP-Link asks for,
//! stops and starts TFTP with the buttons, watches a real tftp-hpa download in the live list until
//! 100 % and finds it in the history, stops TFTP again, and sets up DHCP on the Settings page
//! (a bad range refused, a good one applied; udhcpc then gets a lease). Every service state is checked from
//! the server namespace with `ss`; the downloaded bytes are compared by SHA-256 with the upload.
//! Each page is saved as a screenshot under `target/e2e-artifacts/dashboard/`.

use std::path::Path;
use std::time::{Duration, Instant};

use lifeboat_e2e::browser::{CHROMEDRIVER, CHROMIUM, run_scenario};
use lifeboat_e2e::dashboard::{set_password, wait_tcp_listening};
use lifeboat_e2e::page::{Page, artifacts_dir};
use lifeboat_e2e::{
    Browser, Client as TftpClient, Netns, Pair, clear_netem, lifeboat_bin, netem, random_file, require_netns,
    sha256_file, spawn_lifeboat_serve, wait_udp_listening,
};
use serde_json::{Value, json};

const PASSWORD: &str = "e2e-dashboard-password";
const WRONG_PASSWORD: &str = "guessed-password";
/// The image uploaded from the browser, and the name the device asks for (its host's extra name).
const IMAGE: &str = "openwrt-recovery.bin";
const IMAGE_SIZE: u64 = 3 << 20;
const DEVICE_ASKS_FOR: &str = "tp_recovery.bin";
/// A name nobody serves, for the missing-files page.
const MISSING_NAME: &str = "ArcherC7v5_tp_recovery.bin";
const BAD_MAC: &str = "3c:84:6a:zz:00:01";
const WEB_PORT: u16 = 8080;
const WINDOW: (u32, u32) = (1280, 900);
/// One-way delay on the server's UDP packets: tftp-hpa's lock-step 512-byte blocks then take a
/// few seconds for the image, long enough to watch in the live list (which updates every second).
const SERVER_DELAY: &str = "delay 1ms";

const SCENARIO_TIMEOUT: Duration = Duration::from_secs(150);
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn dashboard_in_a_real_browser() {
    require_netns!("tftp", "udhcpc", CHROMEDRIVER, CHROMIUM);
    // Build the binary before the clock of the scenario starts.
    let bin = lifeboat_bin();
    run_scenario("the browser scenario", SCENARIO_TIMEOUT, scenario(&bin));
}

async fn scenario(bin: &Path) {
    let started = Instant::now();
    let shots = artifacts_dir("dashboard");
    eprintln!("dashboard screenshots: {}", shots.display());

    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let db = state.path().join("lifeboat.db");
    set_password(bin, &db, PASSWORD);

    let web = format!("{}:{WEB_PORT}", pair.server_ip);
    let db_arg = db.to_str().expect("a UTF-8 temporary path");
    let extra = ["--tftp-allow", "10.0.0.0/8", "--web-listen", &web, "--db", db_arg];
    let mut server = spawn_lifeboat_serve(&pair.server, root.path(), pair.server_addr(), &extra);
    wait_tcp_listening(&pair.server, &mut server, WEB_PORT, STEP_TIMEOUT);
    let client_mac = mac_address(&pair.client, &pair.client_dev);

    let upload = work.path().join(IMAGE);
    let sha = random_file(&upload, IMAGE_SIZE, 4);

    let browser = Browser::start(&pair.client, WINDOW.0, WINDOW.1).await;
    let ui = Page::new(browser.client().clone(), format!("http://{web}"), shots, WINDOW);

    log_in(&ui).await;
    upload_image(&ui, &upload, &sha).await;
    assert_eq!(sha256_file(root.path().join(IMAGE)), sha, "the uploaded image in the TFTP root differs");
    map_host(&ui, &client_mac).await;
    stop_and_start_tftp(&ui, &pair.server).await;

    let local = work.path().join("downloaded.bin");
    watch_download(&ui, &pair, &local, &client_mac).await;
    assert_eq!(sha256_file(&local), sha, "tftp-hpa got different bytes than the browser uploaded");
    find_in_history(&ui, &pair, &client_mac).await;
    missing_file(&ui, &pair, work.path()).await;

    ui.show("/", "h1", "Overview").await;
    ui.shot("overview").await;
    stop_tftp(&ui, &pair.server).await;
    ui.show("/leases", "h1", "DHCP leases").await;
    ui.shot("leases").await;
    check_events(&ui).await;
    set_up_dhcp(&ui, &pair).await;

    browser.close().await;
    server.assert_running("lifeboat serve");
    eprintln!("dashboard browser scenario took {:.1?}", started.elapsed());
}

/// Step 1 (browser part): the login page, a wrong password refused with a message, the right one
/// accepted.
async fn log_in(ui: &Page) {
    ui.goto("/").await;
    ui.wait("the login page for an anonymous visitor", STEP_TIMEOUT, || async {
        let on_login = ui.path().await.is_some_and(|p| p == "/login");
        (on_login && !ui.texts("#password").await.is_empty()).then_some(())
    })
    .await;
    ui.shot("login").await;

    ui.fill("#password", WRONG_PASSWORD).await;
    ui.click("form[action='/login'] button[type=submit]").await;
    ui.wait_text(".login .field-error", "Wrong password", "the wrong password to be refused").await;
    assert_eq!(ui.path().await.as_deref(), Some("/login"), "a wrong password let the browser in");
    ui.shot("login-wrong-password").await;

    ui.fill("#password", PASSWORD).await;
    ui.click("form[action='/login'] button[type=submit]").await;
    ui.wait_text("h1", "Overview", "the overview after logging in").await;
}

/// Step 4 (first, since a host's image must exist): upload from the file input; the page's
/// script PUTs it and reloads; the table shows the exact size and, once computed, the SHA-256.
async fn upload_image(ui: &Page, file: &Path, sha: &str) {
    ui.show("/images", "h1", "Images").await;
    ui.find("#upload-file").await.send_keys(file.to_str().expect("UTF-8 path")).await.expect("choose the file");
    ui.click("#upload-form button[type=submit]").await;
    let row = ui
        .wait("the uploaded image with its SHA-256 in the table", STEP_TIMEOUT, || async {
            let rows = ui.script(IMAGE_ROWS_JS, json!([])).await?;
            rows.as_array()?
                .iter()
                .find(|r| r["file"] == IMAGE && r["sha"].as_str().is_some_and(|s| !s.is_empty()))
                .cloned()
        })
        .await;
    assert_eq!(row["sha"], sha, "the images page shows another SHA-256: {row}");
    assert_eq!(row["size"], format!("{IMAGE_SIZE} bytes"), "the images page shows another size: {row}");
    // The confirmation stays after the page reloaded to show the table.
    ui.wait_text("#upload-status", &format!("Uploaded {IMAGE}"), "the upload's confirmation after the reload").await;
    ui.shot("images").await;

    // The same name again: the page asks before it replaces the image.
    ui.find("#upload-file").await.send_keys(file.to_str().expect("UTF-8 path")).await.expect("choose the file");
    ui.click("#upload-form button[type=submit]").await;
    let question = ui
        .wait("the question before replacing an image", STEP_TIMEOUT, || async {
            ui.client().get_alert_text().await.ok()
        })
        .await;
    assert!(question.contains("exists already: replace it"), "{question}");
    ui.client().accept_alert().await.expect("accept the replacement");
    ui.wait_text("#upload-status", &format!("Replaced {IMAGE}"), "the replacement's confirmation").await;
}

/// Each row of the images table: file name (first text node), exact size (title), digest.
const IMAGE_ROWS_JS: &str = "return Array.from(document.querySelectorAll('#image-table tbody tr')).map(r => ({
    file: r.cells[0].firstChild.textContent.trim(),
    size: r.cells[1].title,
    sha: (r.querySelector('code.digest') || {}).textContent || '' }));";

/// The rows of the hosts table.
async fn host_rows(ui: &Page) -> Vec<Vec<String>> {
    ui.rows("main > table.grid tbody tr").await
}

/// Step 3: a bad MAC is refused with a message that says what is wrong; the client's MAC is
/// mapped to the image under the name the device asks for.
async fn map_host(ui: &Page, mac: &str) {
    ui.show("/hosts", "h1", "Hosts").await;
    ui.fill("#mac", BAD_MAC).await;
    ui.choose("#image", IMAGE).await;
    ui.fill("#names", DEVICE_ASKS_FOR).await;
    ui.click(".host-form button[type=submit]").await;
    ui.wait_text(".host-form .field-error", "is not a MAC address", "the bad MAC to be refused").await;
    assert!(host_rows(ui).await.is_empty(), "a host with a bad MAC was stored");
    ui.shot("hosts-invalid-mac").await;

    ui.fill("#mac", mac).await;
    ui.choose("#image", IMAGE).await;
    ui.fill("#names", DEVICE_ASKS_FOR).await;
    ui.click(".host-form button[type=submit]").await;
    let row = ui
        .wait("the new host in the table", STEP_TIMEOUT, || async {
            host_rows(ui).await.into_iter().find(|cells| cells.first().is_some_and(|m| m == mac))
        })
        .await;
    assert_eq!(row[3], IMAGE, "host row: {row:?}");
    assert!(row[4].contains(DEVICE_ASKS_FOR), "host row: {row:?}");
    ui.shot("hosts").await;
}

/// Step 5: Stop TFTP really closes UDP 69; Start opens it again.
async fn stop_and_start_tftp(ui: &Page, server: &Netns) {
    ui.show("/", "h1", "Overview").await;
    stop_tftp(ui, server).await;
    ui.shot("overview-tftp-stopped").await;
    ui.click("form[action='/services/tftp/start'] button").await;
    ui.wait_text(".service.running h2", "TFTP", "TFTP shown as running after Start").await;
    wait_udp_listening(server, 69, STEP_TIMEOUT);
}

/// Steps 5 and 7: the Stop button, then nothing listens on UDP 69 in the server namespace.
async fn stop_tftp(ui: &Page, server: &Netns) {
    ui.click("form[action='/services/tftp/stop'] button").await;
    ui.wait_text(".service.stopped h2", "TFTP", "TFTP shown as stopped after Stop").await;
    let out = server.run(&["ss", "-Hlun", "sport = :69"], ADMIN_TIMEOUT);
    out.assert_success();
    assert!(out.stdout.trim().is_empty(), "TFTP was stopped in the dashboard but UDP 69 is still open:\n{out}");
}

/// Step 6: a real tftp-hpa download of the host's extra name, slowed down, watched in the live
/// list of the Transfers page until it completes at 100 %.
async fn watch_download(ui: &Page, pair: &Pair, local: &Path, mac: &str) {
    ui.show("/transfers", "h1", "Transfers").await;
    ui.wait_text("#live-state", "live", "the live stream to connect").await;

    netem(&pair.server, &pair.server_dev, SERVER_DELAY);
    let argv = TftpClient::TftpHpa.get_argv(pair.server_addr(), DEVICE_ASKS_FOR, local);
    let mut download = pair.client.spawn(&argv);
    let deadline = Instant::now() + DOWNLOAD_TIMEOUT;
    let mut partial = Vec::new();
    let done = loop {
        if let Some(row) = live_row(ui).await {
            let percent = row["percent"].as_f64();
            if row["outcome"] == "complete" && percent == Some(100.0) {
                break row;
            }
            if let Some(p) = percent.filter(|p| *p > 0.0 && *p < 100.0) {
                let (rate, eta) = (row["rate"].as_str().unwrap_or(""), row["eta"].as_str().unwrap_or(""));
                let measured = !rate.is_empty() && !rate.starts_with("0.0 ") && !eta.is_empty();
                if measured && !partial.iter().any(|(_, measured, _)| *measured) {
                    ui.shot("transfers-live").await;
                }
                let seen = (p, measured, format!("{p} % at {rate}, ETA {eta}"));
                if partial.last().is_none_or(|(last, _, _)| *last != p) {
                    partial.push(seen);
                }
            }
        }
        if Instant::now() >= deadline {
            let out = download.output();
            panic!("{}\n  tftp-hpa:\n{out}", ui.diagnose("the download to reach 100 % in the live list").await);
        }
        tokio::time::sleep(POLL).await;
    };
    let out = TftpClient::TftpHpa.checked(download.finish(DOWNLOAD_TIMEOUT));
    clear_netem(&pair.server, &pair.server_dev);
    assert!(out.success(), "tftp-hpa could not download {DEVICE_ASKS_FOR}:\n{out}");
    let seen: Vec<&str> = partial.iter().map(|(_, _, text)| text.as_str()).collect();
    eprintln!("live progress seen: {seen:?}, then 100 %");
    assert!(!partial.is_empty(), "the live list never showed the transfer in progress, only finished: {done}");
    assert!(partial.iter().any(|(_, measured, _)| *measured), "the live list never showed a rate and an ETA: {seen:?}");
    assert_eq!(done["mac"], mac, "live row: {done}");
    assert_eq!(done["file"], IMAGE, "live row: {done}");
}

/// The live list's row for [`DEVICE_ASKS_FOR`], if there is one now.
async fn live_row(ui: &Page) -> Option<Value> {
    let rows = ui.script(LIVE_ROWS_JS, json!([])).await?;
    rows.as_array()?.iter().find(|r| r["requested"] == DEVICE_ASKS_FOR).cloned()
}

const LIVE_ROWS_JS: &str = "return Array.from(document.querySelectorAll('#live-body tr')).map(r => ({
    mac: r.cells[1].textContent.trim(),
    requested: r.cells[2].textContent.trim(),
    file: r.cells[3].textContent.trim(),
    percent: r.querySelector('progress') ? r.querySelector('progress').value : null,
    rate: r.cells[6].textContent.trim(),
    eta: r.cells[7].textContent.trim(),
    outcome: (r.querySelector('.badge') || {}).textContent || '' }));";

/// Step 6, after: the history has the transfer with the client's MAC, the name it asked for and
/// the file served.
async fn find_in_history(ui: &Page, pair: &Pair, mac: &str) {
    let client_ip = pair.client_ip.to_string();
    let row = ui
        .wait("the download in the history", STEP_TIMEOUT, || async {
            ui.goto("/transfers").await;
            let rows = ui.rows("#live ~ section table.grid tbody tr").await;
            rows.into_iter().find(|cells| cells.get(3).is_some_and(|c| c == DEVICE_ASKS_FOR))
        })
        .await;
    assert!(row[1].contains(&client_ip), "history row: {row:?}");
    assert_eq!(row[2], mac, "history row: {row:?}");
    assert_eq!(row[4], IMAGE, "history row: {row:?}");
    assert_eq!(row[6], "complete", "history row: {row:?}");
    // At 1280 px every column of the history is on the page: nothing overflows sideways.
    const FITS_JS: &str = "const t = document.querySelector('#live ~ section table.grid');
        return [t.getBoundingClientRect().right, document.documentElement.scrollWidth, window.innerWidth];";
    let widths = ui.script(FITS_JS, json!([])).await.expect("the history's width");
    let [right, page, window] = [0, 1, 2].map(|i| widths[i].as_f64().unwrap_or(f64::MAX));
    assert!(right <= window && page <= window, "the history overflows at {WINDOW:?}: {widths}");
    ui.shot("transfers").await;
}

/// A name nobody serves shows up on the missing-files page.
async fn missing_file(ui: &Page, pair: &Pair, work: &Path) {
    let local = work.join("missing.bin");
    let out = TftpClient::TftpHpa.get(&pair.client, pair.server_addr(), MISSING_NAME, &local, STEP_TIMEOUT);
    assert!(!out.success(), "a name nobody serves was downloaded:\n{out}");
    ui.wait("the missing name on the missing-files page", STEP_TIMEOUT, || async {
        ui.goto("/missing").await;
        let rows = ui.rows("table.grid tbody tr").await;
        rows.into_iter().find(|cells| cells.first().is_some_and(|c| c == MISSING_NAME))
    })
    .await;
    ui.shot("missing").await;
}

/// The events page has what the browser did, with its origin.
async fn check_events(ui: &Page) {
    ui.show("/events", "h1", "Events").await;
    let rows = ui.rows("table.grid tbody tr").await;
    for kind in ["login failed", "image uploaded", "host added", "service stopped", "service started"] {
        assert!(rows.iter().any(|cells| cells.get(1).is_some_and(|c| c == kind)), "no {kind:?} event in {rows:#?}");
    }
    ui.shot("events").await;
}

/// Last step: DHCP set up from scratch on the Settings page, reached from the overview's "Set up
/// DHCP": a bad range is refused next to its field, a good one is applied without a restart, and
/// a real DHCP client (udhcpc) then gets a lease from it.
async fn set_up_dhcp(ui: &Page, pair: &Pair) {
    ui.show("/", "h1", "Overview").await;
    ui.click("a[href='/settings#dhcp']").await;
    ui.wait_text("h1", "Settings", "the settings page, from the overview's Set up DHCP").await;
    ui.click(&format!("#interface option[value='{}']", pair.server_dev)).await;
    ui.fill("#range", "nonsense").await;
    ui.click("form[action='/settings/dhcp'] button[type=submit]").await;
    ui.wait_text("#dhcp .field-error", "expected START,END", "the bad range refused next to its field").await;
    ui.shot("settings-invalid-range").await;

    let [a, b, c, _] = pair.server_ip.octets();
    ui.fill("#range", &format!("{a}.{b}.{c}.100,{a}.{b}.{c}.150")).await;
    ui.click("form[action='/settings/dhcp'] button[type=submit]").await;
    ui.wait_text(".flash.ok", "Settings saved and applied", "the DHCP settings applied").await;
    ui.shot("settings").await;
    ui.show("/", "h1", "Overview").await;
    ui.wait_text(".service.running h2", "DHCP", "DHCP shown as running").await;

    // udhcpc only reports the lease (`-s /bin/true`): the client keeps its address for the rest.
    let argv = ["udhcpc", "-f", "-q", "-n", "-i", &pair.client_dev, "-s", "/bin/true", "-t", "10", "-T", "1"];
    let out = pair.client.run(&argv, DOWNLOAD_TIMEOUT);
    let said = format!("{}{}", out.stdout, out.stderr);
    let leased = format!("lease of {a}.{b}.{c}.1");
    assert!(out.success() && said.contains(&leased), "udhcpc got no lease from the range set in the browser:\n{out}");
}

/// The MAC address of `dev` in `ns`, lowercase with colons.
fn mac_address(ns: &Netns, dev: &str) -> String {
    let path = format!("/sys/class/net/{dev}/address");
    let out = ns.run_ok(&["cat", &path], ADMIN_TIMEOUT);
    out.stdout.trim().to_owned()
}
