-- Privilege separation. Migrations run as the login role, which owns every table; the server's pool then switches
-- each connection to `logvault_app` (SET ROLE), which owns nothing: it cannot ALTER, DISABLE TRIGGER, DROP or
-- TRUNCATE, and it holds no UPDATE or DELETE on the data that must not change. The triggers stay as a second guard
-- (and the only one where this role cannot be set up).
--
-- Roles are cluster-wide: several Logvault databases on one server share the role, each granting it its own
-- tables. Creating it tolerates a concurrent creator. A login role that may not create roles or grant membership
-- (a managed database) gets no error here: the store then finds it cannot SET ROLE and runs as the owner with the
-- triggers only, and says so once at start.
DO $$
DECLARE
    immutable TEXT;
BEGIN
    BEGIN
        CREATE ROLE logvault_app NOLOGIN;
    EXCEPTION
        WHEN duplicate_object OR unique_violation THEN NULL;
        WHEN insufficient_privilege THEN NULL;
    END;
    IF to_regrole('logvault_app') IS NULL THEN
        RETURN;
    END IF;
    -- Superusers are members of every role already; anyone else needs the membership to SET ROLE.
    IF NOT pg_has_role(session_user, 'logvault_app', 'MEMBER') THEN
        BEGIN
            EXECUTE format('GRANT logvault_app TO %I', session_user);
        EXCEPTION
            WHEN duplicate_object OR unique_violation OR insufficient_privilege OR invalid_grant_operation THEN NULL;
        END;
    END IF;

    EXECUTE format('GRANT USAGE ON SCHEMA %I TO logvault_app', current_schema());
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO logvault_app',
                   current_schema());
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO logvault_app', current_schema());
    -- Tables and sequences of later migrations get the ordinary grants; a later migration that adds data which
    -- must not change revokes UPDATE and DELETE itself.
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I '
                   'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO logvault_app', current_user, current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I '
                   'GRANT USAGE, SELECT ON SEQUENCES TO logvault_app', current_user, current_schema());

    -- Append-only data: read and added to, never changed or removed by the application. Chain heads move forward
    -- (UPDATE) but are never removed. The retention purge leaves this role for its own audited transaction.
    FOREACH immutable IN ARRAY ARRAY['blocks', 'measurements', 'device_keys', 'org_data_keys', 'audit_log',
                                     'instance_key_check', 'retention_purges', '_sqlx_migrations']
    LOOP
        IF to_regclass(immutable) IS NOT NULL THEN
            EXECUTE format('REVOKE UPDATE, DELETE ON %I FROM logvault_app', immutable);
        END IF;
    END LOOP;
    REVOKE INSERT ON _sqlx_migrations FROM logvault_app;
    REVOKE DELETE ON device_chain_heads, audit_heads FROM logvault_app;
END;
$$;
