-- Accepted blocks, as received (to re-verify their MAC years later), chained per device; and the measurements they
-- carried, each sample stored once however often it arrives. Neither can be changed or deleted: the triggers below
-- refuse it (the retention purge will be its own audited path).
ALTER TABLE devices ADD COLUMN channel_layout TEXT;

CREATE TABLE blocks (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id       BIGINT  NOT NULL REFERENCES devices (id),
    seq             BIGINT  NOT NULL,
    counter         BIGINT  NOT NULL,
    key_generation  INTEGER NOT NULL,
    raw             BYTEA   NOT NULL,
    received_at_us  BIGINT  NOT NULL,
    source          TEXT    NOT NULL CHECK (source IN ('qr', 'gateway', 'api')),
    first_sample_s  BIGINT,
    last_sample_s   BIGINT,
    n_samples       BIGINT  NOT NULL,
    n_new           BIGINT  NOT NULL,
    prev_hash       BYTEA   NOT NULL,
    block_hash      BYTEA   NOT NULL,
    UNIQUE (device_id, counter),
    UNIQUE (device_id, seq)
);

CREATE TABLE device_chain_heads (
    device_id   BIGINT PRIMARY KEY REFERENCES devices (id),
    seq         BIGINT NOT NULL,
    block_hash  BYTEA  NOT NULL
);

-- One row per channel value. `ordinal` tells apart samples of the same second.
CREATE TABLE measurements (
    device_id  BIGINT  NOT NULL REFERENCES devices (id),
    t_s        BIGINT  NOT NULL,
    ordinal    INTEGER NOT NULL,
    channel    INTEGER NOT NULL,
    value      INTEGER NOT NULL,
    block_id   BIGINT  NOT NULL REFERENCES blocks (id),
    PRIMARY KEY (device_id, channel, t_s, ordinal)
);
CREATE INDEX measurements_by_block ON measurements (block_id);

CREATE TRIGGER blocks_are_immutable BEFORE UPDATE OR DELETE ON blocks
    FOR EACH ROW EXECUTE FUNCTION logvault_refuse_change();
CREATE TRIGGER blocks_are_not_truncated BEFORE TRUNCATE ON blocks
    FOR EACH STATEMENT EXECUTE FUNCTION logvault_refuse_change();
CREATE TRIGGER measurements_are_immutable BEFORE UPDATE OR DELETE ON measurements
    FOR EACH ROW EXECUTE FUNCTION logvault_refuse_change();
CREATE TRIGGER measurements_are_not_truncated BEFORE TRUNCATE ON measurements
    FOR EACH STATEMENT EXECUTE FUNCTION logvault_refuse_change();
CREATE TRIGGER device_chain_heads_are_kept BEFORE DELETE ON device_chain_heads
    FOR EACH ROW EXECUTE FUNCTION logvault_refuse_change();
CREATE TRIGGER device_chain_heads_are_not_truncated BEFORE TRUNCATE ON device_chain_heads
    FOR EACH STATEMENT EXECUTE FUNCTION logvault_refuse_change();

-- A head moves one link forward, to the block that is there; a new head points at a device's first block.
CREATE FUNCTION logvault_device_head_moves_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'UPDATE' AND (NEW.seq <> OLD.seq + 1 OR NEW.device_id <> OLD.device_id))
        OR (TG_OP = 'INSERT' AND NEW.seq <> 1)
        OR NEW.block_hash IS DISTINCT FROM
            (SELECT block_hash FROM blocks WHERE device_id = NEW.device_id AND seq = NEW.seq) THEN
        RAISE EXCEPTION 'chain heads only move forward';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER device_chain_heads_move_forward BEFORE INSERT OR UPDATE ON device_chain_heads
    FOR EACH ROW EXECUTE FUNCTION logvault_device_head_moves_forward();

-- A block extends its device's chain: the next sequence number, linked to the head.
CREATE FUNCTION logvault_block_extends_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head_seq BIGINT;
    head_hash BYTEA;
BEGIN
    SELECT seq, block_hash INTO head_seq, head_hash FROM device_chain_heads WHERE device_id = NEW.device_id;
    IF NEW.seq <> COALESCE(head_seq, 0) + 1 OR NEW.prev_hash IS DISTINCT FROM COALESCE(head_hash, decode(repeat('00', 32), 'hex')) THEN
        RAISE EXCEPTION 'a block must extend its device chain';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER blocks_extend_the_chain BEFORE INSERT ON blocks
    FOR EACH ROW EXECUTE FUNCTION logvault_block_extends_chain();
