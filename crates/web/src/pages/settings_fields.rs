//! The settings page's field-by-field forms: every TFTP key, and the DHCP keys beyond the
//! "Set up DHCP" form, each as a field of the right kind, next to its validation message. A
//! field left empty drops the key from the dashboard's document, so the configuration file (or
//! the default) applies again; the value in effect shows as the field's placeholder.
//!
//! The fields are a table ([`SECTIONS`]) rather than a hand-written form per key: one place
//! says which keys the page offers and how each is typed, and the same code reads the stored
//! document into the fields and the posted fields back into the document.

use serde_json::{Map, Value};

use crate::error::FieldError;

/// How a key is typed on the page, and stored in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    Text,
    /// A whole number.
    Number,
    /// On, off, or as the file says (a choice of three, so "not set here" stays expressible).
    Switch,
    /// A list, one entry per line.
    Lines,
    /// A table of `NAME = VALUE` lines (the aliases).
    Pairs,
}

/// One key of the configuration file's shape, as the page offers it.
pub(crate) struct FieldSpec {
    /// The key under its section, as the configuration file spells it.
    pub(crate) name: &'static str,
    pub(crate) label: &'static str,
    pub(crate) kind: FieldKind,
    pub(crate) hint: &'static str,
}

/// A group of fields saved together: one table of the document.
pub(crate) struct SectionSpec {
    /// The table (`tftp`, `dhcp`), also the form's name.
    pub(crate) table: &'static str,
    pub(crate) title: &'static str,
    pub(crate) fields: &'static [FieldSpec],
}

const fn field(name: &'static str, label: &'static str, kind: FieldKind, hint: &'static str) -> FieldSpec {
    FieldSpec { name, label, kind, hint }
}

use FieldKind::{Lines, Number, Pairs, Switch, Text};

pub(crate) const SECTIONS: &[SectionSpec] = &[
    SectionSpec {
        table: "tftp",
        title: "TFTP",
        fields: &[
            field("root", "Root folder", Text, "The folder whose files TFTP serves (read-only unless uploads are on)."),
            field("alias", "Aliases", Pairs, "NAME = FILE, one per line: serve FILE when a device asks for NAME."),
            field("listen", "Listen on", Lines, "ADDR or ADDR:PORT, one per line."),
            field(
                "allow",
                "Allowed clients",
                Lines,
                "Address ranges (CIDR), one per line; replaces the private ranges.",
            ),
            field("max_blksize", "Largest block size", Number, "Bytes (8–65464); 1468 fits an Ethernet frame."),
            field("max_windowsize", "Largest window", Number, "Blocks in flight (1–65535, RFC 7440)."),
            field("options", "Negotiate options", Switch, "Off for bootloaders that break on an OACK."),
            field(
                "single_port",
                "Single port",
                Switch,
                "Every transfer from port 69: behind NAT or a container bridge.",
            ),
            field("max_transfers", "Transfers at once", Number, "Across all clients."),
            field("max_transfers_per_client", "Transfers per client", Number, "At once, from one address."),
            field("upload", "Uploads", Switch, "Accept write requests (off: TFTP is read-only)."),
            field("upload_dir", "Upload folder", Text, "Where uploads go."),
            field("upload_max_size", "Largest upload", Number, "Bytes."),
            field(
                "upload_overwrite",
                "Uploads may replace files",
                Switch,
                "Off: an upload over an existing file is refused.",
            ),
        ],
    },
    SectionSpec {
        table: "dhcp",
        title: "DHCP: ranges, rules and options",
        fields: &[
            field("range", "Ranges", Lines, "START,END[,NETMASK][,LEASE] or NETWORK,proxy, one per line."),
            field(
                "interface",
                "Interfaces",
                Lines,
                "Answer only on these, one per line (default: every interface with a range).",
            ),
            field("reservation", "Reservations", Lines, "MAC,IP[,NAME], one per line; the Hosts page adds its own."),
            field(
                "boot_rule",
                "Boot rules",
                Lines,
                "CLASS=FILE, one per line: ipxe, bios, efi-x64, efi-arm64, uboot, arch:N, vendor:PREFIX.",
            ),
            field("option", "Options", Lines, "CODE,VALUE or option:NAME,VALUE, one per line, in every reply."),
            field("bootp_dynamic", "BOOTP without a reservation", Switch, "Answer plain BOOTP from any device."),
            field(
                "relay_allow",
                "Relay agents",
                Lines,
                "Address ranges (CIDR) of relays answered beyond the ranges' subnets.",
            ),
            field(
                "skip_probe",
                "Skip the check for other DHCP servers",
                Switch,
                "Keep handing out addresses when another server answers.",
            ),
            field(
                "authoritative",
                "Authoritative",
                Switch,
                "The only DHCP server here: answer at once with ACK or NAK.",
            ),
        ],
    },
    SectionSpec {
        table: "http_boot",
        title: "HTTP boot",
        fields: &[
            field(
                "enabled",
                "Serve HTTP boot",
                Switch,
                "The TFTP root over HTTP for iPXE and UEFI HTTP boot, and the boot profiles' scripts at /ipxe.",
            ),
            field("listen", "Listen on", Lines, "ADDR:PORT, one per line (default 0.0.0.0:4080)."),
        ],
    },
];

