-- Outgoing links (issue 8): neighbours and the district platform follow what jiaoying does through
-- signed webhooks. Each configured subscriber has a cursor over the two append-only logs it follows
-- (call_events, alert_messages); a step reads the events after the cursor, queues one delivery per
-- event the subscriber wants, and moves the cursor in the same transaction, so nothing is lost or
-- queued twice across a crash. Deliveries are an outbox of their own, claimed under a lease, in
-- order per subscriber. Keep in lockstep with migrations/postgres/0012_outgoing_links.sql.

CREATE TABLE link_cursors (
    subscriber     TEXT PRIMARY KEY,
    calls_after    INTEGER NOT NULL,       -- call_events.id taken up to here
    messages_after INTEGER NOT NULL,       -- alert_messages.id taken up to here
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE link_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    subscriber      TEXT NOT NULL,
    event_key       TEXT NOT NULL,         -- call_event:<id> or alert_message:<id>
    event           TEXT NOT NULL,         -- call.answered, alert.taken, ...
    alert_id        INTEGER,
    call_id         INTEGER,
    body            TEXT NOT NULL,         -- the JSON sent; fixed when queued, so every retry signs the same bytes
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_status     INTEGER,               -- HTTP status of the last attempt, if one came
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    UNIQUE (subscriber, event_key)
);
CREATE INDEX link_deliveries_queue ON link_deliveries (subscriber, state, id);
CREATE INDEX link_deliveries_by_subscriber ON link_deliveries (subscriber, id);

CREATE TRIGGER link_deliveries_legal_transition BEFORE UPDATE OF state ON link_deliveries
WHEN OLD.state <> NEW.state AND NOT (
       (OLD.state = 'queued'  AND NEW.state IN ('sending', 'failed'))
    OR (OLD.state = 'sending' AND NEW.state IN ('queued', 'delivered', 'failed'))
    OR (OLD.state = 'failed'  AND NEW.state = 'queued')
)
BEGIN
    SELECT RAISE(ABORT, 'illegal delivery state transition');
END;

-- The messages of one alert, in order: which one created it (alert.taken) and which Update or
-- Cancel is its newest version (the outgoing CAP document).
CREATE INDEX alert_messages_by_alert ON alert_messages (alert_id, id);
