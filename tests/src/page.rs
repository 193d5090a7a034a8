//! What the browser tests do with a page: open it, wait for text, click, fill in, choose, run a
//! script, save a full-page screenshot. Every wait is bounded; a failure says why, with the
//! page's address and text, and saves the page as `FAILED.png` beside the other screenshots.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::workspace_root;

/// How long an element or a text may take to appear.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);

/// Full-page screenshots grow the window up to this height.
const MAX_SHOT_HEIGHT: u32 = 4000;

/// A browser session on one site, and where its screenshots go.
#[derive(Debug)]
pub struct Page {
    client: Client,
    base: String,
    shots: PathBuf,
    /// The window's size between screenshots.
    window: (u32, u32),
}

impl Page {
    /// `base` is the site's origin (`http://ADDR:PORT`); screenshots are saved in `shots`.
    pub fn new(client: Client, base: String, shots: PathBuf, window: (u32, u32)) -> Page {
        Page { client, base, shots, window }
    }

    /// The WebDriver session, for what this type does not cover (alerts, for one).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `path` of the site.
    pub async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        if let Err(e) = self.client.goto(&url).await {
            panic!("{}", self.diagnose(&format!("cannot open {url}: {e}")).await);
        }
    }

    /// Opens `path` and waits until `css` has `text`.
    pub async fn show(&self, path: &str, css: &str, text: &str) {
        self.goto(path).await;
        self.wait_text(css, text, &format!("{path} to show {text:?}")).await;
    }

    /// The path of the current page.
    pub async fn path(&self) -> Option<String> {
        self.client.current_url().await.ok().map(|url| url.path().to_owned())
    }

    /// The text of every element matching `css`, whitespace collapsed.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        const JS: &str = "return Array.from(document.querySelectorAll(arguments[0]))
            .map(e => e.textContent.replace(/\\s+/g, ' ').trim());";
        let value = self.script(JS, json!([css])).await.unwrap_or(Value::Null);
        value.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default()
    }

    /// The cells' text of every table row matching `css`.
    pub async fn rows(&self, css: &str) -> Vec<Vec<String>> {
        const JS: &str = "return Array.from(document.querySelectorAll(arguments[0]))
            .map(r => Array.from(r.cells).map(c => c.textContent.replace(/\\s+/g, ' ').trim()));";
        let value = self.script(JS, json!([css])).await.unwrap_or(Value::Null);
        serde_json::from_value(value).unwrap_or_default()
    }

    /// Runs `js` with `args` (a JSON array); `None` if it failed (e.g. the page was changing).
    pub async fn script(&self, js: &str, args: Value) -> Option<Value> {
        let args = match args {
            Value::Array(args) => args,
            other => vec![other],
        };
        self.client.execute(js, args).await.ok()
    }

    /// The element `css`, waiting for it up to [`STEP_TIMEOUT`].
    pub async fn find(&self, css: &str) -> Element {
        match self.client.wait().at_most(STEP_TIMEOUT).for_element(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("{}", self.diagnose(&format!("no element {css:?} on the page: {e}")).await),
        }
    }

    pub async fn click(&self, css: &str) {
        if let Err(e) = self.find(css).await.click().await {
            panic!("{}", self.diagnose(&format!("cannot click {css:?}: {e}")).await);
        }
    }

    /// Replaces the value of the input or textarea `css` with `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        if let Err(e) = element.clear().await {
            panic!("{}", self.diagnose(&format!("cannot clear {css:?}: {e}")).await);
        }
        if let Err(e) = element.send_keys(text).await {
            panic!("{}", self.diagnose(&format!("cannot type into {css:?}: {e}")).await);
        }
    }

    /// Chooses the option `value` of the select `css`.
    pub async fn choose(&self, css: &str, value: &str) {
        let option = format!("{css} option[value=\"{value}\"]");
        self.click(&option).await;
    }

    /// Waits until some element matching `css` contains `needle`; returns its text.
    pub async fn wait_text(&self, css: &str, needle: &str, what: &str) -> String {
        self.wait(what, STEP_TIMEOUT, || async { self.texts(css).await.into_iter().find(|t| t.contains(needle)) }).await
    }

    /// Polls `probe` until it gives a value, for at most `timeout`; then fails with a screenshot.
    pub async fn wait<T, F, Fut>(&self, what: &str, timeout: Duration, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            if Instant::now() >= deadline {
                panic!("{}", self.diagnose(&format!("waited {timeout:?} for {what}")).await);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Saves a screenshot of the whole page as `NAME.png` in the screenshots' folder; returns
    /// its path.
    pub async fn shot(&self, name: &str) -> PathBuf {
        let path = self.shots.join(format!("{name}.png"));
        if let Err(e) = self.save_full_page(&path).await {
            panic!("{}", self.diagnose(&format!("cannot save the screenshot {}: {e}", path.display())).await);
        }
        path
    }

    async fn save_full_page(&self, path: &Path) -> Result<(), String> {
        let (width, height) = self.window;
        // The window is taller than the page's viewport by the browser's own frame.
        let js = "return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight;";
        let full = self.script(js, json!([])).await;
        let full = full.and_then(|h| h.as_u64()).map_or(height, |h| u32::try_from(h).unwrap_or(u32::MAX));
        let full = full.clamp(height, MAX_SHOT_HEIGHT);
        self.client.set_window_size(width, full).await.map_err(|e| e.to_string())?;
        let png = self.client.screenshot().await.map_err(|e| e.to_string());
        self.client.set_window_size(width, height).await.map_err(|e| e.to_string())?;
        std::fs::write(path, png?).map_err(|e| e.to_string())
    }

    /// A failure message: `why`, the page's address and text, and a screenshot `FAILED.png`.
    pub async fn diagnose(&self, why: &str) -> String {
        let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
        let text = self.texts("body").await.join("\n");
        let shot = self.shots.join("FAILED.png");
        let saved = match self.save_full_page(&shot).await {
            Ok(()) => format!("screenshot: {}", shot.display()),
            Err(e) => format!("no screenshot: {e}"),
        };
        format!("{why}\n  page: {url}\n  {saved}\n  text: {text}")
    }
}

/// `target/e2e-artifacts/NAME/` in the workspace, emptied: where a browser test's screenshots go.
pub fn artifacts_dir(name: &str) -> PathBuf {
    let dir = workspace_root().join("target").join("e2e-artifacts").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}
