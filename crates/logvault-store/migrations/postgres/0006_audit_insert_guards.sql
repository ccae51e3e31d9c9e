-- Inserts must extend the chain: an entry follows the head exactly, and a head points at a real entry.

CREATE FUNCTION logvault_audit_extends_head() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head_seq  BIGINT;
    head_hash BYTEA;
BEGIN
    SELECT seq, entry_hash INTO head_seq, head_hash FROM audit_heads WHERE chain_id = NEW.chain_id;
    IF NOT FOUND THEN
        IF NEW.seq <> 1 OR NEW.prev_hash <> decode(repeat('00', 32), 'hex') THEN
            RAISE EXCEPTION 'audit_log entries must extend the chain head';
        END IF;
    ELSIF NEW.seq <> head_seq + 1 OR NEW.prev_hash <> head_hash THEN
        RAISE EXCEPTION 'audit_log entries must extend the chain head';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_log_extends_the_head BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION logvault_audit_extends_head();

CREATE FUNCTION logvault_head_starts_at_first_entry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq <> 1
        OR EXISTS (SELECT 1 FROM audit_heads WHERE chain_id = NEW.chain_id)
        OR NOT EXISTS (SELECT 1 FROM audit_log
                       WHERE chain_id = NEW.chain_id AND seq = NEW.seq AND entry_hash = NEW.entry_hash) THEN
        RAISE EXCEPTION 'audit_heads may only start at the first entry of a chain';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_heads_start_at_the_first_entry BEFORE INSERT ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION logvault_head_starts_at_first_entry();

CREATE OR REPLACE FUNCTION logvault_head_moves_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq <> OLD.seq + 1 OR NEW.chain_id <> OLD.chain_id
        OR NOT EXISTS (SELECT 1 FROM audit_log
                       WHERE chain_id = NEW.chain_id AND seq = NEW.seq AND entry_hash = NEW.entry_hash) THEN
        RAISE EXCEPTION 'audit_heads only moves forward, to an existing entry';
    END IF;
    RETURN NEW;
END;
$$;
