//! Storage errors, sorted by who must react: the caller (not found, conflict), the operator
//! (unavailable, config), or the developer (corrupt data).

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule or a compare-and-set lost a race; the caller may re-read and retry.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached or is shutting down; retry later.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("invalid database configuration: {0}")]
    Config(String),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row that does not decode into the domain: a bug or a hand-edited database.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// A task that writes on behalf of others (group commit) is gone: the service is stopping.
    #[error("the database writer has stopped")]
    WriterStopped,
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_string()),
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => StoreError::Unavailable(e),
            sqlx::Error::Database(db) if db.code().is_some_and(|c| server_unavailable(&c)) => {
                StoreError::Unavailable(e)
            }
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => StoreError::Corrupt(e.to_string()),
            _ => StoreError::Database(e),
        }
    }
}

/// PostgreSQL SQLSTATEs that say "the server is going away or cannot take you now", not "your
/// statement is wrong": a restart (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot
/// connect now), a lost connection (class 08), too many connections (53300). Retry later.
fn server_unavailable(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::WriterStopped)
    }
}
