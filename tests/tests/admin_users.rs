//! Board users managed by admins, on both backends: through `/api/v1/users` and the page
//! `/admin/users`, an admin lists, adds, re-roles, re-passwords and deletes users; officers,
//! viewers and scripts' tokens get 403; a new password or a deletion ends the user's sessions at
//! once; the last admin stays; every change is in the audit log; no answer shows a password hash.

use jiaoying::commands;
use jiaoying_tests::app::{cookie_set_by, BoardSession as Session, API_TOKEN};
use jiaoying_tests::{app_story, TestApp};
use reqwest::header::COOKIE;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const ADMIN: (&str, &str) = ("chen-admin", "admin password 4567");
const OFFICER: (&str, &str) = ("wang", "暴雨夜值班-correct-horse");
const VIEWER: (&str, &str) = ("li-viewer", "viewer password 123");

/// A signed-in browser: its session cookie and the session's CSRF token.
/// Submits the sign-in form as a browser would; the status and, on success, the session.
async fn try_sign_in(app: &TestApp, (name, password): (&str, &str)) -> (StatusCode, Option<Session>) {
    let r = app.post_sign_in_form(name, password, "/").await;
    let status = r.status();
    let Some(cookie) = cookie_set_by(r.headers(), "jy_session") else { return (status, None) };
    (status, Some(app.board_session(cookie).await))
}

async fn sign_in(app: &TestApp, user: (&str, &str)) -> Session {
    let (status, session) = try_sign_in(app, user).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "sign-in of {}", user.0);
    session.unwrap()
}

/// A request with a session (and its CSRF token); the status and the body as text.
async fn call(app: &TestApp, s: &Session, method: Method, path: &str, body: Option<Value>) -> (StatusCode, String) {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.address))
        .header(COOKIE, format!("jy_session={}", s.cookie))
        .header("x-csrf-token", &s.csrf);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn users(app: &TestApp, admin: &Session) -> Vec<Value> {
    let (status, body) = call(app, admin, Method::GET, "/api/v1/users", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!body.contains("argon2") && !body.contains("password"), "no hash, no password field: {body}");
    serde_json::from_str::<Value>(&body).unwrap()["users"].as_array().unwrap().clone()
}

