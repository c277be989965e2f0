-- The global event log of the embedded (demo) store; see
-- schema/postgres/0001_eventstore.sql for the meaning of each column.
-- SQLite has a single writer, so positions assigned as last+1 inside an
-- immediate transaction are gapless and in commit order.
--
-- event_id is the 16 raw bytes of the UUID; recorded_at is microseconds since
-- the Unix epoch (UTC), the precision events.Timestamp keeps; data and
-- metadata are stored as BLOBs so that their bytes come back exactly as
-- appended (the hash chain covers them).
CREATE TABLE events (
    position       INTEGER PRIMARY KEY CHECK (position > 0),
    stream         TEXT    NOT NULL CHECK (stream <> ''),
    version        INTEGER NOT NULL CHECK (version >= 0),
    event_id       BLOB    NOT NULL UNIQUE CHECK (length(event_id) = 16),
    type           TEXT    NOT NULL CHECK (type <> ''),
    schema_version INTEGER NOT NULL,
    recorded_at    INTEGER NOT NULL,
    data           BLOB    NOT NULL,
    metadata       BLOB    NOT NULL,
    prev_hash      BLOB    NOT NULL,
    hash           BLOB    NOT NULL,
    UNIQUE (stream, version)
);
