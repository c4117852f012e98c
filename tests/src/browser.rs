//! A real headless Chromium for end-to-end tests, driven over WebDriver.
//!
//! [`Browser::start`] runs Debian's `chromedriver` as a child process on a free loopback port (in
//! its own process group, so dropping the [`Browser`] kills the driver and every Chromium process
//! it started, even when a test panics), waits until it answers, and opens one headless Chromium
//! session with its own profile and download directories. One browser per test, closed at the end.
//!
//! Missing browser: when `/usr/bin/chromium` or `/usr/bin/chromedriver` is not installed,
//! [`Browser::start`] returns `None` after printing a notice, so a developer without Chromium can
//! still run the other tests; with `JIAOYING_REQUIRE_BROWSER=1` (as `.ci/run` sets) it panics
//! instead, because a browser test that quietly skipped in CI is not a pass.
//!
//! Synchronisation is by polling a condition with a timeout ([`Browser::wait_until`],
//! [`eventually`]), never by fixed sleeps. Screenshots go to `target/screenshots/<name>.png`.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine;
use fantoccini::cookies::Cookie;
use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Debian's Chromium (a launcher script) and its matching driver.
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Set to `1` to make a missing browser a test failure instead of a skip.
pub const REQUIRE_ENV: &str = "JIAOYING_REQUIRE_BROWSER";
/// How long a wait helper polls before failing the test.
pub const TIMEOUT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);
/// The browser window: a laptop screen.
pub const WINDOW: (u32, u32) = (1366, 900);
/// Viewports for legibility screenshots (see [`Browser::set_viewport`]).
pub const LAPTOP: (u32, u32) = (1366, 768);
pub const PHONE: (u32, u32) = (390, 844);
/// Chromium is heavy for the 2-core machines: at most this many run at once in one test binary.
const MAX_BROWSERS: usize = 2;

/// Polls `check` until it yields `Some`, failing the test with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// Set to `1` to also copy the screenshots a test publishes into `docs/screenshots/`, where the
/// documentation's set is kept with the repository (see [`Browser::publish_screenshot`]).
pub const PUBLISH_ENV: &str = "JIAOYING_PUBLISH_SCREENSHOTS";

/// Where test artefacts go: `<workspace>/target/screenshots` (or under `CARGO_TARGET_DIR`).
pub fn screenshot_dir() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => PathBuf::from(t),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").join("target"),
    };
    target.join("screenshots")
}

/// Whether this machine has the browser; `Err` names what is missing.
pub fn available() -> Result<(), String> {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER].into_iter().filter(|p| !Path::new(p).exists()).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} not installed (Debian packages `chromium` and `chromium-driver`; .ci/run installs them)",
            missing.join(" and ")
        ))
    }
}

fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

fn browser_slots() -> Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS.get_or_init(|| Arc::new(Semaphore::new(MAX_BROWSERS))).clone()
}

/// The chromedriver process group. Dropping it kills the driver and the browsers it started.
struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Driver {
    fn spawn(dir: &Path) -> Driver {
        use std::os::unix::process::CommandExt;
        // A free port: the OS picks one, we release it and hand it to chromedriver straight away.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let log = dir.join("chromedriver.log");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {CHROMEDRIVER}: {e}"));
        Driver { child, port, log }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Waits until the driver says it is ready; `false` if it exited or never answered.
    async fn ready(&mut self) -> bool {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        while tokio::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return false;
            }
            if let Ok(r) = http.get(format!("{}/status", self.url())).send().await {
                if let Ok(v) = r.json::<Value>().await {
                    if v["value"]["ready"] == true {
                        return true;
                    }
                }
            }
            tokio::time::sleep(POLL).await;
        }
        false
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium processes it launched.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Chrome DevTools Protocol command sent through chromedriver (`goog/cdp/execute`).
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (reqwest::Method, Option<String>) {
        // reqwest's `Method` is the `http` crate's, the type fantoccini's trait names.
        (reqwest::Method::POST, Some(json!({"cmd": self.cmd, "params": self.params}).to_string()))
    }
}

