//! Checking what a person typed for a boot profile, field by field: its name, the kernel and
//! initrds (files under the boot root), and the templates, which must render (an error names
//! its line).
//!
//! **Invariant:** a [`BootProfileEntry`] built here has a name of [`check_name`]'s form, paths
//! in the TFTP server's normalized form that exist under the root, and templates that render
//! for a made-up machine; so a profile that is saved can be booted.

use std::path::Path;

use lifeboat_ipxe::Part;
use lifeboat_store::BootProfileEntry;

use crate::error::FieldError;
use crate::images;

/// The longest profile name.
const MAX_NAME: usize = 64;
/// The most initrds one profile loads.
const MAX_INITRDS: usize = 16;
/// The longest command line (Linux takes 2048 bytes on x86).
const MAX_CMDLINE: usize = 2048;
/// The longest script template.
const MAX_SCRIPT: usize = 64 * 1024;
/// The longest notes.
const MAX_NOTES: usize = 4000;

/// A boot profile as typed into the form or sent to the API, before it is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BootProfileInput {
    pub(crate) name: String,
    pub(crate) kernel: String,
    pub(crate) initrds: Vec<String>,
    pub(crate) cmdline: String,
    pub(crate) script: String,
    pub(crate) notes: String,
}

impl BootProfileInput {
    /// The input that shows `entry` in the edit form.
    pub(crate) fn from_entry(entry: &BootProfileEntry) -> BootProfileInput {
        BootProfileInput {
            name: entry.name.clone(),
            kernel: entry.kernel.clone().unwrap_or_default(),
            initrds: entry.initrds.clone(),
            cmdline: entry.cmdline.clone(),
            script: entry.script.clone().unwrap_or_default(),
            notes: entry.notes.clone(),
        }
    }
}

/// A profile name: letters, digits, `.`, `-`, `_`, starting with a letter or digit; it goes
/// into URLs, the iPXE menu and scripts.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if name.is_empty() {
        Err("the profile name is missing".to_owned())
    } else if name.len() > MAX_NAME {
        Err(format!("a profile name is at most {MAX_NAME} characters"))
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) || !name.chars().all(fine) {
        Err(format!(
            "{name:?} is not a profile name: use letters, digits, '.', '-' and '_', starting with a letter or digit"
        ))
    } else {
        Ok(())
    }
}

