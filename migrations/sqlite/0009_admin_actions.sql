-- Admins' changes to board users (added; role or password changed; deleted), kept in an
-- append-only log beside call_events and alert_actions: the audit view reads all three. The user
-- is named, not referenced, so a deleted user's history stays. No CHECK on `action`: admins will
-- manage sources and the registry too, and SQLite cannot widen a CHECK without rebuilding the table.
CREATE TABLE admin_actions (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,                 -- officer:<name> of the admin
    action TEXT NOT NULL,                 -- user_add | user_update | user_delete
    target TEXT NOT NULL,                 -- the user's name
    note   TEXT                           -- what changed; never a password or its hash
);
CREATE INDEX admin_actions_by_at ON admin_actions (at);
CREATE TRIGGER admin_actions_append_only_update BEFORE UPDATE ON admin_actions
BEGIN
    SELECT RAISE(ABORT, 'admin_actions is append-only');
END;
CREATE TRIGGER admin_actions_append_only_delete BEFORE DELETE ON admin_actions
BEGIN
    SELECT RAISE(ABORT, 'admin_actions is append-only');
END;
