-- Scheduled duties (issue 7): reachability tests (通联测试), inspection reminders, the daily
-- summary. Keep in lockstep with migrations/postgres/0010_duties.sql.
--
-- One row per run of a duty at one scheduled time. The UNIQUE pair is the claim: every instance
-- that wakes for a scheduled time inserts the row with ON CONFLICT DO NOTHING in the same
-- transaction as the run's work, and only the one whose insert took a row runs it (a rolled-back
-- run leaves no claim, so it is tried again). No CHECK on `duty`: new duties must not need a
-- table rebuild on SQLite.
CREATE TABLE duty_runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    duty           TEXT NOT NULL,            -- reachability | inspection | daily_summary
    scheduled_for  INTEGER NOT NULL,         -- the schedule's time this run is for
    claimed_by     TEXT NOT NULL,            -- the instance that ran it
    started_at     INTEGER NOT NULL,
    alert_id       INTEGER REFERENCES alerts (id),   -- reachability: the test's alert and calls
    window_ends_at INTEGER,                  -- reachability: answers after this count as unreached
    remind_at      INTEGER,                  -- reachability: when the unanswered are reminded once
    reminded_at    INTEGER,
    finished_at    INTEGER,                  -- reachability: the report went to the duty officers
    summary        TEXT,                     -- JSON: what the run did (persons, messages)
    UNIQUE (duty, scheduled_for)
);
CREATE INDEX duty_runs_by_duty ON duty_runs (duty, scheduled_for);

-- An inspection reminder sent to one person: its id is what the signed link of the reminder names.
CREATE TABLE inspection_requests (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     INTEGER NOT NULL REFERENCES duty_runs (id),
    person_id  TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- "已检查": a responsible person's inspection of a unit (or of their units, unnamed), with a
-- short report. Append-only: coverage is read from it.
CREATE TABLE inspections (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id  TEXT NOT NULL,
    unit_id    TEXT,                         -- NULL: the person did not say which unit
    at         INTEGER NOT NULL,
    via        TEXT NOT NULL,                -- sms | link
    report     TEXT NOT NULL,
    request_id INTEGER REFERENCES inspection_requests (id)
);
CREATE INDEX inspections_by_person ON inspections (person_id, at);
CREATE INDEX inspections_by_unit ON inspections (unit_id, at);
CREATE TRIGGER inspections_append_only_update BEFORE UPDATE ON inspections
BEGIN
    SELECT RAISE(ABORT, 'inspections is append-only');
END;
CREATE TRIGGER inspections_append_only_delete BEFORE DELETE ON inspections
BEGIN
    SELECT RAISE(ABORT, 'inspections is append-only');
END;
