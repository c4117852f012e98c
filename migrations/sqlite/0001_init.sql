-- jiaoying schema, SQLite dialect. Times are Unix milliseconds (INTEGER): SQLite compares text as
-- text, and both backends then compare times the same way. Keep in lockstep with
-- migrations/postgres/0001_init.sql (a test compares the two folders).

CREATE TABLE areas (
    code       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    parent     TEXT,
    polygon    TEXT,                       -- JSON [[lon, lat], ...]
    updated_at INTEGER NOT NULL
);

CREATE TABLE persons (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    mobile     TEXT NOT NULL,              -- E.164
    email      TEXT,
    roles      TEXT NOT NULL,              -- JSON ["grid", ...]
    area       TEXT NOT NULL,
    superior   TEXT,
    updated_at INTEGER NOT NULL
);
CREATE INDEX persons_by_mobile ON persons (mobile);

CREATE TABLE units (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    area           TEXT NOT NULL,
    location       TEXT,                   -- JSON [lon, lat]
    administrative TEXT NOT NULL,
    regulatory     TEXT NOT NULL,
    unit           TEXT NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('Actual', 'Exercise', 'System', 'Test', 'Draft')),
    msg_type    TEXT NOT NULL CHECK (msg_type IN ('Alert', 'Update', 'Cancel', 'Ack', 'Error')),
    event       TEXT NOT NULL,
    tier        TEXT NOT NULL CHECK (tier IN ('red', 'orange', 'yellow', 'blue')),
    headline    TEXT NOT NULL,
    description TEXT NOT NULL,
    instruction TEXT NOT NULL,
    onset       INTEGER,
    expires     INTEGER,
    areas       TEXT NOT NULL,             -- JSON, as received
    state       TEXT NOT NULL CHECK (state IN ('active', 'cancelled', 'expired', 'stored')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX alerts_by_created ON alerts (created_at);

-- Every message received from a source: the idempotency record, keyed as CAP keys messages.
CREATE TABLE alert_messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id    INTEGER NOT NULL REFERENCES alerts (id),
    sender      TEXT NOT NULL,
    identifier  TEXT NOT NULL,
    sent        INTEGER NOT NULL,
    msg_type    TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    body        TEXT NOT NULL,
    UNIQUE (sender, identifier, sent)
);

CREATE TABLE calls (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id       INTEGER NOT NULL REFERENCES alerts (id),
    person_id      TEXT NOT NULL,
    roles          TEXT NOT NULL,           -- the roles called in, ';'-separated
    unit_id        TEXT,
    area           TEXT NOT NULL,
    level          INTEGER NOT NULL DEFAULT 0 CHECK (level >= 0),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'delivered', 'answered', 'done',
                                                  'escalated', 'expired', 'cancelled', 'failed')),
    reply_code     TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    deadline       INTEGER NOT NULL,        -- deadline of the current attempt
    next_action_at INTEGER,                 -- the timer: NULL when nothing is due
    answered_at    INTEGER,
    answered_via   TEXT,
    answered_by    TEXT,
    answer_note    TEXT,
    late           INTEGER NOT NULL DEFAULT 0,
    unreached      INTEGER NOT NULL DEFAULT 0,
    escalated_from INTEGER REFERENCES calls (id),
    escalated_to   INTEGER REFERENCES calls (id),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (alert_id, person_id)
);
CREATE INDEX calls_due ON calls (next_action_at) WHERE next_action_at IS NOT NULL;
CREATE INDEX calls_by_person ON calls (person_id, state);

-- The call state machine, enforced by the database as well as by the core.
CREATE TRIGGER calls_legal_transition BEFORE UPDATE OF state ON calls
WHEN OLD.state <> NEW.state AND NOT (
       (OLD.state = 'pending'   AND NEW.state IN ('sent', 'delivered', 'answered', 'escalated', 'expired', 'cancelled', 'failed'))
    OR (OLD.state = 'sent'      AND NEW.state IN ('delivered', 'answered', 'escalated', 'expired', 'cancelled', 'failed'))
    OR (OLD.state = 'delivered' AND NEW.state IN ('answered', 'escalated', 'expired', 'cancelled'))
    OR (OLD.state = 'escalated' AND NEW.state IN ('answered', 'expired', 'cancelled'))
    OR (OLD.state = 'answered'  AND NEW.state = 'done')
)
BEGIN
    SELECT RAISE(ABORT, 'illegal call state transition');
END;

-- The outbox: one row per message to one recipient on one channel.
CREATE TABLE messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id        INTEGER REFERENCES alerts (id),
    call_id         INTEGER REFERENCES calls (id),
    channel         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    purpose         TEXT NOT NULL CHECK (purpose IN ('call', 'notice', 'reply', 'test')),
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    code            TEXT,
    link            TEXT,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    provider_id     TEXT,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    delivered_at    INTEGER
);
CREATE INDEX messages_due ON messages (state, next_attempt_at);
CREATE INDEX messages_by_call ON messages (call_id);

CREATE TRIGGER messages_legal_transition BEFORE UPDATE OF state ON messages
WHEN OLD.state <> NEW.state AND NOT (
       (OLD.state = 'queued'  AND NEW.state IN ('sending', 'failed', 'cancelled'))
    OR (OLD.state = 'sending' AND NEW.state IN ('queued', 'sent', 'delivered', 'failed'))
    OR (OLD.state = 'sent'    AND NEW.state IN ('delivered', 'failed'))
)
BEGIN
    SELECT RAISE(ABORT, 'illegal message state transition');
END;

-- Append-only log of every call transition: who, when, how, why.
CREATE TABLE call_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id   INTEGER NOT NULL REFERENCES alerts (id),
    call_id    INTEGER NOT NULL REFERENCES calls (id),
    at         INTEGER NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    actor      TEXT NOT NULL,
    via        TEXT,
    note       TEXT
);
CREATE INDEX call_events_by_alert ON call_events (alert_id, id);
CREATE TRIGGER call_events_append_only_update BEFORE UPDATE ON call_events
BEGIN
    SELECT RAISE(ABORT, 'call_events is append-only');
END;
CREATE TRIGGER call_events_append_only_delete BEFORE DELETE ON call_events
BEGIN
    SELECT RAISE(ABORT, 'call_events is append-only');
END;

-- Provider ids of inbound messages already handled, so a gateway's retry changes nothing.
CREATE TABLE inbound_seen (
    channel     TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    seen_at     INTEGER NOT NULL,
    PRIMARY KEY (channel, provider_id)
);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'officer', 'viewer')),
    token_hash TEXT NOT NULL UNIQUE,       -- hex SHA-256 of the token; the token itself is never stored
    created_at INTEGER NOT NULL
);
