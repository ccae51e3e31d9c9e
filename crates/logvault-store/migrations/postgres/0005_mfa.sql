-- Second factors. A session is "pending" between the password and the second factor.
ALTER TABLE sessions ADD COLUMN mfa_pending BOOLEAN NOT NULL DEFAULT FALSE;

-- The TOTP secret is sealed (AES-256-GCM) under a key derived from the master key.
CREATE TABLE user_totp (
    user_id         BIGINT  PRIMARY KEY REFERENCES users (id),
    secret_sealed   BYTEA   NOT NULL,
    confirmed       BOOLEAN NOT NULL DEFAULT FALSE,
    last_used_step  BIGINT,
    created_at_us   BIGINT  NOT NULL
);

-- Single-use recovery codes, stored as HMAC-SHA-256 under a key derived from the master key.
CREATE TABLE recovery_codes (
    user_id    BIGINT  NOT NULL REFERENCES users (id),
    idx        BIGINT  NOT NULL,
    code_hash  BYTEA   NOT NULL,
    used       BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, idx)
);

-- Wrong second-factor codes per account in the current 30-second step.
CREATE TABLE mfa_failures (
    user_id   BIGINT PRIMARY KEY REFERENCES users (id),
    step      BIGINT NOT NULL,
    failures  BIGINT NOT NULL
);
