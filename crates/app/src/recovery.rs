//! The dashboard's recovery: the `lifeboat recover` flow inside a running lifeboat. Pick an
//! interface, an image of the TFTP root and a device family; lifeboat arms the image, takes the
//! address the device looks for (the profile's, or the one it is seen asking for), serves it,
//! and once the device has the image stops TFTP and gives the addresses back. A `push` profile
//! uploads to the device's TFTP server instead, asking until it answers.
//!
//! One recovery at a time; its [`RecoveryView`] is what the Recovery page shows.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::Ipv4Net;
use lifeboat_server::Progress;
use lifeboat_server::client::{self, ClientSettings};
use lifeboat_store::{Event, EventKind, TransferOutcome};
use lifeboat_web::{
    AddressClaim, RecoveryError, RecoveryLine, RecoveryPhase, RecoveryRequest, RecoveryStep, RecoveryView, Service,
};
use tokio_util::sync::CancellationToken;

use crate::services::{Parts, Services};
use crate::{Profile, RecoveryMode};

/// How often a running recovery looks at transfers, the address watch and the upload.
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// How long a push asks the device's TFTP server.
const PUSH_WAIT: Duration = Duration::from_secs(300);

/// The lines of what was seen that are kept.
const SEEN_KEPT: usize = 50;

/// The recovery of this lifeboat.
#[derive(Default)]
pub(crate) struct Recovery {
    view: Mutex<RecoveryView>,
    /// Ends the one under way.
    running: Mutex<Option<CancellationToken>>,
}

/// What a running recovery works with.
struct Job {
    recovery: Arc<Recovery>,
    services: Arc<Services>,
    parts: Arc<Parts>,
    interface: String,
    image: String,
    image_path: PathBuf,
    sha256: String,
    profile: Option<Profile>,
    force: bool,
    /// The addresses it took, to give back.
    claimed: Vec<Ipv4Addr>,
    /// Whether it started TFTP (stopped again if it does not end done).
    started_tftp: bool,
    /// The image armed before, armed again at the end.
    armed_before: Option<String>,
    /// When it started (Unix ms): what the address watch saw earlier is not this device.
    started_at: i64,
}

