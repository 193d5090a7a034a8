//! The validated TFTP server configuration. The binary builds it from flags and the TOML file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use lifeboat_tftp::{ServerLimits, Timing};

use crate::access::AllowList;

/// Everything the TFTP server needs to start.
#[derive(Debug, Clone)]
pub struct TftpConfig {
    /// Directory served to clients.
    pub root: PathBuf,
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    pub allow: AllowList,
    /// Requested name (compared without case) → file, relative to the root unless absolute.
    pub aliases: BTreeMap<String, PathBuf>,
    /// Where uploads go; `None` refuses every write request.
    pub upload: Option<UploadConfig>,
    pub limits: ServerLimits,
    pub timing: Timing,
    /// Serve every transfer from the listening port (for NAT and container bridges).
    pub single_port: bool,
    pub max_transfers: usize,
    pub max_transfers_per_client: usize,
}

/// Where and how uploads are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadConfig {
    pub dir: PathBuf,
    /// Largest accepted upload in bytes.
    pub max_size: u64,
    /// Replace an existing file of the same name.
    pub overwrite: bool,
}

/// The default upload size limit: larger than any router image.
pub const DEFAULT_UPLOAD_MAX_SIZE: u64 = 1 << 30;

impl TftpConfig {
    /// A configuration with the defaults for everything but the root.
    pub fn new(root: impl Into<PathBuf>) -> TftpConfig {
        TftpConfig {
            root: root.into(),
            listen: vec![SocketAddr::from(([0, 0, 0, 0], 69)), SocketAddr::from(([0u16; 8], 69))],
            allow: AllowList::default(),
            aliases: BTreeMap::new(),
            upload: None,
            limits: ServerLimits::default(),
            timing: Timing::default(),
            single_port: false,
            max_transfers: 256,
            max_transfers_per_client: 8,
        }
    }
}
