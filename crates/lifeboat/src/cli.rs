//! The command line. Every `serve` flag has a twin in the TOML file; a flag wins over the file
//! (the rules are on [`ServeArgs`]).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use lifeboat_store::DatabaseLocation;

#[derive(Debug, Parser)]
#[command(
    name = "lifeboat",
    version,
    about = "Netboot and firmware-recovery appliance: TFTP and DHCP/BOOTP server and TFTP client in one binary"
)]
pub(crate) struct Cli {
    /// How log lines look: `text` for people, `json` (one object a line) for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "LIFEBOAT_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The shape of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the TFTP server (with --tftp-root) and the DHCP/BOOTP server (with --dhcp-range).
    #[command(
        after_help = "Every flag can also be an environment variable named after it: --dhcp-range is LIFEBOAT_DHCP_RANGE, a switch takes true or false, a repeatable flag takes its values separated by spaces. The command line wins over the environment, which wins over the configuration file."
    )]
    Serve(Box<ServeArgs>),
    /// Download a file from a TFTP server.
    Get(GetArgs),
    /// Upload a file to a TFTP server (for example a router in recovery mode).
    Put(PutArgs),
    /// Set the dashboard's password (read from the terminal, or from standard input when it is
    /// not a terminal). Only its argon2 hash is stored, in the database.
    Passwd(PasswdArgs),
    /// Ask the running lifeboat (through its dashboard) whether every service that should run
    /// does and its database takes writes; for container health checks.
    #[command(
        after_help = "Exit status: 0 healthy; 1 unhealthy (a service that should run does not, or the database takes no writes); 2 no answer (lifeboat is not running, its dashboard is off, or it listens elsewhere)."
    )]
    Health(HealthArgs),
    /// Recover a device: say what to do with it, take the address it looks for, serve the image
    /// under the name it asks for, and stop (giving the address back) once it has the image.
    /// With a `push` profile, upload to the device's TFTP server instead.
    Recover(RecoverArgs),
    /// Check what stops a recovery, as a guide's troubleshooting list would: UDP port 69, the
    /// firewall, the interface and its address, reverse-path filtering, the image, other DHCP
    /// servers, the device's ARP entry, what devices asked for, the running lifeboat.
    #[command(after_help = "Exit status: 0 when no check fails, 1 when one does.")]
    Doctor(DoctorArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// The interface the device is plugged into.
    #[arg(long, value_name = "IF")]
    pub(crate) interface: Option<String>,
    /// The device's family (see `recover`): its addresses, file names, image kind.
    #[arg(long, value_name = "NAME")]
    pub(crate) profile: Option<String>,
    /// Read the profiles from this folder instead of the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub(crate) profiles: Option<PathBuf>,
    /// The image for the device.
    #[arg(long, value_name = "FILE")]
    pub(crate) image: Option<PathBuf>,
    /// How long to watch the interface for devices asking for an address (0s: not at all).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "3s")]
    pub(crate) watch: Duration,
    /// Where to find the running lifeboat.
    #[command(flatten)]
    pub(crate) instance: HealthArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RecoverArgs {
    /// The interface the device is plugged into (a dedicated one: never your main network).
    #[arg(long, value_name = "IF")]
    pub(crate) interface: String,
    /// The image to give the device.
    #[arg(long, value_name = "FILE")]
    pub(crate) image: PathBuf,
    /// The device's family (asus, linksys, mikrotik, netgear, tplink, ubiquiti, uboot, xiaomi):
    /// its address, file names and steps. Without one, lifeboat answers where the device is
    /// seen looking (ARP), under whatever name it asks for.
    #[arg(long, value_name = "NAME")]
    pub(crate) profile: Option<String>,
    /// Read the profiles from this folder instead of the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub(crate) profiles: Option<PathBuf>,
    /// Keep serving after the first complete download (until Ctrl-C).
    #[arg(long)]
    pub(crate) keep_running: bool,
    /// Take addresses even on the interface of the default route (your main network).
    #[arg(long)]
    pub(crate) force: bool,
    /// Push profiles: how long to keep asking the device's TFTP server.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "5m")]
    pub(crate) wait: Duration,
    /// The database of the history (as for `serve`).
    #[arg(long, value_name = "FILE|URL", env = "LIFEBOAT_DB")]
    pub(crate) db: Option<DatabaseLocation>,
}

/// `lifeboat serve`'s flags. The rules: TFTP flags start with `--tftp-`, DHCP flags with
/// `--dhcp-`, dashboard flags with `--web-`, general ones have no prefix. Each has a twin in the
/// configuration file: the flag without its prefix, `-` as `_`, in the `[tftp]`, `[dhcp]` or
/// `[web]` table (`--tftp-max-blksize` is `tftp.max_blksize`); a section's own switch is its
/// `enabled` key (`--web`, `--no-web`: `web.enabled`). A flag wins over the file: a switch has a
/// `--no-` form, and a repeatable flag replaces the file's list.
#[derive(Debug, Args, Default, Clone)]
pub(crate) struct ServeArgs {
    /// TOML configuration file (see config/lifeboat.toml); flags override it.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The database of leases, hosts and transfer history: a SQLite file (default: lifeboat.db
    /// in /var/lib/lifeboat for root, in $XDG_STATE_HOME/lifeboat or ~/.local/state/lifeboat
    /// otherwise), or a PostgreSQL database that several lifeboats share
    /// (postgres://USER[:PASSWORD]@HOST/DATABASE, or ?host=/run/postgresql for its socket).
    #[arg(long, value_name = "FILE|URL", env = "LIFEBOAT_DB")]
    pub(crate) db: Option<DatabaseLocation>,
    /// This lifeboat's name in a fleet sharing a PostgreSQL database (default: the host name).
    /// Its history, events and leases carry it; its own settings are kept under it.
    #[arg(long, value_name = "NAME", env = "LIFEBOAT_INSTANCE")]
    pub(crate) instance: Option<String>,
    /// Stop a service by itself once nobody has used it for this long (e.g. 15m): TFTP after
    /// its last request, DHCP after its last reply. Recorded as an event; the dashboard can
    /// start it again.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(crate) stop_when_idle: Option<Duration>,
    /// Stop after the first complete download: serve the device once, then close every port
    /// (and give back any address lifeboat took).
    #[arg(long)]
    pub(crate) once: bool,
    /// Announce the addresses lifeboat serves on when it starts, when a service starts again
    /// and when such an address appears (gratuitous ARP, unsolicited neighbour advertisements),
    /// so that devices that knew another MAC for them reach lifeboat at once (the default).
    #[arg(long, overrides_with = "no_announce")]
    pub(crate) announce: bool,
    /// Send no announcements, for networks that flag gratuitous ARP. A device that knew another
    /// MAC for lifeboat's address then reaches it only once its neighbour entry expires.
    #[arg(long, overrides_with = "announce")]
    pub(crate) no_announce: bool,
    /// Keep the transfer history, events and missing files for this many days (default 365).
    #[arg(long, value_name = "DAYS")]
    pub(crate) history_days: Option<u32>,
    /// Keep at most this many rows of each of them, the newest (default 500000).
    #[arg(long, value_name = "N")]
    pub(crate) history_max_rows: Option<u64>,

    /// Directory whose files are served (turns TFTP on).
    #[arg(long, value_name = "DIR", help_heading = "TFTP")]
    pub(crate) tftp_root: Option<PathBuf>,
    /// Address to listen on, ADDR or ADDR:PORT (repeatable; default 0.0.0.0:69 and [::]:69).
    #[arg(long, value_name = "ADDR[:PORT]", help_heading = "TFTP")]
    pub(crate) tftp_listen: Vec<String>,
    /// Client range allowed to use the server (repeatable). Replaces the default private and
    /// link-local ranges.
    #[arg(long, value_name = "CIDR", help_heading = "TFTP")]
    pub(crate) tftp_allow: Vec<String>,
    /// Serve FILE when a client asks for NAME (repeatable), e.g. tp_recovery.bin=openwrt.bin.
    #[arg(long, value_name = "NAME=FILE", help_heading = "TFTP")]
    pub(crate) tftp_alias: Vec<String>,
    /// Accept uploads (write requests) into --tftp-upload-dir.
    #[arg(long, overrides_with = "no_tftp_upload", help_heading = "TFTP")]
    pub(crate) tftp_upload: bool,
    /// Refuse uploads (the default).
    #[arg(long, overrides_with = "tftp_upload", help_heading = "TFTP")]
    pub(crate) no_tftp_upload: bool,
    /// Where uploads are stored.
    #[arg(long, value_name = "DIR", help_heading = "TFTP")]
    pub(crate) tftp_upload_dir: Option<PathBuf>,
    /// Largest upload accepted, in bytes (default 1 GiB).
    #[arg(long, value_name = "BYTES", help_heading = "TFTP")]
    pub(crate) tftp_upload_max_size: Option<u64>,
    /// Let an upload replace an existing file.
    #[arg(long, overrides_with = "no_tftp_upload_overwrite", help_heading = "TFTP")]
    pub(crate) tftp_upload_overwrite: bool,
    /// Never replace an existing file with an upload (the default).
    #[arg(long, overrides_with = "tftp_upload_overwrite", help_heading = "TFTP")]
    pub(crate) no_tftp_upload_overwrite: bool,
    /// Largest block size granted (8-65464; default 1468, one Ethernet frame).
    #[arg(long, value_name = "N", help_heading = "TFTP")]
    pub(crate) tftp_max_blksize: Option<u16>,
    /// Largest window granted (1-65535; default 64).
    #[arg(long, value_name = "N", help_heading = "TFTP")]
    pub(crate) tftp_max_windowsize: Option<u16>,
    /// Negotiate TFTP options (RFC 2347; the default).
    #[arg(long, overrides_with = "no_tftp_options", help_heading = "TFTP")]
    pub(crate) tftp_options: bool,
    /// Ignore all TFTP options, for bootloaders that break on an OACK.
    #[arg(long, overrides_with = "tftp_options", help_heading = "TFTP")]
    pub(crate) no_tftp_options: bool,
    /// Serve every transfer from the listening port (for NAT and container bridges).
    #[arg(long, overrides_with = "no_tftp_single_port", help_heading = "TFTP")]
    pub(crate) tftp_single_port: bool,
    /// Serve each transfer from a port of its own (the default).
    #[arg(long, overrides_with = "tftp_single_port", help_heading = "TFTP")]
    pub(crate) no_tftp_single_port: bool,
    /// Most transfers at once (default 256).
    #[arg(long, value_name = "N", help_heading = "TFTP")]
    pub(crate) tftp_max_transfers: Option<usize>,
    /// Most transfers at once from one client address (default 8).
    #[arg(long, value_name = "N", help_heading = "TFTP")]
    pub(crate) tftp_max_transfers_per_client: Option<usize>,

    /// Hand out addresses (repeatable; turns DHCP on): START,END[,NETMASK][,LEASE] like
    /// 10.0.0.100,10.0.0.200,12h; or NETWORK,proxy to add only boot information to another DHCP
    /// server's answers.
    #[arg(long, value_name = "RANGE", help_heading = "DHCP")]
    pub(crate) dhcp_range: Vec<String>,
    /// Always give this MAC this address (repeatable): MAC,IP[,NAME]. (The dashboard's hosts add
    /// reservations of their own.)
    #[arg(long, value_name = "MAC,IP[,NAME]", help_heading = "DHCP")]
    pub(crate) dhcp_reservation: Vec<String>,
    /// The boot file for clients no --dhcp-boot-rule matches: FILE[,SERVERNAME[,SERVERADDR]].
    #[arg(long, value_name = "FILE[,SERVERNAME[,SERVERADDR]]", help_heading = "DHCP")]
    pub(crate) dhcp_boot: Option<String>,
    /// Boot file by client kind (repeatable): CLASS=FILE with CLASS one of ipxe, bios, efi-ia32,
    /// efi-x64, efi-arm32, efi-arm64, efi-x64-http, uboot, arch:N, vendor:PREFIX.
    #[arg(long, value_name = "CLASS=FILE", help_heading = "DHCP")]
    pub(crate) dhcp_boot_rule: Vec<String>,
    /// An option for every DHCP reply (repeatable): CODE,VALUE or option:NAME,VALUE, e.g.
    /// option:router,10.0.0.1.
    #[arg(long, value_name = "CODE,VALUE", help_heading = "DHCP")]
    pub(crate) dhcp_option: Vec<String>,
    /// Answer DHCP only on this interface (repeatable; default: every interface with a range).
    #[arg(long, value_name = "IF", help_heading = "DHCP")]
    pub(crate) dhcp_interface: Vec<String>,
    /// Also answer relay agents whose address (giaddr) lies in CIDR (repeatable). Relayed
    /// requests are otherwise answered only for ranges with a NETMASK that no local interface has.
    #[arg(long, value_name = "CIDR", help_heading = "DHCP")]
    pub(crate) dhcp_relay_allow: Vec<String>,
    /// Give plain BOOTP clients without a reservation an address from the ranges.
    #[arg(long, overrides_with = "no_dhcp_bootp_dynamic", help_heading = "DHCP")]
    pub(crate) dhcp_bootp_dynamic: bool,
    /// Answer plain BOOTP only for reservations (the default).
    #[arg(long, overrides_with = "dhcp_bootp_dynamic", help_heading = "DHCP")]
    pub(crate) no_dhcp_bootp_dynamic: bool,
    /// This is the only DHCP server on its networks (as in dnsmasq): answer the REQUESTs of
    /// clients without a lease here at once, with an ACK when the address is theirs to take and
    /// a NAK otherwise, instead of leaving them to another server. (For this release, without
    /// --dhcp-skip-probe or --no-dhcp-skip-probe, it also skips the check for other servers, as
    /// it did before.)
    #[arg(long, overrides_with = "no_dhcp_authoritative", help_heading = "DHCP")]
    pub(crate) dhcp_authoritative: bool,
    /// Leave REQUESTs of clients without a lease here unanswered (RFC 2131; the default).
    #[arg(long, overrides_with = "dhcp_authoritative", help_heading = "DHCP")]
    pub(crate) no_dhcp_authoritative: bool,
    /// Serve DHCP without first checking that no other DHCP server answers on the segment, and
    /// keep handing out addresses when one appears (it is still reported).
    #[arg(long, overrides_with = "no_dhcp_skip_probe", help_heading = "DHCP")]
    pub(crate) dhcp_skip_probe: bool,
    /// Check for other DHCP servers before and while serving (the default).
    #[arg(long, overrides_with = "dhcp_skip_probe", help_heading = "DHCP")]
    pub(crate) no_dhcp_skip_probe: bool,

    /// Serve the TFTP root over HTTP too, for iPXE and UEFI HTTP boot, with the iPXE scripts of
    /// boot profiles at /ipxe (default address 0.0.0.0:4080).
    #[arg(long, overrides_with = "no_http_boot", help_heading = "HTTP boot")]
    pub(crate) http_boot: bool,
    /// No HTTP boot server (the default).
    #[arg(long, overrides_with = "http_boot", help_heading = "HTTP boot")]
    pub(crate) no_http_boot: bool,
    /// Where the HTTP boot server listens, ADDR:PORT (repeatable; turns it on).
    #[arg(long, value_name = "ADDR:PORT", help_heading = "HTTP boot")]
    pub(crate) http_boot_listen: Vec<String>,

    /// Run the dashboard (the default).
    #[arg(long, overrides_with = "no_web", help_heading = "Dashboard")]
    pub(crate) web: bool,
    /// Run without the dashboard.
    #[arg(long, overrides_with = "web", conflicts_with_all = ["web_listen", "web_token"], help_heading = "Dashboard")]
    pub(crate) no_web: bool,
    /// Where the dashboard listens (default 127.0.0.1:8080). Beyond loopback it needs a password
    /// (`lifeboat passwd`) or --web-token.
    #[arg(long, value_name = "ADDR:PORT", help_heading = "Dashboard")]
    pub(crate) web_listen: Option<String>,
    /// Without a password, protect a dashboard beyond loopback with a random token printed at
    /// start-up.
    #[arg(long, overrides_with = "no_web_token", help_heading = "Dashboard")]
    pub(crate) web_token: bool,
    /// No token (the default): beyond loopback, a password is then required.
    #[arg(long, overrides_with = "web_token", help_heading = "Dashboard")]
    pub(crate) no_web_token: bool,
    /// Largest image the dashboard accepts, in bytes (default 4 GiB).
    #[arg(long, value_name = "BYTES", help_heading = "Dashboard")]
    pub(crate) web_max_upload: Option<u64>,

    /// The spellings of the last release.
    #[command(flatten)]
    pub(crate) old: OldSpellings,

    /// The configuration keys the command line and the environment set (filled in after
    /// parsing, by `main.rs`): the dashboard shows them locked.
    #[arg(skip)]
    pub(crate) locks: Vec<lifeboat_app::Lock>,
}

/// The flags of the last release, hidden from `--help`. Each still works, for this release, and
/// says its new name when used (see `settings::old_spellings`).
#[derive(Debug, Args, Default, Clone)]
pub(crate) struct OldSpellings {
    #[arg(long = "allow", value_name = "CIDR", hide = true)]
    pub(crate) allow: Vec<String>,
    #[arg(long = "enable-upload", hide = true)]
    pub(crate) enable_upload: bool,
    #[arg(long = "upload-dir", value_name = "DIR", hide = true)]
    pub(crate) upload_dir: Option<PathBuf>,
    #[arg(long = "upload-max-size", value_name = "BYTES", hide = true)]
    pub(crate) upload_max_size: Option<u64>,
    #[arg(long = "upload-overwrite", hide = true)]
    pub(crate) upload_overwrite: bool,
    #[arg(long = "tftp-no-options", hide = true)]
    pub(crate) tftp_no_options: bool,
    #[arg(long = "max-transfers", value_name = "N", hide = true)]
    pub(crate) max_transfers: Option<usize>,
    #[arg(long = "max-transfers-per-client", value_name = "N", hide = true)]
    pub(crate) max_transfers_per_client: Option<usize>,
    #[arg(long = "dhcp-host", value_name = "MAC,IP[,NAME]", hide = true)]
    pub(crate) dhcp_host: Vec<String>,
    #[arg(long = "boot", value_name = "CLASS=FILE", hide = true)]
    pub(crate) boot: Vec<String>,
    #[arg(long = "interface", value_name = "IF", hide = true)]
    pub(crate) interface: Vec<String>,
    #[arg(long = "bootp-dynamic", hide = true)]
    pub(crate) bootp_dynamic: bool,
}

/// A switch given as `--x` (true), `--no-x` (false) or not at all; the last one given wins.
pub(crate) fn switch(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (false, true) => Some(false),
        (false, false) => None,
    }
}

