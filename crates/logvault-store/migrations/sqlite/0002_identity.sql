-- People, their memberships, their sessions, and the tamper-evident audit log.

CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    email          TEXT    NOT NULL UNIQUE,
    name           TEXT    NOT NULL,
    password_hash  TEXT,
    disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at_us  INTEGER NOT NULL
) STRICT;

CREATE TABLE memberships (
    org_id         INTEGER NOT NULL REFERENCES organisations (id),
    user_id        INTEGER NOT NULL REFERENCES users (id),
    role           TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer', 'auditor')),
    created_at_us  INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
) STRICT;
CREATE INDEX memberships_by_user ON memberships (user_id);

-- Opaque session tokens are stored as their SHA-256 only.
CREATE TABLE sessions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash      BLOB    NOT NULL UNIQUE,
    user_id         INTEGER NOT NULL REFERENCES users (id),
    created_at_us   INTEGER NOT NULL,
    last_seen_us    INTEGER NOT NULL,
    expires_at_us   INTEGER NOT NULL,
    revoked         INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
) STRICT;
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Append-only, hash-chained per organisation (chain 0: events of no organisation).
CREATE TABLE audit_log (
    chain_id        INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    occurred_at_us  INTEGER NOT NULL,
    actor           TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    target          TEXT,
    outcome         TEXT    NOT NULL,
    request_id      TEXT,
    detail          TEXT,
    prev_hash       BLOB    NOT NULL,
    entry_hash      BLOB    NOT NULL,
    PRIMARY KEY (chain_id, seq)
) STRICT;

CREATE TABLE audit_heads (
    chain_id    INTEGER PRIMARY KEY,
    seq         INTEGER NOT NULL,
    entry_hash  BLOB    NOT NULL
) STRICT;

CREATE TRIGGER audit_log_is_append_only_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_is_append_only_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- A head only moves forward, one entry at a time, and is never removed.
CREATE TRIGGER audit_heads_move_forward BEFORE UPDATE ON audit_heads
WHEN NEW.seq <> OLD.seq + 1 OR NEW.chain_id <> OLD.chain_id
BEGIN
    SELECT RAISE(ABORT, 'audit_heads only moves forward');
END;

CREATE TRIGGER audit_heads_are_kept BEFORE DELETE ON audit_heads
BEGIN
    SELECT RAISE(ABORT, 'audit_heads is append-only');
END;
