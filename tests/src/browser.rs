//! A real browser for end-to-end tests: Debian's headless Chromium driven through chromedriver
//! (WebDriver, with the `fantoccini` client), both running inside a namespace.
//!
//! **Invariant:** chromedriver and Chromium only ever run inside the namespace given to
//! [`Browser::start`], so the browser reaches exactly what that namespace reaches (its veth
//! peers, never the machine's network). The test process talks to chromedriver over TCP
//! connections opened from inside that namespace ([`NetnsConnector`]: a short-lived thread enters
//! it with `setns`, which changes only that thread), so nothing listens or connects outside the
//! namespaces. Chromium starts with a fresh profile and the flags that keep it from calling home;
//! chromedriver (and the Chromium it starts) is killed by PID through its [`Child`] guard.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::rt::TokioIo;
use nix::sched::{CloneFlags, setns};
use serde_json::json;

use crate::netns::Netns;
use crate::process::Child;

/// Debian's chromedriver (package `chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Debian's Chromium (package `chromium`). The launcher script at `/usr/bin/chromium` adds
/// Debian's default flags (API keys, extensions); the browser itself lives beside its libraries.
pub const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMIUM_BINARY: &str = "/usr/lib/chromium/chromium";

/// Where chromedriver listens, on the namespace's own loopback.
const DRIVER_PORT: u16 = 9515;

/// How long chromedriver may take to accept connections, and a connection to be made.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Chromium flags: headless, no sandbox (we are root inside a namespace), and nothing that
/// reaches out on its own (background networking, component updates, sync, QUIC).
const CHROMIUM_FLAGS: [&str; 15] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-breakpad",
    "--metrics-recording-only",
    "--password-store=basic",
];

/// Headless Chromium under chromedriver inside a namespace, with a WebDriver session open.
pub struct Browser {
    client: Client,
    driver: Child,
    // Chromium's profile; removed after the browser is gone.
    _profile: tempfile::TempDir,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("driver", &self.driver).finish()
    }
}

impl Browser {
    /// Starts chromedriver inside `ns`, waits until it accepts connections, and opens a session
    /// with a fresh Chromium profile and a `width` x `height` window. Panics (with chromedriver's
    /// output) if any of that fails. Needs a Tokio runtime.
    pub async fn start(ns: &Netns, width: u32, height: u32) -> Browser {
        let port = format!("--port={DRIVER_PORT}");
        let mut driver = ns.spawn(&[CHROMEDRIVER, &port]);
        let connector = NetnsConnector::new(ns);
        wait_for_driver(&connector, &mut driver).await;

        let profile = tempfile::Builder::new().prefix("lbt-chromium-").tempdir().expect("a Chromium profile folder");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push(format!("--window-size={width},{height}"));
        let binary = if Path::new(CHROMIUM_BINARY).is_file() { CHROMIUM_BINARY } else { CHROMIUM };
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": binary, "args": args },
            "timeouts": { "pageLoad": 20_000, "script": 10_000, "implicit": 0 },
            // `data-confirm` forms ask with window.confirm(); say yes.
            "unhandledPromptBehavior": "accept",
        });
        let serde_json::Value::Object(capabilities) = capabilities else { unreachable!("a JSON object") };
        let url = format!("http://127.0.0.1:{DRIVER_PORT}");
        let session = tokio::time::timeout(
            DRIVER_START_TIMEOUT * 2,
            ClientBuilder::new(connector).capabilities(capabilities).connect(&url),
        )
        .await;
        let client = match session {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => panic!("chromedriver did not open a Chromium session: {e}\n{}", driver.output()),
            Err(_) => panic!("chromedriver did not open a Chromium session within the time:\n{}", driver.output()),
        };
        Browser { client, driver, _profile: profile }
    }

    /// The WebDriver session.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Ends the session (Chromium quits), then stops chromedriver.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
        self.driver.terminate(Duration::from_secs(3));
    }
}

async fn wait_for_driver(connector: &NetnsConnector, driver: &mut Child) {
    let deadline = Instant::now() + DRIVER_START_TIMEOUT;
    loop {
        driver.assert_running("chromedriver");
        if connector.connect(Duration::from_millis(500)).await.is_ok() {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "chromedriver did not listen on port {DRIVER_PORT} within {DRIVER_START_TIMEOUT:?}:\n{}",
                driver.output()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A hyper connector whose TCP connections to chromedriver are opened inside a namespace (see
/// the module invariant). Only ever connects to the namespace's loopback.
#[derive(Debug, Clone)]
pub struct NetnsConnector {
    ns_path: PathBuf,
}

impl NetnsConnector {
    pub fn new(ns: &Netns) -> NetnsConnector {
        NetnsConnector { ns_path: Path::new("/run/netns").join(ns.name()) }
    }

    /// Opens a connection to chromedriver from a fresh thread that enters the namespace, without
    /// blocking the async runtime.
    async fn connect(&self, timeout: Duration) -> io::Result<tokio::net::TcpStream> {
        let ns_path = self.ns_path.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(connect_inside(&ns_path, timeout));
        });
        let stream = rx.await.map_err(|_| io::Error::other("the connecting thread died"))??;
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        tokio::net::TcpStream::from_std(stream)
    }
}

/// Runs on a thread of its own that ends right after: `setns` changes only the calling thread.
fn connect_inside(ns_path: &Path, timeout: Duration) -> io::Result<TcpStream> {
    let ns = std::fs::File::open(ns_path)?;
    setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, DRIVER_PORT));
    TcpStream::connect_timeout(&addr, timeout)
}

impl tower::Service<http::Uri> for NetnsConnector {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connector = self.clone();
        Box::pin(async move {
            // Every WebDriver URL points at chromedriver on the namespace's loopback.
            let expected = (uri.host() == Some("127.0.0.1")) && uri.port_u16() == Some(DRIVER_PORT);
            if !expected {
                return Err(io::Error::other(format!("refusing to connect to {uri}: only chromedriver is reachable")));
            }
            connector.connect(CONNECT_TIMEOUT).await.map(TokioIo::new)
        })
    }
}

/// Runs a browser test's `scenario` to its end on a runtime of its own (two workers: the
/// browser's client and the checks from the namespaces), failing the test when it takes longer
/// than `bound`.
pub fn run_scenario(what: &str, bound: Duration, scenario: impl Future<Output = ()>) {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a Tokio runtime");
    runtime.block_on(async {
        let run = tokio::time::timeout(bound, scenario).await;
        run.unwrap_or_else(|_| panic!("{what} did not finish within {bound:?}"));
    });
}