/// The section whose form is named `table`.
pub(crate) fn section(table: &str) -> Option<&'static SectionSpec> {
    SECTIONS.iter().find(|s| s.table == table)
}

/// Every key the sections show next to a field (`tftp.max_blksize`).
pub fn shown_keys() -> impl Iterator<Item = String> {
    SECTIONS.iter().flat_map(|s| s.fields.iter().map(move |f| format!("{}.{}", s.table, f.name)))
}

/// A value of the document as its field shows it.
pub(crate) fn field_text(kind: FieldKind, value: &Value) -> String {
    match (kind, value) {
        (_, Value::Null) => String::new(),
        (_, Value::String(text)) => text.clone(),
        (FieldKind::Lines, Value::Array(items)) => {
            items.iter().map(|item| field_text(FieldKind::Text, item)).collect::<Vec<_>>().join("\n")
        }
        (FieldKind::Pairs, Value::Object(pairs)) => pairs
            .iter()
            .map(|(name, file)| format!("{name} = {}", field_text(FieldKind::Text, file)))
            .collect::<Vec<_>>()
            .join("\n"),
        (_, other) => other.to_string(),
    }
}

/// The field's text as a value of the document: `None` drops the key (the file or the default
/// applies); a text that does not fit the kind is a problem about the key.
fn field_value(key: &str, kind: FieldKind, text: &str) -> Result<Option<Value>, FieldError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let problem = |message: String| FieldError { field: key.to_owned().into(), message };
    let value = match kind {
        FieldKind::Text => Value::String(text.to_owned()),
        FieldKind::Number => text
            .parse::<u64>()
            .map(Value::from)
            .map_err(|_| problem(format!("{key}: {text:?} is not a whole number")))?,
        FieldKind::Switch => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => return Err(problem(format!("{key}: {other:?} is neither true nor false"))),
        },
        FieldKind::Lines => {
            Value::Array(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(Value::from).collect())
        }
        FieldKind::Pairs => {
            let mut pairs = Map::new();
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let Some((name, file)) = line.split_once('=') else {
                    return Err(problem(format!("{key}: {line:?} is not NAME = FILE")));
                };
                let (name, file) = (name.trim().trim_matches('"'), file.trim().trim_matches('"'));
                if name.is_empty() || file.is_empty() {
                    return Err(problem(format!("{key}: {line:?} is not NAME = FILE")));
                }
                pairs.insert(name.to_owned(), Value::from(file));
            }
            Value::Object(pairs)
        }
    };
    Ok(Some(value))
}

