//! Board sign-in and access rules, on both backends: the login form and its double-submit token,
//! generic failures, throttling, sign-out, cookie flags, no open redirect, passwords stored only as
//! argon2id hashes, session expiry, and the access-rule table: every state-changing action refused
//! without a session, for viewers (and officers, for admins' actions), and without the CSRF token,
//! and done when the right role sends it with the token.

use jiaoying::commands;
use jiaoying_core::Span;
use jiaoying_tests::app::{BoardSession as Session, GRID, HEAD, UNIT};
use jiaoying_tests::{app_story, red_alert, TestApp};
use reqwest::header::{HeaderMap, ACCEPT, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;

const OFFICER: (&str, &str) = ("wang", "暴雨夜值班-correct-horse");
const VIEWER: (&str, &str) = ("li-viewer", "viewer password 123");
const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// Adds a board user through the CLI command (`jiaoying user add`).
async fn add_user(app: &TestApp, (name, password): (&str, &str), role: &str) -> String {
    commands::user_add(&app.settings(), name, role, password).await.expect("user add")
}

/// The `Set-Cookie` header of `name`, whole (value and attributes).
fn set_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.split(';').next().and_then(|kv| kv.split_once('=')).is_some_and(|(k, _)| k.trim() == name))
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let c = set_cookie(headers, name)?;
    let value = c.split(';').next()?.split_once('=')?.1.to_string();
    (!value.is_empty()).then_some(value)
}

/// The value of the hidden form field `name` in the sign-in page.
fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no field {name} in {html}")) + marker.len();
    let raw = html[start..].split('"').next().unwrap();
    // The page escapes values (minijinja writes `/` as `&#x2f;`).
    raw.replace("&#x2f;", "/").replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Opens the sign-in form: its double-submit cookie and the matching hidden token.
async fn login_form(app: &TestApp, query: &str) -> (String, String, String) {
    let r = app.client.get(format!("{}/login{query}", app.address)).header(ACCEPT, HTML).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = cookie_value(r.headers(), "jy_login").expect("the form sets its cookie");
    let html = r.text().await.unwrap();
    let token = hidden_field(&html, "csrf");
    (cookie, token, html)
}

/// Submits the sign-in form as a browser would (after opening it).
async fn post_login(app: &TestApp, name: &str, password: &str, next: &str) -> reqwest::Response {
    app.post_sign_in_form(name, password, next).await
}

async fn sign_in(app: &TestApp, user: (&str, &str)) -> Session {
    let r = post_login(app, user.0, user.1, "/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign-in of {} failed: {}", user.0, r.text().await.unwrap());
    let cookie = cookie_value(r.headers(), "jy_session").expect("session cookie");
    app.board_session(cookie).await
}

async fn api_get(app: &TestApp, session: &Session, path: &str) -> StatusCode {
    app.client
        .get(format!("{}{path}", app.address))
        .header(COOKIE, format!("jy_session={}", session.cookie))
        .send()
        .await
        .unwrap()
        .status()
}

