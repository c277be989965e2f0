// Package postgres is the PostgreSQL event store (events.Store), the
// production store of Purepool.
//
// Every append runs in one transaction that first takes a transaction-scoped
// advisory lock (LockKey), so appends are serialised: positions are assigned
// explicitly as last+1 and become visible in position order, with no gaps
// (a rolled-back append takes no position). A reader that tails
// "position > checkpoint" therefore never skips an event, which is what makes
// Subscribe simple and safe. The lock also fences off an accidental second
// writer. The cost is one append transaction at a time; batch events per
// append when throughput matters.
//
// Each event carries the tamper-evidence chain (events.ChainHash) over the
// global log. Data and metadata are stored as json (not jsonb) so the hashed
// bytes are the stored bytes.
//
// The table layout is schema/postgres/0001_eventstore.sql; Migrate applies it.
package postgres

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/internal/appendplan"
	"github.com/purepool/purepool/schema"
)

// LockKey is the pg_advisory_xact_lock key every append takes first. It is
// scoped to the database, like the log itself.
const LockKey int64 = 0x70757265706f6f6c // "purepool" in ASCII

// Channel is the NOTIFY channel an append signals on commit; the payload is
// the new head position. It is a wake-up only: readers always re-read from
// their checkpoint.
const Channel = "purepool_events"

// DefaultPollInterval is how often a subscription re-reads when no
// notification arrives (a listener that reconnects may have missed some).
const DefaultPollInterval = 500 * time.Millisecond

// Store is the PostgreSQL event store. Set the exported fields before first
// use; they are not safe to change concurrently.
type Store struct {
	pool *pgxpool.Pool

	// Now stamps RecordedAt (then truncated by events.Timestamp). Default time.Now.
	Now func() time.Time
	// PollInterval is the fallback poll of Subscribe. Default DefaultPollInterval.
	PollInterval time.Duration
	// PageSize is how many events Subscribe reads per query. Default 1000.
	PageSize int

	closeOnce sync.Once
}

var (
	_ events.Store       = (*Store)(nil)
	_ events.ChainKeeper = (*Store)(nil)
)

// KeepsChain is true: every append computes the hash chain in the
// transaction that assigns the positions (appendplan.Build), and the
// columns are NOT NULL. An empty hash in this store is tampering.
func (*Store) KeepsChain() bool { return true }

// StoreName is "PostgreSQL".
func (*Store) StoreName() string { return "PostgreSQL" }

// Open connects to the database at url (a PostgreSQL URL or keyword/value
// string as pgx accepts it) and checks the connection. It does not create
// the schema: call Migrate, or run `purepool migrate`.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return New(pool), nil
}

// New wraps an open pool; Close closes it.
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, Now: time.Now, PollInterval: DefaultPollInterval, PageSize: 1000}
}

// Migrate creates or upgrades the event store's schema (idempotent).
func (s *Store) Migrate(ctx context.Context) error {
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	return Migrate(ctx, db)
}

