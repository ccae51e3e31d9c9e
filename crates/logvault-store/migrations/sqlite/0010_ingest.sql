-- Accepted blocks, as received (to re-verify their MAC years later), chained per device; and the measurements they
-- carried, each sample stored once however often it arrives. Neither can be changed or deleted: the triggers below
-- refuse it (the retention purge will be its own audited path).
ALTER TABLE devices ADD COLUMN channel_layout TEXT;

CREATE TABLE blocks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id       INTEGER NOT NULL REFERENCES devices (id),
    seq             INTEGER NOT NULL,
    counter         INTEGER NOT NULL,
    key_generation  INTEGER NOT NULL,
    raw             BLOB    NOT NULL,
    received_at_us  INTEGER NOT NULL,
    source          TEXT    NOT NULL CHECK (source IN ('qr', 'gateway', 'api')),
    first_sample_s  INTEGER,
    last_sample_s   INTEGER,
    n_samples       INTEGER NOT NULL,
    n_new           INTEGER NOT NULL,
    prev_hash       BLOB    NOT NULL,
    block_hash      BLOB    NOT NULL,
    UNIQUE (device_id, counter),
    UNIQUE (device_id, seq)
) STRICT;

CREATE TABLE device_chain_heads (
    device_id   INTEGER PRIMARY KEY REFERENCES devices (id),
    seq         INTEGER NOT NULL,
    block_hash  BLOB    NOT NULL
) STRICT;

-- One row per channel value. `ordinal` tells apart samples of the same second.
CREATE TABLE measurements (
    device_id  INTEGER NOT NULL REFERENCES devices (id),
    t_s        INTEGER NOT NULL,
    ordinal    INTEGER NOT NULL,
    channel    INTEGER NOT NULL,
    value      INTEGER NOT NULL,
    block_id   INTEGER NOT NULL REFERENCES blocks (id),
    PRIMARY KEY (device_id, channel, t_s, ordinal)
) STRICT;
CREATE INDEX measurements_by_block ON measurements (block_id);

CREATE TRIGGER blocks_are_immutable_update BEFORE UPDATE ON blocks
BEGIN
    SELECT RAISE(ABORT, 'blocks are immutable');
END;
CREATE TRIGGER blocks_are_immutable_delete BEFORE DELETE ON blocks
BEGIN
    SELECT RAISE(ABORT, 'blocks are immutable');
END;
CREATE TRIGGER measurements_are_immutable_update BEFORE UPDATE ON measurements
BEGIN
    SELECT RAISE(ABORT, 'measurements are immutable');
END;
CREATE TRIGGER measurements_are_immutable_delete BEFORE DELETE ON measurements
BEGIN
    SELECT RAISE(ABORT, 'measurements are immutable');
END;
CREATE TRIGGER device_chain_heads_are_kept BEFORE DELETE ON device_chain_heads
BEGIN
    SELECT RAISE(ABORT, 'chain heads are kept');
END;
-- A head moves one link forward, to the block that is there; a new head points at a device's first block.
CREATE TRIGGER device_chain_heads_move_forward BEFORE UPDATE ON device_chain_heads
WHEN NEW.seq <> OLD.seq + 1 OR NEW.device_id <> OLD.device_id
    OR NEW.block_hash IS NOT (SELECT block_hash FROM blocks WHERE device_id = NEW.device_id AND seq = NEW.seq)
BEGIN
    SELECT RAISE(ABORT, 'chain heads only move forward');
END;
CREATE TRIGGER device_chain_heads_start_at_the_first_block BEFORE INSERT ON device_chain_heads
WHEN NEW.seq <> 1
    OR NEW.block_hash IS NOT (SELECT block_hash FROM blocks WHERE device_id = NEW.device_id AND seq = 1)
BEGIN
    SELECT RAISE(ABORT, 'a chain head starts at the first block');
END;
-- A block extends its device's chain: the next sequence number, linked to the head.
CREATE TRIGGER blocks_extend_the_chain BEFORE INSERT ON blocks
WHEN NEW.seq <> COALESCE((SELECT seq FROM device_chain_heads WHERE device_id = NEW.device_id), 0) + 1
    OR NEW.prev_hash IS NOT COALESCE(
        (SELECT block_hash FROM device_chain_heads WHERE device_id = NEW.device_id), zeroblob(32))
BEGIN
    SELECT RAISE(ABORT, 'a block must extend its device chain');
END;