async fn a_user_signs_in_with_a_strict_http_only_session_cookie(app: &mut TestApp) {
    let out = add_user(app, OFFICER, "officer").await;
    assert!(out.contains("added"), "{out}");

    // The page is Chinese first, English on request.
    let (_, _, html) = login_form(app, "").await;
    assert!(html.contains("用户名") && html.contains("密码"), "{html}");
    let (_, _, html) = login_form(app, "?lang=en").await;
    assert!(html.contains("Name") && html.contains("Password") && html.contains("Sign in"), "{html}");

    let r = post_login(app, OFFICER.0, OFFICER.1, "/alerts/7?state=overdue").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/alerts/7?state=overdue", "back to the page asked for");
    let flags = set_cookie(r.headers(), "jy_session").expect("session cookie").to_string();
    let attrs: Vec<String> = flags.split(';').skip(1).map(|a| a.trim().to_ascii_lowercase()).collect();
    assert!(attrs.contains(&"httponly".into()), "{flags}");
    assert!(attrs.contains(&"samesite=strict".into()), "{flags}");
    assert!(attrs.contains(&"path=/".into()), "{flags}");
    assert!(!attrs.contains(&"secure".into()), "plain http public_url: no Secure flag ({flags})");
    let cookie = cookie_value(r.headers(), "jy_session").unwrap();
    assert!(cookie.len() >= 64, "a long random session id");

    // The session reads the API and the board; without it, the API says 401 and a page asks to sign in.
    let session = Session { cookie, csrf: String::new() };
    assert_eq!(api_get(app, &session, "/api/v1/alerts").await, StatusCode::OK);
    let r = app.client.get(format!("{}/api/v1/alerts", app.address)).header(ACCEPT, HTML).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the API never redirects");
    let r = app.client.get(format!("{}/?lang=en", app.address)).header(ACCEPT, HTML).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/login?next=%2F%3Flang%3Den");
    let bogus = Session { cookie: "0".repeat(64), csrf: String::new() };
    assert_eq!(api_get(app, &bogus, "/api/v1/alerts").await, StatusCode::UNAUTHORIZED);

    // Signed in, the sign-in page sends the browser straight on.
    let r = app
        .client
        .get(format!("{}/login?next=/audit", app.address))
        .header(COOKIE, format!("jy_session={}", session.cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/audit");
}
app_story!(a_user_signs_in_with_a_strict_http_only_session_cookie);

async fn a_wrong_password_and_an_unknown_name_get_the_same_generic_answer(app: &mut TestApp) {
    add_user(app, OFFICER, "officer").await;
    let wrong = post_login(app, OFFICER.0, "not-the-password", "/").await;
    let unknown = post_login(app, "nobody-here", "not-the-password", "/").await;
    for r in [wrong, unknown] {
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(set_cookie(r.headers(), "jy_session").is_none(), "no session on failure");
        let html = r.text().await.unwrap();
        assert!(html.contains("用户名或密码错误"), "one generic message: {html}");
        assert!(!html.contains("not-the-password"), "the password is never echoed");
        assert!(!html.contains("不存在") && !html.contains("unknown"), "never says which part was wrong");
    }
    // A form without its double-submit cookie is refused, even with the right password.
    let (_, token, _) = login_form(app, "").await;
    let r = app
        .client
        .post(format!("{}/login", app.address))
        .form(&[("name", OFFICER.0), ("password", OFFICER.1), ("csrf", &token), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(r.headers(), "jy_session").is_none());
}
app_story!(a_wrong_password_and_an_unknown_name_get_the_same_generic_answer);

async fn repeated_failures_are_throttled_per_name_and_address(app: &mut TestApp) {
    add_user(app, OFFICER, "officer").await;
    for i in 0..5 {
        let r = post_login(app, OFFICER.0, &format!("guess-{i}"), "/").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "failure {i}");
    }
    // Now even the right password is turned away, with a clear message and when to retry.
    let r = post_login(app, OFFICER.0, OFFICER.1, "/").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(set_cookie(r.headers(), "jy_session").is_none());
    let retry: i64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    let html = r.text().await.unwrap();
    assert!(html.contains("登录失败次数过多") && html.contains("15 分钟"), "{html}");
    // The address is throttled too: another name from the same place waits as well.
    add_user(app, VIEWER, "viewer").await;
    assert_eq!(post_login(app, VIEWER.0, VIEWER.1, "/").await.status(), StatusCode::TOO_MANY_REQUESTS);

    // Fifteen minutes later the failures have aged out.
    app.advance(Span::from_mins(15));
    let r = post_login(app, OFFICER.0, OFFICER.1, "/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}
app_story!(repeated_failures_are_throttled_per_name_and_address);

async fn signing_out_ends_the_session(app: &mut TestApp) {
    add_user(app, OFFICER, "officer").await;
    let s = sign_in(app, OFFICER).await;
    assert_eq!(api_get(app, &s, "/api/v1/alerts").await, StatusCode::OK);
    // The board's fetch(): the token in the header, JSON back, the cookie deleted.
    let r = app
        .client
        .post(format!("{}/logout", app.address))
        .header(COOKIE, format!("jy_session={}", s.cookie))
        .header("x-csrf-token", &s.csrf)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let deleted = set_cookie(r.headers(), "jy_session").unwrap().to_ascii_lowercase();
    assert!(deleted.starts_with("jy_session=;") && deleted.contains("max-age=0"), "{deleted}");
    assert_eq!(api_get(app, &s, "/api/v1/alerts").await, StatusCode::UNAUTHORIZED, "the session is gone");

    // A plain HTML form: the token in a form field, back to the sign-in page.
    let s = sign_in(app, OFFICER).await;
    let r = app
        .client
        .post(format!("{}/logout", app.address))
        .header(COOKIE, format!("jy_session={}", s.cookie))
        .header(ACCEPT, HTML)
        .form(&[("csrf", s.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/login");
    assert_eq!(api_get(app, &s, "/api/v1/alerts").await, StatusCode::UNAUTHORIZED);
}
app_story!(signing_out_ends_the_session);

async fn the_next_page_is_always_local(app: &mut TestApp) {
    add_user(app, OFFICER, "officer").await;
    for evil in ["https://evil.example/", "//evil.example/board", "/\\evil.example", "http:/evil.example"] {
        let r = post_login(app, OFFICER.0, OFFICER.1, evil).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[LOCATION], "/", "{evil} must not be followed");
    }
    let (_, _, html) = login_form(app, "?next=%2F%2Fevil.example").await;
    assert_eq!(hidden_field(&html, "next"), "/");
    let (_, _, html) = login_form(app, "?next=%2Falerts%2F3").await;
    assert_eq!(hidden_field(&html, "next"), "/alerts/3", "a local page is kept");
}
app_story!(the_next_page_is_always_local);

async fn passwords_and_session_ids_are_stored_only_as_hashes(app: &mut TestApp) {
    add_user(app, OFFICER, "officer").await;
    let user = app.handle.store.user(OFFICER.0).await.unwrap().expect("stored");
    assert!(user.password_hash.starts_with("$argon2id$"), "{}", user.password_hash);
    assert!(!user.password_hash.contains(OFFICER.1));
    assert!(!format!("{user:?}").contains(&user.password_hash), "Debug hides the hash");
    let s = sign_in(app, OFFICER).await;
    let now = app.clock.advance(Span::ZERO).millis();
    assert!(app.handle.store.live_session(&s.cookie, now).await.unwrap().is_none(), "the cookie value is no key");

    // `user add` again changes the password and ends the old sessions.
    let out = add_user(app, (OFFICER.0, "a brand new password"), "viewer").await;
    assert!(out.contains("updated"), "{out}");
    assert_eq!(api_get(app, &s, "/api/v1/alerts").await, StatusCode::UNAUTHORIZED);
    assert_eq!(post_login(app, OFFICER.0, OFFICER.1, "/").await.status(), StatusCode::UNAUTHORIZED);
    sign_in(app, (OFFICER.0, "a brand new password")).await;
    assert!(commands::user_add(&app.settings(), "x", "root", "long enough password").await.is_err());
    assert!(commands::user_add(&app.settings(), "x", "viewer", "short").await.is_err());
}
app_story!(passwords_and_session_ids_are_stored_only_as_hashes);

async fn sessions_end_when_idle_and_after_twelve_hours(app: &mut TestApp) {
    add_user(app, OFFICER, "officer").await;
    let s = sign_in(app, OFFICER).await;
    app.advance(Span::from_mins(119));
    assert_eq!(api_get(app, &s, "/api/v1/alerts").await, StatusCode::OK, "used within the idle time");
    app.advance(Span::from_mins(119));
    assert_eq!(api_get(app, &s, "/api/v1/alerts").await, StatusCode::OK, "use moved the idle expiry on");
    app.advance(Span::from_mins(121));
    assert_eq!(api_get(app, &s, "/api/v1/alerts").await, StatusCode::UNAUTHORIZED, "idle too long");

    let s = sign_in(app, OFFICER).await;
    for _ in 0..11 {
        app.advance(Span::from_mins(60));
        assert_eq!(api_get(app, &s, "/api/v1/alerts").await, StatusCode::OK);
    }
    app.advance(Span::from_mins(60));
    assert_eq!(api_get(app, &s, "/api/v1/alerts").await, StatusCode::UNAUTHORIZED, "12 hours at most");
}
app_story!(sessions_end_when_idle_and_after_twelve_hours);

/// Who may take an action.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    /// Any signed-in role (signing out).
    Anyone,
    /// Officers and admins; viewers get 403.
    Officer,
    /// Admins only; officers and viewers get 403.
    Admin,
}

/// A state-changing route of the board. In the path, `{grid}`, `{head}` and `{unit}` are those
/// persons' calls, `{alert}` the alert, `{user}` the board user the table adds (and then changes
/// and deletes).
struct Action {
    method: Method,
    path: &'static str,
    body: &'static str,
    who: Who,
    /// What the allowed role with its token gets: the action really happened.
    ok: StatusCode,
}

const NEW_USER: &str = "zhang-new";

/// Every state-changing action route, in an order where each finds what it needs (the re-call
/// before the cancel, the user added before it is changed and deleted). A new action is added
/// here, and this test checks its access rules on both backends.
const ACTIONS: &[Action] = &[
    Action {
        method: Method::POST,
        path: "/api/v1/calls/{grid}/answer",
        body: r#"{"note":"电话联系本人"}"#,
        who: Who::Officer,
        ok: StatusCode::OK,
    },
    Action {
        method: Method::POST,
        path: "/api/v1/calls/{head}/escalate",
        body: "{}",
        who: Who::Officer,
        ok: StatusCode::OK,
    },
    Action {
        method: Method::POST,
        path: "/api/v1/calls/{unit}/recall",
        body: "{}",
        who: Who::Officer,
        ok: StatusCode::OK,
    },
    Action {
        method: Method::POST,
        path: "/api/v1/alerts/{alert}/cancel",
        body: r#"{"reason":"气象台电话告知：解除"}"#,
        who: Who::Officer,
        ok: StatusCode::OK,
    },
    Action {
        method: Method::POST,
        path: "/api/v1/alerts/manual",
        body: r#"{"event":"暴雨","tier":"blue","areas":["500105002001"],"text":"区气象台电话通知：暴雨蓝色预警"}"#,
        who: Who::Officer,
        ok: StatusCode::CREATED,
    },
    Action {
        method: Method::POST,
        path: "/api/v1/users",
        body: r#"{"name":"zhang-new","role":"viewer","password":"a long new password"}"#,
        who: Who::Admin,
        ok: StatusCode::CREATED,
    },
    Action {
        method: Method::PATCH,
        path: "/api/v1/users/{user}",
        body: r#"{"role":"officer","password":"another long password"}"#,
        who: Who::Admin,
        ok: StatusCode::OK,
    },
    Action { method: Method::DELETE, path: "/api/v1/users/{user}", body: "", who: Who::Admin, ok: StatusCode::OK },
    Action { method: Method::POST, path: "/logout", body: "{}", who: Who::Anyone, ok: StatusCode::OK },
];

const ADMIN: (&str, &str) = ("chen-admin", "admin password 4567");

async fn send(app: &TestApp, action: &Action, path: &str, session: Option<&Session>, csrf: Option<&str>) -> StatusCode {
    let mut req = app
        .client
        .request(action.method.clone(), format!("{}{path}", app.address))
        .header("content-type", "application/json")
        .body(action.body);
    if let Some(s) = session {
        req = req.header(COOKIE, format!("jy_session={}", s.cookie));
    }
    if let Some(t) = csrf {
        req = req.header("x-csrf-token", t);
    }
    req.send().await.unwrap().status()
}

async fn every_action_is_refused_without_a_session_for_viewers_and_without_the_csrf_token(app: &mut TestApp) {
    add_user(app, OFFICER, "officer").await;
    add_user(app, VIEWER, "viewer").await;
    add_user(app, ADMIN, "admin").await;
    let (_, body) = app.post_alert(&red_alert("cq-access")).await;
    let alert_id = body["id"].as_i64().unwrap();
    app.gateway.wait_for(4).await;
    let mut ids = Vec::new();
    for person in [GRID.0, HEAD.0, UNIT.0] {
        ids.push(app.call_of(alert_id, person).await["id"].to_string());
    }
    let (grid, head, unit) = (&ids[0], &ids[1], &ids[2]);

    for action in ACTIONS {
        let path = action
            .path
            .replace("{grid}", grid)
            .replace("{head}", head)
            .replace("{unit}", unit)
            .replace("{alert}", &alert_id.to_string())
            .replace("{user}", NEW_USER);
        let what = format!("{} {path}", action.method);

        assert_eq!(send(app, action, &path, None, None).await, StatusCode::UNAUTHORIZED, "{what} without a session");

        let viewer = sign_in(app, VIEWER).await;
        let status = send(app, action, &path, Some(&viewer), Some(&viewer.csrf)).await;
        if action.who == Who::Anyone {
            assert!(
                status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                "{what} by a viewer: {status}"
            );
        } else {
            assert_eq!(status, StatusCode::FORBIDDEN, "{what} by a viewer");
        }
        if action.who == Who::Admin {
            let officer = sign_in(app, OFFICER).await;
            let status = send(app, action, &path, Some(&officer), Some(&officer.csrf)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{what} by an officer");
        }

        let allowed = if action.who == Who::Admin { ADMIN } else { OFFICER };
        let actor = sign_in(app, allowed).await;
        assert_eq!(send(app, action, &path, Some(&actor), None).await, StatusCode::FORBIDDEN, "{what} without CSRF");
        let wrong = "f".repeat(actor.csrf.len());
        assert_eq!(
            send(app, action, &path, Some(&actor), Some(&wrong)).await,
            StatusCode::FORBIDDEN,
            "{what} with a wrong CSRF token"
        );
        let other = sign_in(app, allowed).await;
        assert_eq!(
            send(app, action, &path, Some(&actor), Some(&other.csrf)).await,
            StatusCode::FORBIDDEN,
            "{what} with another session's CSRF token"
        );
        let status = send(app, action, &path, Some(&actor), Some(&actor.csrf)).await;
        assert_eq!(status, action.ok, "{what} by {} with the token", allowed.0);
    }
    // The refused attempts changed nothing; the accepted actions did, each once, and name who.
    let grid = app.call_of(alert_id, GRID.0).await;
    assert_eq!(grid["state"], "answered");
    assert_eq!(grid["answered_by"], format!("officer:{}", OFFICER.0));
    let (_, alert) = app.get_api(&format!("/api/v1/alerts/{alert_id}")).await;
    assert_eq!(alert["status"], "cancelled", "{alert}");
    assert_eq!(app.alerts_total().await, 2, "one manual warning");
    assert!(app.handle.store.user(NEW_USER).await.unwrap().is_none(), "added, changed, then deleted");
    let (_, log) = app.get_api(&format!("/api/v1/audit?actor=officer:{}", ADMIN.0)).await;
    let kinds: Vec<&str> = log["entries"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["user_delete", "user_update", "user_add"], "{log}");
}
app_story!(every_action_is_refused_without_a_session_for_viewers_and_without_the_csrf_token);
