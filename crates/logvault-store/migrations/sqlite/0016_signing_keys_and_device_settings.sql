-- The server's Ed25519 export-signing keys (the seed sealed under a master-derived key; the newest signs), and each
-- device's settings: alarm limits per channel and the activation energy for mean kinetic temperature (JSON).
CREATE TABLE signing_keys (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    public_key     BLOB    NOT NULL UNIQUE,
    seed_sealed    BLOB    NOT NULL,
    created_at_us  INTEGER NOT NULL
) STRICT;

-- A signing key is never changed or removed: exports signed with it must stay verifiable against what the server
-- published.
CREATE TRIGGER signing_keys_are_immutable_update BEFORE UPDATE ON signing_keys
BEGIN
    SELECT RAISE(ABORT, 'signing keys are immutable');
END;
CREATE TRIGGER signing_keys_are_immutable_delete BEFORE DELETE ON signing_keys
BEGIN
    SELECT RAISE(ABORT, 'signing keys are immutable');
END;

ALTER TABLE devices ADD COLUMN settings TEXT;