async fn admins_manage_users_and_nobody_else_may(app: &mut TestApp) {
    for (user, role) in [(ADMIN, "admin"), (OFFICER, "officer"), (VIEWER, "viewer")] {
        commands::user_add(&app.settings(), user.0, role, user.1).await.expect("user add");
    }
    let admin = sign_in(app, ADMIN).await;

    // The list: by name, with role, creation time and live sessions; never a hash.
    let list = users(app, &admin).await;
    let names: Vec<&str> = list.iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, [ADMIN.0, VIEWER.0, OFFICER.0], "by name");
    assert_eq!(list[0]["role"], "admin");
    assert_eq!(list[0]["sessions"], 1);
    assert_eq!(list[2]["role"], "officer");
    assert_eq!(list[2]["sessions"], 0);
    assert!(list[2]["created_at"]["iso"].as_str().unwrap().starts_with("20"), "{}", list[2]);

    // Officers, viewers and scripts' tokens may not look or change anything.
    let new_user = json!({"name": "liu", "role": "officer", "password": "liu's first password"});
    for who in [OFFICER, VIEWER] {
        let s = sign_in(app, who).await;
        for (method, path, body) in [
            (Method::GET, "/api/v1/users", None),
            (Method::POST, "/api/v1/users", Some(new_user.clone())),
            (Method::PATCH, &*format!("/api/v1/users/{}", VIEWER.0), Some(json!({"role": "admin"}))),
            (Method::DELETE, &*format!("/api/v1/users/{}", ADMIN.0), None),
        ] {
            let (status, body) = call(app, &s, method.clone(), path, body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} by {}: {body}", who.0);
        }
        let (status, page) = call(app, &s, Method::GET, "/admin/users", None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "the page, for {}", who.0);
        assert!(!page.contains(ADMIN.0), "{page}");
        let (_, now) = call(app, &s, Method::GET, "/", None).await;
        assert!(!now.contains("id=\"nav-users\""), "no link to a page they may not open");
    }
    let r = app.client.get(format!("{}/api/v1/users", app.address)).bearer_auth(API_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "an officer's API token");
    assert_eq!(users(app, &admin).await.len(), 3, "nothing changed");

    // Bad input is refused and stores nothing.
    for (body, want) in [
        (json!({"name": "liu", "role": "root", "password": "long enough password"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "liu", "role": "officer", "password": "short"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": " ", "role": "officer", "password": "long enough password"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "liu", "role": "officer"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": OFFICER.0, "role": "viewer", "password": "long enough password"}), StatusCode::CONFLICT),
    ] {
        let (status, text) = call(app, &admin, Method::POST, "/api/v1/users", Some(body.clone())).await;
        assert_eq!(status, want, "{body}: {text}");
        assert!(!text.contains("long enough password") && !text.contains("short\""), "never echoed: {text}");
    }
    let r = app
        .client
        .post(format!("{}/api/v1/users", app.address))
        .header(COOKIE, format!("jy_session={}", admin.cookie))
        .header("x-csrf-token", &admin.csrf)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(users(app, &admin).await.len(), 3, "nothing stored");
    assert!(app.handle.store.user(OFFICER.0).await.unwrap().unwrap().role == "officer", "the taken name kept");

    // Add a user, who can sign in and act.
    let (status, body) = call(app, &admin, Method::POST, "/api/v1/users", Some(new_user.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let stored = app.handle.store.user("liu").await.unwrap().expect("stored");
    assert!(stored.password_hash.starts_with("$argon2id$"));
    let liu = sign_in(app, ("liu", "liu's first password")).await;
    let manual = json!({"event": "暴雨", "tier": "blue", "areas": ["500105002001"], "text": "电话通知"});
    let (status, body) = call(app, &liu, Method::POST, "/api/v1/alerts/manual", Some(manual.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "an officer acts: {body}");

    // A new role applies at once, to the session already open.
    let (status, body) = call(app, &admin, Method::PATCH, "/api/v1/users/liu", Some(json!({"role": "viewer"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = call(app, &liu, Method::POST, "/api/v1/alerts/manual", Some(manual.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "now a viewer");
    assert_eq!(call(app, &liu, Method::GET, "/api/v1/alerts", None).await.0, StatusCode::OK, "still signed in");
    for (body, want) in [
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"role": "root"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"password": "short"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"colour": "red"}), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        assert_eq!(call(app, &admin, Method::PATCH, "/api/v1/users/liu", Some(body.clone())).await.0, want, "{body}");
    }
    let (status, _) = call(app, &admin, Method::PATCH, "/api/v1/users/nobody", Some(json!({"role": "viewer"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A new password ends the sessions signed in with the old one.
    let (status, body) =
        call(app, &admin, Method::PATCH, "/api/v1/users/liu", Some(json!({"password": "liu's second password"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(call(app, &liu, Method::GET, "/api/v1/alerts", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(try_sign_in(app, ("liu", "liu's first password")).await.0, StatusCode::UNAUTHORIZED);
    let liu = sign_in(app, ("liu", "liu's second password")).await;

    // Deleting a user ends their session at once, and they cannot sign in again.
    let (status, body) = call(app, &admin, Method::DELETE, "/api/v1/users/liu", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(call(app, &liu, Method::GET, "/api/v1/alerts", None).await.0, StatusCode::UNAUTHORIZED);
    let (status, page) = call(app, &liu, Method::GET, "/", None).await;
    assert!(status == StatusCode::UNAUTHORIZED || status.is_redirection(), "{status}: {page}");
    assert_eq!(try_sign_in(app, ("liu", "liu's second password")).await.0, StatusCode::UNAUTHORIZED);
    assert!(users(app, &admin).await.iter().all(|u| u["name"] != "liu"));
    assert_eq!(call(app, &admin, Method::DELETE, "/api/v1/users/liu", None).await.0, StatusCode::NOT_FOUND);

    // The board keeps an admin: the last one is neither deleted nor demoted.
    let me = format!("/api/v1/users/{}", ADMIN.0);
    let (status, body) = call(app, &admin, Method::DELETE, &me, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = call(app, &admin, Method::PATCH, &me, Some(json!({"role": "officer"}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(app.handle.store.user(ADMIN.0).await.unwrap().unwrap().role, "admin");
    // With a second admin, the first may step down.
    let (status, _) =
        call(app, &admin, Method::PATCH, &format!("/api/v1/users/{}", OFFICER.0), Some(json!({"role": "admin"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(call(app, &admin, Method::PATCH, &me, Some(json!({"role": "officer"}))).await.0, StatusCode::OK);
    assert_eq!(call(app, &admin, Method::GET, "/api/v1/users", None).await.0, StatusCode::FORBIDDEN, "at once");

    // Every change is in the audit log, by the admin, naming the user; refusals left nothing.
    let boss = sign_in(app, OFFICER).await;
    let (_, log) = call(app, &boss, Method::GET, &format!("/api/v1/audit?actor=officer:{}", ADMIN.0), None).await;
    let log: Value = serde_json::from_str(&log).unwrap();
    let entries: Vec<(String, String)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_string(), e["name"].as_str().unwrap_or("").to_string()))
        .collect();
    let want: Vec<(String, String)> = [
        ("user_update", ADMIN.0),
        ("user_update", OFFICER.0),
        ("user_delete", "liu"),
        ("user_update", "liu"),
        ("user_update", "liu"),
        ("user_add", "liu"),
    ]
    .iter()
    .map(|(k, n)| (k.to_string(), n.to_string()))
    .collect();
    assert_eq!(entries, want, "{log}");
    assert!(log["entries"].as_array().unwrap().iter().all(|e| e["origin"] == "admin" && e["alert_id"].is_null()));
    assert!(!log.to_string().contains("password\"") && !log.to_string().contains("second password"), "{log}");
    let (status, audit) = call(app, &boss, Method::GET, "/audit?kind=user_delete", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(audit.contains("data-origin=\"admin\" data-kind=\"user_delete\"") && audit.contains("管理员删除用户"));
}
app_story!(admins_manage_users_and_nobody_else_may);

async fn the_users_page_lists_users_for_admins(app: &mut TestApp) {
    commands::user_add(&app.settings(), ADMIN.0, "admin", ADMIN.1).await.unwrap();
    commands::user_add(&app.settings(), OFFICER.0, "officer", OFFICER.1).await.unwrap();
    let admin = sign_in(app, ADMIN).await;
    let (status, page) = call(app, &admin, Method::GET, "/admin/users", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("<html lang=\"zh-CN\">") && page.contains("用户管理"), "{page}");
    assert!(page.contains("id=\"nav-users\" class=\"current\""), "the admin's menu has the page");
    assert!(page.contains(&format!("<meta name=\"csrf-token\" content=\"{}\">", admin.csrf)), "for its script");
    assert!(page.contains("id=\"user-add\"") && page.contains("src=\"/static/users.js\""));
    assert!(page.contains(&format!("data-user=\"{}\" data-role=\"admin\"", ADMIN.0)), "{page}");
    assert!(page.contains(&format!("data-user=\"{}\" data-role=\"officer\"", OFFICER.0)), "{page}");
    assert!(page.contains("<td class=\"when\"><time datetime=\""), "when each was created: {page}");
    assert!(!page.contains("argon2") && !page.contains(ADMIN.1), "no hash, no password");
    let (_, en) = call(app, &admin, Method::GET, "/admin/users?lang=en", None).await;
    assert!(en.contains("Board users") && en.contains("Add a user"), "{en}");
    let js = app.client.get(format!("{}/static/users.js", app.address)).send().await.unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    let js = js.text().await.unwrap();
    assert!(js.contains("X-CSRF-Token") && js.contains("/api/v1/users"));
}
app_story!(the_users_page_lists_users_for_admins);
