//! Fresh databases for tests: a new SQLite file in a temp dir, or a new PostgreSQL database
//! created on the server named by `JIAOYING_TEST_PG_URL`.
//!
//! PostgreSQL tests run only when that variable is set (`.ci/run` sets it). Each PostgreSQL
//! test calls [`pg_ran`] so CI can check that none was skipped: a skipped test is not a pass.

use std::path::PathBuf;

use rand::Rng;
use sqlx::Connection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test. Dropping it removes the SQLite file (the temp dir);
/// PostgreSQL databases are dropped by [`TestDb::cleanup`] or left for the next CI run's
/// clean machine.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    pub async fn fresh(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path: PathBuf = dir.path().join("jiaoying.db");
                Some(TestDb { url: format!("sqlite://{}", path.display()), backend, _dir: Some(dir), pg_admin: None })
            }
            Backend::Postgres => {
                let admin = pg_admin_url()?;
                let name = format!("jy_test_{}", rand::thread_rng().gen::<u64>());
                let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to JIAOYING_TEST_PG_URL");
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
                conn.close().await.ok();
                let url = with_database(&admin, &name);
                Some(TestDb { url, backend, _dir: None, pg_admin: Some((admin, name)) })
            }
        }
    }

    /// Drops a PostgreSQL test database (after the app using it has closed its pool).
    pub async fn cleanup(self) {
        if let Some((admin, name)) = &self.pg_admin {
            if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
            }
        }
    }
}

fn with_database(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).expect("JIAOYING_TEST_PG_URL is a URL");
    u.set_path(&format!("/{db}"));
    u.to_string()
}

/// The PostgreSQL server for tests, or `None` (test skipped) when not configured.
pub fn pg_admin_url() -> Option<String> {
    std::env::var("JIAOYING_TEST_PG_URL").ok().filter(|s| !s.is_empty())
}

/// Records that a PostgreSQL test really ran, in the folder `JIAOYING_TEST_PG_MARKERS` names.
pub fn pg_ran(test: &str) {
    if let Ok(dir) = std::env::var("JIAOYING_TEST_PG_MARKERS") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(PathBuf::from(dir).join(test), b"ran");
    }
}

/// Runs a story on a fresh database of `backend`; PostgreSQL stories are skipped (loudly) when
/// no server is configured, and marked as run when they are.
#[macro_export]
macro_rules! both_backends {
    ($story:ident) => {
        mod $story {
            use super::*;

            #[tokio::test]
            async fn on_sqlite() {
                let db = $crate::db::TestDb::fresh($crate::db::Backend::Sqlite).await.unwrap();
                super::$story(&db).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                let Some(db) = $crate::db::TestDb::fresh($crate::db::Backend::Postgres).await else {
                    eprintln!("SKIPPED {}::on_postgres: set JIAOYING_TEST_PG_URL to run it", stringify!($story));
                    return;
                };
                super::$story(&db).await;
                $crate::db::pg_ran(concat!(module_path!(), "::on_postgres"));
                db.cleanup().await;
            }
        }
    };
}
