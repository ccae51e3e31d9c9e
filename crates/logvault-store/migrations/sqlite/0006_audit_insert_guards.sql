-- Inserts must extend the chain: an entry follows the head exactly, and a head points at a real entry. This also
-- closes INSERT OR REPLACE, which replaces a row without firing UPDATE or DELETE triggers.

CREATE TRIGGER audit_log_extends_the_head BEFORE INSERT ON audit_log
WHEN NOT (
    (NEW.seq = 1 AND NEW.prev_hash = zeroblob(32)
        AND NOT EXISTS (SELECT 1 FROM audit_heads WHERE chain_id = NEW.chain_id))
    OR EXISTS (SELECT 1 FROM audit_heads
               WHERE chain_id = NEW.chain_id AND seq + 1 = NEW.seq AND entry_hash = NEW.prev_hash)
)
BEGIN
    SELECT RAISE(ABORT, 'audit_log entries must extend the chain head');
END;

CREATE TRIGGER audit_heads_start_at_the_first_entry BEFORE INSERT ON audit_heads
WHEN NEW.seq <> 1
    OR EXISTS (SELECT 1 FROM audit_heads WHERE chain_id = NEW.chain_id)
    OR NOT EXISTS (SELECT 1 FROM audit_log
                   WHERE chain_id = NEW.chain_id AND seq = NEW.seq AND entry_hash = NEW.entry_hash)
BEGIN
    SELECT RAISE(ABORT, 'audit_heads may only start at the first entry of a chain');
END;

DROP TRIGGER audit_heads_move_forward;
CREATE TRIGGER audit_heads_move_forward BEFORE UPDATE ON audit_heads
WHEN NEW.seq <> OLD.seq + 1 OR NEW.chain_id <> OLD.chain_id
    OR NOT EXISTS (SELECT 1 FROM audit_log
                   WHERE chain_id = NEW.chain_id AND seq = NEW.seq AND entry_hash = NEW.entry_hash)
BEGIN
    SELECT RAISE(ABORT, 'audit_heads only moves forward, to an existing entry');
END;
