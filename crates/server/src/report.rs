//! The record of one finished transfer, and the log line people read to learn which file a
//! device asked for and how it went.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use lifeboat_tftp::{Direction, Outcome, TransferParams, human_rate};

/// One finished transfer.
#[derive(Debug, Clone)]
pub struct TransferReport {
    pub peer: SocketAddr,
    pub direction: Direction,
    /// The name exactly as the client asked for it.
    pub requested: String,
    /// The file served or written.
    pub file: PathBuf,
    pub started: SystemTime,
    /// The file's size when known (a read, or an upload that announced its tsize).
    pub size: Option<u64>,
    pub bytes: u64,
    pub params: TransferParams,
    pub retransmits: u64,
    /// Times the retransmission timer fired.
    pub timeouts: u64,
    pub duration: Duration,
    pub outcome: Outcome,
}

impl TransferReport {
    /// Payload rate in bytes per second.
    pub fn rate(&self) -> f64 {
        self.bytes as f64 / self.duration.as_secs_f64().max(1e-6)
    }

    /// Writes the report to the log: info when it worked, warn when it did not.
    pub fn log(&self) {
        match &self.outcome {
            Outcome::Failed(_) => tracing::warn!("{self}"),
            _ => tracing::info!("{self}"),
        }
    }
}

impl fmt::Display for TransferReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.direction {
            Direction::Read => "sent",
            Direction::Write => "received",
        };
        let outcome = match &self.outcome {
            Outcome::Complete => "complete".to_owned(),
            Outcome::OptionsDeclined => "client only asked for the options (ERROR 8)".to_owned(),
            Outcome::Failed(error) => format!("FAILED: {error}"),
        };
        write!(
            f,
            "{verb} {file} {dir} {peer} (requested {requested:?}): {bytes} bytes in {secs:.2} s, {rate}, blksize {blksize}, window {window}, {retransmits} retransmits, {timeouts} timeouts — {outcome}",
            file = self.file.display(),
            dir = if self.direction == Direction::Read { "to" } else { "from" },
            peer = self.peer,
            requested = self.requested,
            bytes = self.bytes,
            secs = self.duration.as_secs_f64(),
            rate = human_rate(self.rate()),
            blksize = self.params.blksize,
            window = self.params.windowsize,
            retransmits = self.retransmits,
            timeouts = self.timeouts,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeboat_tftp::{ErrorCode, TransferError};

    fn sample() -> TransferReport {
        TransferReport {
            peer: "192.168.0.86:3456".parse().unwrap(),
            direction: Direction::Read,
            requested: "wr841nv8_tp_recovery.bin".into(),
            file: "/srv/tftp/openwrt.bin".into(),
            started: SystemTime::UNIX_EPOCH,
            size: Some(8_000_000),
            bytes: 4_000_000,
            params: TransferParams { blksize: 512, windowsize: 1, timeout: None },
            retransmits: 3,
            timeouts: 1,
            duration: Duration::from_secs(2),
            outcome: Outcome::Failed(TransferError::Peer { code: ErrorCode::DiskFull, message: "full".into() }),
        }
    }

    #[test]
    fn the_log_line_names_the_requested_file_and_the_outcome() {
        let line = sample().to_string();
        for part in [
            "sent /srv/tftp/openwrt.bin to 192.168.0.86:3456",
            "\"wr841nv8_tp_recovery.bin\"",
            "2.0 MB/s",
            "blksize 512",
            "3 retransmits, 1 timeouts",
            "FAILED",
            "full",
        ] {
            assert!(line.contains(part), "{part:?} missing from {line}");
        }
    }

    #[test]
    fn control_characters_in_a_requested_name_cannot_forge_a_log_line() {
        let report = TransferReport { requested: "x\nINFO sent /forged.bin".into(), ..sample() };
        let line = report.to_string();
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains(r#""x\nINFO sent /forged.bin""#), "{line}");
    }
}
