//! `lifeboat recover`: the guided one-shot. It says what to do with the device, serves the image
//! under every name the profile lists and whatever name the device asks for (the image is
//! armed), takes the address the profile names or the one the device is seen asking for (ARP),
//! and when the first download completes it stops, gives the address back and says what was
//! served. A `push` profile uploads instead, asking until the device's TFTP server answers.
//!
//! The profiles are the data files of `config/profiles`, built in ([`lifeboat_app::built_in_profiles`]);
//! `--profiles DIR` reads others.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use lifeboat_app::{App, AppConfig, Profile, RecoveryMode, SystemBinder};
use lifeboat_clock::SystemClock;
use lifeboat_dhcp::boot::DefaultBoot;
use lifeboat_dhcp::config::Range;
use lifeboat_server::client::{self, ClientSettings};
use lifeboat_server::{DhcpConfig, TftpConfig};
use lifeboat_store::{Retention, Store};
use lifeboat_web::{AddressClaim, ClaimError, Control};
use tokio_util::sync::CancellationToken;

use crate::cli::RecoverArgs;

/// How often the device's asks for an address are looked at.
const LOOK_EVERY: Duration = Duration::from_millis(500);

pub(crate) async fn run(args: RecoverArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let image = std::fs::canonicalize(&args.image)
        .with_context(|| format!("cannot find the image {}", args.image.display()))?;
    let image_name = image.file_name().and_then(|n| n.to_str()).context("the image's name is not UTF-8")?.to_owned();
    let profile = match &args.profile {
        Some(name) => Some(lifeboat_app::profile_named(name, args.profiles.as_deref())?),
        None => None,
    };
    let sha256 = lifeboat_server::sha256_file(&image).with_context(|| format!("cannot read {}", image.display()))?;
    say(&format!("image {} ({} bytes), sha256 {sha256}", image.display(), std::fs::metadata(&image)?.len()));
    if let Some(profile) = &profile {
        say(&format!("{} ({} recovery)", profile.family, profile.mode));
        say("the guide's steps: lifeboat does those marked, you do the rest");
        for (n, (step, by_lifeboat)) in profile.steps_for(&image_name).into_iter().enumerate() {
            let mark = if by_lifeboat { "[lifeboat does this] " } else { "" };
            say(&format!("  {}. {mark}{step}", n + 1));
        }
        for source in &profile.sources {
            say(&format!("  source: {} <{}>", source.title, source.url));
        }
    }
    let job = Job { args: &args, profile: profile.as_ref(), image: &image, image_name: &image_name, sha256: &sha256 };
    match profile.as_ref().map(|p| p.mode) {
        Some(RecoveryMode::Push) => push(&job, shutdown).await,
        Some(RecoveryMode::Pull | RecoveryMode::Bootp) | None => serve(&job, shutdown).await,
    }
}

/// What a recovery works with.
struct Job<'a> {
    args: &'a RecoverArgs,
    profile: Option<&'a Profile>,
    /// The image, its path made absolute, its file name and its SHA-256.
    image: &'a Path,
    image_name: &'a str,
    sha256: &'a str,
}

