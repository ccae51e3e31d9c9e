-- The server's Ed25519 export-signing keys (the seed sealed under a master-derived key; the newest signs), and each
-- device's settings: alarm limits per channel and the activation energy for mean kinetic temperature (JSON).
CREATE TABLE signing_keys (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_key     BYTEA  NOT NULL UNIQUE,
    seed_sealed    BYTEA  NOT NULL,
    created_at_us  BIGINT NOT NULL
);

-- A signing key is never changed or removed: exports signed with it must stay verifiable against what the server
-- published.
CREATE TRIGGER signing_keys_are_immutable BEFORE UPDATE OR DELETE ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION logvault_refuse_change();
CREATE TRIGGER signing_keys_are_not_truncated BEFORE TRUNCATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION logvault_refuse_change();

ALTER TABLE devices ADD COLUMN settings TEXT;
