-- Duty officers' actions on a whole alert (cancel with a reason, a manual warning), kept in an
-- append-only log beside call_events (which needs a call): the audit view reads both. The time
-- index serves the audit's time-range filter and newest-first paging.
CREATE TABLE alert_actions (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL REFERENCES alerts (id),
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,               -- officer:<name>
    action   TEXT NOT NULL CHECK (action IN ('cancel', 'manual')),
    note     TEXT
);
CREATE INDEX alert_actions_by_alert ON alert_actions (alert_id, id);
CREATE INDEX alert_actions_by_at ON alert_actions (at);
CREATE INDEX call_events_by_at ON call_events (at);
CREATE TRIGGER alert_actions_append_only_update BEFORE UPDATE ON alert_actions
BEGIN
    SELECT RAISE(ABORT, 'alert_actions is append-only');
END;
CREATE TRIGGER alert_actions_append_only_delete BEFORE DELETE ON alert_actions
BEGIN
    SELECT RAISE(ABORT, 'alert_actions is append-only');
END;