/// `document` with the section's fields set from `posted` (field name → text). A field that
/// was not posted (a locked one is disabled, so browsers leave it out) keeps its stored value.
/// Every field that does not fit its kind is a problem, all of them at once.
pub(crate) fn merge(
    section: &SectionSpec,
    posted: &[(String, String)],
    mut document: Value,
) -> Result<Value, Vec<FieldError>> {
    if !document.is_object() {
        document = Value::Object(Map::new());
    }
    let root = document.as_object_mut().expect("an object");
    let table = root.entry(section.table).or_insert_with(|| Value::Object(Map::new()));
    if !table.is_object() {
        *table = Value::Object(Map::new());
    }
    let table = table.as_object_mut().expect("an object");
    let mut problems = Vec::new();
    for spec in section.fields {
        let key = format!("{}.{}", section.table, spec.name);
        let Some((_, text)) = posted.iter().find(|(name, _)| *name == key) else { continue };
        match field_value(&key, spec.kind, text) {
            Ok(Some(value)) => {
                table.insert(spec.name.to_owned(), value);
            }
            Ok(None) => {
                table.remove(spec.name);
            }
            Err(problem) => problems.push(problem),
        }
    }
    if table.is_empty() {
        root.remove(section.table);
    }
    if problems.is_empty() { Ok(document) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn posted(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn fields_become_typed_keys_and_empty_ones_are_dropped() {
        let tftp = section("tftp").unwrap();
        let stored = json!({ "tftp": { "max_blksize": 512, "single_port": true }, "dhcp": { "range": ["a"] } });
        let fields = posted(&[
            ("tftp.max_blksize", " 1468 "),
            ("tftp.single_port", ""),
            ("tftp.upload", "true"),
            ("tftp.allow", "10.0.0.0/8\n\n 192.168.0.0/16 \n"),
            ("tftp.alias", "tp_recovery.bin = openwrt.bin\n\"a b.bin\"=c.bin"),
        ]);
        let merged = merge(tftp, &fields, stored).unwrap();
        assert_eq!(
            merged,
            json!({
                "tftp": {
                    "max_blksize": 1468,
                    "upload": true,
                    "allow": ["10.0.0.0/8", "192.168.0.0/16"],
                    "alias": { "tp_recovery.bin": "openwrt.bin", "a b.bin": "c.bin" },
                },
                "dhcp": { "range": ["a"] },
            })
        );
    }

    #[test]
    fn a_field_not_posted_keeps_its_value_and_a_section_emptied_goes() {
        let tftp = section("tftp").unwrap();
        let stored = json!({ "tftp": { "root": "/srv/tftp", "max_blksize": 512 } });
        let merged = merge(tftp, &posted(&[("tftp.max_blksize", "")]), stored).unwrap();
        assert_eq!(merged, json!({ "tftp": { "root": "/srv/tftp" } }), "root was not posted (locked)");
        let emptied = merge(tftp, &posted(&[("tftp.root", "")]), merged).unwrap();
        assert_eq!(emptied, json!({}));
    }

    #[test]
    fn every_field_that_does_not_fit_is_named() {
        let tftp = section("tftp").unwrap();
        let fields = posted(&[("tftp.max_blksize", "big"), ("tftp.upload", "yes"), ("tftp.alias", "no equals sign")]);
        let problems = merge(tftp, &fields, json!({})).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.field.as_ref()).collect();
        assert_eq!(keys, ["tftp.alias", "tftp.max_blksize", "tftp.upload"]);
        assert_eq!(problems[1].message, "tftp.max_blksize: \"big\" is not a whole number");
    }

    #[test]
    fn stored_values_read_back_into_the_same_field_text() {
        let tftp = section("tftp").unwrap();
        let fields = posted(&[
            ("tftp.listen", "10.0.0.1:69\n[::1]:69"),
            ("tftp.alias", "a.bin = b.bin"),
            ("tftp.max_windowsize", "16"),
            ("tftp.options", "false"),
        ]);
        let merged = merge(tftp, &fields, json!({})).unwrap();
        for (key, text) in &fields {
            let name = key.strip_prefix("tftp.").unwrap();
            let spec = tftp.fields.iter().find(|f| f.name == name).unwrap();
            assert_eq!(&field_text(spec.kind, &merged["tftp"][name]), text, "{key}");
        }
    }
}