// Migrate applies the event store's PostgreSQL migrations through db.
func Migrate(ctx context.Context, db *sql.DB) error {
	if _, err := schema.Apply(ctx, db, schema.EventStorePostgres); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// Close closes the pool. Subscriptions end when their context does.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

const columns = `position, stream, version, event_id, type, schema_version, recorded_at, data, metadata, prev_hash, hash`

const (
	sqlLock     = `SELECT pg_advisory_xact_lock($1)`
	sqlByIDs    = `SELECT ` + columns + ` FROM eventstore.events WHERE event_id = ANY($1::uuid[])`
	sqlVersions = `SELECT s.stream, (SELECT max(e.version) FROM eventstore.events e WHERE e.stream = s.stream)
		FROM unnest($1::text[]) AS s(stream)`
	sqlHead   = `SELECT position, hash FROM eventstore.events ORDER BY position DESC LIMIT 1`
	sqlInsert = `INSERT INTO eventstore.events (` + columns + `)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], $6::int[],
			$7::timestamptz[], $8::json[], $9::json[], $10::bytea[], $11::bytea[])`
	sqlNotify = `SELECT pg_notify($1, $2)`
)

// Append implements events.Store. It costs two round trips: BEGIN, the lock
// and every check in one pipelined batch; then the insert, the notification
// and COMMIT in another.
//
// An error after COMMIT was sent (a connection lost at that instant) leaves
// the outcome unknown; repeating the same write is safe and then reports
// Duplicate if it had been stored.
func (s *Store) Append(ctx context.Context, writes ...events.StreamWrite) (events.AppendResult, error) {
	w, err := appendplan.ValidateShape(writes) // ValidateJSON runs during the first round trip
	if err != nil {
		return events.AppendResult{}, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return events.AppendResult{}, fmt.Errorf("postgres: append: %w", err)
	}
	// The transaction is opened and committed by statements inside the
	// pipelined batches, so pgx cannot roll it back for us: every early
	// return goes through here. A connection left inside a transaction (for
	// example after a network error) is destroyed by Release, not reused.
	open := false
	defer func() {
		if open {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, _ = conn.Exec(rctx, "ROLLBACK")
			cancel()
		}
		conn.Release()
	}()

	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(sqlLock, LockKey)
	b.Queue(sqlVersions, w.Streams)
	b.Queue(sqlHead)
	open = true
	br := conn.SendBatch(ctx, b)
	// While the server takes the lock and runs the checks, check the data.
	jsonErr := appendplan.ValidateJSON(w)
	current, head, headHash, err := readState(br)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return events.AppendResult{}, fmt.Errorf("postgres: append: %w", err)
	}
	if jsonErr != nil {
		return events.AppendResult{}, jsonErr
	}

	// Retries are rare, so the common path does not look the ids up: a
	// retried write either fails its version check or collides on event_id
	// at insert, and only then are the stored events read.
	if err := appendplan.CheckVersions(w, current); err != nil {
		// Let the other writers go before looking the ids up: the lookup
		// needs neither the transaction nor the append lock.
		if _, rerr := conn.Exec(ctx, "ROLLBACK"); rerr != nil {
			return events.AppendResult{}, fmt.Errorf("postgres: append: %w", rerr)
		}
		open = false
		if res, dup, ferr := findStored(ctx, conn, w); ferr != nil || dup {
			return res, ferr
		}
		return events.AppendResult{}, err
	}
	if w.N == 0 {
		return events.AppendResult{}, nil
	}
	envs := appendplan.Build(w, current, head, headHash, s.now())

	cols := newColumns(envs)
	b = &pgx.Batch{}
	b.Queue(sqlInsert, cols.position, cols.stream, cols.version, cols.id, cols.typ, cols.schemaVersion,
		cols.recordedAt, cols.data, cols.metadata, cols.prevHash, cols.hash)
	b.Queue(sqlNotify, Channel, strconv.FormatUint(envs[len(envs)-1].Position, 10))
	b.Queue("COMMIT")
	br = conn.SendBatch(ctx, b)
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	var commit pgconn.CommandTag
	if err == nil {
		commit, err = br.Exec()
	}
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			switch pgErr.ConstraintName {
			case "events_event_id_key": // some ids are stored: a retry, or a mismatch
				if _, rerr := conn.Exec(ctx, "ROLLBACK"); rerr != nil {
					return events.AppendResult{}, fmt.Errorf("postgres: append: %w", rerr)
				}
				open = false
				res, dup, ferr := findStored(ctx, conn, w)
				if ferr != nil || dup {
					return res, ferr
				}
			case "events_stream_version_key": // only a writer that bypasses the lock gets here
				return events.AppendResult{}, fmt.Errorf("%w: %s", events.ErrWrongExpectedVersion, pgErr.Message)
			}
		}
		return events.AppendResult{}, fmt.Errorf("postgres: append: %w", err)
	}
	// COMMIT of a transaction that failed reports ROLLBACK instead of an error.
	if commit.String() != "COMMIT" {
		return events.AppendResult{}, fmt.Errorf("postgres: append: commit: server answered %q", commit.String())
	}
	open = false
	return events.AppendResult{Events: envs}, nil
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func readState(br pgx.BatchResults) (current map[string]int64, head uint64, headHash []byte, err error) {
	if _, err = br.Exec(); err != nil {
		return nil, 0, nil, fmt.Errorf("begin: %w", err)
	}
	if _, err = br.Exec(); err != nil {
		return nil, 0, nil, fmt.Errorf("lock: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, 0, nil, fmt.Errorf("versions: %w", err)
	}
	current = map[string]int64{}
	var stream string
	var version *int64
	_, err = pgx.ForEachRow(rows, []any{&stream, &version}, func() error {
		if version != nil {
			current[stream] = *version
		}
		return nil
	})
	if err != nil {
		return nil, 0, nil, fmt.Errorf("versions: %w", err)
	}
	if err = br.QueryRow().Scan(&head, &headHash); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, nil, fmt.Errorf("head: %w", err)
	}
	return current, head, headHash, nil
}