#[derive(Debug, Args)]
pub(crate) struct PasswdArgs {
    /// The database that `lifeboat serve` uses (the same default as serve's --db).
    #[arg(long, value_name = "FILE|URL", env = "LIFEBOAT_DB")]
    pub(crate) db: Option<DatabaseLocation>,
    /// Remove the password instead: the dashboard then only runs on loopback (or with a token).
    #[arg(long, conflicts_with = "unlock")]
    pub(crate) remove: bool,
    /// Only end a lockout of logins after too many wrong passwords (a running `lifeboat serve`
    /// notices within a second). Setting a password ends it too.
    #[arg(long)]
    pub(crate) unlock: bool,
}

#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// The configuration file `lifeboat serve` reads, for its `web.listen`.
    #[arg(long, value_name = "FILE", env = "LIFEBOAT_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Where the dashboard listens, as given to `lifeboat serve` (default 127.0.0.1:8080; an
    /// unspecified address such as 0.0.0.0 is asked on loopback).
    #[arg(long, value_name = "ADDR:PORT", env = "LIFEBOAT_WEB_LISTEN")]
    pub(crate) web_listen: Option<String>,
    /// How long to wait for the answer.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "5s")]
    pub(crate) timeout: Duration,
}

/// Options shared by `get` and `put`.
#[derive(Debug, Args)]
pub(crate) struct TransferArgs {
    /// Block size to ask for (8-65464). 0 asks for no options at all (plain RFC 1350).
    #[arg(long, value_name = "N", default_value_t = 1468)]
    pub(crate) blksize: u16,
    /// Window size to ask for (RFC 7440).
    #[arg(long, value_name = "N")]
    pub(crate) windowsize: Option<u16>,
    /// Transfer in netascii mode (text with CR LF line ends).
    #[arg(long)]
    pub(crate) netascii: bool,
    /// Keep asking until the server answers, for this long (e.g. 60s, 5m): routers open their
    /// recovery TFTP server for a few seconds only.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(crate) wait: Option<Duration>,
    /// While waiting, send the request afresh this often.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "1s")]
    pub(crate) retry_every: Duration,
}