/// One headless Chromium session.
pub struct Browser {
    client: Client,
    // Field order is drop order: the driver dies before its temp dirs go.
    driver: Driver,
    downloads: tempfile::TempDir,
    _dir: tempfile::TempDir,
    _slot: OwnedSemaphorePermit,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium. `None` (with a notice on stderr) when the
    /// browser is not installed, unless `JIAOYING_REQUIRE_BROWSER=1`, where that is a failure.
    pub async fn start() -> Option<Browser> {
        if let Err(missing) = available() {
            if required() {
                panic!("{REQUIRE_ENV}=1 but {missing}");
            }
            eprintln!("SKIPPED browser test: {missing}; set {REQUIRE_ENV}=1 to make this a failure");
            return None;
        }
        let slot = browser_slots().acquire_owned().await.expect("browser slots never close");
        let dir = tempfile::tempdir().expect("temp dir");
        let downloads = tempfile::tempdir().expect("temp dir");
        // The port was free a moment ago; if another process took it meanwhile, try a new one.
        let mut attempt = 1;
        let driver = loop {
            let mut driver = Driver::spawn(dir.path());
            if driver.ready().await {
                break driver;
            }
            let tail = driver.log_tail();
            assert!(attempt < 3, "{CHROMEDRIVER} did not start; its log ends:\n{tail}");
            eprintln!("{CHROMEDRIVER} did not start, trying again: {tail}");
            attempt += 1;
        };
        let profile = dir.path().join("profile");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    format!("--window-size={},{}", WINDOW.0, WINDOW.1),
                    format!("--user-data-dir={}", profile.display()),
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-extensions",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--lang=zh-CN",
                ],
                "prefs": {
                    "download.default_directory": downloads.path(),
                    "download.prompt_for_download": false,
                    "intl.accept_languages": "zh-CN,zh,en",
                },
            },
        });
        let Value::Object(caps) = caps else { unreachable!("capabilities are an object") };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = match ClientBuilder::new(connector).capabilities(caps).connect(&driver.url()).await {
            Ok(c) => c,
            Err(e) => panic!("could not open a Chromium session: {e}\nchromedriver log:\n{}", driver.log_tail()),
        };
        let browser = Browser { client, driver, downloads, _dir: dir, _slot: slot };
        // Headless Chromium only saves downloads where it is told to.
        browser
            .cdp(
                "Browser.setDownloadBehavior",
                json!({"behavior": "allow", "downloadPath": browser.downloads.path(), "eventsEnabled": false}),
            )
            .await;
        Some(browser)
    }

    /// The WebDriver client, for anything the helpers below do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends a Chrome DevTools Protocol command and returns its result.
    pub async fn cdp(&self, cmd: &'static str, params: Value) -> Value {
        let params_shown = params.to_string();
        self.client
            .issue_cmd(Cdp { cmd, params })
            .await
            .unwrap_or_else(|e| panic!("CDP {cmd} {params_shown}: {e}\n{}", self.driver.log_tail()))
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    pub async fn current_url(&self) -> url::Url {
        self.client.current_url().await.expect("current url")
    }

    /// The visible text of the whole page.
    pub async fn page_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Polls `check` (given a handle to the browser) until it yields `Some`; on timeout the test
    /// fails with `what`, the URL and the page text.
    pub async fn wait_until<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            if let Some(v) = check(self.client.clone()).await {
                return v;
            }
            if tokio::time::Instant::now() >= deadline {
                let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
                let text: String = self.page_text().await.chars().take(2000).collect();
                panic!("timed out after {TIMEOUT:?} waiting for {what}\nat {url}\npage text:\n{text}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until an element matching the CSS selector is on the page and displayed.
    pub async fn wait_for(&self, css: &str) -> Element {
        let css_owned = css.to_string();
        self.wait_until(&format!("an element `{css}`"), move |c| {
            let css = css_owned.clone();
            async move {
                let e = c.find(Locator::Css(&css)).await.ok()?;
                e.is_displayed().await.ok()?.then_some(e)
            }
        })
        .await
    }

    /// Waits until an element matching `css` shows text containing `needle`; returns its text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let (css_owned, needle_owned) = (css.to_string(), needle.to_string());
        self.wait_until(&format!("`{css}` to show {needle:?}"), move |c| {
            let (css, needle) = (css_owned.clone(), needle_owned.clone());
            async move {
                for e in c.find_all(Locator::Css(&css)).await.ok()? {
                    let text = e.text().await.ok()?;
                    if text.contains(&needle) {
                        return Some(text);
                    }
                }
                None
            }
        })
        .await
    }

    /// Waits until no element matches `css` (e.g. a button that went away).
    pub async fn wait_gone(&self, css: &str) {
        let css_owned = css.to_string();
        self.wait_until(&format!("`{css}` to go away"), move |c| {
            let css = css_owned.clone();
            async move { c.find_all(Locator::Css(&css)).await.ok()?.is_empty().then_some(()) }
        })
        .await
    }

    /// The text of the first element matching `css` (waiting for it to appear). A live page may
    /// replace the element between finding and reading it; that is retried, not a failure.
    pub async fn text(&self, css: &str) -> String {
        let css_owned = css.to_string();
        self.wait_until(&format!("the text of `{css}`"), move |c| {
            let css = css_owned.clone();
            async move {
                let e = c.find(Locator::Css(&css)).await.ok()?;
                if !e.is_displayed().await.ok()? {
                    return None;
                }
                e.text().await.ok()
            }
        })
        .await
    }

    /// The value of attribute `name` of the first element matching `css`, or `None` when no
    /// element matches or it has no such attribute (no waiting).
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        let e = self.client.find(Locator::Css(css)).await.ok()?;
        e.attr(name).await.ok()?
    }

    /// How many elements match `css` right now.
    pub async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.map(|v| v.len()).unwrap_or(0)
    }

    /// Clicks the element matching `css` once it is displayed. A live page may swap the element
    /// out between finding and clicking it (a stale element) or briefly cover it; the click is
    /// then tried again on the fresh element until it lands or the wait times out.
    pub async fn click(&self, css: &str) {
        let css_owned = css.to_string();
        self.wait_until(&format!("a click on `{css}` to land"), move |c| {
            let css = css_owned.clone();
            async move {
                let e = c.find(Locator::Css(&css)).await.ok()?;
                if !e.is_displayed().await.ok()? {
                    return None;
                }
                match e.click().await {
                    Ok(_) => Some(()),
                    Err(err) => {
                        eprintln!("click `{css}` did not land ({err}); trying again");
                        None
                    }
                }
            }
        })
        .await
    }

    /// Marks the current document (a random value in `window.__marker`), so that
    /// [`Browser::same_page`] can tell later whether the browser navigated or reloaded since: a
    /// new document does not have the mark.
    pub async fn mark_page(&self) -> u64 {
        let mark = rand::random::<u32>() as u64;
        self.js("window.__marker = arguments[0]; return window.__marker", vec![json!(mark)]).await;
        mark
    }

    /// Whether the document is still the one [`Browser::mark_page`] marked with `mark`.
    pub async fn same_page(&self, mark: u64) -> bool {
        self.js("return window.__marker === undefined ? null : window.__marker", vec![]).await == json!(mark)
    }

    /// Replaces the value of the input matching `css`.
    pub async fn fill(&self, css: &str, value: &str) {
        let e = self.wait_for(css).await;
        e.clear().await.unwrap_or_else(|err| panic!("clear `{css}`: {err}"));
        e.send_keys(value).await.unwrap_or_else(|err| panic!("type into `{css}`: {err}"));
    }

    /// Runs JavaScript in the page (`arguments[i]` are `args`) and returns its result.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Sets a cookie for `origin` (e.g. the app's address). WebDriver only sets cookies for the
    /// page's own site, so this first opens a page there if the browser is elsewhere.
    pub async fn set_cookie(&self, origin: &str, name: &str, value: &str) {
        let here = self.current_url().await;
        if !here.as_str().starts_with(origin) {
            self.goto(&format!("{}/", origin.trim_end_matches('/'))).await;
        }
        let mut cookie = Cookie::new(name.to_string(), value.to_string());
        cookie.set_path("/");
        // chromedriver refuses a cookie whose domain is left out (sent as null).
        let host = url::Url::parse(origin).ok().and_then(|u| u.host_str().map(str::to_string));
        cookie.set_domain(host.unwrap_or_else(|| panic!("{origin} is not an origin")));
        // As the app's own session cookie; without a value fantoccini would send `None`, which
        // Chromium rejects on a cookie that is not `Secure`.
        cookie.set_same_site(cookie::SameSite::Strict);
        self.client.add_cookie(cookie).await.unwrap_or_else(|e| panic!("set cookie {name}: {e}"));
    }

    /// The value of the cookie `name` on the current page's site, if set.
    pub async fn cookie(&self, name: &str) -> Option<String> {
        let all = self.client.get_all_cookies().await.expect("cookies");
        all.into_iter().find(|c| c.name() == name).map(|c| c.value().to_string())
    }

    /// Emulates a viewport of `width`×`height` CSS pixels (e.g. [`PHONE`], [`LAPTOP`]), as a
    /// phone would (`mobile`: touch-style layout, meta viewport honoured).
    pub async fn set_viewport(&self, (width, height): (u32, u32)) {
        let mobile = width < 600;
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        )
        .await;
    }

    /// Back to the window's own viewport.
    pub async fn reset_viewport(&self) {
        self.cdp("Emulation.clearDeviceMetricsOverride", json!({})).await;
    }

    /// Saves what the viewport shows as `target/screenshots/<name>.png`; returns the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        save_png(name, &png)
    }

    /// Saves the whole page, beyond the viewport, as `target/screenshots/<name>.png`.
    pub async fn full_page_screenshot(&self, name: &str) -> PathBuf {
        let metrics = self.cdp("Page.getLayoutMetrics", json!({})).await;
        let size = &metrics["cssContentSize"];
        let (w, h) = (size["width"].as_f64().unwrap_or(1.0), size["height"].as_f64().unwrap_or(1.0));
        // The content size leaves out the vertical scrollbar's width, but the page is laid out
        // (and captured, without the scrollbar) at the full viewport width: clip to that, or
        // the right edge of the page is cut off.
        let inner = self.js("return window.innerWidth", vec![]).await.as_f64().unwrap_or(0.0);
        let w = w.max(inner);
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true,
                       "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}}),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("screenshot is base64");
        save_png(name, &png)
    }

    /// [`Browser::screenshot`] as `target/screenshots/<name>.png`; with
    /// `JIAOYING_PUBLISH_SCREENSHOTS=1` also copied to `docs/screenshots/<docs_name>.png`, the set
    /// kept with the repository. Only one backend's run should publish, so the set stays one set.
    pub async fn publish_screenshot(&self, name: &str, docs_name: Option<&str>) -> PathBuf {
        let path = self.screenshot(name).await;
        if let Some(docs_name) = docs_name {
            publish(&path, docs_name);
        }
        path
    }

    /// [`Browser::full_page_screenshot`], published as [`Browser::publish_screenshot`] does.
    pub async fn publish_full_page_screenshot(&self, name: &str, docs_name: Option<&str>) -> PathBuf {
        let path = self.full_page_screenshot(name).await;
        if let Some(docs_name) = docs_name {
            publish(&path, docs_name);
        }
        path
    }

    /// The directory Chromium saves downloads into (empty at start).
    pub fn download_dir(&self) -> &Path {
        self.downloads.path()
    }

    /// Waits until Chromium has finished downloading a file named `file_name` and returns its
    /// bytes. (Chromium writes `<name>.crdownload` and renames it when complete.)
    pub async fn wait_for_download(&self, file_name: &str) -> Vec<u8> {
        let path = self.downloads.path().join(file_name);
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            if let Ok(bytes) = std::fs::read(&path) {
                return bytes;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {TIMEOUT:?} waiting for the download {file_name}; downloaded: {:?}",
                self.downloads()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The names of the files downloaded so far (finished or not).
    pub fn downloads(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.downloads.path())
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Ends the session (Chromium quits), then stops chromedriver.
    pub async fn close(self) {
        let Browser { client, driver, downloads, _dir, _slot } = self;
        if let Err(e) = client.close().await {
            eprintln!("closing the browser session: {e}");
        }
        drop(driver);
        drop(downloads);
    }
}

/// Where the documentation's screenshots are kept: `<workspace>/docs/screenshots`.
pub fn docs_screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").join("docs").join("screenshots")
}

fn publish(path: &Path, docs_name: &str) {
    if std::env::var(PUBLISH_ENV).map_or(true, |v| v != "1") {
        return;
    }
    let dir = docs_screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let to = dir.join(format!("{docs_name}.png"));
    std::fs::copy(path, &to).unwrap_or_else(|e| panic!("copy {} to {}: {e}", path.display(), to.display()));
    eprintln!("published: {}", to.display());
}

fn save_png(name: &str, png: &[u8]) -> PathBuf {
    assert!(png.starts_with(b"\x89PNG"), "screenshot {name} is not a PNG");
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    eprintln!("screenshot: {}", path.display());
    path
}
