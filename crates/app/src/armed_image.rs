//! The image armed for a recovery: a device that asks for a file that does not exist gets it,
//! and the name it asked for becomes an alias of the dashboard (visible on the Missing files
//! and Hosts pages, revocable there), so the next request finds it the usual way. Without an
//! armed image, missing files keep their one-click alias flow.
//!
//! **Invariant:** a name is learned once per arming, in the form TFTP resolves it, and at most
//! [`LEARNED_MAX`] names per arming (a device cycling through made-up names fills neither
//! memory nor the aliases); a name beyond that is still served, only not saved.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use lifeboat_store::{Event, EventKind, LogWriter, Store};
use tokio::sync::mpsc;

use crate::host_directory::HostDirectory;

/// Names learned per arming, at most (a device asks for one or two).
const LEARNED_MAX: usize = 8;

/// A name learned: the device at `client` asked for `name`, and got `file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Learned {
    pub(crate) name: String,
    pub(crate) file: String,
    pub(crate) client: String,
}

#[derive(Default)]
struct State {
    file: Option<String>,
    /// Names learned since it was armed.
    learned: BTreeSet<String>,
}

pub(crate) struct ArmedImage {
    state: Mutex<State>,
    learned: mpsc::Sender<Learned>,
}

impl ArmedImage {
    /// The armed image and the receiving end of what it learns (see [`save_learned`]).
    pub(crate) fn new() -> (ArmedImage, mpsc::Receiver<Learned>) {
        let (learned, names) = mpsc::channel(LEARNED_MAX);
        (ArmedImage { state: Mutex::default(), learned }, names)
    }

    /// Arm `file` (relative to the TFTP root), or disarm with `None`.
    pub(crate) fn set(&self, file: Option<String>) {
        *self.lock() = State { file, learned: BTreeSet::new() };
    }

    pub(crate) fn file(&self) -> Option<String> {
        self.lock().file.clone()
    }

    /// The file for a request of `name` that found nothing, when an image is armed; the name is
    /// queued to be saved as an alias the first time.
    pub(crate) fn instead_of(&self, name: &str, client: String) -> Option<String> {
        let mut state = self.lock();
        let file = state.file.clone()?;
        // As TFTP resolves it (`a//b` is `a/b`); a name TFTP refuses never gets here.
        let name = lifeboat_tftp::policy::normalize(name.as_bytes()).ok()?.to_string();
        if state.learned.contains(&name) {
            return Some(file);
        }
        if state.learned.len() >= LEARNED_MAX {
            tracing::warn!(
                "{name:?} is served as {file} but not saved as an alias: {LEARNED_MAX} names were learned already"
            );
            return Some(file);
        }
        state.learned.insert(name.clone());
        let learned = Learned { name, file: file.clone(), client };
        if self.learned.try_send(learned).is_err() {
            tracing::warn!("a name asked for is served as {file} but not saved as an alias: too many at once");
        }
        Some(file)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Saves each learned name as an alias of the dashboard and applies it, with an event; ends
/// when the armed image is dropped.
pub(crate) async fn save_learned(
    mut names: mpsc::Receiver<Learned>,
    store: Store,
    directory: Arc<HostDirectory>,
    log: LogWriter,
    clock: Arc<dyn lifeboat_clock::Clock>,
) {
    while let Some(learned) = names.recv().await {
        if let Err(error) = store.set_alias(&learned.name, &learned.file).await {
            tracing::warn!(
                "{:?} is served as {} but could not be saved as an alias: {error}",
                learned.name,
                learned.file
            );
            continue;
        }
        let detail = format!(
            "{} → {} (learned: {} asked for it while {} was armed)",
            learned.name, learned.file, learned.client, learned.file
        );
        tracing::info!("{detail}");
        log.event(Event { at: clock.unix_ms(), kind: EventKind::AliasAdded, origin: "recovery".into(), detail });
        if let Err(error) = directory.reload(&store).await {
            tracing::warn!("aliases not reloaded: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_name_gets_the_armed_image_and_is_learned_once() {
        let (armed, mut names) = ArmedImage::new();
        assert_eq!(armed.instead_of("tp_recovery.bin", "10.0.0.2".into()), None, "nothing armed");
        armed.set(Some("openwrt-factory.bin".into()));
        for _ in 0..3 {
            assert_eq!(armed.instead_of("tp_recovery.bin", "10.0.0.2".into()).as_deref(), Some("openwrt-factory.bin"));
        }
        let learned = names.try_recv().unwrap();
        assert_eq!((learned.name.as_str(), learned.file.as_str()), ("tp_recovery.bin", "openwrt-factory.bin"));
        assert!(names.try_recv().is_err(), "learned once");
        armed.set(None);
        assert_eq!(armed.instead_of("other.bin", "10.0.0.2".into()), None, "disarmed");
    }

    #[test]
    fn a_flood_of_names_is_served_but_only_a_few_are_learned() {
        let (armed, mut names) = ArmedImage::new();
        armed.set(Some("fw.bin".into()));
        for n in 0..1000 {
            assert!(armed.instead_of(&format!("name-{n}"), "10.0.0.2".into()).is_some());
        }
        let mut queued = 0;
        while names.try_recv().is_ok() {
            queued += 1;
        }
        assert_eq!(queued, LEARNED_MAX);
        assert_eq!(armed.lock().learned.len(), LEARNED_MAX, "the set is bounded too");
    }

    #[test]
    fn names_are_learned_as_tftp_resolves_them() {
        let (armed, mut names) = ArmedImage::new();
        armed.set(Some("fw.bin".into()));
        armed.instead_of("/boot//tp_recovery.bin", "10.0.0.2".into());
        armed.instead_of("boot/tp_recovery.bin", "10.0.0.2".into());
        assert_eq!(names.try_recv().unwrap().name, "boot/tp_recovery.bin");
        assert!(names.try_recv().is_err(), "the same name, said twice");
    }
}
