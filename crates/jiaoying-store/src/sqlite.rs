//! The SQLite adapter: the embedded default. One writer connection (SQLite has one writer at a
//! time; a single connection makes that explicit and avoids `SQLITE_BUSY` on lock upgrades) and
//! a small pool of readers, in WAL mode so readers never wait for the writer.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};

use crate::error::StoreError;

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

pub struct SqliteStore {
    write: Pool<Sqlite>,
    read: Pool<Sqlite>,
    registry_cache: crate::registry_cache::RegistryCache,
}

impl SqliteStore {
    /// Opens (creating if missing, with its folder) the database file of a `sqlite://PATH` URL.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("bad sqlite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an accepted alert survives a power cut, not only a process crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if let Some(dir) = opts.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))?;
            }
        }
        // No ping before each use (sqlx's default): a file does not hang up, and the ping is a
        // round trip to the connection's worker thread before every transaction and read.
        let write =
            SqlitePoolOptions::new().max_connections(1).test_before_acquire(false).connect_with(opts.clone()).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(opts.read_only(true))
            .await?;
        Ok(SqliteStore { write, read, registry_cache: Default::default() })
    }

    /// A write transaction that takes the write lock at once (`BEGIN IMMEDIATE`): a deferred one
    /// that reads and then writes fails with SQLITE_BUSY_SNAPSHOT when another process (a CLI
    /// command, a second instance) committed in between, ignoring the busy timeout.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Sqlite>, sqlx::Error> {
        self.write.begin_with("BEGIN IMMEDIATE").await
    }

    pub(crate) fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    async fn run_migrations(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.write).await?;
        Ok(())
    }

    /// None: SQLite's one writer takes a burst in one transaction, with no round trips to save
    /// (and it has no data-modifying `WITH`).
    async fn answer_codes_in_one_statement(
        &self,
        _answers: &[crate::CodedAnswer],
        _now: i64,
    ) -> StoreResult<Option<Vec<crate::CodedOutcome>>> {
        Ok(None)
    }

    /// None: a SQLite file serves one instance (ADR 0017), whose event streams poll the log.
    async fn event_wakeups(&self) -> StoreResult<Option<Box<dyn crate::notify::EventWakeups>>> {
        Ok(None)
    }
}

const CLAIM_CALLS: &str =
    "WHERE next_action_at IS NOT NULL AND next_action_at <= $1 ORDER BY next_action_at, id LIMIT $2";

// No `SKIP LOCKED` in SQLite: the single writer connection already serialises claims. The claim
// picks the ids as one JSON row ($1 now, $2 limit, $3 channel), marks them, and reads them back as
// one JSON row: the driver hands each returned row over from its worker thread with a wake-up, which
// cost a quarter of the drain when 256 rows came back one by one.
const CLAIM_MESSAGES: &str = "SELECT json_group_array(id) FROM (SELECT id FROM messages WHERE state = 'queued' \
     AND next_attempt_at <= $1 ORDER BY priority DESC, next_attempt_at, id LIMIT $2)";

const CLAIM_CHANNEL_MESSAGES: &str = "SELECT json_group_array(id) FROM (SELECT id FROM messages WHERE channel = $3 \
     AND state = 'queued' AND next_attempt_at <= $1 ORDER BY priority DESC, next_attempt_at, id LIMIT $2)";

impl_sql_store!(
    SqliteStore,
    SqliteTx,
    Sqlite,
    backend = Backend::Sqlite,
    claim_calls = CLAIM_CALLS,
    claim_messages = CLAIM_MESSAGES,
    claim_channel_messages = CLAIM_CHANNEL_MESSAGES
);
