//! `web_input`: the dashboard's parsers of what people type, through the hidden
//! `lifeboat_web::fuzzing` doors: the host form, the history filter and its links, time
//! filters, image names, `next=` targets and the session cookie.
//!
//! The input is up to eight text fields separated by 0xFF (a byte UTF-8 never uses), each read
//! as UTF-8 with invalid sequences replaced. Every parser sees the fields its form has.

use lifeboat_web::fuzzing;

/// The longest input tried: longer than every limit the parsers apply (names of 1024 bytes,
/// notes of 4000).
const MAX_LEN: usize = 16 * 1024;
/// The clock of the time filters: Unix ms in 2027.
const NOW: i64 = 1_800_000_000_000;

pub fn run(data: &[u8]) {
    if data.len() > MAX_LEN {
        return;
    }
    let raw: Vec<&[u8]> = data.split(|&b| b == 0xff).take(8).collect();
    let fields: Vec<String> = raw.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    let field = |i: usize| fields.get(i).map_or("", String::as_str);

    check_host(&fields);
    let filter = [field(0), field(1), field(2), field(3), field(4)];
    check_history(filter);
    for text in &fields {
        check_time(text);
        check_image_name(text);
        check_next(text);
    }
    check_cookie(&raw);
}

/// A validated host has a MAC in lowercase colon form, the one that was typed, and names in
/// the normalized form, each once.
fn check_host(fields: &[String]) {
    let field = |i: usize| fields.get(i).map_or("", String::as_str);
    let names = fuzzing::split_names(field(4));
    for name in &names {
        assert!(!name.is_empty() && name.trim() == name, "split name {name:?}");
        assert!(!name.contains(['\n', ',']), "split name {name:?} holds a separator");
    }
    let Ok(host) = fuzzing::validate_host(field(0), field(1), field(2), field(3), names.clone(), field(5)) else {
        return;
    };
    assert!(is_mac(&host.mac), "stored MAC {:?}", host.mac);
    let typed = field(0).trim().to_ascii_lowercase().replace('-', ":");
    assert_eq!(host.mac, typed, "the stored MAC is not the one typed");
    assert_eq!(host.image, None, "an image without a TFTP root");
    for (i, name) in host.names.iter().enumerate() {
        assert_eq!(fuzzing::normalize_image_name(name).as_ref(), Ok(name), "name {name:?} is not normalized");
        assert!(!host.names[..i].contains(name), "name {name:?} twice");
    }
    if let Some(address) = host.address {
        assert!(!address.is_unspecified() && !address.is_broadcast() && !address.is_multicast(), "{address}");
    }
    if let Some(name) = &host.name {
        assert!(!name.is_empty() && name.trim() == name && !name.chars().any(char::is_control), "{name:?}");
    }
}

fn is_mac(text: &str) -> bool {
    text.len() == 17
        && text.split(':').count() == 6
        && text.split(':').all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// A filter that is accepted names a MAC in stored form and a trimmed file; its link stays on
/// the history page and needs no escaping in HTML or a query.
fn check_history(fields: [&str; 5]) {
    if let Ok(filter) = fuzzing::history_filter(fields, NOW) {
        if let Some(mac) = &filter.mac {
            assert!(is_mac(mac), "filter MAC {mac:?}");
        }
        if let Some(file) = &filter.file {
            assert!(!file.is_empty() && file.trim() == file, "filter file {file:?}");
        }
    }
    for before in [None, Some(i64::MIN), Some(NOW)] {
        let link = fuzzing::history_link(fields, before);
        assert!(link == "/transfers" || link.starts_with("/transfers?"), "link {link:?}");
        assert!(
            link.bytes().all(|b| b.is_ascii_alphanumeric() || b"/?&=%-_.~:".contains(&b)),
            "link {link:?} needs escaping"
        );
        assert_eq!(fuzzing::safe_next(Some(&link)), link, "a history link is not a safe next target");
    }
}

fn check_time(text: &str) {
    for now in [NOW, 0, i64::MIN, i64::MAX] {
        let _ = fuzzing::parse_time(text, now);
    }
}

/// A normalized name normalizes to itself and is a relative path of plain components.
fn check_image_name(text: &str) {
    let Ok(name) = fuzzing::normalize_image_name(text) else { return };
    assert_eq!(fuzzing::normalize_image_name(&name).as_ref(), Ok(&name), "normalize_name is not idempotent");
    assert!(!name.is_empty() && name.len() <= text.len(), "{text:?} became {name:?}");
    assert!(!name.starts_with('/') && !name.contains('\\'), "{name:?}");
    for part in name.split('/') {
        assert!(!part.is_empty() && part != "." && part != "..", "component {part:?} of {name:?}");
    }
    assert!(!name.chars().any(char::is_control), "{name:?}");
}

/// `safe_next` returns a path on this site: `/`, not `//`, no backslash, whitespace or control
/// character; a target that is already such a path is kept.
fn check_next(text: &str) {
    let next = fuzzing::safe_next(Some(text));
    assert!(next.starts_with('/') && !next.starts_with("//"), "next {next:?} from {text:?}");
    assert!(!next.contains('\\'), "next {next:?}");
    assert!(!next.chars().any(|c| c.is_whitespace() || c.is_control()), "next {next:?}");
    assert!(next == text || next == "/", "next {next:?} from {text:?}");
    assert_eq!(fuzzing::safe_next(None), "/");
}

/// A session id is 1 to 64 hex digits, taken from a `lifeboat_session=` pair.
fn check_cookie(values: &[&[u8]]) {
    let Some(id) = fuzzing::cookie_session_id(values) else { return };
    assert!(!id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit()), "session id {id:?}");
    let found = values.iter().any(|v| {
        String::from_utf8_lossy(v)
            .split(';')
            .any(|p| p.trim().strip_prefix("lifeboat_session=").is_some_and(|value| value.trim() == id))
    });
    assert!(found, "session id {id:?} is in no cookie");
}
