-- Second factors. A session is "pending" between the password and the second factor.
ALTER TABLE sessions ADD COLUMN mfa_pending INTEGER NOT NULL DEFAULT 0 CHECK (mfa_pending IN (0, 1));

-- The TOTP secret is sealed (AES-256-GCM) under a key derived from the master key.
CREATE TABLE user_totp (
    user_id         INTEGER PRIMARY KEY REFERENCES users (id),
    secret_sealed   BLOB    NOT NULL,
    confirmed       INTEGER NOT NULL DEFAULT 0 CHECK (confirmed IN (0, 1)),
    last_used_step  INTEGER,
    created_at_us   INTEGER NOT NULL
) STRICT;

-- Single-use recovery codes, stored as HMAC-SHA-256 under a key derived from the master key.
CREATE TABLE recovery_codes (
    user_id    INTEGER NOT NULL REFERENCES users (id),
    idx        INTEGER NOT NULL,
    code_hash  BLOB    NOT NULL,
    used       INTEGER NOT NULL DEFAULT 0 CHECK (used IN (0, 1)),
    PRIMARY KEY (user_id, idx)
) STRICT;

-- Wrong second-factor codes per account in the current 30-second step.
CREATE TABLE mfa_failures (
    user_id   INTEGER PRIMARY KEY REFERENCES users (id),
    step      INTEGER NOT NULL,
    failures  INTEGER NOT NULL
) STRICT;
