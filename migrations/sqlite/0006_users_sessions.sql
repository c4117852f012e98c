-- Board users and their sign-in sessions (issue 6, ADR 0012).
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'officer', 'viewer')),
    -- argon2id in PHC form ($argon2id$v=19$m=...,t=...,p=...$salt$hash); never the password
    password_hash TEXT NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- One row per signed-in browser. The cookie value itself is never stored, only its SHA-256, so a
-- copy of the database does not let anyone sign in.
CREATE TABLE sessions (
    token_hash      TEXT PRIMARY KEY,    -- hex SHA-256 of the jy_session cookie value
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf            TEXT NOT NULL,       -- sent back in X-CSRF-Token on every unsafe request
    created_at      INTEGER NOT NULL,
    idle_expires_at INTEGER NOT NULL,    -- moved forward on use, never past expires_at
    expires_at      INTEGER NOT NULL     -- absolute end, set at sign-in
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
