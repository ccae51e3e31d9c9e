-- The retention tables of migration 0014 as the application role sees them: a purge record is written, never changed
-- or removed, and a chain anchor moves forward but is never removed — the purge itself runs as the owner (SET LOCAL
-- ROLE NONE), so the application role needs neither. Here rather than in 0014 because 0015 grants every table first,
-- and because a database migrated before 0014 existed receives 0014 after 0015.
DO $$
BEGIN
    IF to_regrole('logvault_app') IS NOT NULL THEN
        REVOKE UPDATE, DELETE ON retention_purges FROM logvault_app;
        REVOKE DELETE ON device_chain_anchors FROM logvault_app;
    END IF;
END;
$$;
