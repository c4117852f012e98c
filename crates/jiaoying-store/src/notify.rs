//! Cross-instance wake-ups for the live event stream (issue 8). On PostgreSQL a statement
//! trigger on `call_events` (migration 0013) runs `pg_notify('jiaoying_events', '')`; each
//! instance listens on one connection and wakes its event streams, so an answer taken by one
//! instance reaches the boards on every instance at once instead of at the next poll.
//!
//! A notification carries no data: the stream reads the log itself (`events_after`), which stays
//! the one source of truth. A wake-up may be lost (a dropped connection); the streams' backstop
//! poll covers that.

use async_trait::async_trait;
use sqlx::postgres::PgListener;
use sqlx::{Pool, Postgres};

use crate::error::StoreResult;

/// The PostgreSQL channel the trigger notifies.
pub const EVENTS_CHANNEL: &str = "jiaoying_events";

/// A source of "call events were committed" wake-ups.
#[async_trait]
pub trait EventWakeups: Send {
    /// Waits for the next wake-up. A lost and re-established connection also wakes (whatever
    /// was committed meanwhile was not announced). An error means the database cannot be
    /// reached now; calling again retries the connection.
    async fn next(&mut self) -> StoreResult<()>;
}

/// `LISTEN jiaoying_events` on a connection of the store's pool (sqlx re-subscribes after a
/// reconnect). Closing the pool ends a wait with an error, so shutdown is not held up.
pub(crate) struct PgEventWakeups {
    listener: PgListener,
}

impl PgEventWakeups {
    pub(crate) async fn connect(pool: &Pool<Postgres>) -> StoreResult<Self> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(EVENTS_CHANNEL).await?;
        Ok(PgEventWakeups { listener })
    }
}

#[async_trait]
impl EventWakeups for PgEventWakeups {
    async fn next(&mut self) -> StoreResult<()> {
        // `Ok(None)`: the connection was lost and is being re-made; wake anyway.
        self.listener.try_recv().await?;
        Ok(())
    }
}
