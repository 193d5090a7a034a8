//! The iPXE scripts of boot profiles. A profile either names a kernel, its initrds and a
//! command line, from which [`render`] makes the script (`kernel`, `initrd`…, `boot`), or brings
//! an iPXE script template of its own. Templates (the script and the command line) are
//! [minijinja](https://docs.rs/minijinja) templates over the machine's [`Variables`]; an
//! unknown variable is an error, and every error says the line it is on.
//!
//! Variables: `mac`, `ip`, `hostname`, `server` (the boot server's address), `port`, `base_url`
//! (`http://server:port`), `profile`, `kernel_url`, `initrd_urls` (a list), `cmdline` (the
//! rendered command line).
//!
//! **Invariant:** nothing a machine says reaches a script unchecked. A MAC and an address are
//! formatted here; a host name keeps only letters, digits, `.`, `-` and `_` (a DHCP client picks
//! its own name, and a newline or `${…}` in it would be an iPXE command); a command line is one
//! line. Rendering is pure and bounded: no I/O, and a template runs on a fixed budget of fuel, so
//! a loop without end is an error, not a hung server.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use minijinja::{Environment, UndefinedBehavior, Value};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// Template instructions a render may spend (minijinja's fuel): far more than any boot script
/// takes, far less than a second of work.
const FUEL: u64 = 100_000;

/// Longest host name put into a script.
const MAX_HOSTNAME: usize = 63;

/// Bytes escaped in a URL path: controls, space, and what ends or splits a path or an iPXE word.
const PATH_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'$')
    .add(b'\\')
    .add(b'|')
    .add(b'^');

/// A boot profile, as far as its script is concerned.
#[derive(Debug, Clone, Copy)]
pub struct Profile<'a> {
    pub name: &'a str,
    /// Relative to the boot root.
    pub kernel: Option<&'a str>,
    /// Relative to the boot root, in load order.
    pub initrds: &'a [String],
    /// A template.
    pub cmdline: &'a str,
    /// An iPXE script template; `None` makes the script from the fields above.
    pub script: Option<&'a str>,
}

/// The machine that asks, as far as lifeboat knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Machine {
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: Option<String>,
    pub ip: Option<IpAddr>,
    /// From the host entry or the machine's DHCP lease; cleaned before use (see the invariant).
    pub hostname: Option<String>,
}

/// Where the HTTP boot server is, as the machine reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootServer {
    pub address: IpAddr,
    pub port: u16,
}

impl BootServer {
    /// `http://10.0.0.1:4080` (IPv6 in brackets).
    pub fn base_url(&self) -> String {
        match self.address {
            IpAddr::V4(v4) => format!("http://{v4}:{}", self.port),
            IpAddr::V6(v6) => format!("http://[{v6}]:{}", self.port),
        }
    }

    /// The URL of `path` (relative to the boot root) on this server, escaped.
    pub fn url_of(&self, path: &str) -> String {
        let path = path.trim_start_matches('/');
        format!("{}/{}", self.base_url(), utf8_percent_encode(path, PATH_ESCAPES))
    }
}

/// Which part of a profile a template error is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Script,
    Cmdline,
    /// The profile as a whole (no kernel and no script).
    Profile,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Script => "script",
            Part::Cmdline => "command line",
            Part::Profile => "profile",
        })
    }
}

/// Why a profile's script cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ScriptError {
    pub part: Part,
    /// 1-based, when the error is on a line of a template.
    pub line: Option<usize>,
    pub message: String,
}

impl ScriptError {
    fn describe(&self) -> String {
        match self.line {
            Some(line) => format!("{} line {line}: {}", self.part, self.message),
            None => format!("{}: {}", self.part, self.message),
        }
    }

    fn of_template(part: Part, error: &minijinja::Error) -> ScriptError {
        let message = match error.detail() {
            Some(detail) => format!("{}: {detail}", error.kind()),
            None => error.kind().to_string(),
        };
        ScriptError { part, line: error.line(), message }
    }
}

/// The iPXE script that boots `profile` on `machine` from `server`.
pub fn render(profile: &Profile<'_>, machine: &Machine, server: &BootServer) -> Result<String, ScriptError> {
    let env = environment();
    let mut variables = variables(profile, machine, server);
    let cmdline = env
        .render_named_str("cmdline", profile.cmdline, Value::from(variables.clone()))
        .map_err(|e| ScriptError::of_template(Part::Cmdline, &e))?;
    let cmdline = one_line(&cmdline);
    variables.insert("cmdline", Value::from(cmdline.clone()));
    match profile.script {
        Some(script) => env
            .render_named_str("script", script, Value::from(variables))
            .map(|mut text| {
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                text
            })
            .map_err(|e| ScriptError::of_template(Part::Script, &e)),
        None => {
            let Some(kernel) = profile.kernel else {
                return Err(ScriptError {
                    part: Part::Profile,
                    line: None,
                    message: "it has neither a kernel nor a script; give it one of them".to_owned(),
                });
            };
            Ok(kernel_script(profile, machine, server, kernel, &cmdline))
        }
    }
}

