-- Alert lifecycle: every reference a message makes, kept even when the referenced message is
-- unknown (dangling), so an Alert that arrives after its Update still joins it. Feeds: what each
-- polled source has taken, for conditional GETs and take-once.

CREATE TABLE message_references (
    message_id INTEGER NOT NULL REFERENCES alert_messages (id),
    sender     TEXT NOT NULL,
    identifier TEXT NOT NULL,
    sent       INTEGER,
    PRIMARY KEY (message_id, sender, identifier)
);
CREATE INDEX message_references_by_key ON message_references (sender, identifier);

-- The alert's content comes from its newest message: an older one arriving late changes nothing.
ALTER TABLE alerts ADD COLUMN content_sent INTEGER NOT NULL DEFAULT 0;

CREATE TABLE feed_state (
    source          TEXT PRIMARY KEY,
    etag            TEXT,
    last_modified   TEXT,
    last_poll_at    INTEGER,
    last_success_at INTEGER,
    last_taken_at   INTEGER,               -- last time the feed gave something parsable
    failures        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_poll_at    INTEGER
);

CREATE TABLE feed_entries (
    source        TEXT NOT NULL,
    url           TEXT NOT NULL,
    etag          TEXT,
    last_modified TEXT,
    taken_at      INTEGER NOT NULL,
    result        TEXT NOT NULL,           -- taken | repeat | rejected: <reason>
    PRIMARY KEY (source, url)
);
