//! The dashboard's part of the configuration: the `[web]` section of the file and the `--web-*`
//! flags, merged into a [`DashboardConfig`] (or `None` when the dashboard is off).

use std::net::SocketAddr;

use serde::Deserialize;

use crate::cli::{ServeArgs, switch};
use lifeboat_app::DashboardConfig;

/// Where the dashboard listens unless told otherwise: this machine only.
pub(crate) const DEFAULT_WEB_LISTEN: &str = "127.0.0.1:8080";

/// The `[web]` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileWeb {
    /// `false` turns the dashboard off (`--web`, `--no-web`).
    pub(crate) enabled: Option<bool>,
    pub(crate) listen: Option<String>,
    /// Serve a random token when listening beyond loopback without a password.
    pub(crate) token: Option<bool>,
    /// Largest image upload, in bytes.
    pub(crate) max_upload: Option<u64>,
}

pub(crate) fn web_section(file: FileWeb, args: &ServeArgs, problems: &mut Vec<String>) -> Option<DashboardConfig> {
    if !switch(args.web, args.no_web).or(file.enabled).unwrap_or(true) {
        return None;
    }
    let (text, from) = match (&args.web_listen, &file.listen) {
        (Some(text), _) => (text.as_str(), "--web-listen"),
        (None, Some(text)) => (text.as_str(), "web.listen"),
        (None, None) => (DEFAULT_WEB_LISTEN, "the default"),
    };
    let Ok(listen) = text.parse::<SocketAddr>() else {
        problems.push(format!("{from} {text:?}: expected ADDRESS:PORT, like 127.0.0.1:8080 or [::1]:8080"));
        return None;
    };
    let max_upload = args.web_max_upload.or(file.max_upload).unwrap_or(lifeboat_web::DEFAULT_MAX_UPLOAD);
    let token = switch(args.web_token, args.no_web_token).or(file.token).unwrap_or(false);
    Some(DashboardConfig { listen, token, max_upload })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_by_default_and_flags_win_over_the_file() {
        let mut problems = Vec::new();
        let web = web_section(FileWeb::default(), &ServeArgs::default(), &mut problems).unwrap();
        assert_eq!(web.listen, "127.0.0.1:8080".parse().unwrap());
        assert!(!web.token);

        let file = FileWeb { listen: Some("0.0.0.0:9000".into()), ..FileWeb::default() };
        let args = ServeArgs { web_listen: Some("[::1]:8443".into()), web_token: true, ..ServeArgs::default() };
        let web = web_section(file, &args, &mut problems).unwrap();
        assert_eq!((web.listen, web.token), ("[::1]:8443".parse().unwrap(), true));
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn off_by_flag_or_file_and_bad_addresses_are_named() {
        let mut problems = Vec::new();
        let args = ServeArgs { no_web: true, ..ServeArgs::default() };
        assert!(web_section(FileWeb::default(), &args, &mut problems).is_none());
        let file = FileWeb { enabled: Some(false), ..FileWeb::default() };
        assert!(web_section(file, &ServeArgs::default(), &mut problems).is_none());
        assert!(problems.is_empty());

        let file = FileWeb { listen: Some("localhost".into()), ..FileWeb::default() };
        assert!(web_section(file, &ServeArgs::default(), &mut problems).is_none());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("web.listen \"localhost\""), "{problems:?}");
    }
}
