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
