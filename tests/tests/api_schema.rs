//! The running dashboard API against its OpenAPI description (`crates/web/openapi/api-v1.json`),
//! with schemathesis from PyPI (`.ci/run` installs it into /opt/lifeboat-peers/schemathesis):
//! generated requests to every described operation, every check schemathesis has (no server
//! error, answers that fit the description, authentication enforced, invalid input refused, ...).
//! lifeboat runs with a password, so only the API key a script would use lets requests in.

use std::time::Duration;

use lifeboat_e2e::dashboard::{set_password, wait_tcp_listening};
use lifeboat_e2e::{Netns, lifeboat_bin, require_netns};

const SCHEMATHESIS: &str = "/opt/lifeboat-peers/schemathesis/bin/schemathesis";
const PASSWORD: &str = "schema-test-password";
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
/// Generated requests for every operation; a run takes a minute or two.
const MAX_EXAMPLES: &str = "20";
const RUN_TIMEOUT: Duration = Duration::from_secs(15 * 60);

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn the_api_keeps_to_its_openapi_description() {
    require_netns!(SCHEMATHESIS, "curl", "ss");
    let bin = lifeboat_bin();
    let ns = Netns::new();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("openwrt.bin"), vec![7u8; 4096]).unwrap();
    let db = ns.scratch().join("lifeboat.db");
    set_password(&bin, &db, PASSWORD);

    let db_arg = db.to_str().expect("a UTF-8 path");
    let root_arg = root.path().to_str().expect("a UTF-8 path");
    let argv = [bin.to_str().unwrap(), "serve", "--tftp-root", root_arg, "--db", db_arg];
    let mut server = ns.spawn(&argv);
    wait_tcp_listening(&ns, &mut server, 8080, STEP_TIMEOUT);
    let key = create_api_key(&ns);

    let authorization = format!("Authorization: Bearer {key}");
    let mut args = vec![
        SCHEMATHESIS,
        "run",
        "http://127.0.0.1:8080/api/v1/openapi.json",
        "--header",
        &authorization,
        "--checks",
        "all",
        // What no schema can say: an alias's file must exist, a reservation's address must
        // lie in a served subnet. Such requests are refused (422) with the reason; the
        // opposite check, that invalid data is refused, stays on.
        "--exclude-checks",
        "positive_data_acceptance",
        // Endless by design; and a new key would lock this run out.
        "--exclude-path",
        "/transfers/live/stream",
        "--exclude-path",
        "/api-key",
        "--max-examples",
        MAX_EXAMPLES,
        "--request-timeout",
        "10",
        "--no-color",
    ];
    // A failed run prints its seed; `LIFEBOAT_SCHEMATHESIS_SEED=<seed>` runs the same again.
    let seed = std::env::var("LIFEBOAT_SCHEMATHESIS_SEED").ok();
    if let Some(seed) = &seed {
        args.extend(["--seed", seed.as_str()]);
    }
    let out = ns.run(&args, RUN_TIMEOUT);
    server.assert_running("lifeboat serve under schemathesis");
    assert!(
        out.success(),
        "schemathesis found answers that do not fit the description:\n{}\n{}",
        out.stdout,
        out.stderr
    );
}

/// The API key, the way a person gets it: log in, then ask for one with the session's CSRF token.
fn create_api_key(ns: &Netns) -> String {
    let jar = ns.scratch().join("cookies");
    let jar = jar.to_str().unwrap();
    let curl = |args: &[&str]| -> String {
        let mut argv = vec!["curl", "-sS", "--fail-with-body", "--max-time", "10", "-b", jar, "-c", jar];
        argv.extend_from_slice(args);
        ns.run_ok(&argv, STEP_TIMEOUT).stdout
    };
    let session: serde_json::Value = serde_json::from_str(&curl(&["http://127.0.0.1:8080/api/v1/session"])).unwrap();
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    let form = format!("password={PASSWORD}&csrf={csrf}");
    curl(&["-o", "/dev/null", "--data", &form, "http://127.0.0.1:8080/login"]);
    let session: serde_json::Value = serde_json::from_str(&curl(&["http://127.0.0.1:8080/api/v1/session"])).unwrap();
    assert_eq!(session["logged_in"], true, "the login did not take: {session}");
    let header = format!("X-CSRF-Token: {}", session["csrf_token"].as_str().unwrap());
    let created = curl(&["-X", "POST", "-H", &header, "http://127.0.0.1:8080/api/v1/api-key"]);
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    created["api_key"].as_str().expect("an API key").to_owned()
}
