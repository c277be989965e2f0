package projections

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/schollz/progressbar/v3"

	"github.com/purepool/purepool/events"
)

// RebuildOptions tune a rebuild.
type RebuildOptions struct {
	// Progress, if set, receives a progress bar (events/s and ETA).
	Progress io.Writer
	// PageSize is how many events one ReadAll returns. Default 10000.
	PageSize int
	// BeforeSwitch, if set, runs after the new generation is built and
	// caught up, just before the switch (tests use it to append events
	// and to read concurrently).
	BeforeSwitch func(ctx context.Context) error
	// duringSwitch, if set (tests), runs inside the switch after its last
	// catch-up, while live projectors are held off.
	duringSwitch func(ctx context.Context) error
}

// RebuildStats describe a finished rebuild.
type RebuildStats struct {
	Events     int           // events folded in the bulk phase
	CaughtUp   int           // events applied after it, before the switch
	Rows       int           // rows written by the bulk phase
	Position   uint64        // checkpoint of the new generation at the switch
	Fold       time.Duration // reading and folding
	Write      time.Duration // bulk write, indexes included
	Total      time.Duration
	Generation int // PostgreSQL: the new generation
}

// EventsPerSecond is the bulk phase's throughput (read + fold + write).
func (s RebuildStats) EventsPerSecond() float64 {
	d := s.Fold + s.Write
	if d <= 0 {
		return 0
	}
	return float64(s.Events) / d.Seconds()
}

// Rebuild replays the whole log into a fresh generation of the tables while
// the current one keeps serving, then switches readers to it atomically
// (blue/green): PostgreSQL repoints the readmodel views at a new schema
// readmodel_v{N+1} in one transaction; MariaDB swaps tables with one RENAME
// TABLE; SQLite drops and renames inside one transaction. Readers never see
// a half-built table. The bulk phase folds every event in memory and writes
// each final row once (COPY on PostgreSQL).
func (d *DB) Rebuild(ctx context.Context, store events.Store, opt RebuildOptions) (RebuildStats, error) {
	start := time.Now()
	if opt.PageSize <= 0 {
		opt.PageSize = 10000
	}
	if err := d.Migrate(ctx); err != nil {
		return RebuildStats{}, err
	}
	var st RebuildStats
	head, err := store.Head(ctx)
	if err != nil {
		return st, fmt.Errorf("projections: rebuild: head: %w", err)
	}
	t0 := time.Now()
	ch, err := FoldAll(ctx, store, head, opt.PageSize, opt.Progress)
	if err != nil {
		return st, err
	}
	st.Fold = time.Since(t0)
	st.Events = ch.Events
	st.Rows = ch.Rows()

	t1 := time.Now()
	var g gen
	switch d.Dialect {
	case Postgres:
		g, err = d.bulkPostgres(ctx, ch)
	default:
		g, err = d.bulkSQL(ctx, ch)
	}
	if err != nil {
		return st, err
	}
	st.Write = time.Since(t1)
	st.Generation = g.version

	// Catch up with what was appended meanwhile, outside the switch.
	pos := ch.Last
	n, pos, err := d.catchUp(ctx, store, g, pos, opt.PageSize, nil)
	st.CaughtUp += n
	if err != nil {
		return st, err
	}
	if opt.BeforeSwitch != nil {
		if err := opt.BeforeSwitch(ctx); err != nil {
			return st, err
		}
	}
	n, pos, err = d.switchTo(ctx, store, g, pos, opt.PageSize, opt.duringSwitch)
	st.CaughtUp += n
	st.Position = pos
	st.Total = time.Since(start)
	return st, err
}

