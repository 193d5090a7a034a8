//! Whether lifeboat is healthy, for `lifeboat health` and a container's `HEALTHCHECK`: every
//! service that should run does, and the database takes writes.
//!
//! **Invariant:** however often it is asked, the database is written at most once per
//! [`PROOF_LIFETIME`]; callers in between get the last proof. The question is public (a health
//! check carries no credentials), so the answer names no paths.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::redact::without_paths;

/// How long a proof that the database takes writes counts.
pub(crate) const PROOF_LIFETIME: Duration = Duration::from_secs(5);

/// The last write to the database made to prove it writable, and how it went.
#[derive(Default)]
pub(crate) struct WriteProofs {
    last: Mutex<Option<(Instant, Result<(), String>)>>,
}

impl WriteProofs {
    /// The last proof if it is younger than [`PROOF_LIFETIME`], otherwise the outcome of
    /// `write` (the error as text, without paths), kept as the new proof.
    pub(crate) async fn check<F, E>(&self, write: F) -> Result<(), String>
    where
        F: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let mut last = self.last.lock().await;
        if let Some((at, outcome)) = last.as_ref()
            && at.elapsed() < PROOF_LIFETIME
        {
            return outcome.clone();
        }
        let outcome = write.await.map_err(|error| without_paths(&error.to_string()));
        *last = Some((Instant::now(), outcome.clone()));
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn the_database_is_written_once_per_proof_lifetime() {
        let proofs = WriteProofs::default();
        let writes = AtomicUsize::new(0);
        let write = || async {
            writes.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>("disk full writing /data/lifeboat.db")
        };
        let first = proofs.check(write()).await;
        assert_eq!(first, Err("disk full writing (a path; the lifeboat log names it)".to_owned()));
        tokio::time::advance(PROOF_LIFETIME - Duration::from_millis(1)).await;
        assert_eq!(proofs.check(write()).await, first);
        assert_eq!(writes.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_millis(1)).await;
        let succeeding = || async {
            writes.fetch_add(1, Ordering::SeqCst);
            Ok::<(), String>(())
        };
        assert!(proofs.check(succeeding()).await.is_ok());
        assert_eq!(writes.load(Ordering::SeqCst), 2, "once the proof expired, a new write");
    }
}