/// Checks `profile` as a save would: its templates render for a made-up machine.
pub fn check(profile: &Profile<'_>) -> Result<(), ScriptError> {
    let machine = Machine {
        mac: Some("52:54:00:12:34:56".to_owned()),
        ip: Some(IpAddr::from([192, 0, 2, 10])),
        hostname: Some("example".to_owned()),
    };
    let server = BootServer { address: IpAddr::from([192, 0, 2, 1]), port: 4080 };
    render(profile, &machine, &server).map(drop)
}

/// The script for a machine without a profile when several profiles exist: a menu of them,
/// each entry chaining to its script.
pub fn menu(profiles: &[&str], machine: &Machine, server: &BootServer) -> String {
    let mac = machine_mac(machine);
    let mut script = format!("#!ipxe\necho lifeboat: {mac} has no boot profile; choose one\nmenu lifeboat\n");
    for (n, name) in profiles.iter().enumerate() {
        script.push_str(&format!("item p{n} {}\n", clean_word(name)));
    }
    script.push_str("item exit Boot from the next device\nchoose target || exit 1\ngoto ${target}\n");
    for (n, name) in profiles.iter().enumerate() {
        let url = format!("{}/ipxe?profile={}", server.base_url(), utf8_percent_encode(name, PATH_ESCAPES));
        script.push_str(&format!(":p{n}\nchain {url}{}\n", mac_query(machine, "&")));
    }
    script.push_str(":exit\nexit 1\n");
    script
}

/// The script for a machine lifeboat has nothing to boot for: it says why on the machine's
/// console and hands over to the next boot device.
pub fn nothing_to_boot(machine: &Machine, why: &str) -> String {
    format!("#!ipxe\necho lifeboat: nothing to boot for {}: {}\nexit 1\n", machine_mac(machine), one_line(why))
}

/// `kernel`, `initrd`… and `boot`. Each initrd gets a name (`initrd0`, …) and, unless the
/// command line already says where its initrds are, an `initrd=NAME` word on the command line:
/// an EFI iPXE older than 2023 (Debian 12's `snponly.efi`) hands a kernel's EFI stub its initrds
/// only as files named that way, and without the words the kernel boots without them. A BIOS
/// kernel ignores the words (`initrd=` is for boot loaders and the EFI stub).
fn kernel_script(profile: &Profile<'_>, machine: &Machine, server: &BootServer, kernel: &str, cmdline: &str) -> String {
    let names: Vec<String> = (0..profile.initrds.len()).map(|n| format!("initrd{n}")).collect();
    let mut cmdline = cmdline.to_owned();
    if !cmdline.split_whitespace().any(|word| word.starts_with("initrd=")) {
        for name in &names {
            cmdline.push_str(if cmdline.is_empty() { "" } else { " " });
            cmdline.push_str(&format!("initrd={name}"));
        }
    }
    let mut script = format!(
        "#!ipxe\necho lifeboat: {} boots profile {}\nkernel {} {cmdline}\n",
        machine_mac(machine),
        clean_word(profile.name),
        server.url_of(kernel)
    );
    for (initrd, name) in profile.initrds.iter().zip(&names) {
        script.push_str(&format!("initrd --name {name} {}\n", server.url_of(initrd)));
    }
    script.push_str("boot\n");
    script
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env
}

fn variables(profile: &Profile<'_>, machine: &Machine, server: &BootServer) -> BTreeMap<&'static str, Value> {
    let text = |value: Option<String>| Value::from(value.unwrap_or_default());
    let mut variables = BTreeMap::new();
    variables.insert("mac", text(machine.mac.clone()));
    variables.insert("ip", text(machine.ip.map(|ip| ip.to_string())));
    variables.insert("hostname", text(machine.hostname.as_deref().map(clean_hostname)));
    variables.insert("server", Value::from(server.address.to_string()));
    variables.insert("port", Value::from(server.port));
    variables.insert("base_url", Value::from(server.base_url()));
    variables.insert("profile", Value::from(clean_word(profile.name)));
    variables.insert("kernel_url", text(profile.kernel.map(|k| server.url_of(k))));
    let initrds: Vec<Value> = profile.initrds.iter().map(|i| Value::from(server.url_of(i))).collect();
    variables.insert("initrd_urls", Value::from(initrds));
    variables.insert("cmdline", Value::from(""));
    variables
}

fn machine_mac(machine: &Machine) -> String {
    machine.mac.as_deref().map_or_else(|| "this machine".to_owned(), clean_word)
}

fn mac_query(machine: &Machine, separator: &str) -> String {
    machine.mac.as_deref().map_or_else(String::new, |mac| format!("{separator}mac={}", clean_word(mac)))
}

/// Letters, digits, `.`, `-`, `_`, at most [`MAX_HOSTNAME`] of them.
fn clean_hostname(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).take(MAX_HOSTNAME).collect()
}

/// A name shown in a script line: no whitespace, no `$` (iPXE expands `${…}`), printable ASCII.
fn clean_word(word: &str) -> String {
    word.chars().filter(|c| c.is_ascii_graphic() && *c != '$').collect()
}

/// Line breaks become spaces: a command line is one line of the script.
fn one_line(text: &str) -> String {
    text.split(['\r', '\n']).filter(|part| !part.is_empty()).collect::<Vec<_>>().join(" ").trim().to_owned()
}

#[cfg(test)]
mod tests;