// findStored reads the stored events among the write's ids and lets
// appendplan.Duplicate judge them. Stored events never change, so this needs
// neither the lock nor the append's transaction.
func findStored(ctx context.Context, conn *pgxpool.Conn, w appendplan.Write) (events.AppendResult, bool, error) {
	ids := make([][16]byte, len(w.IDs))
	for i, id := range w.IDs {
		ids[i] = id
	}
	rows, err := conn.Query(ctx, sqlByIDs, ids)
	if err != nil {
		return events.AppendResult{}, false, fmt.Errorf("postgres: append: find ids: %w", err)
	}
	found, err := scanEnvelopes(rows, 0)
	if err != nil {
		return events.AppendResult{}, false, fmt.Errorf("postgres: append: find ids: %w", err)
	}
	stored := make(map[uuid.UUID]events.Envelope, len(found))
	for _, e := range found {
		stored[e.ID] = e
	}
	return appendplan.Duplicate(w, stored)
}

// insertColumns are the envelopes as column arrays for the unnest insert.
type insertColumns struct {
	position, version []int64
	stream, typ       []string
	id                [][16]byte
	schemaVersion     []int32
	recordedAt        []time.Time
	data, metadata    [][]byte
	prevHash, hash    [][]byte
}

func newColumns(envs []events.Envelope) insertColumns {
	n := len(envs)
	c := insertColumns{
		position: make([]int64, n), version: make([]int64, n), stream: make([]string, n), typ: make([]string, n),
		id: make([][16]byte, n), schemaVersion: make([]int32, n), recordedAt: make([]time.Time, n),
		data: make([][]byte, n), metadata: make([][]byte, n), prevHash: make([][]byte, n), hash: make([][]byte, n),
	}
	for i, e := range envs {
		c.position[i] = int64(e.Position)
		c.version[i] = e.Version
		c.stream[i] = e.Stream
		c.typ[i] = e.Type
		c.id[i] = e.ID
		c.schemaVersion[i] = int32(e.SchemaVersion)
		c.recordedAt[i] = e.RecordedAt
		c.data[i] = e.Data
		c.metadata[i] = appendplan.MarshalMetadata(e.Metadata)
		c.prevHash[i] = orEmpty(e.PrevHash)
		c.hash[i] = e.Hash
	}
	return c
}

func orEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// scanEnvelopes reads rows of `columns` and closes them. It decodes the
// wire values itself (see decodeRow): a catching-up projector reads the whole
// log through here, and generic Scan doubled the cost per event.
func scanEnvelopes(rows pgx.Rows, sizeHint int) ([]events.Envelope, error) {
	defer rows.Close()
	out := make([]events.Envelope, 0, sizeHint)
	if !binaryLayout(rows.FieldDescriptions()) {
		return scanGeneric(rows, out)
	}
	types := map[string]string{} // event types repeat: one string each
	for rows.Next() {
		e, err := decodeRow(rows.RawValues(), types)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Column indexes of `columns`.
const (
	colPosition = iota
	colStream
	colVersion
	colEventID
	colType
	colSchemaVersion
	colRecordedAt
	colData
	colMetadata
	colPrevHash
	colHash
	numColumns
)

// binaryLayout reports whether the fixed-width columns arrive in binary
// format, as pgx asks for them (text, json and bytea read the same either way).
func binaryLayout(fds []pgconn.FieldDescription) bool {
	if len(fds) != numColumns {
		return false
	}
	for _, c := range []int{colPosition, colVersion, colEventID, colSchemaVersion, colRecordedAt, colPrevHash, colHash} {
		if fds[c].Format != pgx.BinaryFormatCode {
			return false
		}
	}
	return true
}

// pgEpochMicros is 2000-01-01 UTC, PostgreSQL's timestamp epoch, in Unix microseconds.
const pgEpochMicros = 946684800 * 1_000_000

func decodeRow(v [][]byte, types map[string]string) (events.Envelope, error) {
	var e events.Envelope
	for i, b := range v {
		if b == nil {
			return e, fmt.Errorf("column %d of an event is NULL", i)
		}
	}
	if len(v[colPosition]) != 8 || len(v[colVersion]) != 8 || len(v[colEventID]) != 16 ||
		len(v[colSchemaVersion]) != 4 || len(v[colRecordedAt]) != 8 {
		return e, fmt.Errorf("unexpected binary column widths in an event row")
	}
	e.Position = binary.BigEndian.Uint64(v[colPosition])
	e.Stream = string(v[colStream])
	e.Version = int64(binary.BigEndian.Uint64(v[colVersion]))
	copy(e.ID[:], v[colEventID])
	typ, ok := types[string(v[colType])]
	if !ok {
		typ = string(v[colType])
		types[typ] = typ
	}
	e.Type = typ
	e.SchemaVersion = int(int32(binary.BigEndian.Uint32(v[colSchemaVersion])))
	e.RecordedAt = time.UnixMicro(int64(binary.BigEndian.Uint64(v[colRecordedAt])) + pgEpochMicros).UTC()
	meta, err := appendplan.UnmarshalMetadata(v[colMetadata])
	if err != nil {
		return e, fmt.Errorf("event at position %d: metadata: %w", e.Position, err)
	}
	e.Metadata = meta
	// One allocation for the byte fields; the raw values are reused by the next row.
	data, prev, hash := v[colData], v[colPrevHash], v[colHash]
	buf := make([]byte, 0, len(data)+len(prev)+len(hash))
	buf = append(buf, data...)
	buf = append(buf, prev...)
	buf = append(buf, hash...)
	e.Data = buf[:len(data):len(data)]
	e.PrevHash = appendplan.NilIfEmpty(buf[len(data) : len(data)+len(prev) : len(data)+len(prev)])
	e.Hash = buf[len(data)+len(prev):]
	return e, nil
}

// scanGeneric is the Scan-based reader, for a result format decodeRow does not expect.
func scanGeneric(rows pgx.Rows, out []events.Envelope) ([]events.Envelope, error) {
	var (
		e             events.Envelope
		position      int64
		schemaVersion int32
		data, meta    []byte
	)
	dest := []any{&position, &e.Stream, &e.Version, (*[16]byte)(&e.ID), &e.Type, &schemaVersion, &e.RecordedAt,
		&data, &meta, &e.PrevHash, &e.Hash}
	for rows.Next() {
		e = events.Envelope{}
		data, meta = nil, nil
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		e.Position = uint64(position)
		e.SchemaVersion = int(schemaVersion)
		e.RecordedAt = e.RecordedAt.UTC()
		e.Data = data
		m, err := appendplan.UnmarshalMetadata(meta)
		if err != nil {
			return nil, fmt.Errorf("event at position %d: metadata: %w", position, err)
		}
		e.Metadata = m
		e.PrevHash = appendplan.NilIfEmpty(e.PrevHash)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ReadStream implements events.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from int64, max int) ([]events.Envelope, error) {
	if max <= 0 {
		return nil, fmt.Errorf("postgres: read stream: max %d is not positive", max)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM eventstore.events
		WHERE stream = $1 AND version >= $2 ORDER BY version LIMIT $3`, stream, from, max)
	if err != nil {
		return nil, fmt.Errorf("postgres: read stream %q: %w", stream, err)
	}
	envs, err := scanEnvelopes(rows, 0)
	if err != nil {
		return nil, fmt.Errorf("postgres: read stream %q: %w", stream, err)
	}
	return envs, nil
}

// ReadAll implements events.Store.
func (s *Store) ReadAll(ctx context.Context, after uint64, max int) ([]events.Envelope, error) {
	if max <= 0 {
		return nil, fmt.Errorf("postgres: read all: max %d is not positive", max)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM eventstore.events
		WHERE position > $1 ORDER BY position LIMIT $2`, int64(after), max)
	if err != nil {
		return nil, fmt.Errorf("postgres: read all: %w", err)
	}
	envs, err := scanEnvelopes(rows, min(max, 1024))
	if err != nil {
		return nil, fmt.Errorf("postgres: read all: %w", err)
	}
	return envs, nil
}

// Head implements events.Store.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	var head int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM eventstore.events`).Scan(&head); err != nil {
		return 0, fmt.Errorf("postgres: head: %w", err)
	}
	return uint64(head), nil
}
