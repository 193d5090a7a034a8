//! Text that a peer chose (a requested filename, the message of an ERROR) as lifeboat keeps it
//! for logs, reports and the history: valid UTF-8 and bounded in length.
//!
//! A filename may be 65 KB long on the wire; stored and logged as it came, every request of a
//! flood would cost that much disk, several times over. So such text is cut to
//! [`MAX_PEER_TEXT`] bytes, and a cut text says so. Where it is shown, it is shown escaped
//! (`{:?}`), so that no control character in it can forge a line of a log.

use std::borrow::Cow;

/// The most bytes of a peer's text that lifeboat keeps.
pub const MAX_PEER_TEXT: usize = 255;

/// `bytes` as text (invalid UTF-8 replaced), cut at a character boundary to at most
/// [`MAX_PEER_TEXT`] bytes before a marker that names the full length.
pub fn peer_text(bytes: &[u8]) -> String {
    clip(String::from_utf8_lossy(bytes), bytes.len())
}

/// [`peer_text`] for text that is already a string.
pub fn peer_str(text: &str) -> String {
    clip(Cow::Borrowed(text), text.len())
}

fn clip(text: Cow<'_, str>, sent: usize) -> String {
    if text.len() <= MAX_PEER_TEXT {
        return text.into_owned();
    }
    let mut end = MAX_PEER_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (cut: {sent} bytes)", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_as_it_came() {
        assert_eq!(peer_text(b"tp_recovery.bin"), "tp_recovery.bin");
        assert_eq!(peer_text(&[b'a'; MAX_PEER_TEXT]), "a".repeat(MAX_PEER_TEXT));
        assert_eq!(peer_text(b"bad \xff byte"), "bad \u{fffd} byte");
    }

    #[test]
    fn long_text_is_cut_and_says_so() {
        let cut = peer_text(&[b'a'; 60_000]);
        assert_eq!(cut, format!("{}… (cut: 60000 bytes)", "a".repeat(MAX_PEER_TEXT)));
        assert!(cut.len() < MAX_PEER_TEXT + 32);
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        // 'é' is two bytes: 200 of them are 400 bytes, and byte 255 is in the middle of one.
        let cut = peer_str(&"é".repeat(200));
        assert!(cut.starts_with(&"é".repeat(127)), "{cut}");
        assert!(cut.ends_with("… (cut: 400 bytes)"), "{cut}");
    }
}
