//! The recovery assistant's part of the control surface: the device profiles the dashboard
//! offers, and the doctor's checks.

use serde::{Deserialize, Serialize};

/// A device profile, as the dashboard offers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileChoice {
    /// The profile's file name without `.toml`: `tplink`.
    pub name: String,
    pub family: String,
    /// `pull`, `push` or `bootp`.
    pub mode: String,
}

/// A recovery to start from the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RecoveryRequest {
    /// The interface the device is plugged into.
    pub interface: String,
    /// A file of the TFTP root.
    pub image: String,
    /// A profile's name; none: answer where the device is seen looking, under any name.
    #[serde(default)]
    pub profile: Option<String>,
    /// Take addresses even on the interface of the default route.
    #[serde(default)]
    pub force: bool,
}

/// Where a recovery is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecoveryPhase {
    /// None started since lifeboat started.
    #[default]
    Idle,
    /// Serving, and waiting for the device to ask.
    Waiting,
    /// The device is downloading the image.
    Transferring,
    /// Uploading to the device's TFTP server (asking until it answers).
    Pushing,
    /// The device has the image; the server is stopped and the addresses given back.
    Done,
    Failed,
    Cancelled,
}

impl RecoveryPhase {
    /// What the Recovery page says of it.
    pub fn label(self) -> &'static str {
        match self {
            RecoveryPhase::Idle => "No recovery yet",
            RecoveryPhase::Waiting => "Waiting for the device",
            RecoveryPhase::Transferring => "The device is downloading the image",
            RecoveryPhase::Pushing => "Uploading to the device",
            RecoveryPhase::Done => "Done",
            RecoveryPhase::Failed => "Failed",
            RecoveryPhase::Cancelled => "Cancelled",
        }
    }

    /// Whether it is under way (a second cannot start).
    pub fn active(self) -> bool {
        matches!(self, RecoveryPhase::Waiting | RecoveryPhase::Transferring | RecoveryPhase::Pushing)
    }
}

/// A step of a recovery guide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoveryStep {
    pub text: String,
    /// lifeboat does it (the address, the file name, the server, the upload).
    pub by_lifeboat: bool,
}

/// A line of what a recovery saw or did, with when (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoveryLine {
    pub at: i64,
    pub text: String,
}

/// The dashboard's recovery, as it stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecoveryView {
    pub phase: RecoveryPhase,
    pub interface: Option<String>,
    pub image: Option<String>,
    /// The profile's name and device family, if one was chosen.
    pub profile: Option<String>,
    pub family: Option<String>,
    /// What the person does with the device, and what lifeboat does for them.
    pub steps: Vec<RecoveryStep>,
    /// What was seen on the wire and what lifeboat did, oldest first.
    pub seen: Vec<RecoveryLine>,
    /// Bytes moved so far, of `size` when known.
    pub bytes: u64,
    pub size: Option<u64>,
    /// Push: how many times the device was asked.
    pub attempts: u32,
    /// What was served or sent, to whom, with its SHA-256, once done.
    pub summary: Option<String>,
    pub error: Option<String>,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
}

/// Why a recovery did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    /// One is under way already, or what it needs is not there (no TFTP root): 409.
    #[error("{0}")]
    Conflict(String),
    /// What was asked is wrong (an unknown profile or interface, a BOOTP profile): 400.
    #[error("{0}")]
    Invalid(String),
}

/// What the doctor is asked to look at. Each named thing adds its checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct DoctorRequest {
    pub interface: Option<String>,
    /// A profile's name.
    pub profile: Option<String>,
    /// An image: a file of the TFTP root on the dashboard, a path on the command line.
    pub image: Option<String>,
}

/// One item of the troubleshooting list, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoctorCheck {
    /// What was checked: "UDP port 69", "Firewall: requests in".
    pub title: String,
    pub verdict: CheckVerdict,
    /// What was found, in one sentence.
    pub found: String,
    /// What to do, in one line, for a failed check.
    pub fix: Option<String>,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckVerdict {
    /// ✓: nothing in the way.
    Pass,
    /// ✗: this stops a recovery; the check's fix says what to do.
    Fail,
    /// Worth knowing, nothing to do (or nothing could be checked).
    Note,
}

impl CheckVerdict {
    /// ✓, ✗ or ·.
    pub fn mark(self) -> &'static str {
        match self {
            CheckVerdict::Pass => "✓",
            CheckVerdict::Fail => "✗",
            CheckVerdict::Note => "·",
        }
    }

    /// `pass`, `fail` or `note`, as the API and the page's classes spell it.
    pub fn slug(self) -> &'static str {
        match self {
            CheckVerdict::Pass => "pass",
            CheckVerdict::Fail => "fail",
            CheckVerdict::Note => "note",
        }
    }
}

impl DoctorCheck {
    pub fn pass(title: impl Into<String>, found: impl Into<String>) -> DoctorCheck {
        DoctorCheck { title: title.into(), verdict: CheckVerdict::Pass, found: found.into(), fix: None }
    }

    pub fn fail(title: impl Into<String>, found: impl Into<String>, fix: impl Into<String>) -> DoctorCheck {
        DoctorCheck { title: title.into(), verdict: CheckVerdict::Fail, found: found.into(), fix: Some(fix.into()) }
    }

    pub fn note(title: impl Into<String>, found: impl Into<String>) -> DoctorCheck {
        DoctorCheck { title: title.into(), verdict: CheckVerdict::Note, found: found.into(), fix: None }
    }

    /// The check as one line of text: `✓ UDP port 69: free`, with the fix on a second line.
    pub fn line(&self) -> String {
        let mark = self.verdict.mark();
        match &self.fix {
            Some(fix) => format!("{mark} {}: {}\n    fix: {fix}", self.title, self.found),
            None => format!("{mark} {}: {}", self.title, self.found),
        }
    }
}

/// Run the doctor for a dashboard caller: the image must be one of the TFTP root's files (a
/// name from the request never reaches the file system otherwise).
pub(crate) async fn examine(state: &crate::state::WebState, mut request: DoctorRequest) -> Vec<DoctorCheck> {
    let mut checks = Vec::new();
    if let Some(image) = request.image.as_deref().filter(|i| !i.is_empty()) {
        let listed = crate::digests::list_images(state).await.unwrap_or_default();
        if !listed.iter().any(|i| i.file.file == image) {
            checks.push(DoctorCheck::fail(
                "Image",
                format!("{image} is not a file of the TFTP root"),
                "upload it on the Images page, then choose it here",
            ));
            request.image = None;
        }
    }
    checks.extend(state.control().doctor(request).await);
    checks
}
