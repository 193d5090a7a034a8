//! The dashboard's JSON API, spoken with curl from inside a namespace: what a script or an
//! operator's tool does. A loopback dashboard needs no login, but every change still carries the
//! session's CSRF token, as the API demands of any client without a bearer token.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Netns;

/// How long one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A session with the dashboard at `base` (e.g. `http://127.0.0.1:8080`), reached from `ns`.
pub struct DashboardApi<'a> {
    ns: &'a Netns,
    base: String,
    cookies: PathBuf,
    csrf: String,
    _dir: tempfile::TempDir,
}

/// An answer of the API: the HTTP status and the JSON body (`Null` when there is none).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl<'a> DashboardApi<'a> {
    /// Wait (up to `timeout`) until the dashboard answers, then open a session.
    pub fn connect(ns: &'a Netns, base: &str, timeout: Duration) -> DashboardApi<'a> {
        let dir = tempfile::tempdir().expect("a directory for the cookie jar");
        let mut api = DashboardApi {
            ns,
            base: base.to_owned(),
            cookies: dir.path().join("cookies"),
            csrf: String::new(),
            _dir: dir,
        };
        let deadline = Instant::now() + timeout;
        let session = loop {
            let answer = api.call("GET", "/api/v1/session", None);
            if answer.status == 200 {
                break answer.body;
            }
            assert!(Instant::now() < deadline, "the dashboard at {base} did not answer within {timeout:?}: {answer:?}");
            std::thread::sleep(Duration::from_millis(100));
        };
        api.csrf = session["csrf_token"].as_str().expect("a CSRF token in /api/v1/session").to_owned();
        api
    }

    pub fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Answer {
        self.call("POST", path, Some(body))
    }

    pub fn put(&self, path: &str, body: &Value) -> Answer {
        self.call("PUT", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> Answer {
        self.call("DELETE", path, None)
    }

    /// GET that must answer 200; its JSON.
    #[track_caller]
    pub fn get_ok(&self, path: &str) -> Value {
        let answer = self.get(path);
        assert_eq!(answer.status, 200, "GET {path}: {answer:?}");
        answer.body
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let url = format!("{}{path}", self.base);
        let jar = self.cookies.to_string_lossy().into_owned();
        let mut argv: Vec<String> = ["curl", "-sS", "--max-time", "8", "-b", &jar, "-c", &jar, "-X", method]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        argv.extend(["-H".into(), format!("X-CSRF-Token: {}", self.csrf)]);
        if let Some(body) = body {
            argv.extend([
                "-H".into(),
                "Content-Type: application/json".into(),
                "--data-binary".into(),
                body.to_string(),
            ]);
        }
        argv.extend(["-w".into(), "\n%{http_code}".into(), url]);
        let out = self.ns.run(&argv, CALL_TIMEOUT);
        let (text, code) = out.stdout.rsplit_once('\n').unwrap_or(("", out.stdout.as_str()));
        let status = code.trim().parse().unwrap_or(0);
        let body = serde_json::from_str(text).unwrap_or(Value::Null);
        Answer { status, body }
    }
}

/// Store `password` as the dashboard's password in `db`, as a person does: `lifeboat passwd`,
/// with the password on standard input.
pub fn set_password(bin: &std::path::Path, db: &std::path::Path, password: &str) {
    let script = r#"printf '%s\n' "$1" | "$2" passwd --db "$3""#;
    let bin = bin.to_str().expect("UTF-8 binary path");
    let db = db.to_str().expect("UTF-8 database path");
    let out =
        crate::process::run(crate::process::command(&["sh", "-c", script, "sh", password, bin, db]), CALL_TIMEOUT);
    out.assert_success();
}

/// Wait (up to `timeout`) until something listens on TCP `port` in `ns`, failing with the
/// server's output if it died.
pub fn wait_tcp_listening(ns: &Netns, server: &mut crate::Child, port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let filter = format!("sport = :{port}");
    loop {
        server.assert_running("lifeboat serve with the dashboard");
        let out = ns.run(&["ss", "-Htln", &filter], CALL_TIMEOUT);
        if out.success() && !out.stdout.trim().is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "the dashboard did not listen on TCP {port}:\n{}", server.output());
        std::thread::sleep(Duration::from_millis(50));
    }
}