// FoldAll reads the log up to head and folds it in memory, decoding pages
// in parallel with reading and folding.
func FoldAll(ctx context.Context, store events.Store, head uint64, pageSize int, progress io.Writer) (*Changes, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var bar *progressbar.ProgressBar
	if progress != nil {
		bar = progressbar.NewOptions64(int64(head),
			progressbar.OptionSetWriter(progress),
			progressbar.OptionSetDescription("rebuild "+Name),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("events"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(progress) }),
		)
	}
	type page struct {
		envs []events.Envelope
		evs  []events.Event
		err  error
		done chan struct{}
	}
	workers := max(1, runtime.GOMAXPROCS(0))
	toDecode := make(chan *page, 2*workers)
	ordered := make(chan *page, 2*workers)
	go func() { // reader
		defer close(toDecode)
		defer close(ordered)
		var after uint64
		for after < head {
			envs, err := store.ReadAll(ctx, after, pageSize)
			p := &page{envs: envs, err: err, done: make(chan struct{})}
			if err == nil && len(envs) == 0 {
				p.err = fmt.Errorf("projections: rebuild: log ends at %d before head %d", after, head)
			}
			if p.err != nil {
				close(p.done)
				select {
				case ordered <- p:
				case <-ctx.Done():
				}
				return
			}
			// Never fold past the head this rebuild started from: the
			// catch-up applies the rest incrementally.
			for len(p.envs) > 0 && p.envs[len(p.envs)-1].Position > head {
				p.envs = p.envs[:len(p.envs)-1]
			}
			after = envs[len(envs)-1].Position
			select {
			case ordered <- p:
			case <-ctx.Done():
				return
			}
			select {
			case toDecode <- p:
			case <-ctx.Done():
				return
			}
		}
	}()
	for w := 0; w < workers; w++ { // decoders
		go func() {
			for p := range toDecode {
				p.evs = make([]events.Event, len(p.envs))
				for i := range p.envs {
					ev, err := decode(&p.envs[i])
					if err != nil {
						p.err = err
						break
					}
					p.evs[i] = ev
				}
				close(p.done)
			}
		}()
	}
	ch := NewChanges(nil)
	for p := range ordered {
		select {
		case <-p.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if p.err != nil {
			return nil, fmt.Errorf("projections: rebuild: %w", p.err)
		}
		for i := range p.envs {
			if err := ch.FoldDecoded(ctx, &p.envs[i], p.evs[i]); err != nil {
				return nil, fmt.Errorf("projections: rebuild: %w", err)
			}
		}
		if bar != nil {
			_ = bar.Set64(int64(ch.Last))
		}
	}
	if ch.Last < head {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("projections: rebuild: read up to %d of %d", ch.Last, head)
	}
	if bar != nil {
		_ = bar.Finish()
	}
	return ch, nil
}

// bulkPostgres creates readmodel_v{N+1} and loads the folded rows with COPY,
// all in one transaction (nothing is left behind by a failure).
func (d *DB) bulkPostgres(ctx context.Context, ch *Changes) (gen, error) {
	cur, err := d.activeGen(ctx, d.SQL, false)
	if err != nil {
		return gen{}, err
	}
	g := gen{d: Postgres, version: cur.version + 1}
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		return g, fmt.Errorf("projections: rebuild: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx) //nolint:errcheck
		// Safe: a crash loses this transaction, and the rebuild starts over.
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+g.schema()+" CASCADE"); err != nil {
			return err
		}
		if err := d.createGen(ctx, pgxExec{tx}, g, false); err != nil {
			return err
		}
		for _, t := range tables {
			s := ch.sets[t.name]
			if s.len() == 0 {
				continue
			}
			cols := make([]string, len(t.cols))
			for i, c := range t.cols {
				cols[i] = c.name
			}
			i := 0
			vals := make([]any, len(t.cols))
			src := pgx.CopyFromFunc(func() ([]any, error) {
				if i >= len(s.order) {
					return nil, nil
				}
				r := s.rows[s.order[i]]
				i++
				return copyValues(t, r, vals), nil
			})
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{g.schema(), t.name}, cols, src); err != nil {
				return fmt.Errorf("copy %s: %w", t.name, err)
			}
		}
		if err := d.createIndexes(ctx, pgxExec{tx}, g); err != nil {
			return err
		}
		if err := d.setCheckpoint(ctx, pgxExec{tx}, g, ch.Last); err != nil {
			return err
		}
		for _, t := range tables {
			if _, err := tx.Exec(ctx, "ANALYZE "+g.name(t.name)); err != nil {
				return err
			}
		}
		return tx.Commit(ctx)
	})
	if err != nil {
		return g, fmt.Errorf("projections: rebuild %s: %w", g.schema(), err)
	}
	return g, nil
}

