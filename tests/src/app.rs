//! `spawn_app`: the real application on a loopback port, on a fresh database of either backend,
//! with a real SMS gateway, a real SMTP server and a clock the test moves by hand.

use std::sync::Arc;

use jiaoying::{AppHandle, Application, Settings};
use jiaoying_core::{ManualClock, Span, Timestamp};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::db::{Backend, TestDb};
use crate::gateway::Gateway;
use crate::smtp::SmtpServer;

pub const SOURCE_TOKEN: &str = "test-source-token-0123456789";
pub const SMS_SECRET: &str = "sms-shared-secret-for-tests";
pub const API_TOKEN: &str = "jy_test_api_token";
/// A source configured only by its token's SHA-256, limited to one sender.
pub const HASHED_SOURCE_TOKEN: &str = "hashed-source-token-abcdefgh";
pub const HASHED_SOURCE_SENDER: &str = "district@example.org";
/// 2026-07-01T00:00:00Z: the clock starts here in every test.
pub const START: Timestamp = Timestamp(1_782_864_000_000);

/// The persons of the test registry: (id, mobile).
pub const LEADER: (&str, &str) = ("p-leader", "+8613900000001");
pub const DUTY: (&str, &str) = ("p-duty", "+8613900000002");
pub const HEAD: (&str, &str) = ("p-head", "+8613900000003");
pub const GRID: (&str, &str) = ("p-grid", "+8613900000004");
pub const UNIT: (&str, &str) = ("p-unit", "+8613900000005");
pub const REG: (&str, &str) = ("p-reg", "+8613900000006");

/// 街道 S > 社区 C > 网格 G; a school in G. Chains: grid → head → leader; unit → head;
/// regulatory → leader; duty officer at street level.
const REGISTRY: &str = r#"
[[areas]]
code = "500105002"
name = "观音桥街道"
[[areas]]
code = "500105002001"
name = "建新社区"
parent = "500105002"
[[areas]]
code = "500105002001001"
name = "第一网格"
parent = "500105002001"

[[persons]]
id = "p-leader"
name = "街道主任"
mobile = "+8613900000001"
roles = ["leader"]
area = "500105002"
[[persons]]
id = "p-duty"
name = "街道值班员"
mobile = "13900000002"
roles = ["duty_officer"]
area = "500105002"
superior = "p-leader"
[[persons]]
id = "p-head"
name = "社区书记"
mobile = "+8613900000003"
email = "head@example.org"
roles = ["community"]
area = "500105002001"
superior = "p-leader"
[[persons]]
id = "p-grid"
name = "网格员"
mobile = "+8613900000004"
email = "grid@example.org"
roles = ["grid"]
area = "500105002001001"
superior = "p-head"
[[persons]]
id = "p-unit"
name = "校长"
mobile = "+8613900000005"
roles = ["unit"]
area = "500105002001001"
superior = "p-head"
[[persons]]
id = "p-reg"
name = "教委安全科长"
mobile = "+8613900000006"
roles = ["regulatory"]
area = "500105002"
superior = "p-leader"

[[units]]
id = "u-school"
name = "某小学"
kind = "school"
area = "500105002001001"
location = [106.54, 29.58]
administrative = "p-head"
regulatory = "p-reg"
unit = "p-unit"
"#;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub handle: AppHandle,
    pub gateway: Gateway,
    pub smtp: Arc<SmtpServer>,
    pub db: TestDb,
    settings_toml: String,
    _dir: tempfile::TempDir,
    running: Option<Running>,
}

