//! The registry for admins, on both backends: search persons, a person's contacts edited by an
//! admin (CSRF-checked from a session, in the audit log, and the next alert calls the new
//! number), a unit's three responsible persons, the XLSX export; officers and viewers refused,
//! bad input refused with nothing changed.

use jiaoying::commands;
use jiaoying_core::Span;
use jiaoying_tests::app::{cookie_set_by, API_TOKEN, GRID, HEAD, REG, UNIT};
use jiaoying_tests::{app_story, red_alert, TestApp};
use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Digest;

const ADMIN_TOKEN: &str = "jy_registry_admin_token";
const VIEWER_TOKEN: &str = "jy_registry_viewer_token";
const HTML: &str = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8";
const ADMIN: (&str, &str) = ("zhang-admin", "名册管理员-correct-horse");

async fn add_tokens(app: &TestApp) {
    for (token, name, role) in [(ADMIN_TOKEN, "registry-admin", "admin"), (VIEWER_TOKEN, "registry-viewer", "viewer")] {
        let hash = hex::encode(sha2::Sha256::digest(token.as_bytes()));
        app.handle.store.put_api_token(name, role, &hash, 0).await.unwrap();
    }
}

/// A request with a bearer token (or none), JSON in and out.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = app.client.request(method, format!("{}{path}", app.address));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.header(CONTENT_TYPE, "application/json").body(b.to_string());
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn page(app: &TestApp, path: &str, token: &str) -> (StatusCode, String) {
    let r =
        app.client.get(format!("{}{path}", app.address)).bearer_auth(token).header(ACCEPT, HTML).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn admin_edits_a_mobile_and_the_next_alert_calls_it(app: &mut TestApp) {
    add_tokens(app).await;
    // Found by name, by digits of the mobile, by area and role.
    let (status, body) = call(app, Method::GET, "/api/v1/registry/persons?q=网格员", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 1);
    assert_eq!(body["persons"][0]["id"], GRID.0);
    assert_eq!(body["persons"][0]["mobile"], GRID.1, "admins see the whole number");
    let (_, body) = call(app, Method::GET, "/api/v1/registry/persons?q=0000%200004", Some(ADMIN_TOKEN), None).await;
    assert_eq!(body["persons"][0]["id"], GRID.0, "{body}");
    let (_, body) =
        call(app, Method::GET, "/api/v1/registry/persons?area=500105002001&role=unit", Some(ADMIN_TOKEN), None).await;
    assert_eq!((body["total"].as_i64(), body["persons"][0]["id"].as_str()), (Some(1), Some(UNIT.0)), "{body}");

    // The admin changes the grid worker's mobile and clears the e-mail.
    let edit = json!({"mobile": "137 0000 0004", "email": null}).to_string();
    let path = format!("/api/v1/registry/persons/{}", GRID.0);
    let (status, body) = call(app, Method::PATCH, &path, Some(ADMIN_TOKEN), Some(&edit)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["changed"], json!(["mobile", "email"]));
    assert_eq!((body["mobile"].as_str(), body["email"].clone()), (Some("+8613700000004"), Value::Null));
    let history = body["history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{body}");
    assert_eq!(history[0]["actor"], "officer:registry-admin");
    assert_eq!(history[0]["action"], "registry_contact");
    let note = history[0]["note"].as_str().unwrap();
    assert!(note.contains("+86139****0004 → +86137****0004") && note.contains("g***@example.org → —"), "{note}");
    // The same values again change nothing and log nothing.
    let (status, body) = call(app, Method::PATCH, &path, Some(ADMIN_TOKEN), Some(&edit)).await;
    assert_eq!(
        (status, body["changed"].clone(), body["history"].as_array().unwrap().len()),
        (StatusCode::OK, json!([]), 1)
    );

    // The board's audit log shows it to every role (numbers masked).
    let (status, audit) = call(app, Method::GET, "/api/v1/audit?limit=50", Some(VIEWER_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let text = audit.to_string();
    assert!(text.contains("registry_contact") && text.contains("+86137****0004"), "{audit}");
    assert!(!text.contains("+8613700000004"), "the audit log masks mobiles: {audit}");

    // The next alert calls the new number, never the old one.
    let (status, alert) = app.post_alert(&red_alert("cq-registry-001")).await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    let sms = app.gateway.wait_for(4).await;
    let to: Vec<&str> = sms.iter().map(|m| m.to()).collect();
    assert!(to.contains(&"+8613700000004"), "{to:?}");
    assert!(!to.contains(&GRID.1), "{to:?}");
    let _ = (HEAD, REG);
}
app_story!(admin_edits_a_mobile_and_the_next_alert_calls_it);

async fn officers_viewers_and_strangers_are_refused(app: &mut TestApp) {
    add_tokens(app).await;
    let path = format!("/api/v1/registry/persons/{}", GRID.0);
    let edit = json!({"mobile": "13700000004"}).to_string();
    for token in [API_TOKEN, VIEWER_TOKEN] {
        for (method, p, body) in [
            (Method::GET, "/api/v1/registry/persons".to_string(), None),
            (Method::GET, path.clone(), None),
            (Method::PATCH, path.clone(), Some(edit.as_str())),
            (Method::GET, "/api/v1/registry/units/u-school".to_string(), None),
            (Method::GET, "/api/v1/registry.xlsx".to_string(), None),
        ] {
            let (status, body) = call(app, method.clone(), &p, Some(token), body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {p} with {token}: {body}");
            assert_eq!(body["error"]["code"], "forbidden");
        }
        let (status, html) = page(app, "/registry", token).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    }
    let (status, _) = call(app, Method::GET, "/api/v1/registry/persons", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(app, Method::PATCH, &path, None, Some(&edit)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let registry = app.handle.store.load_registry().await.unwrap();
    assert_eq!(registry.persons.iter().find(|p| p.id.as_str() == GRID.0).unwrap().mobile.as_str(), GRID.1);
}
app_story!(officers_viewers_and_strangers_are_refused);

async fn bad_contacts_are_refused_and_nothing_changes(app: &mut TestApp) {
    add_tokens(app).await;
    let before = app.handle.store.load_registry().await.unwrap();
    let path = format!("/api/v1/registry/persons/{}", GRID.0);
    for (body, status, needle) in [
        (r#"{"mobile": "12345"}"#, StatusCode::UNPROCESSABLE_ENTITY, "bad mobile"),
        (r#"{"mobile": ""}"#, StatusCode::UNPROCESSABLE_ENTITY, "bad mobile"),
        (r#"{"email": "not-an-address"}"#, StatusCode::UNPROCESSABLE_ENTITY, "bad e-mail"),
        (r#"{"mobile": "13700000004", "email": "a b@example.org"}"#, StatusCode::UNPROCESSABLE_ENTITY, "bad e-mail"),
        (r#"{"name": "改名"}"#, StatusCode::UNPROCESSABLE_ENTITY, "unknown field"),
        (r#"{"mobile": 13700000004}"#, StatusCode::UNPROCESSABLE_ENTITY, "invalid type"),
        (r#"{}"#, StatusCode::UNPROCESSABLE_ENTITY, "give mobile"),
        (r#"{"mobile": "#, StatusCode::BAD_REQUEST, "malformed JSON"),
    ] {
        let (got, reply) = call(app, Method::PATCH, &path, Some(ADMIN_TOKEN), Some(body)).await;
        assert_eq!(got, status, "{body}: {reply}");
        assert!(reply["error"]["message"].as_str().unwrap_or("").contains(needle), "{body}: {reply}");
    }
    let (status, _) = call(
        app,
        Method::PATCH,
        "/api/v1/registry/persons/p-nobody",
        Some(ADMIN_TOKEN),
        Some(r#"{"mobile": "13700000004"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(app, Method::GET, "/api/v1/registry/persons?limit=0", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(app, Method::GET, "/api/v1/registry/persons?area=x", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    assert_eq!(*app.handle.store.load_registry().await.unwrap(), *before, "nothing changed");
    assert!(app.handle.store.registry_changes(&format!("person {}", GRID.0), 10).await.unwrap().is_empty());
}
app_story!(bad_contacts_are_refused_and_nothing_changes);

/// Signs in through the login form as a browser does: the session cookie and its CSRF token (read
/// from the page it then gets, as the board's script does).
async fn sign_in(app: &TestApp, (name, password): (&str, &str)) -> (String, String) {
    let r = app.post_sign_in_form(name, password, "/registry").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let session = cookie_set_by(r.headers(), "jy_session").expect("session cookie");
    let r = app
        .client
        .get(format!("{}/registry/persons/{}", app.address, GRID.0))
        .header(COOKIE, format!("jy_session={session}"))
        .header(ACCEPT, HTML)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let marker = "<meta name=\"csrf-token\" content=\"";
    let at = html.find(marker).expect("the page embeds the CSRF token") + marker.len();
    (session, html[at..].split('"').next().unwrap().to_string())
}

async fn the_pages_show_persons_units_and_take_an_edit_with_the_csrf_token(app: &mut TestApp) {
    add_tokens(app).await;
    commands::user_add(&app.settings(), ADMIN.0, "admin", ADMIN.1).await.unwrap();
    let (session, csrf) = sign_in(app, ADMIN).await;

    // The list: every person, the search form, the export link, the units.
    let (status, html) = page(app, "/registry", ADMIN_TOKEN).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<html lang=\"zh-CN\">") && html.contains("名册管理"), "Chinese first");
    for id in [GRID.0, HEAD.0, UNIT.0, REG.0] {
        assert!(html.contains(&format!("id=\"person-{id}\"")), "{id} listed");
    }
    assert!(html.contains("/api/v1/registry.xlsx") && html.contains("id=\"unit-u-school\""), "{html}");
    assert!(html.contains("id=\"nav-registry\""), "the top bar links here for admins");
    let (_, html) = page(app, "/registry?q=校长&lang=en", ADMIN_TOKEN).await;
    assert!(html.contains("Registry") && html.contains(&format!("id=\"person-{}\"", UNIT.0)), "{html}");
    assert!(!html.contains(&format!("id=\"person-{}\"", GRID.0)), "the search filters");

    // A unit's page: its three responsible persons, each with contacts and a link.
    let (status, html) = page(app, "/registry/units/u-school", ADMIN_TOKEN).await;
    assert_eq!(status, StatusCode::OK);
    for (role, (id, mobile)) in [("administrative", HEAD), ("regulatory", REG), ("unit", UNIT)] {
        let at = html.find(&format!("id=\"responsible-{role}\"")).unwrap_or_else(|| panic!("{role} row: {html}"));
        let row = &html[at..at + html[at..].find("</tr>").unwrap()];
        assert!(row.contains(mobile) && row.contains(&format!("/registry/persons/{id}")), "{role}: {row}");
    }
    let (_, unit) = call(app, Method::GET, "/api/v1/registry/units/u-school", Some(ADMIN_TOKEN), None).await;
    let roles: Vec<(&str, &str)> = unit["responsible"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["role"].as_str().unwrap(), r["person"]["mobile"].as_str().unwrap()))
        .collect();
    assert_eq!(roles, [("administrative", HEAD.1), ("regulatory", REG.1), ("unit", UNIT.1)]);
    let (status, _) = page(app, "/registry/units/u-none", ADMIN_TOKEN).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A person's page: contacts in the form, the units they answer for.
    let (_, html) = page(app, &format!("/registry/persons/{}", HEAD.0), ADMIN_TOKEN).await;
    assert!(html.contains("id=\"reg-contacts\"") && html.contains(HEAD.1) && html.contains("head@example.org"));
    assert!(html.contains("/registry/units/u-school") && html.contains("/static/registry.js"), "{html}");

    // From the session, the edit needs the page's CSRF token.
    let path = format!("{}/api/v1/registry/persons/{}", app.address, HEAD.0);
    let edit = json!({"email": "head.new@example.org"}).to_string();
    let send = |csrf: Option<&str>| {
        let mut req = app
            .client
            .patch(&path)
            .header(COOKIE, format!("jy_session={session}"))
            .header(CONTENT_TYPE, "application/json")
            .body(edit.clone());
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        req.send()
    };
    assert_eq!(send(None).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(send(Some("wrong")).await.unwrap().status(), StatusCode::FORBIDDEN);
    let r = send(Some(&csrf)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, html) = page(app, &format!("/registry/persons/{}?saved=1", HEAD.0), ADMIN_TOKEN).await;
    assert!(html.contains("id=\"reg-saved\"") && html.contains("head.new@example.org"), "{html}");
    assert!(html.contains(&format!("officer:{}", ADMIN.0)) && html.contains("h***@example.org"), "history: {html}");

    // The export, read back, is the stored registry.
    let r =
        app.client.get(format!("{}/api/v1/registry.xlsx", app.address)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[CONTENT_TYPE].to_str().unwrap().contains("spreadsheetml"));
    let bytes = r.bytes().await.unwrap().to_vec();
    let back = jiaoying_registry_io::read(&[jiaoying_registry_io::Source { name: "registry.xlsx".into(), bytes }]);
    let stored = app.handle.store.load_registry().await.unwrap();
    assert!(back.problems().is_empty(), "{:?}", back.problems());
    let plan = jiaoying_registry_io::plan(&stored, &back, true).unwrap();
    assert!(plan.is_noop(), "{:?}", plan.diff);
    app.clock.advance(Span::ZERO);
}
app_story!(the_pages_show_persons_units_and_take_an_edit_with_the_csrf_token);
