-- The manufacturing flow: a manufacturer's token uploads (serial, key, claim code) for loggers it has built; an
-- organisation later claims a logger by serial and claim code, which moves it into the organisation. Until then the
-- key is sealed under a master-derived manufacturing key, and the claim code is stored as a keyed hash.
CREATE TABLE manufacturer_tokens (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL,
    token_hash     BLOB    NOT NULL UNIQUE,
    created_at_us  INTEGER NOT NULL,
    expires_at_us  INTEGER NOT NULL,
    revoked        INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
) STRICT;

CREATE TABLE unclaimed_devices (
    serial           TEXT    PRIMARY KEY,
    key_sealed       BLOB    NOT NULL,
    claim_code_hash  BLOB    NOT NULL,
    token_id         INTEGER NOT NULL REFERENCES manufacturer_tokens (id),
    uploaded_at_us   INTEGER NOT NULL
) STRICT;