#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// Server address: HOST, HOST:PORT or [IPV6]:PORT (port 69 by default).
    pub(crate) server: String,
    /// Name of the file on the server.
    pub(crate) remote: String,
    /// Where to write it (default: the remote name's last component, in this directory).
    #[arg(short, long, value_name = "LOCAL")]
    pub(crate) output: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) transfer: TransferArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PutArgs {
    /// Server address: HOST, HOST:PORT or [IPV6]:PORT (port 69 by default).
    pub(crate) server: String,
    /// The file to upload.
    pub(crate) local: PathBuf,
    /// Name to store it under (default: the local file's name).
    pub(crate) remote: Option<String>,
    #[command(flatten)]
    pub(crate) transfer: TransferArgs,
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn serve(argv: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from(["lifeboat", "serve"].iter().chain(argv)).unwrap_or_else(|e| panic!("{e}"));
        let Command::Serve(args) = cli.command else { panic!("serve") };
        *args
    }

    #[test]
    fn the_last_of_a_switch_and_its_no_form_wins() {
        let args = serve(&["--tftp-single-port", "--no-tftp-single-port"]);
        assert_eq!(switch(args.tftp_single_port, args.no_tftp_single_port), Some(false));
        let args = serve(&["--no-tftp-single-port", "--tftp-single-port"]);
        assert_eq!(switch(args.tftp_single_port, args.no_tftp_single_port), Some(true));
        let args = serve(&[]);
        assert_eq!(switch(args.tftp_single_port, args.no_tftp_single_port), None);
    }

    #[test]
    fn old_spellings_parse_and_stay_out_of_the_help() {
        let args = serve(&["--allow", "10.0.0.0/8", "--enable-upload", "--dhcp-host", "52:54:00:00:00:01,10.0.0.5"]);
        assert_eq!((args.old.allow.len(), args.old.enable_upload, args.old.dhcp_host.len()), (1, true, 1));
        let mut command = <Cli as clap::CommandFactory>::command();
        let help = command.find_subcommand_mut("serve").unwrap().render_long_help().to_string();
        for old in ["--allow ", "--enable-upload", "--dhcp-host", "--interface", "--boot "] {
            assert!(!help.contains(old), "{old} in the help");
        }
        for new in ["--tftp-allow", "--no-tftp-options", "--dhcp-skip-probe", "--web-max-upload", "--no-web-token"] {
            assert!(help.contains(new), "{new} missing from the help");
        }
    }

    #[test]
    fn every_serve_flag_has_its_sections_prefix() {
        let command = <Cli as clap::CommandFactory>::command();
        let serve = command.find_subcommand("serve").unwrap();
        for arg in serve.get_arguments().filter(|a| !a.is_hide_set()) {
            let Some(long) = arg.get_long() else { continue };
            let name = long.strip_prefix("no-").unwrap_or(long);
            let prefix = match arg.get_help_heading() {
                Some("TFTP") => "tftp-",
                Some("DHCP") => "dhcp-",
                Some("Dashboard") => "web",
                _ => {
                    assert!(
                        !["tftp-", "dhcp-", "web-"].iter().any(|p| name.starts_with(p)),
                        "--{long} outside its section"
                    );
                    continue;
                }
            };
            assert!(name.starts_with(prefix), "--{long} lacks the {prefix} prefix");
        }
    }
}
