//! The PostgreSQL adapter: several instances share one database. Due calls and messages are
//! claimed with `FOR UPDATE SKIP LOCKED`, so instances split the work without waiting on each
//! other; sqlx's migrator holds an advisory lock, so instances starting at once migrate once.

use std::time::Duration;

use sqlx::migrate::Migrator;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Pool, Postgres};

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// A pooled connection idle longer than this is pinged before use.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(2);

pub struct PgStore {
    write: Pool<Postgres>,
    // One pool serves both roles on PostgreSQL; the field keeps the shared SQL backend-neutral.
    read: Pool<Postgres>,
    registry_cache: crate::registry_cache::RegistryCache,
}

impl PgStore {
    pub async fn connect(url: &str) -> StoreResult<Self> {
        // No JIT: every statement here is a short index lookup or write, and a cost estimate
        // above `jit_above_cost` (a burst's per-pair lookups reach it) would spend milliseconds
        // compiling what runs in microseconds.
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| crate::StoreError::Config(format!("bad postgres URL: {e}")))?
            .options([("jit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(5))
            // sqlx pings every idle connection it hands out: a round trip before every
            // transaction and every read. Only a connection idle long enough for the server to
            // have gone away meanwhile (a restart) is checked; a hot one is used at once.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > IDLE_BEFORE_PING {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(opts)
            .await?;
        Ok(PgStore { write: pool.clone(), read: pool, registry_cache: Default::default() })
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
        self.write.begin().await
    }

    pub(crate) fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    async fn run_migrations(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.write).await?;
        Ok(())
    }

    /// [`crate::Store::answer_codes_at_once`]: the one statement.
    async fn answer_codes_in_one_statement(
        &self,
        answers: &[crate::CodedAnswer],
        now: i64,
    ) -> StoreResult<Option<Vec<crate::CodedOutcome>>> {
        crate::answer_codes::answer_codes_at_once(&self.write, answers, now).await.map(Some)
    }

    async fn event_wakeups(&self) -> StoreResult<Option<Box<dyn crate::notify::EventWakeups>>> {
        Ok(Some(Box::new(crate::notify::PgEventWakeups::connect(&self.write).await?)))
    }
}

const CLAIM_CALLS: &str =
    "WHERE next_action_at IS NOT NULL AND next_action_at <= $1 ORDER BY next_action_at, id LIMIT $2 FOR UPDATE SKIP LOCKED";

const CLAIM_MESSAGES: &str = "UPDATE messages SET state = 'sending', lease_until = $2, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM messages WHERE state = 'queued' AND next_attempt_at <= $1 \
                  ORDER BY priority DESC, next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
     RETURNING *";

const CLAIM_CHANNEL_MESSAGES: &str =
    "UPDATE messages SET state = 'sending', lease_until = $2, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM messages WHERE channel = $4 AND state = 'queued' AND next_attempt_at <= $1 \
                  ORDER BY priority DESC, next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
     RETURNING *";

impl_sql_store!(
    PgStore,
    PgTx,
    Postgres,
    backend = Backend::Postgres,
    claim_calls = CLAIM_CALLS,
    claim_messages = CLAIM_MESSAGES,
    claim_channel_messages = CLAIM_CHANNEL_MESSAGES
);