// copyValues converts a row for COPY with pgx's native types (a uuid as
// pgtype.UUID encodes without reflection). vals is reused between rows.
func copyValues(t *table, r row, vals []any) []any {
	for i, c := range t.cols {
		switch v := r[i].(type) {
		case uuid.UUID:
			if v == uuid.Nil {
				vals[i] = nil
			} else {
				vals[i] = pgtype.UUID{Bytes: v, Valid: true}
			}
		case time.Time:
			if v.IsZero() {
				vals[i] = nil
			} else if c.kind == kDate {
				vals[i] = pgtype.Date{Time: v, Valid: true}
			} else {
				vals[i] = pgtype.Timestamptz{Time: v, Valid: true}
			}
		default:
			vals[i] = v
		}
	}
	return vals
}

// pgxExec adapts a pgx.Tx to execer.
type pgxExec struct{ tx pgx.Tx }

func (p pgxExec) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	_, err := p.tx.Exec(ctx, q, args...)
	return nil, err
}

// newSuffix names the tables of a generation being built (MySQL, SQLite).
const newSuffix = "__new"

// bulkSQL creates the "__new" tables and loads the folded rows with
// multi-row INSERTs in one transaction.
func (d *DB) bulkSQL(ctx context.Context, ch *Changes) (gen, error) {
	g := gen{d: d.Dialect, suffix: newSuffix}
	all := append(append([]*table{}, tables...), checkpointTable)
	for _, t := range all {
		if _, err := d.SQL.ExecContext(ctx, "DROP TABLE IF EXISTS "+g.name(t.name)); err != nil {
			return g, fmt.Errorf("projections: rebuild: %w", err)
		}
	}
	if err := d.createGen(ctx, d.SQL, g, false); err != nil {
		return g, err
	}
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return g, fmt.Errorf("projections: rebuild: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	for _, t := range tables {
		s := ch.sets[t.name]
		per := 60000 / len(t.cols) // under MySQL's 65535 placeholders
		if d.Dialect == SQLite {
			per = 30000 / len(t.cols) // under SQLite's 32766 variables
		}
		var stmt *sql.Stmt
		args := make([]any, 0, per*len(t.cols))
		for i := 0; i < len(s.order); i += per {
			j := min(i+per, len(s.order))
			args = args[:0]
			for _, k := range s.order[i:j] {
				args = d.Dialect.bind(t, s.rows[k], args)
			}
			q := d.Dialect.insertMany(t, g.name(t.name), j-i)
			if j-i == per {
				if stmt == nil {
					if stmt, err = tx.PrepareContext(ctx, q); err != nil {
						return g, fmt.Errorf("projections: rebuild %s: %w", t.name, err)
					}
				}
				_, err = stmt.ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, q, args...)
			}
			if err != nil {
				return g, fmt.Errorf("projections: rebuild %s: %w", t.name, err)
			}
		}
		if stmt != nil {
			stmt.Close()
		}
	}
	if err := d.setCheckpoint(ctx, tx, g, ch.Last); err != nil {
		return g, err
	}
	if err := tx.Commit(); err != nil {
		return g, fmt.Errorf("projections: rebuild: %w", err)
	}
	if err := d.createIndexes(ctx, d.SQL, g); err != nil {
		return g, err
	}
	return g, nil
}

// catchUp applies events after pos to generation g until the log is read
// to its end. With tx nil, each page commits in its own transaction.
func (d *DB) catchUp(ctx context.Context, store events.Store, g gen, pos uint64, pageSize int, tx *sql.Tx) (int, uint64, error) {
	n := 0
	for {
		envs, err := store.ReadAll(ctx, pos, pageSize)
		if err != nil {
			return n, pos, fmt.Errorf("projections: catch up: %w", err)
		}
		if len(envs) == 0 {
			return n, pos, nil
		}
		own := tx == nil
		t := tx
		if own {
			if t, err = d.SQL.BeginTx(ctx, nil); err != nil {
				return n, pos, fmt.Errorf("projections: catch up: %w", err)
			}
		}
		next, err := d.applyInTx(ctx, t, g, &pos, envs)
		if err == nil && own {
			err = t.Commit()
		}
		if own {
			t.Rollback() //nolint:errcheck
		}
		if err != nil {
			return n, pos, err
		}
		n += len(envs)
		pos = next
	}
}