impl Recovery {
    pub(crate) fn view(&self) -> RecoveryView {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecoveryView> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut RecoveryView)) {
        change(&mut self.lock());
    }

    fn say(&self, at: i64, text: String) {
        tracing::info!("recovery: {text}");
        self.update(|view| {
            if view.seen.len() == SEEN_KEPT {
                view.seen.remove(0);
            }
            view.seen.push(RecoveryLine { at, text });
        });
    }

    /// Check `request` and start it in the background.
    pub(crate) async fn start(
        self: &Arc<Self>,
        request: RecoveryRequest,
        origin: String,
        services: Arc<Services>,
        parts: Arc<Parts>,
    ) -> Result<(), RecoveryError> {
        // The slot is taken before anything is awaited: a second start (a double click) finds
        // it taken. What was there comes back if this one does not start.
        let previous = {
            let mut view = self.lock();
            if view.phase.active() {
                return Err(RecoveryError::Conflict("a recovery is under way: cancel it first".into()));
            }
            std::mem::replace(&mut *view, RecoveryView { phase: RecoveryPhase::Waiting, ..RecoveryView::default() })
        };
        match self.prepare(request, origin, services, parts).await {
            Ok(()) => Ok(()),
            Err(error) => {
                *self.lock() = previous;
                Err(error)
            }
        }
    }

    /// Check `request`, then start it (the slot is taken).
    async fn prepare(
        self: &Arc<Self>,
        request: RecoveryRequest,
        origin: String,
        services: Arc<Services>,
        parts: Arc<Parts>,
    ) -> Result<(), RecoveryError> {
        let profile = match request.profile.as_deref().filter(|p| !p.is_empty()) {
            Some(name) => Some(crate::profile_named(name, None).map_err(|e| RecoveryError::Invalid(e.to_string()))?),
            None => None,
        };
        if profile.as_ref().is_some_and(|p| p.mode == RecoveryMode::Bootp) {
            return Err(RecoveryError::Invalid(
                "this device asks by BOOTP/DHCP: run `lifeboat recover --profile NAME` on the command line, which answers it"
                    .into(),
            ));
        }
        if parts.claims.is_none() {
            return Err(RecoveryError::Conflict(
                "this lifeboat does not change addresses, which a recovery needs".into(),
            ));
        }
        let interfaces = lifeboat_net::interfaces().unwrap_or_default();
        if !interfaces.iter().any(|i| i.name == request.interface) {
            return Err(RecoveryError::Invalid(format!("this machine has no interface {:?}", request.interface)));
        }
        let root = services.configs().tftp.map(|t| t.root).ok_or_else(|| {
            RecoveryError::Conflict("TFTP has no root folder: set one on the Settings page first".into())
        })?;
        let image_path = root.join(&request.image);
        let hashed = image_path.clone();
        let sha256 = tokio::task::spawn_blocking(move || lifeboat_server::sha256_file(&hashed))
            .await
            .map_err(|e| RecoveryError::Conflict(e.to_string()))?
            .map_err(|e| RecoveryError::Invalid(format!("cannot read {}: {e}", request.image)))?;

        let at = parts.clock.unix_ms();
        let steps = match &profile {
            Some(profile) => profile
                .steps_for(&request.image)
                .into_iter()
                .map(|(text, by_lifeboat)| RecoveryStep { text, by_lifeboat })
                .collect(),
            None => vec![
                RecoveryStep { text: "Connect the device to this interface.".into(), by_lifeboat: false },
                RecoveryStep {
                    text: "Start it in its recovery mode: lifeboat answers wherever it looks and under whatever name it asks."
                        .into(),
                    by_lifeboat: false,
                },
            ],
        };
        *self.lock() = RecoveryView {
            phase: RecoveryPhase::Waiting,
            interface: Some(request.interface.clone()),
            image: Some(request.image.clone()),
            profile: profile.as_ref().map(|p| p.name.clone()),
            family: profile.as_ref().map(|p| p.family.clone()),
            steps,
            started_at: Some(at),
            ..RecoveryView::default()
        };
        let detail = format!(
            "recovery of {} on {} with {}",
            profile.as_ref().map_or("a device", |p| p.family.as_str()),
            request.interface,
            request.image
        );
        parts.log.event(Event { at, kind: EventKind::RecoveryStarted, origin, detail });
        let end = CancellationToken::new();
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(end.clone());
        let job = Job {
            recovery: Arc::clone(self),
            services,
            parts,
            interface: request.interface,
            image: request.image,
            image_path,
            sha256,
            profile,
            force: request.force,
            claimed: Vec::new(),
            started_tftp: false,
            armed_before: None,
            started_at: at,
        };
        tokio::spawn(job.run(end));
        Ok(())
    }

    /// End the one under way, giving back what it took.
    pub(crate) fn cancel(&self) {
        if let Some(end) = self.running.lock().unwrap_or_else(|p| p.into_inner()).take() {
            end.cancel();
        }
    }
}

/// How a recovery ended.
enum Ending {
    Done(String),
    Failed(String),
    Cancelled,
}

impl Job {
    async fn run(mut self, end: CancellationToken) {
        let push = self.profile.as_ref().is_some_and(|p| p.mode == RecoveryMode::Push);
        let ending = tokio::select! {
            ending = async { if push { self.push().await } else { self.pull().await } } => ending,
            () = end.cancelled() => Ending::Cancelled,
        };
        self.finish(ending).await;
    }

    fn say(&self, text: String) {
        self.recovery.say(self.parts.clock.unix_ms(), text);
    }

    /// Take `address`; whether it worked (said either way).
    async fn claim(&mut self, address: Ipv4Addr, prefix: u8) -> Result<(), String> {
        let Some(claims) = self.parts.claims.clone() else { return Err("no address claims here".into()) };
        // Given by hand (as a guide says, or as the doctor suggests): used as it is, and left.
        let here = lifeboat_net::interfaces().unwrap_or_default().into_iter().find(|i| i.name == self.interface);
        if here.is_some_and(|i| i.ipv4.iter().any(|(a, p)| *a == address && *p == prefix)) {
            self.say(format!("{address}/{prefix} is on {} already", self.interface));
            return Ok(());
        }
        let claim = AddressClaim { interface: self.interface.clone(), address, prefix, force: self.force };
        match claims.claim(claim, "recovery").await {
            Ok(()) => {
                self.claimed.push(address);
                self.say(format!("{address}/{prefix} is on {}: the device can reach lifeboat there", self.interface));
                Ok(())
            }
            Err(e) => {
                self.say(format!("not answering at {address}: {e}"));
                Err(e.to_string())
            }
        }
    }

