//! `--log-format json`: every line `lifeboat serve` writes is one JSON object, the error that
//! ends it too, so a log collector never meets a line it cannot read. The server logs to stdout,
//! where container runtimes and log collectors read it; nothing goes to stderr.

use std::process::Command;

/// Runs lifeboat; whether it succeeded and the lines of its log (stdout), after checking that
/// it wrote nothing to stderr.
fn lines(args: &[&str], envs: &[(&str, &str)]) -> (bool, Vec<String>) {
    let scratch = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    command.args(args).env("LIFEBOAT_DB", scratch.path().join("lifeboat.db")).env_remove("RUST_LOG");
    for (name, value) in envs {
        command.env(name, value);
    }
    // Every run below ends by itself within a second: a configuration or start-up error.
    let out = command.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "the server logs to stdout, yet stderr has:\n{stderr}\nstdout:\n{stdout}");
    (out.status.success(), stdout.lines().map(str::to_owned).collect())
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"))
}

#[test]
fn a_start_that_fails_is_logged_line_by_line_as_json() {
    let missing = tempfile::tempdir().unwrap().path().join("gone");
    let root = missing.to_str().unwrap();
    let argv = ["--log-format", "json", "serve", "--tftp-root", root, "--tftp-listen", "127.0.0.1:0", "--no-web"];
    let (ok, lines) = lines(&argv, &[]);
    assert!(!ok, "{lines:?}");
    assert!(lines.len() >= 2, "the database line and the error: {lines:?}");
    let objects: Vec<_> = lines.iter().map(|line| json(line)).collect();
    assert_eq!(objects[0]["level"], "INFO");
    assert!(objects[0]["fields"]["message"].as_str().unwrap().starts_with("database: "), "{lines:?}");
    let last = objects.last().unwrap();
    assert_eq!(last["level"], "ERROR");
    assert!(last["fields"]["message"].as_str().unwrap().contains("TFTP root"), "{lines:?}");
}

#[test]
fn the_format_comes_from_the_environment_too_and_text_stays_the_default() {
    let (_, lines_env) = lines(&["serve"], &[("LIFEBOAT_LOG_FORMAT", "json")]);
    let last = json(lines_env.last().unwrap());
    assert!(last["fields"]["message"].as_str().unwrap().contains("nothing to serve"), "{lines_env:?}");
    let (_, text) = lines(&["serve"], &[]);
    assert!(text.first().unwrap().starts_with("error: invalid configuration"), "{text:?}");
}
