// Package sqlite is the embedded event store (events.Store) on one SQLite
// file through modernc.org/sqlite (pure Go, no cgo), for the single-process
// demo mode.
//
// The database runs in WAL mode with a busy timeout, and every transaction
// begins IMMEDIATE (taking the write lock at BEGIN, so two writers never
// deadlock upgrading a read lock). SQLite has one writer at a time, so
// positions assigned as last+1 inside the append transaction are gapless and
// in commit order, exactly like the PostgreSQL store, and the same hash chain
// is kept. Subscribe polls, and is woken at once when this process appends.
//
// The table layout is schema/sqlite/0001_eventstore.sql; Migrate applies it.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/internal/appendplan"
	"github.com/purepool/purepool/schema"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DefaultPollInterval is how often a subscription re-reads when this process
// has not appended (another process may have).
const DefaultPollInterval = 200 * time.Millisecond

// BusyTimeout is how long a connection waits for another's write lock.
const BusyTimeout = 10 * time.Second

// Store is the SQLite event store. Set the exported fields before first use.
type Store struct {
	db *sql.DB

	// Now stamps RecordedAt (then truncated by events.Timestamp). Default time.Now.
	Now func() time.Time
	// PollInterval is the fallback poll of Subscribe. Default DefaultPollInterval.
	PollInterval time.Duration
	// PageSize is how many events Subscribe reads per query. Default 1000.
	PageSize int

	// writeMu queues this process's appends in Go instead of in SQLite's
	// busy handler, which sleeps and retries.
	writeMu sync.Mutex

	wakeMu sync.Mutex
	wakeCh chan struct{} // closed (and replaced) after each committed append
}

var (
	_ events.Store       = (*Store)(nil)
	_ events.ChainKeeper = (*Store)(nil)
)

// KeepsChain is true: every append computes the hash chain in the
// transaction that assigns the positions (appendplan.Build), and the
// columns are NOT NULL. An empty hash in this store is tampering.
func (*Store) KeepsChain() bool { return true }

// StoreName is "SQLite".
func (*Store) StoreName() string { return "SQLite" }

// DSN is the modernc.org/sqlite data source name the store opens for a file:
// WAL journal, busy timeout, full fsync at commit, IMMEDIATE transactions.
func DSN(path string) string {
	return "file:" + path +
		"?_pragma=journal_mode(WAL)" +
		fmt.Sprintf("&_pragma=busy_timeout(%d)", BusyTimeout.Milliseconds()) +
		"&_pragma=synchronous(FULL)" +
		"&_pragma=foreign_keys(1)" +
		"&_pragma=mmap_size(268435456)" +
		"&_txlock=immediate"
}

// Open opens (creating if needed) the SQLite database file at path. It does
// not create the schema: call Migrate. ":memory:" is refused because each
// pooled connection would see its own empty database.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: %q is not a plain database file path", path)
	}
	db, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return &Store{db: db, Now: time.Now, PollInterval: DefaultPollInterval, PageSize: 1000, wakeCh: make(chan struct{})}, nil
}

