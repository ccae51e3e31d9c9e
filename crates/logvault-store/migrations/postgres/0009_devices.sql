-- Devices and key custody. A device key is stored only sealed (AES-256-GCM) under its organisation's data key,
-- which is stored only wrapped under a key derived from the master key (outside the database).
CREATE TABLE org_data_keys (
    org_id         BIGINT PRIMARY KEY REFERENCES organisations (id),
    wrapped        BYTEA   NOT NULL,
    created_at_us  BIGINT  NOT NULL
);

CREATE TABLE devices (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial         TEXT    NOT NULL UNIQUE,
    org_id         BIGINT  NOT NULL REFERENCES organisations (id),
    name           TEXT    NOT NULL,
    site_id        BIGINT  REFERENCES sites (id),
    created_at_us  BIGINT  NOT NULL
);
CREATE INDEX devices_by_org ON devices (org_id);

-- One key per generation; old generations stay (read-only) to re-verify blocks sealed under them.
CREATE TABLE device_keys (
    device_id      BIGINT  NOT NULL REFERENCES devices (id),
    generation     BIGINT  NOT NULL CHECK (generation BETWEEN 0 AND 255),
    key_sealed     BYTEA   NOT NULL,
    created_at_us  BIGINT  NOT NULL,
    PRIMARY KEY (device_id, generation)
);

-- Keys are written once: a rotation adds a generation, nothing changes or removes one.
CREATE TRIGGER device_keys_are_kept BEFORE UPDATE OR DELETE ON device_keys
    FOR EACH ROW EXECUTE FUNCTION logvault_refuse_change();
CREATE TRIGGER device_keys_are_not_truncated BEFORE TRUNCATE ON device_keys
    FOR EACH STATEMENT EXECUTE FUNCTION logvault_refuse_change();
CREATE TRIGGER org_data_keys_are_kept BEFORE UPDATE OR DELETE ON org_data_keys
    FOR EACH ROW EXECUTE FUNCTION logvault_refuse_change();
CREATE TRIGGER org_data_keys_are_not_truncated BEFORE TRUNCATE ON org_data_keys
    FOR EACH STATEMENT EXECUTE FUNCTION logvault_refuse_change();