/// Serve the image until the device has it (or, with `--keep-running`, until stopped). A
/// `bootp` profile's device is also given its address and boot file by BOOTP/DHCP.
async fn serve(job: &Job<'_>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let Job { args, profile, image, image_name, sha256 } = *job;
    // A folder of its own holding only the image: the image's own folder (Downloads, say)
    // must not be served to anyone who asks.
    let root =
        tempfile::Builder::new().prefix("lifeboat-recover-").tempdir().context("cannot make a folder to serve from")?;
    let served = root.path().join(image_name);
    if std::fs::hard_link(image, &served).is_err() {
        std::fs::copy(image, &served).with_context(|| format!("cannot copy {} to serve it", image.display()))?;
    }
    let mut tftp = TftpConfig::new(root.path());
    for name in profile.map(|p| p.filenames.as_slice()).unwrap_or_default() {
        if !name.contains('{') && name != image_name {
            tftp.aliases.insert(name.clone(), PathBuf::from(image_name));
        }
    }
    if let Some(max) = profile.and_then(|p| p.blksize_max) {
        tftp.limits.max_blksize = max;
    }
    if profile.and_then(|p| p.tftp_options) == Some(false) {
        tftp.limits.options_enabled = false;
    }
    let prefix = profile.and_then(|p| p.prefix).unwrap_or(24);
    let server = profile.and_then(|p| p.server_addresses.first().copied());
    // With a profile, only the device's networks are answered: a download by another host (on
    // another network of this machine) must not end the recovery. Every address the profile
    // names counts (a TP-Link may look for 192.168.1.66 instead of 192.168.0.66).
    if let Some(profile) = profile.filter(|p| !p.server_addresses.is_empty()) {
        let prefix = profile.prefix.unwrap_or(24);
        let networks = profile
            .server_addresses
            .iter()
            .filter_map(|a| ipnet::Ipv4Net::new(*a, prefix).ok().map(|n| ipnet::IpNet::V4(n.trunc())))
            .collect();
        tftp.allow = lifeboat_server::AllowList::new(networks);
    }
    // An address the interface has already (given by hand, as a guide says) is used as it is.
    let held = lifeboat_net::interfaces()?.into_iter().find(|i| i.name == args.interface).map(|i| i.ipv4);
    let already = |address: Ipv4Addr| held.iter().flatten().any(|(a, p)| *a == address && *p == prefix);
    if let Some(address) = server.filter(|a| already(*a)) {
        say(&format!("{address}/{prefix} is on {} already", args.interface));
    }
    let claims: Vec<AddressClaim> = server
        .filter(|a| !already(*a))
        .map(|address| AddressClaim { interface: args.interface.clone(), address, prefix, force: args.force })
        .into_iter()
        .collect();
    let claimed_at_start = claims.first().map(|c| c.address);
    let dhcp = match (profile, server) {
        (Some(profile), Some(server)) if profile.mode == RecoveryMode::Bootp => {
            Some(bootp_config(&args.interface, profile, server, prefix, image_name)?)
        }
        _ => None,
    };
    let config = AppConfig {
        tftp: Some(tftp),
        dhcp,
        http: None,
        web: None,
        stop_when_idle: None,
        once: !args.keep_running,
        announce: true,
        claims,
        retention: Retention::DEFAULT,
        settings: None,
    };
    // The history of a one-shot lives as long as it does, unless a database is given: what
    // `recover` learns (aliases to its own folder) must not turn up in later runs.
    let store = match &args.db {
        Some(db) => Store::connect(db).await?,
        None => Store::open_memory().await?,
    };
    let app = App::start(config, store, Arc::new(SystemBinder), Arc::new(SystemClock), shutdown.clone()).await?;
    if let Some(address) = claimed_at_start {
        say(&format!("{address}/{prefix} is on {}: the device can reach lifeboat there", args.interface));
    }
    let control = app.control();
    control.arm_image(Some(image_name.to_owned()), "recover".into());
    let downloads = app.downloads();
    say(&format!("waiting for the device on {} (Ctrl-C to stop)", args.interface));
    let watching = tokio::spawn(claim_what_the_device_wants(
        control.clone(),
        args.interface.clone(),
        args.force,
        shutdown.clone(),
    ));
    let showing = tokio::spawn(show_transfers(control.clone(), shutdown.clone()));
    app.wait().await;
    watching.abort();
    let _ = showing.await;
    let served = downloads.borrow().clone();
    say("stopped: every port is closed and the addresses lifeboat took are given back");
    match served {
        Some(download) => {
            say(&format!("done: {}, sha256 {sha256}", download.line));
            Ok(())
        }
        None => bail!("stopped before the device downloaded the image"),
    }
}

/// DHCP for a `bootp` profile: one address (the profile's device address, else the 50th of the
/// network), so only the first device that asks gets an answer, with the image as boot file.
fn bootp_config(
    interface: &str,
    profile: &Profile,
    server: Ipv4Addr,
    prefix: u8,
    image_name: &str,
) -> anyhow::Result<DhcpConfig> {
    let network = ipnet::Ipv4Net::new(server, prefix).context("the profile's prefix")?.trunc();
    let device = profile.device_address.unwrap_or_else(|| {
        let fiftieth = Ipv4Addr::from(u32::from(network.network()) + 50);
        if fiftieth == server { Ipv4Addr::from(u32::from(network.network()) + 51) } else { fiftieth }
    });
    let boot_file = profile.filenames.iter().find(|n| !n.contains('{')).map_or(image_name, String::as_str);
    let range: Range = format!("{device},{device},{},10m", network.netmask())
        .parse()
        .with_context(|| format!("the device address {device}"))?;
    let mut dhcp = DhcpConfig::new(vec![range]);
    dhcp.interfaces = vec![interface.to_owned()];
    dhcp.bootp_dynamic = true;
    dhcp.authoritative = true;
    dhcp.default_boot = Some(DefaultBoot { file: boot_file.to_owned(), server_name: None, server_addr: Some(server) });
    say(&format!(
        "answering BOOTP and DHCP on {interface}: the first device that asks gets {device} and boot file {boot_file}"
    ));
    Ok(dhcp)
}

/// Says who asks for what, and shows each download's progress (a bar on a terminal), until
/// `shutdown`; a last look then (a download that ends the run ends it at once).
async fn show_transfers(control: Arc<dyn Control>, shutdown: CancellationToken) {
    let mut shown: Vec<u64> = Vec::new();
    let mut bar: Option<(u64, indicatif::ProgressBar)> = None;
    let mut last_look = false;
    loop {
        for transfer in control.live_transfers() {
            if !shown.contains(&transfer.id) {
                shown.push(transfer.id);
                let mac = transfer.mac.clone().unwrap_or_else(|| "a device".into());
                say(&format!("{mac} at {} asks for {}", transfer.client.ip(), transfer.requested));
                if transfer.outcome.is_none() {
                    let new = indicatif::ProgressBar::new(transfer.size.unwrap_or(0));
                    let style =
                        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec}")
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
                    new.set_style(style);
                    if let Some((_, old)) = bar.replace((transfer.id, new)) {
                        old.finish_and_clear();
                    }
                }
            }
            if let Some((id, progress)) = &bar
                && *id == transfer.id
            {
                progress.set_position(transfer.bytes);
                if transfer.outcome.is_some() {
                    progress.finish_and_clear();
                }
            }
        }
        if last_look {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            () = shutdown.cancelled() => last_look = true,
        }
    }
}

