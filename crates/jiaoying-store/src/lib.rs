//! Storage for jiaoying: the [`Store`] port and its two sqlx adapters, SQLite (the embedded
//! default) and PostgreSQL (several instances sharing one database).
//!
//! The SQL is written once (see `sql.rs`) and instantiated for each backend; only what truly
//! differs (row claiming, connection set-up, migrations) is written per backend.

#[macro_use]
mod sql;
mod answer_codes;
mod error;
mod notify;
mod postgres;
mod records;
mod registry_cache;
mod registry_rows;
mod sqlite;
mod store;

pub use error::{StoreError, StoreResult};
pub use notify::{EventWakeups, EVENTS_CHANNEL};
pub use postgres::PgStore;
pub use records::*;
pub use sqlite::SqliteStore;
pub use store::{Backend, Store, StoreTx};

use std::sync::Arc;

/// Opens the store a database URL names: `sqlite://PATH` or `postgres://...`.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else {
        Err(StoreError::Config("database.url must start with sqlite:// or postgres://".into()))
    }
}
