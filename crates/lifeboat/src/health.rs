//! `lifeboat health`: ask the running lifeboat, through its dashboard's public
//! `/api/v1/health`, whether every service that should run does and its database takes writes.
//! A container's `HEALTHCHECK` runs it. The exit status is the answer ([`Verdict`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;

use anyhow::Context as _;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use crate::cli::HealthArgs;
use crate::settings;
use crate::web_settings::DEFAULT_WEB_LISTEN;

/// What `lifeboat health` found, and its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// 0: everything that should run does, and the database takes writes.
    Healthy,
    /// 1: lifeboat answered, and something is wrong.
    Unhealthy,
    /// 2: no answer: lifeboat is not running, its dashboard is off, or it listens elsewhere.
    Unreachable,
}

impl Verdict {
    pub(crate) fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Verdict::Healthy => 0,
            Verdict::Unhealthy => 1,
            Verdict::Unreachable => 2,
        })
    }
}

/// The answer of `/api/v1/health`, as far as this command reads it.
#[derive(Debug, Deserialize)]
struct Health {
    healthy: bool,
    services: Vec<ServiceHealth>,
    database: DatabaseHealth,
}

#[derive(Debug, Deserialize)]
struct ServiceHealth {
    service: String,
    running: bool,
    failed: bool,
}

#[derive(Debug, Deserialize)]
struct DatabaseHealth {
    writable: bool,
    error: Option<String>,
}

/// Ask, print one line saying what was found, and return the verdict.
pub(crate) async fn run(args: HealthArgs) -> anyhow::Result<Verdict> {
    let (verdict, line) = ask(&args).await?;
    println!("{line}");
    Ok(verdict)
}

/// Ask the dashboard `args` point at: the verdict, and one line saying what was found.
pub(crate) async fn ask(args: &HealthArgs) -> anyhow::Result<(Verdict, String)> {
    let dashboard = dashboard_address(args)?;
    let url = format!("http://{dashboard}/api/v1/health");
    let answer = tokio::time::timeout(args.timeout, fetch(&url)).await;
    let (verdict, line) = match answer {
        Err(_) => (Verdict::Unreachable, format!("no answer from {url} within {:?}", args.timeout)),
        Ok(Err(error)) => (
            Verdict::Unreachable,
            format!(
                "cannot ask {url}: {}; is lifeboat running, with its dashboard on {dashboard}?",
                lifeboat_app::error_text(error.as_ref())
            ),
        ),
        Ok(Ok(health)) => (if health.healthy { Verdict::Healthy } else { Verdict::Unhealthy }, describe(&health)),
    };
    Ok((verdict, line))
}

/// Where the dashboard answers: `--web-listen` (or `LIFEBOAT_WEB_LISTEN`), else the
/// configuration file's `web.listen`, else the default; an unspecified address (`0.0.0.0`) is
/// asked on loopback.
fn dashboard_address(args: &HealthArgs) -> anyhow::Result<SocketAddr> {
    let from_file = match &args.config {
        Some(path) => settings::read_file(path)?.web.listen,
        None => None,
    };
    let text = args.web_listen.clone().or(from_file).unwrap_or_else(|| DEFAULT_WEB_LISTEN.to_owned());
    let listen: SocketAddr = text
        .parse()
        .with_context(|| format!("the dashboard's address {text:?}: expected ADDRESS:PORT, like 127.0.0.1:8080"))?;
    Ok(asked_at(listen))
}

/// The address to ask a dashboard that listens on `listen`.
fn asked_at(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

async fn fetch(url: &str) -> anyhow::Result<Health> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let response = client.get(url.parse()?).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    serde_json::from_slice(&body)
        .with_context(|| format!("the answer ({status}) is not lifeboat's health: {}", String::from_utf8_lossy(&body)))
}

/// One line: the verdict, each service, the database.
fn describe(health: &Health) -> String {
    let services: Vec<String> = health
        .services
        .iter()
        .map(|s| {
            let state = match (s.running, s.failed) {
                (true, _) => "running",
                (false, true) => "FAILED",
                (false, false) => "stopped",
            };
            format!("{} {state}", s.service.to_uppercase())
        })
        .collect();
    let database = match (&health.database.writable, &health.database.error) {
        (true, _) => "database writable".to_owned(),
        (false, Some(error)) => format!("database NOT writable: {error}"),
        (false, None) => "database NOT writable".to_owned(),
    };
    let verdict = if health.healthy { "healthy" } else { "unhealthy" };
    format!("{verdict}: {}, {database}", services.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_listen_address_is_asked_on_loopback() {
        assert_eq!(asked_at("0.0.0.0:8080".parse().unwrap()), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(asked_at("[::]:9000".parse().unwrap()), "[::1]:9000".parse().unwrap());
        assert_eq!(asked_at("10.0.0.1:8080".parse().unwrap()), "10.0.0.1:8080".parse().unwrap());
    }

    #[test]
    fn the_line_names_each_service_and_the_database() {
        let health: Health = serde_json::from_str(
            r#"{"healthy":false,"services":[{"service":"tftp","running":true,"failed":false},
                {"service":"dhcp","running":false,"failed":true}],
                "database":{"writable":false,"error":"disk full"}}"#,
        )
        .unwrap();
        assert_eq!(describe(&health), "unhealthy: TFTP running, DHCP FAILED, database NOT writable: disk full");
    }
}
