//! Registry tables to and from the domain `Registry`. JSON columns hold lists (roles, polygon,
//! location); everything is parsed back through the domain's own constructors.

use jiaoying_core::registry::{Area, Person, Registry, Role, Unit, UnitKind};
use jiaoying_core::{AreaCode, MobileNumber, PersonId, UnitId};

use crate::error::{StoreError, StoreResult};

#[derive(sqlx::FromRow)]
pub(crate) struct AreaRow {
    code: String,
    name: String,
    parent: Option<String>,
    polygon: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct PersonRow {
    id: String,
    name: String,
    mobile: String,
    email: Option<String>,
    roles: String,
    area: String,
    superior: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct RosterRow {
    area: String,
    person: String,
    date: String,
    shift: String,
}

impl RosterRow {
    fn into_entry(self) -> StoreResult<jiaoying_core::roster::RosterEntry> {
        Ok(jiaoying_core::roster::RosterEntry {
            area: code(&self.area)?,
            person: pid(&self.person)?,
            date: self.date.parse().map_err(|e| corrupt("roster date", e))?,
            shift: self.shift.parse().map_err(|e| corrupt("roster shift", e))?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UnitRow {
    id: String,
    name: String,
    kind: String,
    area: String,
    location: Option<String>,
    administrative: String,
    regulatory: String,
    unit: String,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| corrupt(what, e))
}

fn code(s: &str) -> StoreResult<AreaCode> {
    AreaCode::parse(s).map_err(|e| corrupt("area code", e))
}

fn pid(s: &str) -> StoreResult<PersonId> {
    PersonId::parse(s).map_err(|e| corrupt("person id", e))
}

impl AreaRow {
    fn into_area(self) -> StoreResult<Area> {
        Ok(Area {
            code: code(&self.code)?,
            name: self.name,
            parent: self.parent.as_deref().map(code).transpose()?,
            polygon: self.polygon.as_deref().map(|p| json("polygon", p)).transpose()?,
        })
    }
}

impl PersonRow {
    pub(crate) fn into_person(self) -> StoreResult<Person> {
        let roles: Vec<String> = json("roles", &self.roles)?;
        Ok(Person {
            id: pid(&self.id)?,
            name: self.name,
            mobile: MobileNumber::parse(&self.mobile).map_err(|e| corrupt("mobile", e))?,
            email: self.email,
            roles: roles.iter().map(|r| Role::parse(r).map_err(|e| corrupt("role", e))).collect::<StoreResult<_>>()?,
            area: code(&self.area)?,
            superior: self.superior.as_deref().map(pid).transpose()?,
        })
    }
}

impl UnitRow {
    fn into_unit(self) -> StoreResult<Unit> {
        Ok(Unit {
            id: UnitId::parse(&self.id).map_err(|e| corrupt("unit id", e))?,
            name: self.name,
            kind: UnitKind::parse(&self.kind).ok_or_else(|| corrupt("unit kind", &self.kind))?,
            area: code(&self.area)?,
            location: self.location.as_deref().map(|l| json("location", l)).transpose()?,
            administrative: pid(&self.administrative)?,
            regulatory: pid(&self.regulatory)?,
            unit: pid(&self.unit)?,
        })
    }
}

/// Reads the whole registry. Generic over the backend: the statements are plain SELECTs.
pub(crate) async fn load<'e, DB>(pool: &sqlx::Pool<DB>) -> StoreResult<Registry>
where
    DB: sqlx::Database,
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    for<'r> AreaRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> PersonRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> UnitRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> RosterRow: sqlx::FromRow<'r, DB::Row>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
{
    let areas: Vec<AreaRow> =
        sqlx::query_as("SELECT code, name, parent, polygon FROM areas ORDER BY code").fetch_all(pool).await?;
    let persons: Vec<PersonRow> =
        sqlx::query_as("SELECT id, name, mobile, email, roles, area, superior FROM persons ORDER BY id")
            .fetch_all(pool)
            .await?;
    let units: Vec<UnitRow> = sqlx::query_as(
        "SELECT id, name, kind, area, location, administrative, regulatory, unit FROM units ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    let rosters: Vec<RosterRow> =
        sqlx::query_as("SELECT area, person, date, shift FROM rosters ORDER BY date, area, shift, person")
            .fetch_all(pool)
            .await?;
    Ok(Registry {
        rosters: rosters.into_iter().map(RosterRow::into_entry).collect::<StoreResult<_>>()?,
        areas: areas.into_iter().map(AreaRow::into_area).collect::<StoreResult<_>>()?,
        persons: persons.into_iter().map(PersonRow::into_person).collect::<StoreResult<_>>()?,
        units: units.into_iter().map(UnitRow::into_unit).collect::<StoreResult<_>>()?,
    })
}
