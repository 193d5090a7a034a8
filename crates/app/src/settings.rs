//! The settings saved from the dashboard. The application stores them (a document of the
//! configuration file's shape, as TOML) and restarts the services they change; what they mean,
//! laid over the configuration file and under the command line, is the binary's business: it
//! gives the application a [`Configurator`].

use lifeboat_server::{DhcpConfig, HttpBootConfig, TftpConfig};
use lifeboat_web::{Lock, SettingsProblem};

/// The store's key of the dashboard's settings document.
pub const SETTINGS_KEY: &str = "dashboard_settings";

/// The key under which `store`'s instance keeps its settings: [`SETTINGS_KEY`] in a database of
/// its own, `dashboard_settings@NAME` in a fleet's shared one, since the services' settings
/// (interfaces, ranges, listen addresses) belong to one lifeboat, not to the fleet.
pub fn settings_key(store: &lifeboat_store::Store) -> String {
    if store.is_shared() { format!("{SETTINGS_KEY}@{}", store.instance()) } else { SETTINGS_KEY.to_owned() }
}

/// Turns the dashboard's settings into the services' configurations.
pub trait Configurator: Send + Sync + std::fmt::Debug + 'static {
    /// The configurations with `stored` (TOML, possibly empty) over the configuration file and
    /// under the command line; or every problem, with the key it concerns.
    fn configure(&self, stored: &str) -> Result<Configured, Vec<SettingsProblem>>;

    /// Settings given as JSON (the configuration file's shape) as the TOML to store.
    fn document_of_json(&self, json: &serde_json::Value) -> Result<String, Vec<SettingsProblem>>;

    /// An imported configuration file (TOML) as the document to store: what the file below
    /// already says is left out, so that an export imports again as it was.
    fn document_of_import(&self, text: &str) -> Result<String, Vec<SettingsProblem>>;

    /// The keys the command line and the environment set.
    fn locks(&self) -> Vec<Lock>;
}

/// What [`Configurator::configure`] makes of a settings document.
#[derive(Debug, Clone)]
pub struct Configured {
    pub tftp: Option<TftpConfig>,
    pub dhcp: Option<DhcpConfig>,
    pub http: Option<HttpBootConfig>,
    /// The stored document, as JSON.
    pub stored: serde_json::Value,
    /// The configuration file with the document over it, as JSON and as TOML.
    pub effective: serde_json::Value,
    pub effective_toml: String,
}
