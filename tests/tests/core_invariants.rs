//! The promises of the two protocol cores, `lifeboat-tftp` and `lifeboat-dhcp` (README,
//! "Architecture"), and of `lifeboat-ipxe`, as pure as they are, checked on every test run rather
//! than hoped for:
//!
//! - they depend on nothing but the crates listed here (no runtime, no I/O library sneaks in);
//! - clippy passes with their `clippy.toml`, which forbids clocks, files, sockets, threads,
//!   processes, the environment and OS-seeded randomness, and their `lib.rs`, which forbids
//!   `unwrap`, `expect` and `panic!` outside tests;
//! - the `clippy.toml` files forbid the same things.
//!
//! No root needed. The clippy check builds the two crates (and dhcproto) once more, in a target
//! folder of its own, because the `cargo test` that runs this holds the usual one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What each core may depend on (normal and build dependencies), and why.
const ALLOWED: &[(&str, &[&str])] = &[
    // thiserror: derives the error types, no runtime code of its own.
    ("lifeboat-tftp", &["thiserror"]),
    // dhcproto: the DHCP message codec the project requires; ipnet: subnet arithmetic, no I/O;
    // thiserror as above.
    ("lifeboat-dhcp", &["dhcproto", "ipnet", "thiserror"]),
    // minijinja: renders boot profiles' templates from strings (no loader, no I/O; fuel bounds
    // a render); percent-encoding: escapes paths in URLs; thiserror as above.
    ("lifeboat-ipxe", &["minijinja", "percent-encoding", "thiserror"]),
];

/// What their tests may use besides.
const ALLOWED_FOR_TESTS: &[&str] = &["proptest"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lies in the workspace").to_path_buf()
}

fn cargo() -> Command {
    let mut command = Command::new(env!("CARGO"));
    command.current_dir(workspace_root());
    command
}

fn output_of(command: &mut Command) -> std::process::Output {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn the_cores_depend_only_on_the_crates_they_are_allowed() {
    let output = output_of(cargo().args(["metadata", "--format-version", "1", "--no-deps", "--offline"]));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    for (core, allowed) in ALLOWED {
        let package = packages
            .iter()
            .find(|p| p["name"] == *core)
            .unwrap_or_else(|| panic!("{core} is not in the workspace any more: update this test"));
        let mut unexpected = BTreeSet::new();
        for dependency in package["dependencies"].as_array().expect("dependencies") {
            let name = dependency["name"].as_str().expect("name");
            let for_tests = dependency["kind"] == "dev";
            let fine = allowed.contains(&name) || (for_tests && ALLOWED_FOR_TESTS.contains(&name));
            if !fine {
                unexpected.insert(format!("{name} ({})", dependency["kind"].as_str().unwrap_or("normal")));
            }
        }
        assert!(
            unexpected.is_empty(),
            "{core} is a sans-IO core, and depends on {unexpected:?}, which is not in its allow-list \
             (tests/tests/core_invariants.rs). Keep I/O, clocks and randomness in the drivers \
             (lifeboat-server); if the crate is truly pure, add it to the list with the reason."
        );
    }
}

#[test]
fn the_cores_pass_their_invariant_lints() {
    let target = workspace_root().join("target").join("core-invariants");
    let mut clippy = cargo();
    clippy
        .args(["clippy", "--locked", "--offline", "--all-targets", "-p", "lifeboat-tftp", "-p", "lifeboat-dhcp"])
        .args(["-p", "lifeboat-ipxe"])
        .args(["--", "-D", "warnings"])
        .env("CARGO_TARGET_DIR", &target);
    output_of(&mut clippy);
}

/// The lines of a `clippy.toml` that are not comments or blank.
fn rules(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect()
}

#[test]
fn the_cores_forbid_the_same_things() {
    let root = workspace_root();
    let tftp = rules(&root.join("crates/tftp/clippy.toml"));
    let dhcp = rules(&root.join("crates/dhcp/clippy.toml"));
    assert!(tftp.iter().any(|l| l.contains("std::time::Instant::now")), "the TFTP core's clippy.toml lost its rules");
    assert_eq!(tftp, dhcp, "crates/tftp/clippy.toml and crates/dhcp/clippy.toml differ");
    let ipxe = rules(&root.join("crates/ipxe/clippy.toml"));
    assert_eq!(tftp, ipxe, "crates/tftp/clippy.toml and crates/ipxe/clippy.toml differ");
}
