-- Per-organisation retention and the one path allowed past the immutability guards of blocks and measurements.
--
-- `retention_days` NULL keeps everything (the default); otherwise whole days, never under 731 (two years with a leap
-- day). A purge removes, per device, the oldest blocks whose last sample is before its cutoff — a prefix of the
-- chain — with their measurement rows, and moves the device's chain anchor to the first retained block so the chain
-- still verifies from there. The chain head stays. Audit entries are never purged.
ALTER TABLE organisations ADD COLUMN retention_days INTEGER
    CHECK (retention_days IS NULL OR retention_days >= 731);

-- Every purge of a device, appended first in the purge transaction; never changed or removed. `txid` is the
-- inserting transaction's id (set by the trigger, whatever the insert says): a purge row authorises deletions only
-- in the transaction that wrote it, and no later transaction has that id. The database also checks the organisation
-- really has a retention and the cutoff respects it against its own clock (allowing one day of clock difference
-- between server and database: 730 days is still two years of 365).
CREATE TABLE retention_purges (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id        BIGINT NOT NULL REFERENCES organisations (id),
    device_id     BIGINT NOT NULL REFERENCES devices (id),
    cutoff_s      BIGINT NOT NULL,
    -- The last chain position the purge may remove.
    through_seq   BIGINT NOT NULL,
    purged_at_us  BIGINT NOT NULL,
    txid          BIGINT NOT NULL
);
CREATE INDEX retention_purges_by_txid ON retention_purges (txid);

CREATE FUNCTION logvault_retention_purge_opens() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.txid := txid_current();
    IF NOT EXISTS (
        SELECT 1 FROM devices d JOIN organisations o ON o.id = d.org_id
        WHERE d.id = NEW.device_id AND o.id = NEW.org_id AND o.retention_days IS NOT NULL
          AND NEW.cutoff_s <= floor(extract(epoch FROM now()))::BIGINT - (o.retention_days - 1) * 86400) THEN
        RAISE EXCEPTION 'a purge must respect its organisation''s retention';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER retention_purges_respect_the_retention BEFORE INSERT ON retention_purges
    FOR EACH ROW EXECUTE FUNCTION logvault_retention_purge_opens();
CREATE TRIGGER retention_purges_are_kept BEFORE UPDATE OR DELETE ON retention_purges
    FOR EACH ROW EXECUTE FUNCTION logvault_refuse_change();
CREATE TRIGGER retention_purges_are_not_truncated BEFORE TRUNCATE ON retention_purges
    FOR EACH STATEMENT EXECUTE FUNCTION logvault_refuse_change();

-- Where a device's chain starts once its oldest blocks are purged: the first retained position and the hash it
-- links to. Written only by this transaction's purge of that device, only forward, never removed.
CREATE TABLE device_chain_anchors (
    device_id         BIGINT PRIMARY KEY REFERENCES devices (id),
    seq               BIGINT NOT NULL,
    prev_hash         BYTEA  NOT NULL,
    purged_through_s  BIGINT NOT NULL
);

-- An anchor follows the last block the purge removes (still there when the anchor is written).
CREATE FUNCTION logvault_anchor_follows_a_purge() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'UPDATE' AND (NEW.device_id <> OLD.device_id OR NEW.seq <= OLD.seq
            OR NEW.purged_through_s < OLD.purged_through_s))
        OR NOT EXISTS (
            SELECT 1 FROM retention_purges p
            JOIN blocks b ON b.device_id = p.device_id AND b.seq = p.through_seq
            WHERE p.txid = txid_current() AND p.device_id = NEW.device_id AND NEW.seq = p.through_seq + 1
              AND NEW.prev_hash = b.block_hash) THEN
        RAISE EXCEPTION 'a chain anchor moves only with a purge';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER device_chain_anchors_follow_a_purge BEFORE INSERT OR UPDATE ON device_chain_anchors
    FOR EACH ROW EXECUTE FUNCTION logvault_anchor_follows_a_purge();
CREATE TRIGGER device_chain_anchors_are_kept BEFORE DELETE ON device_chain_anchors
    FOR EACH ROW EXECUTE FUNCTION logvault_refuse_change();
CREATE TRIGGER device_chain_anchors_are_not_truncated BEFORE TRUNCATE ON device_chain_anchors
    FOR EACH STATEMENT EXECUTE FUNCTION logvault_refuse_change();

-- Blocks and measurements: still never updated; deleted only by this transaction's purge of their device, only up
-- to its last position and only if the block's last sample is before its cutoff (a measurement goes with its block).
CREATE FUNCTION logvault_block_leaves_only_by_purge() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM retention_purges p
        WHERE p.txid = txid_current() AND p.device_id = OLD.device_id AND OLD.seq <= p.through_seq
          AND (OLD.last_sample_s IS NULL OR OLD.last_sample_s < p.cutoff_s)) THEN
        RAISE EXCEPTION 'blocks are immutable';
    END IF;
    RETURN OLD;
END;
$$;
CREATE FUNCTION logvault_measurement_leaves_only_by_purge() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM retention_purges p JOIN blocks b ON b.id = OLD.block_id
        WHERE p.txid = txid_current() AND p.device_id = OLD.device_id AND b.device_id = OLD.device_id
          AND b.seq <= p.through_seq AND (b.last_sample_s IS NULL OR b.last_sample_s < p.cutoff_s)) THEN
        RAISE EXCEPTION 'measurements are immutable';
    END IF;
    RETURN OLD;
END;
$$;
DROP TRIGGER blocks_are_immutable ON blocks;
CREATE TRIGGER blocks_are_immutable BEFORE UPDATE ON blocks
    FOR EACH ROW EXECUTE FUNCTION logvault_refuse_change();
CREATE TRIGGER blocks_leave_only_by_purge BEFORE DELETE ON blocks
    FOR EACH ROW EXECUTE FUNCTION logvault_block_leaves_only_by_purge();
DROP TRIGGER measurements_are_immutable ON measurements;
CREATE TRIGGER measurements_are_immutable BEFORE UPDATE ON measurements
    FOR EACH ROW EXECUTE FUNCTION logvault_refuse_change();
CREATE TRIGGER measurements_leave_only_by_purge BEFORE DELETE ON measurements
    FOR EACH ROW EXECUTE FUNCTION logvault_measurement_leaves_only_by_purge();

-- Rollups: still only grown by ingest, and removed only by this transaction's purge of their device, for buckets
-- starting before its cutoff (every purged row is older than the cutoff), which it then writes again from the
-- measurements retained.
CREATE FUNCTION logvault_rollup_leaves_only_by_purge() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM retention_purges p
        WHERE p.txid = txid_current() AND p.device_id = OLD.device_id AND OLD.bucket_start_s < p.cutoff_s) THEN
        RAISE EXCEPTION 'measurement rollups are kept';
    END IF;
    RETURN OLD;
END;
$$;
DROP TRIGGER measurement_rollups_are_kept ON measurement_rollups;
CREATE TRIGGER measurement_rollups_are_kept BEFORE DELETE ON measurement_rollups
    FOR EACH ROW EXECUTE FUNCTION logvault_rollup_leaves_only_by_purge();