// switchTo makes g the generation readers and projectors use, after a last
// catch-up. PostgreSQL and SQLite do both in one transaction. MariaDB's
// RENAME TABLE cannot run in a transaction nor under LOCK TABLES, so the
// switch holds the projectors' named lock (see ApplyBatch) from the last
// catch-up to the rename: no live batch lands in the old tables after the
// catch-up, so readers never see the views go back. Running projectors then
// notice the moved checkpoint and resubscribe.
func (d *DB) switchTo(ctx context.Context, store events.Store, g gen, pos uint64, pageSize int, during func(context.Context) error) (int, uint64, error) {
	if during == nil {
		during = func(context.Context) error { return nil }
	}
	switch d.Dialect {
	case Postgres:
		tx, err := d.SQL.BeginTx(ctx, nil)
		if err != nil {
			return 0, pos, fmt.Errorf("projections: switch: %w", err)
		}
		defer tx.Rollback() //nolint:errcheck
		var old int
		// Waits for running projector batches (they hold FOR SHARE) and
		// holds off new ones until the switch commits.
		if err := tx.QueryRowContext(ctx, "SELECT version FROM "+PostgresSchema+".generation WHERE id = 1 FOR UPDATE").Scan(&old); err != nil {
			return 0, pos, fmt.Errorf("projections: switch: %w", err)
		}
		n, pos, err := d.catchUp(ctx, store, g, pos, pageSize, tx)
		if err != nil {
			return n, pos, err
		}
		if err := during(ctx); err != nil {
			return n, pos, err
		}
		if err := d.pointViews(ctx, tx, g); err != nil {
			return n, pos, err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE "+PostgresSchema+".generation SET version = $1 WHERE id = 1", g.version); err != nil {
			return n, pos, fmt.Errorf("projections: switch: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return n, pos, fmt.Errorf("projections: switch: %w", err)
		}
		oldGen := gen{d: Postgres, version: old}
		if _, err := d.SQL.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+oldGen.schema()+" CASCADE"); err != nil {
			return n, pos, fmt.Errorf("projections: drop old generation %s: %w", oldGen.schema(), err)
		}
		return n, pos, nil

	case SQLite:
		tx, err := d.SQL.BeginTx(ctx, nil) // IMMEDIATE: projectors wait
		if err != nil {
			return 0, pos, fmt.Errorf("projections: switch: %w", err)
		}
		defer tx.Rollback() //nolint:errcheck
		n, pos, err := d.catchUp(ctx, store, g, pos, pageSize, tx)
		if err != nil {
			return n, pos, err
		}
		if err := during(ctx); err != nil {
			return n, pos, err
		}
		for _, t := range append(append([]*table{}, tables...), checkpointTable) {
			if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+t.name); err != nil {
				return n, pos, fmt.Errorf("projections: switch: %w", err)
			}
			if _, err := tx.ExecContext(ctx, "ALTER TABLE "+g.name(t.name)+" RENAME TO "+t.name); err != nil {
				return n, pos, fmt.Errorf("projections: switch: %w", err)
			}
		}
		return n, pos, tx.Commit()

	default: // MySQL
		conn, unlock, err := d.projectorLock(ctx)
		if err != nil {
			return 0, pos, err
		}
		defer conn.Close()
		defer unlock()
		n, pos, err := d.catchUp(ctx, store, g, pos, pageSize, nil)
		if err != nil {
			return n, pos, err
		}
		if err := during(ctx); err != nil {
			return n, pos, err
		}
		var parts, drops []string
		for _, t := range append(append([]*table{}, tables...), checkpointTable) {
			parts = append(parts, t.name+" TO "+t.name+"__old", g.name(t.name)+" TO "+t.name)
			drops = append(drops, t.name+"__old")
		}
		for _, o := range drops {
			if _, err := d.SQL.ExecContext(ctx, "DROP TABLE IF EXISTS "+o); err != nil {
				return n, pos, fmt.Errorf("projections: switch: %w", err)
			}
		}
		if _, err := d.SQL.ExecContext(ctx, "RENAME TABLE "+strings.Join(parts, ", ")); err != nil {
			return n, pos, fmt.Errorf("projections: switch: %w", err)
		}
		if _, err := d.SQL.ExecContext(ctx, "DROP TABLE "+strings.Join(drops, ", ")); err != nil {
			return n, pos, fmt.Errorf("projections: drop old tables: %w", err)
		}
		return n, pos, nil
	}
}
