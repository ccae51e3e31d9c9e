-- Devices and key custody. A device key is stored only sealed (AES-256-GCM) under its organisation's data key,
-- which is stored only wrapped under a key derived from the master key (outside the database).
CREATE TABLE org_data_keys (
    org_id         INTEGER PRIMARY KEY REFERENCES organisations (id),
    wrapped        BLOB    NOT NULL,
    created_at_us  INTEGER NOT NULL
) STRICT;

CREATE TABLE devices (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    serial         TEXT    NOT NULL UNIQUE,
    org_id         INTEGER NOT NULL REFERENCES organisations (id),
    name           TEXT    NOT NULL,
    site_id        INTEGER REFERENCES sites (id),
    created_at_us  INTEGER NOT NULL
) STRICT;
CREATE INDEX devices_by_org ON devices (org_id);

-- One key per generation; old generations stay (read-only) to re-verify blocks sealed under them.
CREATE TABLE device_keys (
    device_id      INTEGER NOT NULL REFERENCES devices (id),
    generation     INTEGER NOT NULL CHECK (generation BETWEEN 0 AND 255),
    key_sealed     BLOB    NOT NULL,
    created_at_us  INTEGER NOT NULL,
    PRIMARY KEY (device_id, generation)
) STRICT;

-- Keys are written once: a rotation adds a generation, nothing changes or removes one.
CREATE TRIGGER device_keys_are_kept_update BEFORE UPDATE ON device_keys
BEGIN
    SELECT RAISE(ABORT, 'device keys are kept');
END;
CREATE TRIGGER device_keys_are_kept_delete BEFORE DELETE ON device_keys
BEGIN
    SELECT RAISE(ABORT, 'device keys are kept');
END;
CREATE TRIGGER org_data_keys_are_kept_update BEFORE UPDATE ON org_data_keys
BEGIN
    SELECT RAISE(ABORT, 'data keys are kept');
END;
CREATE TRIGGER org_data_keys_are_kept_delete BEFORE DELETE ON org_data_keys
BEGIN
    SELECT RAISE(ABORT, 'data keys are kept');
END;
