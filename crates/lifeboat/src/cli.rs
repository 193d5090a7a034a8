//! The command line. Every `serve` flag has a twin in the TOML file; a flag wins over the file.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "lifeboat",
    version,
    about = "Netboot and firmware-recovery appliance: TFTP and DHCP/BOOTP server and TFTP client in one binary"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the TFTP server (with --tftp-root) and the DHCP/BOOTP server (with --dhcp-range).
    Serve(Box<ServeArgs>),
    /// Download a file from a TFTP server.
    Get(GetArgs),
    /// Upload a file to a TFTP server (for example a router in recovery mode).
    Put(PutArgs),
    /// Set the dashboard's password (read from the terminal, or from standard input when it is
    /// not a terminal). Only its argon2 hash is stored, in the database.
    Passwd(PasswdArgs),
}

#[derive(Debug, Args, Default, Clone)]
pub(crate) struct ServeArgs {
    /// TOML configuration file (see config/lifeboat.toml); flags override it.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Directory whose files are served.
    #[arg(long, value_name = "DIR")]
    pub(crate) tftp_root: Option<PathBuf>,
    /// Address to listen on, ADDR or ADDR:PORT (repeatable; default 0.0.0.0:69 and [::]:69).
    #[arg(long, value_name = "ADDR[:PORT]")]
    pub(crate) tftp_listen: Vec<String>,
    /// Client range allowed to use the server (repeatable). Replaces the default private and
    /// link-local ranges.
    #[arg(long, value_name = "CIDR")]
    pub(crate) allow: Vec<String>,
    /// Serve FILE when a client asks for NAME (repeatable), e.g. tp_recovery.bin=openwrt.bin.
    #[arg(long, value_name = "NAME=FILE")]
    pub(crate) tftp_alias: Vec<String>,
    /// Accept uploads (write requests) into --upload-dir.
    #[arg(long)]
    pub(crate) enable_upload: bool,
    /// Where uploads are stored.
    #[arg(long, value_name = "DIR")]
    pub(crate) upload_dir: Option<PathBuf>,
    /// Largest upload accepted, in bytes.
    #[arg(long, value_name = "BYTES")]
    pub(crate) upload_max_size: Option<u64>,
    /// Let an upload replace an existing file.
    #[arg(long)]
    pub(crate) upload_overwrite: bool,
    /// Largest block size granted (8-65464; default 1468, one Ethernet frame).
    #[arg(long, value_name = "N")]
    pub(crate) tftp_max_blksize: Option<u16>,
    /// Largest window granted (1-65535; default 64).
    #[arg(long, value_name = "N")]
    pub(crate) tftp_max_windowsize: Option<u16>,
    /// Ignore all TFTP options, for bootloaders that break on an OACK.
    #[arg(long)]
    pub(crate) tftp_no_options: bool,
    /// Serve every transfer from the listening port (for NAT and container bridges).
    #[arg(long)]
    pub(crate) tftp_single_port: bool,
    /// Most transfers at once (default 256).
    #[arg(long, value_name = "N")]
    pub(crate) max_transfers: Option<usize>,
    /// Most transfers at once from one client address (default 8).
    #[arg(long, value_name = "N")]
    pub(crate) max_transfers_per_client: Option<usize>,
    /// Hand out addresses (repeatable): START,END[,NETMASK][,LEASE] like 10.0.0.100,10.0.0.200,12h;
    /// or NETWORK,proxy to add only boot information to another DHCP server's answers.
    #[arg(long, value_name = "RANGE")]
    pub(crate) dhcp_range: Vec<String>,
    /// Always give this MAC this address (repeatable): MAC,IP[,NAME].
    #[arg(long, value_name = "MAC,IP[,NAME]")]
    pub(crate) dhcp_host: Vec<String>,
    /// The boot file for clients no --boot rule matches: FILE[,SERVERNAME[,SERVERADDR]].
    #[arg(long, value_name = "FILE[,SERVERNAME[,SERVERADDR]]")]
    pub(crate) dhcp_boot: Option<String>,
    /// Boot file by client kind (repeatable): CLASS=FILE with CLASS one of ipxe, bios, efi-ia32,
    /// efi-x64, efi-arm32, efi-arm64, efi-x64-http, uboot, arch:N, vendor:PREFIX.
    #[arg(long, value_name = "CLASS=FILE")]
    pub(crate) boot: Vec<String>,
    /// An option for every DHCP reply (repeatable): CODE,VALUE or option:NAME,VALUE, e.g.
    /// option:router,10.0.0.1.
    #[arg(long, value_name = "CODE,VALUE")]
    pub(crate) dhcp_option: Vec<String>,
    /// Answer DHCP only on this interface (repeatable; default: every interface with a range).
    #[arg(long, value_name = "IF")]
    pub(crate) interface: Vec<String>,
    /// Also answer relay agents whose address (giaddr) lies in CIDR (repeatable). Relayed
    /// requests are otherwise answered only for ranges with a NETMASK that no local interface has.
    #[arg(long, value_name = "CIDR")]
    pub(crate) dhcp_relay_allow: Vec<String>,
    /// Give plain BOOTP clients without a --dhcp-host an address from the ranges.
    #[arg(long)]
    pub(crate) bootp_dynamic: bool,
    /// Serve DHCP without first checking that no other DHCP server answers on the segment.
    #[arg(long)]
    pub(crate) dhcp_authoritative: bool,
    /// The SQLite database of leases, hosts and transfer history (default: lifeboat.db in
    /// /var/lib/lifeboat for root, in $XDG_STATE_HOME/lifeboat or ~/.local/state/lifeboat
    /// otherwise).
    #[arg(long, value_name = "FILE", env = "LIFEBOAT_DB")]
    pub(crate) db: Option<PathBuf>,
    /// Where the dashboard listens (default 127.0.0.1:8080). Beyond loopback it needs a password
    /// (`lifeboat passwd`) or --web-token.
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) web_listen: Option<String>,
    /// Without a password, protect a dashboard beyond loopback with a random token printed at
    /// start-up.
    #[arg(long)]
    pub(crate) web_token: bool,
    /// Stop a service by itself once nobody has used it for this long (e.g. 15m): TFTP after
    /// its last request, DHCP after its last reply. Recorded as an event; the dashboard can
    /// start it again.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(crate) stop_when_idle: Option<Duration>,
    /// Keep the transfer history, events and missing files for this many days (default 365).
    #[arg(long, value_name = "DAYS")]
    pub(crate) history_days: Option<u32>,
    /// Keep at most this many rows of each of them, the newest (default 500000).
    #[arg(long, value_name = "N")]
    pub(crate) history_max_rows: Option<u64>,
    /// Run without the dashboard.
    #[arg(long, conflicts_with_all = ["web_listen", "web_token"])]
    pub(crate) no_web: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PasswdArgs {
    /// The database that `lifeboat serve` uses (the same default as serve's --db).
    #[arg(long, value_name = "FILE", env = "LIFEBOAT_DB")]
    pub(crate) db: Option<PathBuf>,
    /// Remove the password instead: the dashboard then only runs on loopback (or with a token).
    #[arg(long, conflicts_with = "unlock")]
    pub(crate) remove: bool,
    /// Only end a lockout of logins after too many wrong passwords (a running `lifeboat serve`
    /// notices within a second). Setting a password ends it too.
    #[arg(long)]
    pub(crate) unlock: bool,
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
    /// Keep asking until the server answers, for this long (e.g. 60s, 5m): routers open their
    /// recovery TFTP server for a few seconds only.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(crate) wait: Option<Duration>,
    #[command(flatten)]
    pub(crate) transfer: TransferArgs,
}
