//! The image: there, readable, named as the device asks (or given that name), the kind it needs.

use std::io::Read as _;
use std::path::Path;

use lifeboat_web::DoctorCheck;

use crate::{Profile, RecoveryMode};

const TITLE: &str = "Image";

/// The checks of `image`; `aliases` are the other names it is served under, `armed` whether
/// it is served under any name the device asks for.
pub(super) fn image(image: &Path, profile: Option<&Profile>, aliases: &[String], armed: bool) -> Vec<DoctorCheck> {
    let shown = image.display();
    let metadata = match std::fs::metadata(image) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return vec![DoctorCheck::fail(TITLE, format!("{shown} is not a file"), "name the image file itself")],
        Err(e) => {
            return vec![DoctorCheck::fail(TITLE, format!("cannot find {shown}: {e}"), "check the path, or upload it")];
        }
    };
    // Reading its first bytes is the honest test of "readable": permissions, ACLs, SELinux.
    if let Err(e) = std::fs::File::open(image).and_then(|mut f| f.read(&mut [0u8; 512])) {
        return vec![DoctorCheck::fail(
            TITLE,
            format!("{shown} cannot be read: {e}"),
            format!("`chmod a+r {}` (and make its folders searchable)", super::shell_word(&image.to_string_lossy())),
        )];
    }
    let size = metadata.len();
    let mut checks = Vec::new();
    match profile.and_then(|p| p.image_max_bytes) {
        _ if size == 0 => {
            checks.push(DoctorCheck::fail(TITLE, format!("{shown} is empty"), "download the image again"))
        }
        Some(max) if size > max => checks.push(DoctorCheck::fail(
            TITLE,
            format!("{shown} has {size} bytes; the device takes at most {max}"),
            "use the image built for this model (a factory or recovery image, not a full backup)",
        )),
        _ => checks.push(DoctorCheck::pass(TITLE, format!("{shown}: {size} bytes, readable"))),
    }
    let Some(profile) = profile else { return checks };
    let name = image.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if let Some(kind) = wrong_kind(&name, profile) {
        checks.push(kind);
    }
    if profile.mode != RecoveryMode::Push && !profile.filenames.is_empty() {
        checks.push(name_check(&name, profile, aliases, armed));
    }
    checks
}

/// The name the device asks for: the image's own, an alias, or any when armed.
fn name_check(name: &str, profile: &Profile, aliases: &[String], armed: bool) -> DoctorCheck {
    let title = "Image name";
    let asked = profile.filenames.join(" or ");
    if let Some(hit) = std::iter::once(name)
        .chain(aliases.iter().map(String::as_str))
        .find(|n| profile.filenames.iter().any(|pattern| matches_pattern(pattern, n)))
    {
        return DoctorCheck::pass(title, format!("served as {hit}, a name the device asks for ({asked})"));
    }
    if armed {
        return DoctorCheck::pass(title, format!("armed: served under whatever name the device asks for ({asked})"));
    }
    let example = profile.filenames.iter().rev().find(|p| !p.contains('{')).cloned().unwrap_or_else(|| asked.clone());
    DoctorCheck::fail(
        title,
        format!("{name} is not a name the device asks for ({asked})"),
        format!("rename it to {example}, add the alias {example} = {name}, or arm it (recover does both)"),
    )
}

/// Whether `name` fits `pattern`, where `{…}` stands for any text (a model name).
fn matches_pattern(pattern: &str, name: &str) -> bool {
    let Some((head, rest)) = pattern.split_once('{') else { return pattern == name };
    let Some((_, tail)) = rest.split_once('}') else { return pattern == name };
    let Some(after) = name.strip_prefix(head) else { return false };
    // The placeholder takes at least one character.
    (1..=after.len()).any(|taken| after.is_char_boundary(taken) && matches_pattern(tail, &after[taken..]))
}

/// A sysupgrade image where the device needs a factory image, and the other way round.
fn wrong_kind(name: &str, profile: &Profile) -> Option<DoctorCheck> {
    let kind = profile.image_kind.as_deref()?.to_lowercase();
    let name = name.to_lowercase();
    let wants_factory = kind.contains("not sysupgrade") || (kind.contains("factory") && !kind.contains("sysupgrade"));
    if wants_factory && name.contains("sysupgrade") {
        return Some(DoctorCheck::fail(
            "Image kind",
            format!("a sysupgrade image; the device needs: {}", profile.image_kind.as_deref().unwrap_or_default()),
            "download the model's factory image instead",
        ));
    }
    Some(DoctorCheck::note(
        "Image kind",
        format!("the device needs: {}", profile.image_kind.as_deref().unwrap_or_default()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_match_a_model_name() {
        assert!(matches_pattern("{model}_tp_recovery.bin", "wr841nv8_tp_recovery.bin"));
        assert!(matches_pattern("tp_recovery.bin", "tp_recovery.bin"));
        assert!(!matches_pattern("{model}_tp_recovery.bin", "_tp_recovery.bin"));
        assert!(!matches_pattern("{model}_tp_recovery.bin", "openwrt-factory.bin"));
        assert!(!matches_pattern("tp_recovery.bin", "tp_recovery.bin.1"));
    }
}
