-- Per-organisation retention and the one path allowed past the immutability guards of blocks and measurements.
--
-- `retention_days` NULL keeps everything (the default); otherwise whole days, never under 731 (two years with a leap
-- day). A purge removes, per device, the oldest blocks whose last sample is before its cutoff — a prefix of the
-- chain — with their measurement rows, and moves the device's chain anchor to the first retained block so the chain
-- still verifies from there. The chain head stays. Audit entries are never purged.
ALTER TABLE organisations ADD COLUMN retention_days INTEGER
    CHECK (retention_days IS NULL OR retention_days >= 731);

-- Every purge of a device, appended first in the purge transaction; never changed or removed. The database checks
-- the organisation really has a retention and the cutoff respects it against its own clock (allowing one day of
-- clock difference between server and database: 730 days is still two years of 365).
CREATE TABLE retention_purges (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id        INTEGER NOT NULL REFERENCES organisations (id),
    device_id     INTEGER NOT NULL REFERENCES devices (id),
    cutoff_s      INTEGER NOT NULL,
    -- The last chain position the purge may remove.
    through_seq   INTEGER NOT NULL,
    purged_at_us  INTEGER NOT NULL
) STRICT;

CREATE TRIGGER retention_purges_respect_the_retention BEFORE INSERT ON retention_purges
WHEN NOT EXISTS (
    SELECT 1 FROM devices d JOIN organisations o ON o.id = d.org_id
    WHERE d.id = NEW.device_id AND o.id = NEW.org_id AND o.retention_days IS NOT NULL
      AND NEW.cutoff_s <= CAST(strftime('%s', 'now') AS INTEGER) - (o.retention_days - 1) * 86400)
BEGIN
    SELECT RAISE(ABORT, 'a purge must respect its organisation''s retention');
END;
CREATE TRIGGER retention_purges_are_kept_update BEFORE UPDATE ON retention_purges
BEGIN
    SELECT RAISE(ABORT, 'retention purges are append-only');
END;
CREATE TRIGGER retention_purges_are_kept_delete BEFORE DELETE ON retention_purges
BEGIN
    SELECT RAISE(ABORT, 'retention purges are append-only');
END;

-- The purge open in the current transaction. SQLite has no transaction id, so the purge inserts its row here right
-- after its `retention_purges` row and deletes it before committing. The deferred reference to the always-empty
-- `retention_purge_never` makes any COMMIT fail while a row is here: no committed state carries an open purge, so
-- only the transaction that opened one can delete anything, and ingest (which never touches these tables) cannot.
CREATE TABLE retention_purge_never (
    id  INTEGER PRIMARY KEY
) STRICT;
CREATE TRIGGER retention_purge_never_stays_empty BEFORE INSERT ON retention_purge_never
BEGIN
    SELECT RAISE(ABORT, 'retention_purge_never stays empty');
END;
CREATE TABLE retention_open_purges (
    purge_id    INTEGER PRIMARY KEY REFERENCES retention_purges (id),
    must_close  INTEGER NOT NULL DEFAULT 0
        REFERENCES retention_purge_never (id) DEFERRABLE INITIALLY DEFERRED
) STRICT;

-- Where a device's chain starts once its oldest blocks are purged: the first retained position and the hash it
-- links to. Written only by an open purge of that device, only forward, never removed.
CREATE TABLE device_chain_anchors (
    device_id         INTEGER PRIMARY KEY REFERENCES devices (id),
    seq               INTEGER NOT NULL,
    prev_hash         BLOB    NOT NULL,
    purged_through_s  INTEGER NOT NULL
) STRICT;

-- An anchor follows the last block the open purge removes (still there when the anchor is written).
CREATE TRIGGER device_chain_anchors_follow_a_purge_insert BEFORE INSERT ON device_chain_anchors
WHEN NOT EXISTS (
    SELECT 1 FROM retention_open_purges o JOIN retention_purges p ON p.id = o.purge_id
    JOIN blocks b ON b.device_id = p.device_id AND b.seq = p.through_seq
    WHERE p.device_id = NEW.device_id AND NEW.seq = p.through_seq + 1 AND NEW.prev_hash = b.block_hash)
BEGIN
    SELECT RAISE(ABORT, 'a chain anchor moves only with a purge');
END;
CREATE TRIGGER device_chain_anchors_follow_a_purge_update BEFORE UPDATE ON device_chain_anchors
WHEN NEW.device_id <> OLD.device_id OR NEW.seq <= OLD.seq OR NEW.purged_through_s < OLD.purged_through_s
    OR NOT EXISTS (
        SELECT 1 FROM retention_open_purges o JOIN retention_purges p ON p.id = o.purge_id
        JOIN blocks b ON b.device_id = p.device_id AND b.seq = p.through_seq
        WHERE p.device_id = NEW.device_id AND NEW.seq = p.through_seq + 1 AND NEW.prev_hash = b.block_hash)
BEGIN
    SELECT RAISE(ABORT, 'a chain anchor moves only with a purge');
END;
CREATE TRIGGER device_chain_anchors_are_kept BEFORE DELETE ON device_chain_anchors
BEGIN
    SELECT RAISE(ABORT, 'chain anchors are kept');
END;

-- Blocks and measurements: still never updated; deleted only by the open purge of their device, only up to its
-- last position and only if the block's last sample is before its cutoff (a measurement goes with its block).
DROP TRIGGER blocks_are_immutable_delete;
CREATE TRIGGER blocks_are_immutable_delete BEFORE DELETE ON blocks
WHEN NOT EXISTS (
    SELECT 1 FROM retention_open_purges o JOIN retention_purges p ON p.id = o.purge_id
    WHERE p.device_id = OLD.device_id AND OLD.seq <= p.through_seq
      AND (OLD.last_sample_s IS NULL OR OLD.last_sample_s < p.cutoff_s))
BEGIN
    SELECT RAISE(ABORT, 'blocks are immutable');
END;
DROP TRIGGER measurements_are_immutable_delete;
CREATE TRIGGER measurements_are_immutable_delete BEFORE DELETE ON measurements
WHEN NOT EXISTS (
    SELECT 1 FROM retention_open_purges o JOIN retention_purges p ON p.id = o.purge_id
    JOIN blocks b ON b.id = OLD.block_id
    WHERE p.device_id = OLD.device_id AND b.device_id = OLD.device_id AND b.seq <= p.through_seq
      AND (b.last_sample_s IS NULL OR b.last_sample_s < p.cutoff_s))
BEGIN
    SELECT RAISE(ABORT, 'measurements are immutable');
END;

-- Rollups: still only grown by ingest, and removed only by the open purge of their device, for buckets starting
-- before its cutoff (every purged row is older than the cutoff), which it then writes again from the measurements
-- retained.
DROP TRIGGER measurement_rollups_are_kept;
CREATE TRIGGER measurement_rollups_are_kept BEFORE DELETE ON measurement_rollups
WHEN NOT EXISTS (
    SELECT 1 FROM retention_open_purges o JOIN retention_purges p ON p.id = o.purge_id
    WHERE p.device_id = OLD.device_id AND OLD.bucket_start_s < p.cutoff_s)
BEGIN
    SELECT RAISE(ABORT, 'measurement rollups are kept');
END;