fn settings_toml(
    db_url: &str,
    registry: &std::path::Path,
    gateway: &Gateway,
    smtp_port: u16,
    sms_extra: &str,
) -> String {
    format!(
        r#"
registry = "{registry}"
[server]
listen = "127.0.0.1:0"
public_url = "http://jiaoying.test"
body_limit = 65536
[database]
url = "{db_url}"
[security]
secret = "a-test-secret-that-signs-links"
[messages]
signature = "观音桥街道"
[[sources]]
id = "cma"
token = "{SOURCE_TOKEN}"
[[sources]]
id = "district"
token_sha256 = "{hashed}"
senders = ["{HASHED_SOURCE_SENDER}"]
[channels.sms]
kind = "sms-webhook"
url = "{gw}"
secret = "{SMS_SECRET}"
{sms_extra}
[channels.email]
kind = "smtp"
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "观音桥街道应急办 <noreply@example.org>"
[policy.red]
roles = ["grid", "community", "administrative", "regulatory", "unit"]
channels = ["sms", "email"]
answer_within = "5m"
repeats = 1
repeat_channels = ["sms"]
escalate = true
[policy.yellow]
roles = ["community", "unit"]
channels = ["sms"]
answer_within = "5m"
repeats = 0
escalate = true
[policy.orange]
roles = ["grid", "community", "administrative", "regulatory", "unit"]
channels = ["sms"]
answer_within = "5m"
repeats = 0
escalate = true
"#,
        registry = registry.display(),
        gw = gateway.url(),
        hashed = hex::encode(Sha256::digest(HASHED_SOURCE_TOKEN.as_bytes())),
    )
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, "").await
}

/// `spawn_app` with extra TOML appended to the test config (more sources, tables, ...).
pub async fn spawn_app_with(backend: Backend, extra_toml: &str) -> Option<TestApp> {
    spawn_app_custom(backend, "", extra_toml).await
}

/// `spawn_app_with`, plus keys added to the `[channels.sms]` table (limits, fallback, timeout).
pub async fn spawn_app_custom(backend: Backend, sms_extra: &str, extra_toml: &str) -> Option<TestApp> {
    let db = TestDb::fresh(backend).await?;
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = dir.path().join("registry.toml");
    std::fs::write(&registry, REGISTRY).expect("write registry");
    let gateway = Gateway::start(SMS_SECRET).await;
    let smtp = Arc::new(SmtpServer::start().await);
    let toml = format!("{}\n{extra_toml}", settings_toml(&db.url, &registry, &gateway, smtp.port, sms_extra));
    let clock = ManualClock::new(START);
    let settings: Settings = toml::from_str(&toml).expect("test settings parse");
    let running = Running::start(&settings, &clock).await;
    let app = TestApp {
        address: running.address.clone(),
        client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"),
        clock,
        handle: running.handle.clone(),
        gateway,
        smtp,
        db,
        settings_toml: toml,
        _dir: dir,
        running: Some(running),
    };
    app.handle
        .store
        .put_api_token("tests", "officer", &hex::encode(Sha256::digest(API_TOKEN.as_bytes())), START.millis())
        .await
        .expect("api token");
    Some(app)
}

/// One run of the application, from build to shutdown.
struct Running {
    address: String,
    handle: AppHandle,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn start(settings: &Settings, clock: &ManualClock) -> Running {
        let app = Application::build(settings, Arc::new(clock.clone())).await.expect("application builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));
        Running { address, handle, stop, task }
    }
}

/// A signed-in board session: the session cookie's value and its CSRF token (read from the store by
/// the cookie's hash, so that tests do not depend on how pages embed it).
pub struct BoardSession {
    pub cookie: String,
    pub csrf: String,
}

/// The value of the cookie `name` a response sets (`None` when it is absent or cleared).
pub fn cookie_set_by(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(k, v)| k.trim() == name && !v.is_empty())
        .map(|(_, v)| v.to_string())
}

impl TestApp {
    /// Submits the sign-in form as a browser would: opens it for its double-submit cookie and
    /// token, then posts the name and password, asking to go on to `next`.
    pub async fn post_sign_in_form(&self, name: &str, password: &str, next: &str) -> reqwest::Response {
        use reqwest::header::{ACCEPT, COOKIE};
        let form = self.client.get(format!("{}/login", self.address)).header(ACCEPT, "text/html").send().await.unwrap();
        let login_cookie = cookie_set_by(form.headers(), "jy_login").expect("the form's cookie");
        let html = form.text().await.unwrap();
        let marker = "name=\"csrf\" value=\"";
        let start = html.find(marker).expect("the form's token") + marker.len();
        let token = html[start..].split('"').next().unwrap().to_string();
        self.client
            .post(format!("{}/login", self.address))
            .header(COOKIE, format!("jy_login={login_cookie}"))
            .header(ACCEPT, "text/html")
            .form(&[("name", name), ("password", password), ("csrf", &token), ("next", next)])
            .send()
            .await
            .unwrap()
    }

