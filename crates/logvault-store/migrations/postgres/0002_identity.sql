-- People, their memberships, their sessions, and the tamper-evident audit log.

CREATE TABLE users (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email          TEXT    NOT NULL UNIQUE,
    name           TEXT    NOT NULL,
    password_hash  TEXT,
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at_us  BIGINT  NOT NULL
);

CREATE TABLE memberships (
    org_id         BIGINT NOT NULL REFERENCES organisations (id),
    user_id        BIGINT NOT NULL REFERENCES users (id),
    role           TEXT   NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer', 'auditor')),
    created_at_us  BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);

-- Opaque session tokens are stored as their SHA-256 only.
CREATE TABLE sessions (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash      BYTEA   NOT NULL UNIQUE,
    user_id         BIGINT  NOT NULL REFERENCES users (id),
    created_at_us   BIGINT  NOT NULL,
    last_seen_us    BIGINT  NOT NULL,
    expires_at_us   BIGINT  NOT NULL,
    revoked         BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Append-only, hash-chained per organisation (chain 0: events of no organisation).
CREATE TABLE audit_log (
    chain_id        BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    occurred_at_us  BIGINT NOT NULL,
    actor           TEXT   NOT NULL,
    action          TEXT   NOT NULL,
    target          TEXT,
    outcome         TEXT   NOT NULL,
    request_id      TEXT,
    detail          TEXT,
    prev_hash       BYTEA  NOT NULL,
    entry_hash      BYTEA  NOT NULL,
    PRIMARY KEY (chain_id, seq)
);

CREATE TABLE audit_heads (
    chain_id    BIGINT PRIMARY KEY,
    seq         BIGINT NOT NULL,
    entry_hash  BYTEA  NOT NULL
);

CREATE FUNCTION logvault_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;

CREATE TRIGGER audit_log_is_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION logvault_refuse_change();
CREATE TRIGGER audit_log_is_not_truncated BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION logvault_refuse_change();
CREATE TRIGGER audit_heads_are_kept BEFORE DELETE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION logvault_refuse_change();
CREATE TRIGGER audit_heads_are_not_truncated BEFORE TRUNCATE ON audit_heads
    FOR EACH STATEMENT EXECUTE FUNCTION logvault_refuse_change();

CREATE FUNCTION logvault_head_moves_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq <> OLD.seq + 1 OR NEW.chain_id <> OLD.chain_id THEN
        RAISE EXCEPTION 'audit_heads only moves forward';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_heads_move_forward BEFORE UPDATE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION logvault_head_moves_forward();
