//! `/api/v1/registry/...`: search persons and units, one person (with their change history) or
//! unit, an admin's change of a person's contacts, and the registry as XLSX. Bad input gets a 4xx
//! and changes nothing.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jiaoying_core::registry::email_problem;
use jiaoying_core::{AreaCode, MobileNumber, PersonId};
use jiaoying_store::{ContactOutcome, ContactUpdate, RegistryChangeRow};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use super::views::{self, PersonDetail, PersonSearch};
use crate::error::ApiError;
use crate::session::Admin;
use crate::state::AppState;

/// History entries shown with a person.
const HISTORY: i64 = 50;

/// The query of a search, as typed: every field may be empty.
#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub area: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub limit: Option<String>,
    #[serde(default)]
    pub offset: Option<String>,
    /// Pages only: the page number.
    #[serde(default)]
    pub page: Option<String>,
    /// Pages only: the language (read by the page frame).
    #[serde(default)]
    #[allow(dead_code)]
    pub lang: Option<String>,
}

pub(super) fn clean(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

impl SearchQuery {
    pub(super) fn search(&self) -> Result<PersonSearch, ApiError> {
        let area = match clean(&self.area) {
            Some(a) => Some(AreaCode::parse(&a).map_err(|e| ApiError::BadRequest(format!("area: {e}")))?),
            None => None,
        };
        Ok(PersonSearch { q: clean(&self.q), area, role: clean(&self.role) })
    }

    fn number(
        v: &Option<String>,
        what: &str,
        range: std::ops::RangeInclusive<usize>,
    ) -> Result<Option<usize>, ApiError> {
        match clean(v) {
            None => Ok(None),
            Some(n) => n.parse::<usize>().ok().filter(|n| range.contains(n)).map(Some).ok_or_else(|| {
                ApiError::BadRequest(format!("{what} must be a number from {} to {}", range.start(), range.end()))
            }),
        }
    }

    /// `(limit, offset)`: at most 1000 a page, 100 by default.
    fn paging(&self) -> Result<(usize, usize), ApiError> {
        let limit = Self::number(&self.limit, "limit", 1..=1000)?.unwrap_or(100);
        let offset = Self::number(&self.offset, "offset", 0..=10_000_000)?.unwrap_or(0);
        Ok((limit, offset))
    }

    pub(super) fn page(&self) -> Result<usize, ApiError> {
        Ok(Self::number(&self.page, "page", 1..=100_000)?.unwrap_or(1))
    }
}

pub(super) fn query(q: Result<Query<SearchQuery>, QueryRejection>) -> Result<SearchQuery, ApiError> {
    q.map(|Query(q)| q).map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// `GET /api/v1/registry/persons?q=&area=&role=&limit=&offset=`
pub async fn persons(
    State(app): State<AppState>,
    Admin(_): Admin,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query(q)?;
    let (limit, offset) = q.paging()?;
    let registry = app.store().load_registry().await?;
    let (persons, total) = views::search_persons(&registry, &q.search()?, limit, offset);
    Ok(Json(json!({"persons": persons, "total": total})))
}

/// `GET /api/v1/registry/units?q=&area=&limit=&offset=`
pub async fn units(
    State(app): State<AppState>,
    Admin(_): Admin,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query(q)?;
    let (limit, offset) = q.paging()?;
    let search = q.search()?;
    let registry = app.store().load_registry().await?;
    let (units, total) = views::search_units(&registry, search.q.as_deref(), search.area.as_ref(), limit, offset);
    Ok(Json(json!({"units": units, "total": total})))
}

/// A person with the registry changes logged for them, newest first.
#[derive(Debug, Serialize)]
pub struct PersonPage {
    #[serde(flatten)]
    pub detail: PersonDetail,
    pub history: Vec<RegistryChangeRow>,
    /// After a change: the fields it changed (`mobile`, `email`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<Vec<&'static str>>,
}

pub(super) async fn person_page(app: &AppState, id: &str) -> Result<PersonPage, ApiError> {
    let registry = app.store().load_registry().await?;
    let detail = views::person_detail(&registry, id).ok_or(ApiError::NotFound)?;
    let history = app.store().registry_changes(&format!("person {id}"), HISTORY).await?;
    Ok(PersonPage { detail, history, changed: None })
}

/// `GET /api/v1/registry/persons/{id}`
pub async fn person(
    State(app): State<AppState>,
    Admin(_): Admin,
    Path(id): Path<String>,
) -> Result<Json<PersonPage>, ApiError> {
    Ok(Json(person_page(&app, &id).await?))
}

/// `GET /api/v1/registry/units/{id}`
pub async fn unit(
    State(app): State<AppState>,
    Admin(_): Admin,
    Path(id): Path<String>,
) -> Result<Json<views::UnitDetail>, ApiError> {
    let registry = app.store().load_registry().await?;
    Ok(Json(views::unit_detail(&registry, &id).ok_or(ApiError::NotFound)?))
}

/// `null` and absent differ for the e-mail: `null` (or `""`) removes it, absent leaves it.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactBody {
    #[serde(default)]
    mobile: Option<String>,
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<String>>,
}

impl ContactBody {
    /// The change as domain values, or 422 naming what is wrong.
    fn parse(self, person_id: PersonId, actor: String) -> Result<ContactUpdate, ApiError> {
        if self.mobile.is_none() && self.email.is_none() {
            return Err(ApiError::Unprocessable("give mobile and/or email".into()));
        }
        let mobile = match self.mobile.as_deref().map(str::trim) {
            None => None,
            Some(m) => Some(MobileNumber::parse(m).map_err(|e| ApiError::Unprocessable(format!("bad mobile: {e}")))?),
        };
        let email = match self.email {
            None => None,
            Some(e) => match e.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
                None => Some(None),
                Some(e) => match email_problem(e) {
                    Some(why) => return Err(ApiError::Unprocessable(why)),
                    None => Some(Some(e.to_string())),
                },
            },
        };
        Ok(ContactUpdate { person_id, mobile, email, actor })
    }
}

