-- The global event log. One row per event; rows are never updated or deleted.
--
-- position is assigned by the store as last+1 while it holds the event
-- store's transaction-scoped advisory lock, so positions are gapless and in
-- commit order: a reader tailing "position > checkpoint" never skips an event.
-- data and metadata are json, not jsonb: the tamper-evidence chain
-- (prev_hash, hash) hashes the exact bytes that were appended, and jsonb would
-- normalise them. tx records the writing transaction for readers that may one
-- day tail by visibility horizon instead.
CREATE SCHEMA IF NOT EXISTS eventstore;

CREATE TABLE eventstore.events (
    position       bigint      PRIMARY KEY CHECK (position > 0),
    stream         text        NOT NULL CHECK (stream <> ''),
    version        bigint      NOT NULL CHECK (version >= 0),
    event_id       uuid        NOT NULL UNIQUE,
    type           text        NOT NULL CHECK (type <> ''),
    schema_version int         NOT NULL,
    recorded_at    timestamptz NOT NULL,
    data           json        NOT NULL,
    metadata       json        NOT NULL,
    prev_hash      bytea       NOT NULL,
    hash           bytea       NOT NULL,
    tx             xid8        NOT NULL DEFAULT pg_current_xact_id(),
    UNIQUE (stream, version)
);

COMMENT ON TABLE eventstore.events IS
    'Purepool ledger events; append-only. Written only by events/postgres (positions gapless, commit-ordered).';
