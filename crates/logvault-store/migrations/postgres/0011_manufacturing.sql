-- The manufacturing flow: a manufacturer's token uploads (serial, key, claim code) for loggers it has built; an
-- organisation later claims a logger by serial and claim code, which moves it into the organisation. Until then the
-- key is sealed under a master-derived manufacturing key, and the claim code is stored as a keyed hash.
CREATE TABLE manufacturer_tokens (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           TEXT    NOT NULL,
    token_hash     BYTEA   NOT NULL UNIQUE,
    created_at_us  BIGINT  NOT NULL,
    expires_at_us  BIGINT  NOT NULL,
    revoked        BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE unclaimed_devices (
    serial           TEXT    PRIMARY KEY,
    key_sealed       BYTEA   NOT NULL,
    claim_code_hash  BYTEA   NOT NULL,
    token_id         BIGINT  NOT NULL REFERENCES manufacturer_tokens (id),
    uploaded_at_us   BIGINT  NOT NULL
);