/// `PATCH /api/v1/registry/persons/{id}` with `{"mobile"?, "email"?}`: the changed person, with
/// `changed` naming the fields that changed (none when the values were already so).
pub async fn update_person(
    State(app): State<AppState>,
    Admin(actor): Admin,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<PersonPage>, ApiError> {
    let person_id = PersonId::parse(&id).map_err(|_| ApiError::NotFound)?;
    let bytes = crate::api::body(raw, app.body_limit)?;
    let body: ContactBody = serde_json::from_slice(&bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::Unprocessable(e.to_string()),
        _ => ApiError::BadRequest(format!("malformed JSON: {e}")),
    })?;
    let update = body.parse(person_id, actor.label())?;
    let now = app.tracker.clock().now().millis();
    let changed = match app.store().update_person_contacts(&update, now).await? {
        ContactOutcome::NotFound => return Err(ApiError::NotFound),
        ContactOutcome::Unchanged(_) => Vec::new(),
        ContactOutcome::Changed { fields, .. } => {
            // Which fields, not their values: mobiles stay out of the logs.
            tracing::info!(person = %id, actor = %actor.label(), ?fields, "registry contacts changed by an admin");
            fields
        }
    };
    let mut page = person_page(&app, &id).await?;
    page.changed = Some(changed);
    Ok(Json(page))
}

/// `GET /api/v1/registry.xlsx`: the stored registry as a workbook in the import's layout.
pub async fn export_xlsx(State(app): State<AppState>, Admin(actor): Admin) -> Result<Response, ApiError> {
    let registry = app.store().load_registry().await?;
    let bytes = tokio::task::spawn_blocking(move || jiaoying_registry_io::write_xlsx(&registry))
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    tracing::info!(actor = %actor.label(), "registry exported as XLSX");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            ),
            (header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"registry.xlsx\"")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        bytes,
    )
        .into_response())
}
