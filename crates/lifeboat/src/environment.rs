//! Every `serve` flag as an environment variable, for containers: `--dhcp-range` is
//! `LIFEBOAT_DHCP_RANGE`, `--tftp-single-port` is `LIFEBOAT_TFTP_SINGLE_PORT`. A variable counts
//! as if its flag had been written after the others, and only when the command line does not
//! give that flag (or, for a switch, either of its forms): the command line wins over the
//! environment, which wins over the file.
//!
//! Values: a switch takes `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`); a repeatable
//! flag takes its values separated by spaces or new lines (a file name with a space in it needs
//! the configuration file); any other flag takes its value as it is.
//!
//! Written by hand because clap's own `env` cannot do both: a switch whose `false` turns it off
//! (rather than leaving the file to decide), and lists separated by spaces without splitting the
//! command line's values.

use std::ffi::OsString;

use clap::ArgMatches;
use clap::parser::ValueSource;

/// The environment variable of the flag `--long`.
pub(crate) fn variable(long: &str) -> String {
    format!("LIFEBOAT_{}", long.to_uppercase().replace('-', "_"))
}

/// The flags the environment adds to `serve` (whose parsed command line is `matches`), read
/// through `lookup`. An unusable switch value is an error that names the variable.
pub(crate) fn serve_flags(
    serve: &clap::Command,
    matches: &ArgMatches,
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Result<Vec<OsString>, String> {
    let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    let mut flags = Vec::new();
    for arg in serve.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        // Old spellings have no variable; flags with clap's own (`--db`) keep it; a `--no-`
        // form is its switch's variable.
        if arg.is_hide_set() || arg.get_env().is_some() || long.starts_with("no-") {
            continue;
        }
        let id = arg.get_id().as_str();
        let negation = serve.get_arguments().find(|a| a.get_long() == Some(&format!("no-{long}")));
        if given(id) || negation.is_some_and(|n| given(n.get_id().as_str())) {
            continue;
        }
        let name = variable(long);
        let Some(value) = lookup(&name) else { continue };
        if !arg.get_action().takes_values() {
            let text = value.to_string_lossy().trim().to_lowercase();
            let on = match text.as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => return Err(format!("{name}={text:?}: expected true or false")),
            };
            match (on, negation) {
                (true, _) => flags.push(format!("--{long}").into()),
                (false, Some(_)) => flags.push(format!("--no-{long}").into()),
                (false, None) => {}
            }
        } else if matches!(arg.get_action(), clap::ArgAction::Append) {
            for part in value.to_string_lossy().split_whitespace() {
                flags.push(format!("--{long}").into());
                flags.push(part.into());
            }
        } else {
            flags.push(format!("--{long}").into());
            flags.push(value);
        }
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use clap::CommandFactory as _;

    use super::*;
    use crate::cli::Cli;

    fn flags(argv: &[&str], env: &[(&str, &str)]) -> Result<Vec<String>, String> {
        let command = Cli::command();
        let matches = command.clone().try_get_matches_from(["lifeboat", "serve"].iter().chain(argv)).unwrap();
        let serve_matches = matches.subcommand_matches("serve").unwrap();
        let serve = command.find_subcommand("serve").unwrap();
        let env: BTreeMap<&str, &str> = env.iter().copied().collect();
        let found = serve_flags(serve, serve_matches, |name| env.get(name).map(OsString::from))?;
        Ok(found.into_iter().map(|f| f.into_string().unwrap()).collect())
    }

    #[test]
    fn variables_become_flags_unless_the_command_line_gives_them() {
        let env = [
            ("LIFEBOAT_TFTP_ROOT", "/srv/tftp"),
            ("LIFEBOAT_DHCP_RANGE", "10.0.0.100,10.0.0.200,12h\n10.1.0.100,10.1.0.200"),
            ("LIFEBOAT_TFTP_SINGLE_PORT", "true"),
            ("LIFEBOAT_WEB", "false"),
            ("LIFEBOAT_TFTP_MAX_BLKSIZE", "8192"),
        ];
        let found = flags(&["--tftp-max-blksize", "1468"], &env).unwrap();
        for expected in [
            "--tftp-root /srv/tftp",
            "--dhcp-range 10.0.0.100,10.0.0.200,12h --dhcp-range 10.1.0.100,10.1.0.200",
            "--tftp-single-port",
            "--no-web",
        ] {
            assert!(found.join(" ").contains(expected), "{expected:?} missing from {found:?}");
        }
        assert!(!found.iter().any(|f| f == "--tftp-max-blksize"), "the command line wins: {found:?}");
    }

    #[test]
    fn a_switch_given_in_either_form_on_the_command_line_wins() {
        let env = [("LIFEBOAT_TFTP_SINGLE_PORT", "true")];
        assert!(flags(&["--no-tftp-single-port"], &env).unwrap().is_empty());
        assert_eq!(flags(&[], &[("LIFEBOAT_TFTP_SINGLE_PORT", "off")]).unwrap(), ["--no-tftp-single-port"]);
        let error = flags(&[], &[("LIFEBOAT_TFTP_SINGLE_PORT", "maybe")]).unwrap_err();
        assert!(error.contains("LIFEBOAT_TFTP_SINGLE_PORT") && error.contains("true or false"), "{error}");
    }

    #[test]
    fn old_spellings_and_flags_with_their_own_variable_are_left_out() {
        let env = [("LIFEBOAT_ALLOW", "10.0.0.0/8"), ("LIFEBOAT_NO_WEB", "true")];
        assert!(flags(&[], &env).unwrap().is_empty());
        assert_eq!(variable("tftp-max-transfers-per-client"), "LIFEBOAT_TFTP_MAX_TRANSFERS_PER_CLIENT");
    }
}