// Migrate creates or upgrades the schema (idempotent).
func (s *Store) Migrate(ctx context.Context) error {
	if _, err := schema.Apply(ctx, s.db, schema.EventStoreSQLite); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

const columns = `position, stream, version, event_id, type, schema_version, recorded_at, data, metadata, prev_hash, hash`

// Append implements events.Store.
func (s *Store) Append(ctx context.Context, writes ...events.StreamWrite) (res events.AppendResult, err error) {
	w, err := appendplan.Validate(writes)
	if err != nil {
		return events.AppendResult{}, err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	tx, err := s.db.BeginTx(ctx, nil) // IMMEDIATE, from the DSN
	if err != nil {
		return events.AppendResult{}, fmt.Errorf("sqlite: append: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	stored, err := findIDs(ctx, tx, w.IDs)
	if err != nil {
		return events.AppendResult{}, fmt.Errorf("sqlite: append: %w", err)
	}
	if res, dup, err := appendplan.Duplicate(w, stored); err != nil || dup {
		return res, err
	}
	current := map[string]int64{}
	for _, stream := range w.Streams {
		var v sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT max(version) FROM events WHERE stream = ?`, stream).Scan(&v); err != nil {
			return events.AppendResult{}, fmt.Errorf("sqlite: append: version of %q: %w", stream, err)
		}
		if v.Valid {
			current[stream] = v.Int64
		}
	}
	if err := appendplan.CheckVersions(w, current); err != nil {
		return events.AppendResult{}, err
	}
	if w.N == 0 {
		return events.AppendResult{}, nil
	}
	var head int64
	var headHash []byte
	err = tx.QueryRowContext(ctx, `SELECT position, hash FROM events ORDER BY position DESC LIMIT 1`).Scan(&head, &headHash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return events.AppendResult{}, fmt.Errorf("sqlite: append: head: %w", err)
	}
	envs := appendplan.Build(w, current, uint64(head), headHash, s.now())

	ins, err := tx.PrepareContext(ctx, `INSERT INTO events (`+columns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return events.AppendResult{}, fmt.Errorf("sqlite: append: %w", err)
	}
	defer ins.Close()
	for _, e := range envs {
		prev := e.PrevHash
		if prev == nil {
			prev = []byte{}
		}
		_, err := ins.ExecContext(ctx, int64(e.Position), e.Stream, e.Version, e.ID[:], e.Type, e.SchemaVersion,
			e.RecordedAt.UnixMicro(), []byte(e.Data), appendplan.MarshalMetadata(e.Metadata), prev, e.Hash)
		if err != nil {
			return events.AppendResult{}, fmt.Errorf("sqlite: append: insert position %d: %w", e.Position, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return events.AppendResult{}, fmt.Errorf("sqlite: append: commit: %w", err)
	}
	s.wake()
	return events.AppendResult{Events: envs}, nil
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Store) wake() {
	s.wakeMu.Lock()
	close(s.wakeCh)
	s.wakeCh = make(chan struct{})
	s.wakeMu.Unlock()
}

func (s *Store) woken() <-chan struct{} {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	return s.wakeCh
}

// findIDs returns the stored events among ids, querying in chunks that stay
// below SQLite's bound-parameter limit.
func findIDs(ctx context.Context, tx *sql.Tx, ids []uuid.UUID) (map[uuid.UUID]events.Envelope, error) {
	stored := map[uuid.UUID]events.Envelope{}
	const chunk = 500
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id[:]
		}
		q := `SELECT ` + columns + ` FROM events WHERE event_id IN (?` + strings.Repeat(`, ?`, len(part)-1) + `)`
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("find ids: %w", err)
		}
		envs, err := scanEnvelopes(rows)
		if err != nil {
			return nil, fmt.Errorf("find ids: %w", err)
		}
		for _, e := range envs {
			stored[e.ID] = e
		}
	}
	return stored, nil
}

// scanEnvelopes reads rows of `columns` and closes them. The byte columns
// are read as sql.RawBytes and copied once into one buffer per event.
func scanEnvelopes(rows *sql.Rows) ([]events.Envelope, error) {
	defer rows.Close()
	var out []events.Envelope
	types := map[string]string{} // event types repeat: one string each
	var (
		position, recorded, version int64
		schemaVersion               int
		stream                      string
		typ, id, data, meta         sql.RawBytes
		prevHash, hash              sql.RawBytes
	)
	for rows.Next() {
		if err := rows.Scan(&position, &stream, &version, &id, &typ, &schemaVersion, &recorded,
			&data, &meta, &prevHash, &hash); err != nil {
			return nil, err
		}
		if len(id) != 16 {
			return nil, fmt.Errorf("event at position %d: event id has %d bytes", position, len(id))
		}
		e := events.Envelope{
			Stream:        stream,
			Version:       version,
			Position:      uint64(position),
			SchemaVersion: schemaVersion,
			RecordedAt:    time.UnixMicro(recorded).UTC(),
		}
		copy(e.ID[:], id)
		t, ok := types[string(typ)]
		if !ok {
			t = string(typ)
			types[t] = t
		}
		e.Type = t
		m, err := appendplan.UnmarshalMetadata(meta)
		if err != nil {
			return nil, fmt.Errorf("event at position %d: metadata: %w", position, err)
		}
		e.Metadata = m
		buf := make([]byte, 0, len(data)+len(prevHash)+len(hash))
		buf = append(buf, data...)
		buf = append(buf, prevHash...)
		buf = append(buf, hash...)
		e.Data = buf[:len(data):len(data)]
		e.PrevHash = appendplan.NilIfEmpty(buf[len(data) : len(data)+len(prevHash) : len(data)+len(prevHash)])
		e.Hash = buf[len(data)+len(prevHash):]
		out = append(out, e)
	}
	return out, rows.Err()
}

// ReadStream implements events.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from int64, max int) ([]events.Envelope, error) {
	if max <= 0 {
		return nil, fmt.Errorf("sqlite: read stream: max %d is not positive", max)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM events
		WHERE stream = ? AND version >= ? ORDER BY version LIMIT ?`, stream, from, max)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read stream %q: %w", stream, err)
	}
	envs, err := scanEnvelopes(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read stream %q: %w", stream, err)
	}
	return envs, nil
}

// ReadAll implements events.Store.
func (s *Store) ReadAll(ctx context.Context, after uint64, max int) ([]events.Envelope, error) {
	if max <= 0 {
		return nil, fmt.Errorf("sqlite: read all: max %d is not positive", max)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM events
		WHERE position > ? ORDER BY position LIMIT ?`, int64(after), max)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read all: %w", err)
	}
	envs, err := scanEnvelopes(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read all: %w", err)
	}
	return envs, nil
}

// Head implements events.Store.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	var head int64
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(position), 0) FROM events`).Scan(&head); err != nil {
		return 0, fmt.Errorf("sqlite: head: %w", err)
	}
	return uint64(head), nil
}

// Subscribe implements events.Store: it reads every event after `after` in
// pages, then waits until this process appends or PollInterval passes (for
// appends by another process) and reads again from the last delivered
// position. Positions are gapless and commit-ordered, so nothing is skipped
// or repeated. It returns ctx.Err() when ctx ends, handle's error (unwrapped)
// when handle fails, or a read error.
func (s *Store) Subscribe(ctx context.Context, after uint64, handle func(context.Context, []events.Envelope) error) error {
	poll := s.PollInterval
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	pageSize := s.PageSize
	if pageSize <= 0 {
		pageSize = 1000
	}
	timer := time.NewTimer(poll)
	defer timer.Stop()
	pos := after
	for {
		// Take the wake-up channel before reading, so an append that
		// commits after the read below still wakes this loop.
		woken := s.woken()
		var err error
		if pos, err = events.CatchUp(ctx, s.ReadAll, pos, pageSize, handle); err != nil {
			return err // the handler's error as it is, or the read error wrapped
		}
		timer.Reset(poll)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-woken:
		case <-timer.C:
		}
	}
}
