//! Replays every committed corpus file through its target's `run`: the fuzzers' findings and
//! coverage become regression tests on stable. A missing corpus folder fails its test.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    let entries = std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("corpus folder {}: {e}", folder.display()));
    let mut files: Vec<_> = entries.map(|entry| entry.expect("corpus entry").path()).collect();
    files.sort();
    assert!(!files.is_empty(), "corpus folder {} is empty", folder.display());
    let mut failing = Vec::new();
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            failing.push(file.display().to_string());
        }
    }
    assert!(
        failing.is_empty(),
        "{target}: {} of {} inputs violate an invariant (panics above): {failing:#?}",
        failing.len(),
        files.len()
    );
}

#[test]
fn tftp_wire() {
    replay("tftp_wire", lifeboat_fuzz::tftp_wire::run);
}

#[test]
fn tftp_options() {
    replay("tftp_options", lifeboat_fuzz::tftp_options::run);
}

#[test]
fn tftp_sender() {
    replay("tftp_sender", lifeboat_fuzz::tftp_sender::run);
}

#[test]
fn tftp_receiver() {
    replay("tftp_receiver", lifeboat_fuzz::tftp_receiver::run);
}

#[test]
fn tftp_pair() {
    replay("tftp_pair", lifeboat_fuzz::tftp_pair::run);
}

#[test]
fn dhcp_decode() {
    replay("dhcp_decode", lifeboat_fuzz::dhcp_decode::run);
}

#[test]
fn dhcp_responder() {
    replay("dhcp_responder", lifeboat_fuzz::dhcp_responder::run);
}

#[test]
fn web_input() {
    replay("web_input", lifeboat_fuzz::web_input::run);
}
