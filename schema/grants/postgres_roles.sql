-- Cluster-global part: the three login roles. Roles are shared by every
-- database of the cluster, so several setups (parallel tests) may run this
-- at once: CREATE ROLE losing that race raises duplicate_object or
-- unique_violation, which only means another session created it first.
-- Attributes are re-asserted on every run so a drifted role is corrected.
-- Passwords arrive as transaction-local settings (set_config), never as SQL
-- text, and are quoted by format('%L').
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES
        ({{lit .Backend}},   'purepool.backend_password'),
        ({{lit .Projector}}, 'purepool.projector_password'),
        ({{lit .Frontend}},  'purepool.frontend_password')) AS v(name, setting)
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r.name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I LOGIN', r.name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- created concurrently by another setup
            END;
        END IF;
        EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT', r.name);
        IF current_setting(r.setting, true) <> '' THEN
            EXECUTE format('ALTER ROLE %I PASSWORD %L', r.name, current_setting(r.setting));
        END IF;
    END LOOP;
END
$$;

-- Defence in depth for the website's role: every transaction starts read
-- only (the role could SET it back, so the grants below are the boundary),
-- and runaway queries are cut off.
ALTER ROLE {{ident .Frontend}} SET default_transaction_read_only = on;
ALTER ROLE {{ident .Frontend}} SET statement_timeout = {{lit .FrontendStatementTimeout}};
ALTER ROLE {{ident .Frontend}} CONNECTION LIMIT {{.FrontendConnectionLimit}};
