//! `serve`'s flags from the environment, as a container gives them, seen from outside the
//! binary: the variable reaches the configuration, and a bad value is named.

use std::process::Command;

/// Runs `lifeboat serve`: its exit code and everything it wrote (its log on stdout, a
/// command-line mistake on stderr).
fn serve(envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let scratch = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    command.arg("serve").env("LIFEBOAT_DB", scratch.path().join("lifeboat.db")).env_remove("RUST_LOG");
    for (name, value) in envs {
        command.env(name, value);
    }
    // Each run ends by itself: the root is missing, or a value is bad.
    let out = command.output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), said)
}

#[test]
fn a_variable_reaches_the_configuration() {
    let missing = tempfile::tempdir().unwrap().path().join("images-not-here");
    let root = missing.to_str().unwrap();
    let (code, said) = serve(&[("LIFEBOAT_TFTP_ROOT", root), ("LIFEBOAT_TFTP_LISTEN", "127.0.0.1:0")]);
    // Without the variable this would be "nothing to serve".
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("images-not-here"), "the root came from LIFEBOAT_TFTP_ROOT: {said}");
}

#[test]
fn a_switch_with_a_value_that_is_no_boolean_is_named() {
    let (code, said) = serve(&[("LIFEBOAT_TFTP_SINGLE_PORT", "maybe")]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("LIFEBOAT_TFTP_SINGLE_PORT=\"maybe\": expected true or false"), "{said}");
}
