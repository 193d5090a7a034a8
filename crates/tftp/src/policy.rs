//! Which requested filenames are acceptable, decided on the name alone (the server checks the
//! file system afterwards, for symlinks and case).
//!
//! Bootloaders ask for `/pxelinux.0`, `\boot\x64\wdsnbp.com` or `tp_recovery.bin`; all of these
//! become a path relative to the TFTP root. A name that tries to leave the root, or carries NUL
//! or control characters, is refused outright.

use std::fmt;

/// A requested name reduced to plain components below the root: no `..`, no empty or `.`
/// parts, no separators inside a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelativePath {
    components: Vec<String>,
}

impl RelativePath {
    pub fn components(&self) -> &[String] {
        &self.components
    }
}

impl fmt::Display for RelativePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.components.join("/"))
    }
}

/// Why a filename is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the filename is empty")]
    Empty,
    #[error("the filename is not valid UTF-8 text")]
    NotText,
    #[error("the filename contains a NUL or control character")]
    ControlCharacter,
    #[error("the filename climbs out of the TFTP root with `..`")]
    ParentDirectory,
}

/// Reduces a requested filename to a path below the root.
pub fn normalize(requested: &[u8]) -> Result<RelativePath, PathError> {
    let name = std::str::from_utf8(requested).map_err(|_| PathError::NotText)?;
    if name.chars().any(char::is_control) {
        return Err(PathError::ControlCharacter);
    }
    let mut components = Vec::new();
    for part in name.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return Err(PathError::ParentDirectory),
            part => components.push(part.to_owned()),
        }
    }
    if components.is_empty() {
        return Err(PathError::Empty);
    }
    Ok(RelativePath { components })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(name: &[u8]) -> String {
        normalize(name).unwrap().to_string()
    }

    #[test]
    fn plain_leading_slash_and_backslash_names() {
        assert_eq!(ok(b"pxelinux.0"), "pxelinux.0");
        assert_eq!(ok(b"/pxelinux.0"), "pxelinux.0");
        assert_eq!(ok(b"\\boot\\x64\\wdsnbp.com"), "boot/x64/wdsnbp.com");
        assert_eq!(ok(b"//a/./b//c"), "a/b/c");
    }

    #[test]
    fn parent_directories_are_refused_in_every_spelling() {
        for name in [&b"../etc/passwd"[..], b"..\\..\\windows", b"a/../../b", b"/..", b"a\\..", b"..", b"ok/.."] {
            assert_eq!(normalize(name), Err(PathError::ParentDirectory), "{:?}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn dots_inside_names_are_fine() {
        assert_eq!(ok(b"openwrt..bin"), "openwrt..bin");
        assert_eq!(ok(b"...",), "...");
    }

    #[test]
    fn control_characters_nul_and_bad_utf8_are_refused() {
        assert_eq!(normalize(b"a\0b"), Err(PathError::ControlCharacter));
        assert_eq!(normalize(b"a\nb"), Err(PathError::ControlCharacter));
        assert_eq!(normalize(b"a\x7fb"), Err(PathError::ControlCharacter));
        assert_eq!(normalize(b"\xff\xfe"), Err(PathError::NotText));
    }

    #[test]
    fn empty_names_are_refused() {
        assert_eq!(normalize(b""), Err(PathError::Empty));
        assert_eq!(normalize(b"/"), Err(PathError::Empty));
        assert_eq!(normalize(b"./"), Err(PathError::Empty));
    }
}
