//! `tftp_wire`: [`Packet::parse`] on arbitrary bytes, and the filename policy on what it reads.
//!
//! The input is one datagram, as it arrives.

use lifeboat_tftp::Packet;
use lifeboat_tftp::policy::normalize;

/// Longest datagram tried: larger than any TFTP packet (65464-byte blocks plus the header).
const MAX_LEN: usize = 65_536;

pub fn run(data: &[u8]) {
    if data.len() > MAX_LEN {
        return;
    }
    let Ok(packet) = Packet::parse(data) else { return };

    let mut emitted = b"prefix".to_vec();
    packet.emit(&mut emitted);
    assert!(emitted.starts_with(b"prefix"), "emit must append, not overwrite");
    let emitted = &emitted[b"prefix".len()..];
    assert_eq!(emitted.len(), packet.buffer_len(), "buffer_len() disagrees with emit() for {packet:?}");
    assert_eq!(emitted, packet.to_bytes().as_slice(), "emit() and to_bytes() disagree");

    let again = Packet::parse(emitted).unwrap_or_else(|e| panic!("emitted {packet:?} does not parse: {e}"));
    assert_eq!(again, packet, "parse(emit(p)) != p");
    assert_eq!(again.to_bytes(), emitted, "the emitted form is not canonical");
    assert_eq!(packet.clone().into_owned(), packet, "into_owned() changed the packet");

    if let Packet::ReadRequest(request) | Packet::WriteRequest(request) = &packet {
        check_filename(&request.filename);
    }
}

/// A filename the policy accepts is a path below the root that reads back as itself.
fn check_filename(requested: &[u8]) {
    let Ok(path) = normalize(requested) else { return };
    assert!(!path.components().is_empty(), "an accepted name has a component");
    for part in path.components() {
        assert!(!part.is_empty() && part != "." && part != "..", "component {part:?} of {requested:?}");
        assert!(!part.contains(['/', '\\']), "separator inside component {part:?}");
        assert!(!part.chars().any(char::is_control), "control character in {part:?}");
    }
    let text = path.to_string();
    let again = normalize(text.as_bytes()).unwrap_or_else(|e| panic!("normalized {text:?} is refused: {e}"));
    assert_eq!(again, path, "normalize is not idempotent on {requested:?}");
}