    /// Serve the armed image until the device has it.
    async fn pull(&mut self) -> Ending {
        let running = self.services.status().iter().any(|s| s.service == Service::Tftp && s.running);
        if !running {
            if let Err(e) = self.services.start(Service::Tftp, "recovery").await {
                return Ending::Failed(format!("TFTP did not start: {e}"));
            }
            self.started_tftp = true;
        }
        self.armed_before = self.parts.activity.armed.file();
        self.parts.activity.armed.set(Some(self.image.clone()));
        self.say(format!("{} is armed: served under whatever name the device asks for", self.image));
        let prefix = self.profile.as_ref().and_then(|p| p.prefix).unwrap_or(24);
        if let Some(address) = self.profile.as_ref().and_then(|p| p.server_addresses.first().copied())
            && let Err(e) = self.claim(address, prefix).await
        {
            return Ending::Failed(format!("cannot answer at {address}: {e}"));
        }
        let mut seen_transfers = Vec::new();
        let mut seen_wanted = Vec::new();
        self.say(format!("waiting for the device on {}", self.interface));
        loop {
            let wanted_here: Vec<_> = self
                .parts
                .wanted
                .recent()
                .into_iter()
                .filter(|w| w.interface == self.interface && w.at >= self.started_at)
                .collect();
            for wanted in wanted_here {
                if !seen_wanted.contains(&wanted.wanted) {
                    seen_wanted.push(wanted.wanted);
                    let device = wanted.device.map_or_else(|| "?".to_owned(), |d| d.to_string());
                    self.say(format!("{} at {device} is looking for {}", wanted.mac, wanted.wanted));
                    if !self.claimed.contains(&wanted.wanted) {
                        let _ = self.claim(wanted.wanted, wanted.prefix).await;
                    }
                }
            }
            // Only a device on this interface's networks is the one being recovered.
            let networks: Vec<Ipv4Net> = lifeboat_net::interfaces()
                .unwrap_or_default()
                .into_iter()
                .filter(|i| i.name == self.interface)
                .flat_map(|i| i.ipv4)
                .filter_map(|(a, p)| Ipv4Net::new(a, p).ok().map(|n| n.trunc()))
                .collect();
            let here = |ip: std::net::IpAddr| match ip {
                std::net::IpAddr::V4(v4) => networks.iter().any(|n| n.contains(&v4)),
                std::net::IpAddr::V6(v6) => {
                    v6.to_ipv4_mapped().is_some_and(|v4| networks.iter().any(|n| n.contains(&v4)))
                }
            };
            // Transfers stay in the live list for a few seconds after they end: a completed
            // one is seen even between two looks.
            for transfer in self.parts.activity.live_transfers() {
                if transfer.file.as_deref() != Some(self.image.as_str()) || !here(transfer.client.ip()) {
                    continue;
                }
                let mac = transfer.mac.clone().unwrap_or_else(|| "a device".into());
                if !seen_transfers.contains(&transfer.id) {
                    seen_transfers.push(transfer.id);
                    self.say(format!("{mac} at {} asks for {}", transfer.client.ip(), transfer.requested));
                }
                match transfer.outcome {
                    None => self.recovery.update(|view| {
                        view.phase = RecoveryPhase::Transferring;
                        view.bytes = transfer.bytes;
                        view.size = transfer.size;
                    }),
                    Some(TransferOutcome::Complete) => {
                        self.recovery.update(|view| {
                            view.bytes = transfer.bytes;
                            view.size = Some(transfer.bytes);
                        });
                        return Ending::Done(format!(
                            "served {} ({} bytes) to {} ({mac}) as {}, sha256 {}: the device writes it now; leave it alone until it has restarted",
                            self.image, transfer.bytes, transfer.client, transfer.requested, self.sha256
                        ));
                    }
                    // A failed attempt: the device tries again.
                    Some(_) => {}
                }
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
    }

    /// Upload the image to the device's TFTP server, asking until it answers.
    async fn push(&mut self) -> Ending {
        let Some(profile) = self.profile.clone() else { return Ending::Failed("a push needs a profile".into()) };
        let Some(device) = profile.device_address else {
            return Ending::Failed("the profile names no device address to upload to".into());
        };
        let prefix = profile.prefix.unwrap_or(24);
        let Some((network, source)) = profile.push_source() else {
            return Ending::Failed(format!("the profile's prefix /{prefix}"));
        };
        let has_one = lifeboat_net::interfaces()
            .unwrap_or_default()
            .into_iter()
            .any(|i| i.name == self.interface && i.ipv4.iter().any(|(a, _)| network.contains(a)));
        if !has_one && let Err(e) = self.claim(source, prefix).await {
            return Ending::Failed(format!("cannot take an address in the device's network: {e}"));
        }
        let remote = profile.filenames.iter().find(|n| !n.contains('{')).cloned().unwrap_or_else(|| self.image.clone());
        self.recovery.update(|view| view.phase = RecoveryPhase::Pushing);
        self.say(format!("uploading {} to {device} as {remote}, asking until it answers", self.image));
        let progress = Arc::new(Progress::default());
        let cancel = CancellationToken::new();
        // Dropped (the recovery cancelled): the upload stops.
        let _stop_upload = cancel.clone().drop_guard();
        let settings = ClientSettings { wait: Some(PUSH_WAIT), ..ClientSettings::default() };
        let upload = {
            let (progress, cancel, local) = (Arc::clone(&progress), cancel.clone(), self.image_path.clone());
            let server = SocketAddr::from((device, 69));
            tokio::task::spawn_blocking(move || client::put(server, &local, &remote, &settings, &progress, &cancel))
        };
        tokio::pin!(upload);
        loop {
            tokio::select! {
                finished = &mut upload => {
                    return match finished {
                        Ok(Ok(report)) => Ending::Done(format!(
                            "sent {} ({} bytes) to {device} in {:.1} s, sha256 {}: the device writes it now; leave its power on",
                            self.image, report.bytes, report.duration.as_secs_f64(), report.sha256
                        )),
                        Ok(Err(e)) => Ending::Failed(format!("the upload to {device} failed: {e}")),
                        Err(e) => Ending::Failed(format!("the upload to {device} stopped: {e}")),
                    };
                }
                () = tokio::time::sleep(LOOK_EVERY) => {
                    let attempts = u32::try_from(progress.attempts()).unwrap_or(u32::MAX);
                    self.recovery.update(|view| {
                        view.attempts = attempts;
                        view.bytes = progress.bytes();
                        view.size = progress.total();
                    });
                }
            }
        }
    }

    /// Give back what it took; when the device has the image, stop TFTP too.
    async fn finish(self, ending: Ending) {
        let done = matches!(ending, Ending::Done(_));
        let push = self.profile.as_ref().is_some_and(|p| p.mode == RecoveryMode::Push);
        if !push {
            self.parts.activity.armed.set(self.armed_before.clone());
        }
        // Done: the server stops (nothing should stay open once the device has its image).
        // Otherwise TFTP is left as the recovery found it.
        if !push && (done || self.started_tftp) {
            let _ = self.services.stop(Service::Tftp, "recovery ended").await;
        }
        if let Some(claims) = &self.parts.claims {
            for address in &self.claimed {
                let _ = claims.release(*address, "recovery").await;
            }
        }
        let at = self.parts.clock.unix_ms();
        let (phase, detail) = match &ending {
            Ending::Done(summary) => (RecoveryPhase::Done, format!("done: {summary}")),
            Ending::Failed(why) => (RecoveryPhase::Failed, format!("failed: {why}")),
            Ending::Cancelled => (RecoveryPhase::Cancelled, "cancelled".to_owned()),
        };
        let stopped = if done && !push { "; TFTP stopped" } else { "" };
        let given_back = if self.claimed.is_empty() { "" } else { "; the addresses it took are given back" };
        // The summary has its own place on the page: the last line says only how it ended.
        let ended = match &ending {
            Ending::Done(_) => "done".to_owned(),
            _ => detail.clone(),
        };
        self.say(format!("{ended}{stopped}{given_back}"));
        self.recovery.update(|view| {
            view.phase = phase;
            view.ended_at = Some(at);
            match ending {
                Ending::Done(summary) => view.summary = Some(summary),
                Ending::Failed(why) => view.error = Some(why),
                Ending::Cancelled => {}
            }
        });
        self.parts.log.event(Event { at, kind: EventKind::RecoveryEnded, origin: "recovery".into(), detail });
    }
}
