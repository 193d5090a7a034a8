//! Locating (building once) the `lifeboat` binary under test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::process;

/// Building from scratch on a 2-core machine can take a while; this is only a safety net.
const BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lives inside the workspace")
}

/// Path of the `lifeboat` binary: `$LIFEBOAT_BIN` if set, otherwise the one that
/// `$CARGO test --workspace --no-run` builds, run once per test process in the workspace root
/// (the path comes from cargo's own artifact report, so `CARGO_TARGET_DIR` and config are
/// respected). Panics with cargo's output if the build fails.
///
/// The same command as the suite's own (`cargo test --workspace`) resolves the same features, so
/// under the suite it finds everything built and compiles nothing. `cargo build -p lifeboat`
/// resolves without the dev-dependencies' features (tokio's `test-util`, for one) and so built
/// a second copy of most dependencies, which once filled CI's disk.
pub fn lifeboat_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("LIFEBOAT_BIN") {
            let path = PathBuf::from(path);
            assert!(path.is_file(), "LIFEBOAT_BIN={} is not a file", path.display());
            return path;
        }
        build()
    })
    .clone()
}

fn build() -> PathBuf {
    let cargo =
        std::env::var_os("CARGO").or_else(|| option_env!("CARGO").map(Into::into)).unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args(["test", "--workspace", "--no-run"])
        .arg("--message-format=json-render-diagnostics");
    let out = process::run(command, BUILD_TIMEOUT);
    if !out.success() {
        // stdout is cargo's JSON stream; the rendered compiler errors are on stderr.
        let status = out.status.map_or("killed at the deadline".to_owned(), |s| s.to_string());
        panic!("building the lifeboat binary failed ({status}): {}\n{}", out.cmdline, process::tail(&out.stderr));
    }
    executable_from_messages(&out.stdout)
        .unwrap_or_else(|| panic!("cargo did not report a `lifeboat` executable:\n{out}"))
}

fn executable_from_messages(stdout: &str) -> Option<PathBuf> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| {
            msg["reason"] == "compiler-artifact"
                && msg["target"]["name"] == "lifeboat"
                && msg["target"]["kind"] == serde_json::json!(["bin"])
                // Not the binary's own unit-test harness, which has the same name.
                && msg["profile"]["test"] == false
        })
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_executable_in_cargo_messages() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","target":{"name":"lifeboat_tftp","kind":["lib"]},"profile":{"test":false},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"name":"lifeboat","kind":["bin"]},"profile":{"test":true},"executable":"/t/debug/deps/lifeboat-0123"}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"name":"lifeboat","kind":["bin"]},"profile":{"test":false},"executable":"/t/debug/lifeboat"}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(executable_from_messages(messages), Some(PathBuf::from("/t/debug/lifeboat")));
        assert_eq!(executable_from_messages(r#"{"reason":"build-finished"}"#), None);
    }
}