/// Claims each address the device is seen asking for on `interface`.
async fn claim_what_the_device_wants(
    control: Arc<dyn Control>,
    interface: String,
    force: bool,
    shutdown: CancellationToken,
) {
    let mut claimed: Vec<Ipv4Addr> = Vec::new();
    while !shutdown.is_cancelled() {
        for wanted in control.wanted_addresses().into_iter().filter(|w| w.interface == interface) {
            if !claimed.contains(&wanted.wanted) {
                claimed.push(wanted.wanted);
                say(&format!(
                    "{} at {} is looking for {}",
                    wanted.mac,
                    wanted.device.map_or("?".into(), |d| d.to_string()),
                    wanted.wanted
                ));
                // Once: a refusal is said (with what to do), not retried every half second.
                claim(control.as_ref(), &interface, wanted.wanted, wanted.prefix, force).await;
            }
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// Take `address` on `interface`; whether it worked (what happened is said either way).
async fn claim(control: &dyn Control, interface: &str, address: Ipv4Addr, prefix: u8, force: bool) -> bool {
    let claim = AddressClaim { interface: interface.to_owned(), address, prefix, force };
    match control.claim_address(claim, "recover".into()).await {
        Ok(()) => {
            say(&format!("{address}/{prefix} is on {interface}: the device can reach lifeboat there"));
            true
        }
        Err(ClaimError::Refused(why) | ClaimError::Invalid(why) | ClaimError::Failed(why)) => {
            say(&format!("not answering at {address}: {why}"));
            false
        }
    }
}

/// Upload the image to the device's TFTP server, asking until it answers.
async fn push(job: &Job<'_>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let Job { args, profile, image, image_name, .. } = *job;
    let device = profile.and_then(|p| p.device_address).context("the profile names no device address to upload to")?;
    let remote = profile
        .and_then(|p| p.filenames.iter().find(|n| !n.contains('{')))
        .cloned()
        .unwrap_or_else(|| image_name.to_owned());
    // The device answers only its own network: without an address there, take one.
    let prefix = profile.and_then(|p| p.prefix).unwrap_or(24);
    let (network, source) = profile.and_then(Profile::push_source).context("the profile's device address")?;
    let interface = lifeboat_net::interfaces()?
        .into_iter()
        .find(|i| i.name == args.interface)
        .with_context(|| format!("this machine has no interface {}", args.interface))?;
    let own = interface.ipv4.iter().find(|(a, _)| network.contains(a)).map(|(a, _)| *a);
    let app = match own {
        Some(address) => {
            say(&format!("{address} on {} is in the device's network", args.interface));
            None
        }
        None => {
            let address = source;
            let claim = AddressClaim { interface: args.interface.clone(), address, prefix, force: args.force };
            let config = AppConfig {
                tftp: None,
                dhcp: None,
                http: None,
                web: None,
                stop_when_idle: None,
                once: false,
                announce: true,
                claims: vec![claim],
                retention: Retention::DEFAULT,
                settings: None,
            };
            let store = Store::open_memory().await?;
            // Its own end: the upload's end stops it, Ctrl-C (`shutdown`) too.
            let end = shutdown.child_token();
            let app = App::start(config, store, Arc::new(SystemBinder), Arc::new(SystemClock), end.clone()).await?;
            say(&format!("{address}/{prefix} is on {}: lifeboat can reach the device there", args.interface));
            Some((app, end))
        }
    };
    say(&format!(
        "uploading {image_name} to {device} as {remote}, asking for up to {}",
        humantime::format_duration(args.wait)
    ));
    let settings = ClientSettings { wait: Some(args.wait), ..ClientSettings::default() };
    let progress = Arc::new(lifeboat_server::Progress::default());
    let server = SocketAddr::from((device, 69));
    let bar = crate::transfer::show_progress(&progress, server, settings.wait);
    let (image, cancel) = (image.to_path_buf(), shutdown.clone());
    let result =
        tokio::task::spawn_blocking(move || client::put(server, &image, &remote, &settings, &progress, &cancel)).await;
    crate::transfer::finish_progress(bar);
    if let Some((app, end)) = app {
        end.cancel();
        app.wait().await;
        say(&format!("the address lifeboat took on {} is given back", args.interface));
    }
    let report = result??;
    say(&format!(
        "done: sent {} bytes to {device} in {:.1} s, sha256 {}: the device writes it now; leave its power on",
        report.bytes,
        report.duration.as_secs_f64(),
        report.sha256
    ));
    Ok(())
}

/// A line for the person at the bench (stdout: `recover` is talking to them, the log is on
/// stderr).
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{line}");
}
