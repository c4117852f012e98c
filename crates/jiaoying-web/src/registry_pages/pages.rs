//! The registry pages: `/registry` (search persons and units), `/registry/persons/{id}` (a
//! person's contacts, editable, with their units and change history) and `/registry/units/{id}`
//! (a unit's three responsible persons). The edit form sends `PATCH /api/v1/registry/persons/{id}`
//! by fetch() with the session's CSRF token, like every board action.

use std::collections::BTreeSet;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use minijinja::{context, Value};
use serde_json::json;

use super::api::{clean, person_page, query, SearchQuery};
use super::{i18n, views, ENV};
use crate::board::page::{frame, render_in, PageReq};
use crate::error::ApiError;
use crate::session::{Actor, Admin};
use crate::state::AppState;

/// Rows per page of the person list.
const PAGE: usize = 100;
/// Units listed under a search.
const UNITS: usize = 100;

/// The frame of every registry page, with the registry's words beside the board's.
fn page_context(req: &PageReq, actor: &Actor, data: serde_json::Value, own: Value) -> Value {
    // Left wins: the registry's words over the frame's `t`.
    context! {
        t => i18n::strings(req.lang),
        ..context! { ..own, ..frame(req, actor, "registry", data) }
    }
}

/// `/registry?q=&area=&role=&page=`
pub async fn search(
    State(app): State<AppState>,
    Admin(actor): Admin,
    req: PageReq,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let search = q.search()?;
    let page = q.page()?;
    let registry = app.store().load_registry().await?;
    let (persons, total) = views::search_persons(&registry, &search, PAGE, (page - 1) * PAGE);
    let (units, units_total) = views::search_units(&registry, search.q.as_deref(), search.area.as_ref(), UNITS, 0);
    let pages = total.div_ceil(PAGE).max(1);
    // The same search on another page: the query, encoded here rather than in the template.
    let href = |p: usize| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("q", clean(&q.q)), ("area", clean(&q.area)), ("role", clean(&q.role))] {
            if let Some(v) = v {
                s.append_pair(k, &v);
            }
        }
        s.append_pair("page", &p.to_string());
        format!("/registry?{}", s.finish())
    };
    // Areas as a tree (indented by depth) and the roles in use, for the filters.
    let areas: Vec<Value> = registry
        .areas
        .iter()
        .map(|a| {
            let depth = std::iter::successors(a.parent.as_ref(), |p| {
                registry.areas.iter().find(|x| &x.code == *p).and_then(|x| x.parent.as_ref())
            })
            .take(8)
            .count();
            context! { code => a.code.as_str(), name => a.name.clone(), indent => "　".repeat(depth) }
        })
        .collect();
    let roles: BTreeSet<&str> = registry.persons.iter().flat_map(|p| p.roles.iter().map(|r| r.as_str())).collect();
    let own = context! {
        persons => Value::from_serialize(&persons),
        total, units => Value::from_serialize(&units), units_total,
        areas, roles => roles.into_iter().collect::<Vec<_>>(),
        form => context! { q => clean(&q.q), area => clean(&q.area), role => clean(&q.role) },
        page, pages,
        prev_href => (page > 1).then(|| href(page - 1)),
        next_href => (page < pages).then(|| href(page + 1)),
    };
    render_in(&ENV, &req, "registry.html", page_context(&req, &actor, json!({}), own))
}

/// `/registry/persons/{id}[?saved=1]`
pub async fn person(
    State(app): State<AppState>,
    Admin(actor): Admin,
    req: PageReq,
    Path(id): Path<String>,
    Query(flags): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = person_page(&app, &id).await?;
    let t = i18n::strings(req.lang);
    let words = |k: &'static str| t.get(k).copied().unwrap_or(k);
    // The script's words and the person it edits.
    let data = json!({
        "person_id": id,
        "reg": {"saved": words("reg_saved"), "unchanged": words("reg_unchanged")},
    });
    let own = context! {
        p => Value::from_serialize(&page.detail),
        history => Value::from_serialize(&page.history),
        saved => flags.get("saved").is_some_and(|v| v == "1"),
    };
    render_in(&ENV, &req, "person.html", page_context(&req, &actor, data, own))
}

/// `/registry/units/{id}`
pub async fn unit(
    State(app): State<AppState>,
    Admin(actor): Admin,
    req: PageReq,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let registry = app.store().load_registry().await?;
    let unit = views::unit_detail(&registry, &id).ok_or(ApiError::NotFound)?;
    let own = context! { u => Value::from_serialize(&unit) };
    render_in(&ENV, &req, "unit.html", page_context(&req, &actor, json!({}), own))
}
