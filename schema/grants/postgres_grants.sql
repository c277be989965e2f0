-- Per-database part, run while connected to the pool's database by the
-- role that also runs the event-store migrations (purepool migrate): the
-- default privileges for eventstore below attach to that role.

-- Only our roles may connect; nobody may create objects in public.
REVOKE ALL ON DATABASE {{ident .Database}} FROM PUBLIC;
GRANT CONNECT ON DATABASE {{ident .Database}} TO {{ident .Backend}}, {{ident .Projector}}, {{ident .Frontend}};
-- The projector builds each read-model generation in a schema of its own
-- (readmodel_v1, readmodel_v2, …) behind the stable views in readmodel.
GRANT CREATE ON DATABASE {{ident .Database}} TO {{ident .Projector}};
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- Event store: the backend appends and reads, the projector reads, the
-- frontend gets nothing. "All tables" covers whatever the migrations made;
-- the default privileges cover tables they make later.
CREATE SCHEMA IF NOT EXISTS {{ident .EventSchema}};
REVOKE ALL ON SCHEMA {{ident .EventSchema}} FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA {{ident .EventSchema}} FROM PUBLIC, {{ident .Frontend}};
GRANT USAGE ON SCHEMA {{ident .EventSchema}} TO {{ident .Backend}}, {{ident .Projector}};
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {{ident .EventSchema}} TO {{ident .Backend}};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {{ident .EventSchema}} TO {{ident .Backend}};
GRANT SELECT ON ALL TABLES IN SCHEMA {{ident .EventSchema}} TO {{ident .Projector}};
ALTER DEFAULT PRIVILEGES IN SCHEMA {{ident .EventSchema}} GRANT SELECT, INSERT ON TABLES TO {{ident .Backend}};
ALTER DEFAULT PRIVILEGES IN SCHEMA {{ident .EventSchema}} GRANT USAGE, SELECT ON SEQUENCES TO {{ident .Backend}};
ALTER DEFAULT PRIVILEGES IN SCHEMA {{ident .EventSchema}} GRANT SELECT ON TABLES TO {{ident .Projector}};

-- Read model: owned by the projector, which creates its tables and views;
-- the frontend may only read them, including those created later (default
-- privileges FOR ROLE the projector: tables made by another role, e.g. a
-- superuser, would not be covered, which is why setup hands existing ones
-- to the projector).
CREATE SCHEMA IF NOT EXISTS {{ident .ReadModelSchema}} AUTHORIZATION {{ident .Projector}};
ALTER SCHEMA {{ident .ReadModelSchema}} OWNER TO {{ident .Projector}};
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
        WHERE c.relnamespace = {{lit .ReadModelSchema}}::regnamespace
          AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND pg_get_userbyid(c.relowner) <> {{lit .Projector}}
    LOOP
        IF r.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d
                WHERE d.objid = r.name::oid AND d.deptype IN ('a', 'i')) THEN
            CONTINUE; -- an owned sequence follows its table
        END IF;
        EXECUTE format('ALTER %s %s OWNER TO %I',
            CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                           WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
            r.name, {{lit .Projector}});
    END LOOP;
END
$$;
REVOKE ALL ON SCHEMA {{ident .ReadModelSchema}} FROM PUBLIC;
GRANT USAGE ON SCHEMA {{ident .ReadModelSchema}} TO {{ident .Frontend}};
GRANT SELECT ON ALL TABLES IN SCHEMA {{ident .ReadModelSchema}} TO {{ident .Frontend}};
ALTER DEFAULT PRIVILEGES FOR ROLE {{ident .Projector}} IN SCHEMA {{ident .ReadModelSchema}}
    GRANT SELECT ON TABLES TO {{ident .Frontend}};
