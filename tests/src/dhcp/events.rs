//! What a DHCP client told its script: each call of the script first runs a client-specific
//! snippet (configuring the leased address on the client's veth, nothing else), then writes one
//! file holding its whole environment (`env -0`) plus the event name, named by the nanosecond
//! clock at the start of the call so that the files sort in call order.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Name of the variable in which the script stores the event name (dhclient's and dhcpcd's
/// `$reason`, udhcpc's first argument).
const EVENT_VAR: &str = "LIFEBOAT_E2E_EVENT";

/// One call of a client's script.
#[derive(Debug, Clone)]
pub struct ClientEvent {
    /// `BOUND`, `RENEW`, `bound`, `deconfig`, ... exactly as the client named it.
    pub name: String,
    pub vars: BTreeMap<String, String>,
}

impl ClientEvent {
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// A variable parsed as an IPv4 address; `None` when absent or not an address.
    pub fn ipv4(&self, name: &str) -> Option<Ipv4Addr> {
        self.var(name)?.parse().ok()
    }

    /// The variables a DHCP test looks at (not the inherited environment), for messages.
    pub fn summary(&self) -> String {
        let interesting = |key: &str| key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        let vars: Vec<String> =
            self.vars.iter().filter(|(k, _)| interesting(k)).map(|(k, v)| format!("{k}={v}")).collect();
        format!("{} [{}]", self.name, vars.join(" "))
    }
}

/// The folder a client's script writes its events to, and a cursor over them.
#[derive(Debug)]
pub struct EventLog {
    dir: PathBuf,
    /// Events already returned by [`EventLog::wait_for`].
    consumed: usize,
}

impl EventLog {
    /// Writes an executable script at `script` that runs `snippet` (POSIX shell) and then records
    /// the call into `dir` (created). `event_expr` is the shell word that names the event,
    /// e.g. `"$reason"` or `"$1"`.
    pub fn create_script(script: &Path, dir: &Path, event_expr: &str, snippet: &str) -> std::io::Result<EventLog> {
        std::fs::create_dir_all(dir)?;
        let dir_str = dir.to_str().ok_or_else(|| std::io::Error::other("event folder path is not UTF-8"))?;
        if dir_str.contains('\'') {
            return Err(std::io::Error::other("event folder path contains a quote"));
        }
        let text = format!(
            "#!/bin/sh\n\
             # Written by lifeboat-e2e: configures only the client's veth, then records this call\n\
             # (after the snippet, so a recorded event means its address change is done).\n\
             PATH=/usr/sbin:/usr/bin:/sbin:/bin\n\
             events='{dir_str}'\n\
             stamp=$(date +%s%N)-$$\n\
             {snippet}\n\
             {{ env -0; printf '{EVENT_VAR}=%s\\0' {event_expr}; }} > \"$events/.$stamp\"\n\
             mv \"$events/.$stamp\" \"$events/$stamp.env\"\n\
             exit 0\n"
        );
        std::fs::write(script, text)?;
        std::fs::set_permissions(script, std::fs::Permissions::from_mode(0o755))?;
        Ok(EventLog { dir: dir.to_path_buf(), consumed: 0 })
    }

    /// Every event recorded so far, in call order.
    pub fn all(&self) -> Vec<ClientEvent> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "env")).collect();
        paths.sort();
        paths.iter().filter_map(|p| std::fs::read(p).ok()).map(|bytes| parse_event(&bytes)).collect()
    }

    /// Names of all events so far, for messages.
    pub fn names(&self) -> Vec<String> {
        self.all().into_iter().map(|e| e.name).collect()
    }

    /// Waits up to `timeout` for the first not yet returned event whose name is in `names`
    /// (events before it are skipped). `Err` carries the events seen, for the failure message.
    pub fn wait_for(&mut self, names: &[&str], timeout: Duration) -> Result<ClientEvent, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.all();
            if let Some(offset) = events.iter().skip(self.consumed).position(|e| names.contains(&e.name.as_str())) {
                let index = self.consumed + offset;
                self.consumed = index + 1;
                return Ok(events[index].clone());
            }
            if Instant::now() >= deadline {
                let seen: Vec<String> = events.iter().map(ClientEvent::summary).collect();
                return Err(format!(
                    "no {names:?} event within {timeout:?}; events so far (first {} already consumed):\n  {}",
                    self.consumed,
                    seen.join("\n  ")
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn parse_event(bytes: &[u8]) -> ClientEvent {
    let mut vars = BTreeMap::new();
    for entry in bytes.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let entry = String::from_utf8_lossy(entry);
        if let Some((key, value)) = entry.split_once('=') {
            vars.insert(key.to_owned(), value.to_owned());
        }
    }
    let name = vars.remove(EVENT_VAR).unwrap_or_default();
    ClientEvent { name, vars }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nul_separated_environment_and_event_name() {
        let event = parse_event(b"new_ip_address=10.0.0.5\0multi=a\nb\0LIFEBOAT_E2E_EVENT=BOUND\0");
        assert_eq!(event.name, "BOUND");
        assert_eq!(event.ipv4("new_ip_address"), Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(event.var("multi"), Some("a\nb"));
        assert_eq!(event.var(EVENT_VAR), None);
    }

    #[test]
    fn recorded_script_calls_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("record.sh");
        let mut log = EventLog::create_script(&script, &dir.path().join("events"), "\"$1\"", ":").unwrap();
        for name in ["deconfig", "bound", "renew"] {
            let status = std::process::Command::new(&script).arg(name).env("ip", "10.1.2.3").status().unwrap();
            assert!(status.success());
        }
        assert_eq!(log.names(), ["deconfig", "bound", "renew"]);
        let bound = log.wait_for(&["bound"], Duration::ZERO).unwrap();
        assert_eq!(bound.var("ip"), Some("10.1.2.3"));
        assert_eq!(log.wait_for(&["renew"], Duration::ZERO).unwrap().name, "renew");
        assert!(log.wait_for(&["bound"], Duration::ZERO).is_err(), "bound was already consumed");
    }
}
