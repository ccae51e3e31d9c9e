-- Access management: organisation policy, invitations (and the bootstrap setup link), API tokens, email sign-in
-- codes. Every secret token or code is stored as a hash only.

-- `require_mfa`: members without a second factor must enrol before they can use the organisation.
ALTER TABLE organisations ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;

-- Single-use, expiring invitations. `setup` is the operator's bootstrap link (no inviter): the only kind that may
-- give an existing account (the new owner's, created without one) its password.
CREATE TABLE invitations (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id          BIGINT  NOT NULL REFERENCES organisations (id),
    email           TEXT    NOT NULL,
    role            TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer', 'auditor')),
    token_hash      BYTEA   NOT NULL UNIQUE,
    invited_by      BIGINT  REFERENCES users (id),
    created_at_us   BIGINT  NOT NULL,
    expires_at_us   BIGINT  NOT NULL,
    accepted_at_us  BIGINT,
    revoked         BOOLEAN NOT NULL DEFAULT FALSE,
    purpose         TEXT    NOT NULL DEFAULT 'invitation' CHECK (purpose IN ('invitation', 'setup'))
);
CREATE INDEX invitations_by_org ON invitations (org_id);

-- API tokens act for their creator in one organisation, with a role no higher than the creator's.
CREATE TABLE api_tokens (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id          BIGINT  NOT NULL REFERENCES organisations (id),
    user_id         BIGINT  NOT NULL REFERENCES users (id),
    name            TEXT    NOT NULL,
    role            TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer', 'auditor')),
    token_hash      BYTEA   NOT NULL UNIQUE,
    created_at_us   BIGINT  NOT NULL,
    expires_at_us   BIGINT  NOT NULL,
    last_used_us    BIGINT,
    revoked         BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX api_tokens_by_org ON api_tokens (org_id);

-- At most one live email sign-in code per user: HMAC(key, request binding ‖ code).
CREATE TABLE email_codes (
    user_id         BIGINT  PRIMARY KEY REFERENCES users (id),
    code_hash       BYTEA   NOT NULL,
    created_at_us   BIGINT  NOT NULL,
    expires_at_us   BIGINT  NOT NULL,
    used            BOOLEAN NOT NULL DEFAULT FALSE
);

-- Wrong email codes per address (keyed hash) in the current 30-second step: counted for unknown addresses too, so
-- the limit's answer does not tell whether an account exists.
CREATE TABLE email_code_attempts (
    email_key  BYTEA  PRIMARY KEY,
    step       BIGINT NOT NULL,
    failures   BIGINT NOT NULL
);