/// Check every field of `input`; `root` is the boot (TFTP) root, if one is configured.
pub(crate) fn validate(input: &BootProfileInput, root: Option<&Path>) -> Result<BootProfileEntry, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut fail = |field: &'static str, message: String| errors.push(FieldError { field: field.into(), message });

    let name = input.name.trim();
    if let Err(why) = check_name(name) {
        fail("name", why);
    }
    let mut file = |field: &'static str, raw: &str| -> Option<String> {
        let normalized = match images::normalize_name(raw) {
            Ok(file) => file,
            Err(why) => {
                fail(field, why);
                return None;
            }
        };
        match root {
            None => {
                let why =
                    "no TFTP root is configured, so no boot file can be named: start lifeboat with --tftp-root DIR";
                fail(field, why.to_owned());
                None
            }
            Some(root) if images::existing(root, &normalized).is_err() => {
                fail(
                    field,
                    format!("there is no file {normalized:?} in the boot root: upload it on the Images page first"),
                );
                None
            }
            Some(_) => Some(normalized),
        }
    };
    let kernel = Some(input.kernel.trim()).filter(|k| !k.is_empty()).and_then(|k| file("kernel", k));
    let raw_initrds: Vec<&str> = input.initrds.iter().map(|i| i.trim()).filter(|i| !i.is_empty()).collect();
    let initrds: Vec<String> = raw_initrds.iter().filter_map(|i| file("initrds", i)).collect();
    if raw_initrds.len() > MAX_INITRDS {
        fail("initrds", format!("at most {MAX_INITRDS} initrds per profile"));
    }
    let cmdline = input.cmdline.trim();
    if cmdline.len() > MAX_CMDLINE {
        fail("cmdline", format!("the command line is longer than {MAX_CMDLINE} bytes"));
    }
    let script = input.script.trim();
    if script.len() > MAX_SCRIPT {
        fail("script", format!("the script is longer than {} KiB", MAX_SCRIPT / 1024));
    }
    if input.notes.len() > MAX_NOTES {
        fail("notes", format!("the notes are longer than {MAX_NOTES} characters"));
    }
    let entry = BootProfileEntry {
        name: name.to_owned(),
        kernel,
        initrds,
        cmdline: cmdline.to_owned(),
        script: (!script.is_empty()).then(|| script.to_owned()),
        notes: input.notes.trim().to_owned(),
    };
    if input.kernel.trim().is_empty() && entry.script.is_none() {
        fail("kernel", "a profile boots a kernel or runs a script of its own: give it one of them".to_owned());
    }
    // The templates alone: a kernel that is missing or wrong is reported above.
    let profile = lifeboat_ipxe::Profile {
        name: &entry.name,
        kernel: Some(entry.kernel.as_deref().unwrap_or("kernel")),
        initrds: &entry.initrds,
        cmdline: &entry.cmdline,
        script: entry.script.as_deref(),
    };
    if let Err(error) = lifeboat_ipxe::check(&profile) {
        let field = if error.part == Part::Script { "script" } else { "cmdline" };
        fail(field, error.to_string());
    }
    if errors.is_empty() { Ok(entry) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("debian")).unwrap();
        std::fs::write(dir.path().join("debian/vmlinuz"), b"kernel").unwrap();
        std::fs::write(dir.path().join("debian/initrd.gz"), b"initrd").unwrap();
        dir
    }

    fn debian() -> BootProfileInput {
        BootProfileInput {
            name: "debian-12".into(),
            kernel: "/debian/vmlinuz".into(),
            initrds: vec!["debian\\initrd.gz".into(), " ".into()],
            cmdline: " console=ttyS0 ip={{ ip }} ".into(),
            ..BootProfileInput::default()
        }
    }

    fn fields(result: Result<BootProfileEntry, Vec<FieldError>>) -> Vec<(String, String)> {
        result.unwrap_err().into_iter().map(|e| (e.field.into_owned(), e.message)).collect()
    }

    #[test]
    fn a_kernel_profile_is_normalized() {
        let root = root();
        let entry = validate(&debian(), Some(root.path())).unwrap();
        assert_eq!(entry.kernel.as_deref(), Some("debian/vmlinuz"));
        assert_eq!(entry.initrds, ["debian/initrd.gz"]);
        assert_eq!(entry.cmdline, "console=ttyS0 ip={{ ip }}");
        assert_eq!(entry.script, None);
    }

    #[test]
    fn names_files_and_templates_are_checked_with_the_line_of_an_error() {
        let root = root();
        let bad = BootProfileInput {
            name: "-x y".into(),
            kernel: "debian/missing".into(),
            script: "#!ipxe\nkernel {{ kernel_url }}\nboot {{ oops(\n".into(),
            ..debian()
        };
        let errors = fields(validate(&bad, Some(root.path())));
        let named: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(named, ["name", "kernel", "script"], "{errors:?}");
        assert!(errors[2].1.starts_with("script line 3:"), "{errors:?}");
    }

    #[test]
    fn a_profile_needs_a_kernel_or_a_script() {
        let root = root();
        let empty = BootProfileInput { kernel: String::new(), initrds: vec![], ..debian() };
        let errors = fields(validate(&empty, Some(root.path())));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, "kernel");
        let scripted = BootProfileInput { script: "#!ipxe\nsanboot --no-describe --drive 0x80".into(), ..empty };
        assert!(validate(&scripted, Some(root.path())).is_ok());
    }
}