    /// The session behind a session cookie's value, with its CSRF token.
    pub async fn board_session(&self, cookie: String) -> BoardSession {
        let hash = hex::encode(Sha256::digest(cookie.as_bytes()));
        let now = self.clock.advance(Span::ZERO).millis();
        let info =
            self.handle.store.live_session(&hash, now).await.unwrap().expect("the session is stored by its hash");
        BoardSession { cookie, csrf: info.csrf }
    }

    /// Signs in through the form (see [`TestApp::post_sign_in_form`]); panics unless it succeeds.
    pub async fn sign_in_form(&self, name: &str, password: &str) -> BoardSession {
        let r = self.post_sign_in_form(name, password, "/").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign-in of {name} failed");
        let cookie = cookie_set_by(r.headers(), "jy_session").expect("a session cookie");
        self.board_session(cookie).await
    }

    pub fn settings(&self) -> Settings {
        toml::from_str(&self.settings_toml).expect("test settings parse")
    }

    /// Starts the application again on the same database, gateway, SMTP server and clock.
    pub async fn restart(&mut self) {
        self.stop().await;
        let running = Running::start(&self.settings(), &self.clock).await;
        self.address = running.address.clone();
        self.handle = running.handle.clone();
        self.running = Some(running);
    }

    /// Stops the application as a shutdown would, and waits until it has closed the database.
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.stop.send(());
            r.task.await.expect("app task").expect("app stopped cleanly");
        }
    }

    /// Moves the clock and tells the timer and outbox loops to look now.
    pub fn advance(&self, span: Span) {
        self.clock.advance(span);
        self.handle.wake();
    }

    pub async fn post_alert(&self, alert: &Value) -> (StatusCode, Value) {
        let r = self
            .client
            .post(format!("{}/api/v1/alerts", self.address))
            .bearer_auth(SOURCE_TOKEN)
            .json(alert)
            .send()
            .await
            .expect("post alert");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Posts a CAP document as a source would.
    pub async fn post_cap(&self, xml: &[u8]) -> (StatusCode, Value) {
        self.post_alert_raw(xml.to_vec(), "application/cap+xml", Some(SOURCE_TOKEN)).await
    }

    /// A raw POST to the alert endpoint: any body, content type and token.
    pub async fn post_alert_raw(&self, body: Vec<u8>, content_type: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req =
            self.client.post(format!("{}/api/v1/alerts", self.address)).header("content-type", content_type).body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.expect("post");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_api(&self, path: &str) -> (StatusCode, Value) {
        let r = self.client.get(format!("{}{path}", self.address)).bearer_auth(API_TOKEN).send().await.expect("get");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// An SMS reply as the gateway would deliver it, signed with `secret`.
    pub async fn sms_reply_signed(&self, from: &str, text: &str, id: &str, secret: &str) -> (StatusCode, Value) {
        let body = serde_json::json!({"from": from, "text": text, "id": id}).to_string();
        let sig = jiaoying_dispatch::sms_webhook::sign(secret.as_bytes(), body.as_bytes());
        let r = self
            .client
            .post(format!("{}/hooks/sms/sms", self.address))
            .header("content-type", "application/json")
            .header("x-jiaoying-signature", sig)
            .body(body)
            .send()
            .await
            .expect("post hook");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn sms_reply(&self, from: &str, text: &str) -> (StatusCode, Value) {
        let id = format!("in-{}", rand::random::<u64>());
        self.sms_reply_signed(from, text, &id, SMS_SECRET).await
    }

    /// The path of an answer link, on this app's address.
    pub fn link_url(&self, link: &str) -> String {
        let path = link.strip_prefix("http://jiaoying.test").expect("link on the public URL");
        format!("{}{path}", self.address)
    }

    pub async fn open_link(&self, link: &str) -> (StatusCode, String) {
        let r = self.client.get(self.link_url(link)).send().await.expect("get link");
        (r.status(), r.text().await.unwrap_or_default())
    }

    pub async fn click_confirm(&self, link: &str) -> (StatusCode, String) {
        let r = self.client.post(self.link_url(link)).send().await.expect("post link");
        (r.status(), r.text().await.unwrap_or_default())
    }

    /// Calls of an alert through the API, keyed by person id.
    pub async fn calls(&self, alert_id: i64) -> Vec<Value> {
        let (status, body) = self.get_api(&format!("/api/v1/alerts/{alert_id}/calls")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["calls"].as_array().cloned().unwrap_or_default()
    }

    pub async fn call_of(&self, alert_id: i64, person: &str) -> Value {
        self.calls(alert_id)
            .await
            .into_iter()
            .find(|c| c["person_id"] == person)
            .unwrap_or_else(|| panic!("no call for {person}"))
    }

    /// Waits until the person's call reaches `state`. The outbox records a send just after the
    /// gateway has it, so a test that saw the message polls the API briefly for the record.
    pub async fn call_reaches(&self, alert_id: i64, person: &str, state: &str) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let c = self.call_of(alert_id, person).await;
            if c["state"] == state {
                return c;
            }
            assert!(tokio::time::Instant::now() < deadline, "call of {person} never reached {state}: {c}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    pub async fn alerts_total(&self) -> i64 {
        let (_, total) = self
            .handle
            .store
            .list_alerts(&jiaoying_store::AlertFilter { state: None, limit: 1000, offset: 0 })
            .await
            .expect("list");
        total
    }

    /// Stops the app and drops the test database.
    pub async fn finish(mut self) {
        self.stop().await;
        let TestApp { db, .. } = self;
        db.cleanup().await;
    }
}

/// A red alert on the community, as a source would send it.
pub fn red_alert(identifier: &str) -> Value {
    serde_json::json!({
        "identifier": identifier,
        "sender": "cq@cma.gov.cn",
        "sent": "2026-07-01T08:00:00+08:00",
        "msg_type": "Alert",
        "references": [],
        "event": "暴雨",
        "tier": "red",
        "headline": "江北区气象台发布暴雨红色预警",
        "description": "预计未来3小时降雨量将达100毫米以上",
        "instruction": "停止户外作业，转移危险区域人员",
        "areas": [{"code": "500105002001"}]
    })
}

/// Runs `async fn story(app: &mut TestApp)` against a fresh application on each backend;
/// PostgreSQL runs only when `JIAOYING_TEST_PG_URL` is set, and is marked as run.
#[macro_export]
macro_rules! app_story {
    ($story:ident) => {
        $crate::app_story_with!("", $story);
    };
}

/// [`app_story!`] with extra TOML appended to the test config (as [`spawn_app_with`] takes it):
///
/// - `app_story_with!(CONFIG, story)` runs `async fn story(app: &mut TestApp)`;
/// - `app_story_with!(let hook = Hook::start().await; link_config(&hook), story)` first makes a
///   fixture for each run (a receiver on loopback, say), builds the config from it, and runs
///   `async fn story(app: &mut TestApp, hook: &Hook)`.
///
/// Each story becomes a module of its name with the tests `on_sqlite` and `on_postgres`.
#[macro_export]
macro_rules! app_story_with {
    // The story's module (first: `@` begins no expression, so the arms below never see it).
    (@story $story:ident, $config:expr $(, $fixture:ident = $make:expr)?) => {
        mod $story {
            use super::*;

            /// `false` when the backend is not available (PostgreSQL without its URL).
            async fn run(backend: $crate::Backend) -> bool {
                $(let $fixture = $make;)?
                let Some(mut app) = $crate::spawn_app_with(backend, &$config).await else {
                    return false;
                };
                super::$story(&mut app $(, &$fixture)?).await;
                app.finish().await;
                true
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                assert!(run($crate::Backend::Sqlite).await, "SQLite is always available");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                if !run($crate::Backend::Postgres).await {
                    eprintln!("SKIPPED {}::on_postgres: set JIAOYING_TEST_PG_URL to run it", stringify!($story));
                    return;
                }
                $crate::db::pg_ran(concat!(module_path!(), "::on_postgres"));
            }
        }
    };
    (let $fixture:ident = $make:expr; $config:expr, $story:ident) => {
        $crate::app_story_with!(@story $story, $config, $fixture = $make);
    };
    ($config:expr, $story:ident) => {
        $crate::app_story_with!(@story $story, $config);
    };
}
