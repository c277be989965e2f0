package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql" // registers "mysql"
	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"

	"github.com/purepool/purepool/events"
)

// Name is the projection that builds every read-model table. The tables
// share one fold (a failed payout needs the payout's items, balances need
// credits and payouts), so they advance together under one checkpoint.
const Name = "ledger"

// Names lists the projections `purepool projections` knows.
var Names = []string{Name}

// PostgresSchema is the stable schema the website reads: one view per table,
// pointing at the active generation readmodel_v{N}.
const PostgresSchema = "readmodel"

// errTransient marks database errors met while folding (retryable).
var errTransient = errors.New("projections: read model unavailable")

// ErrCheckpointMoved is returned by ApplyBatch when the stored checkpoint is
// not the one the caller expected: another projector wrote, or a rebuild
// switched generations. The caller re-reads the checkpoint and resubscribes.
var ErrCheckpointMoved = errors.New("projections: checkpoint moved")

// DB is a read-model database written by the projector.
type DB struct {
	SQL     *sql.DB
	Dialect Dialect
	// FrontendRole, if set (PostgreSQL), gets SELECT on the stable views
	// whenever they are (re)created.
	FrontendRole string
}

// OpenURL opens a read-model database:
//
//	postgres://… or postgresql://…         PostgreSQL (pgx)
//	mysql://user:pass@tcp(host:3306)/db    MariaDB/MySQL (go-sql-driver DSN after "mysql://"; parseTime is added)
//	sqlite:///path/file.db or sqlite:path  SQLite file (modernc)
func OpenURL(ctx context.Context, url string) (*DB, error) {
	var d Dialect
	var driver, dsn string
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		d, driver, dsn = Postgres, "pgx", url
	case strings.HasPrefix(url, "mysql://"):
		d, driver, dsn = MySQL, "mysql", strings.TrimPrefix(url, "mysql://")
		if !strings.Contains(dsn, "parseTime=") {
			if strings.Contains(dsn, "?") {
				dsn += "&parseTime=true"
			} else {
				dsn += "?parseTime=true"
			}
		}
	case strings.HasPrefix(url, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
		d, driver, dsn = SQLite, "sqlite", SQLiteDSN(path)
	default:
		return nil, fmt.Errorf("projections: unsupported read-model URL %q (postgres://, mysql://, sqlite:)", url)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("projections: open %s: %w", d, err)
	}
	// Bound the pool: a frontend under a thousand miners would otherwise
	// open a connection per request and exhaust the server's connection
	// limit (PostgreSQL's default is 100), turning load into HEALTH_DOWN.
	db.SetMaxOpenConns(MaxOpenConns)
	db.SetMaxIdleConns(MaxOpenConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("projections: connect %s: %w", d, err)
	}
	return &DB{SQL: db, Dialect: d}, nil
}

// MaxOpenConns bounds each read-model connection pool opened by OpenURL.
// Reads are short indexed SELECTs, so a few connections per core serve
// thousands of requests per second; callers queue for a connection.
var MaxOpenConns = 16

// SQLiteDSN is the modernc DSN of a read-model file: WAL so readers do not
// block the projector, IMMEDIATE write transactions.
func SQLiteDSN(path string) string {
	return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate"
}

// Close closes the database.
func (d *DB) Close() error { return d.SQL.Close() }

// gen is one generation of the tables: where a projector writes.
type gen struct {
	d       Dialect
	version int    // PostgreSQL: schema readmodel_v{version}
	suffix  string // MySQL/SQLite: table suffix of a generation being built
}

func (g gen) name(table string) string {
	if g.d == Postgres {
		return "readmodel_v" + strconv.Itoa(g.version) + "." + table
	}
	return table + g.suffix
}

func (g gen) schema() string { return "readmodel_v" + strconv.Itoa(g.version) }

// Migrate creates the read model if it does not exist yet (idempotent).
// PostgreSQL: schema readmodel with the version table and one view per
// table over readmodel_v1. MySQL/SQLite: the tables themselves.
func (d *DB) Migrate(ctx context.Context) (err error) {
	if err := d.Dialect.validate(); err != nil {
		return err
	}
	if d.Dialect == Postgres {
		return d.migratePostgres(ctx)
	}
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		return fmt.Errorf("projections: migrate: %w", err)
	}
	defer conn.Close()
	var x interface {
		execer
		QueryRowContext(context.Context, string, ...any) *sql.Row
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	} = conn
	if d.Dialect == MySQL {
		// Serialise concurrent migrations (DDL is not transactional here).
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('purepool_readmodel_migrate', 60)").Scan(&got); err != nil || got.Int64 != 1 {
			return fmt.Errorf("projections: migrate: lock: %v", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK('purepool_readmodel_migrate')") //nolint:errcheck
	} else {
		tx, err := conn.BeginTx(ctx, nil) // SQLite: IMMEDIATE, DDL included
		if err != nil {
			return fmt.Errorf("projections: migrate: %w", err)
		}
		defer tx.Rollback() //nolint:errcheck
		x = tx
		defer func() {
			if err == nil {
				err = tx.Commit()
			}
		}()
	}
	g := gen{d: d.Dialect}
	if _, cerr := d.checkpointOf(ctx, x, g, false); cerr == nil {
		// A read model of an earlier release: add the columns it lacks.
		_, err = d.addColumns(ctx, x, g)
		return err
	}
	// Nothing, or the remains of a creation that failed half way (MariaDB
	// commits each DDL statement): start the tables afresh.
	for _, t := range append(append([]*table{}, tables...), checkpointTable) {
		if _, err = x.ExecContext(ctx, "DROP TABLE IF EXISTS "+g.name(t.name)); err != nil {
			return fmt.Errorf("projections: migrate: %w", err)
		}
	}
	err = d.createGen(ctx, x, g, true)
	return err
}

// addColumns adds to generation g's tables every column of their
// description they lack (columns added by a later shape: see column.added),
// with the column's default, and creates the tables a later shape added
// (table.added), empty and with their indexes. It changes nothing when
// nothing is missing, so it is cheap on every start. It returns how many
// columns and tables it added.
func (d *DB) addColumns(ctx context.Context, x interface {
	execer
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, g gen) (int, error) {
	added := 0
	for _, t := range tables {
		have, err := d.columnsOf(ctx, x, g, t.name)
		if err != nil {
			return added, err
		}
		if len(have) == 0 && t.added > 0 {
			stmts := append([]string{d.Dialect.createTable(t, g.name(t.name))}, d.Dialect.createIndexes(t, g.name(t.name), genTag())...)
			for _, q := range stmts {
				if _, err := x.ExecContext(ctx, q); err != nil {
					return added, fmt.Errorf("projections: migrate: create %s: %w", g.name(t.name), err)
				}
			}
			added++
			continue
		}
		if len(have) == 0 {
			return added, fmt.Errorf("projections: migrate: table %s has no columns", g.name(t.name))
		}
		for _, c := range t.cols {
			if have[strings.ToLower(c.name)] {
				continue
			}
			if c.merge == mKey {
				return added, fmt.Errorf("projections: migrate: %s lacks key column %s: rebuild the read model", g.name(t.name), c.name)
			}
			q := "ALTER TABLE " + g.name(t.name) + " ADD COLUMN " + d.Dialect.ident(c.name) + " " + d.Dialect.colType(c)
			if _, err := x.ExecContext(ctx, q); err != nil {
				return added, fmt.Errorf("projections: migrate: add %s.%s: %w", t.name, c.name, err)
			}
			added++
		}
	}
	return added, nil
}

// columnsOf lists the (lower-case) column names of generation g's table.
func (d *DB) columnsOf(ctx context.Context, x interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, g gen, table string) (map[string]bool, error) {
	var rows *sql.Rows
	var err error
	switch d.Dialect {
	case Postgres:
		rows, err = x.QueryContext(ctx, "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2", g.schema(), table)
	case MySQL:
		rows, err = x.QueryContext(ctx, "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?", g.name(table))
	default:
		rows, err = x.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", g.name(table))
	}
	if err != nil {
		return nil, fmt.Errorf("projections: migrate: columns of %s: %w", table, err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("projections: migrate: columns of %s: %w", table, err)
		}
		have[strings.ToLower(name)] = true
	}
	return have, rows.Err()
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// createGen creates every table of a generation, with or without its
// secondary indexes (a rebuild adds them after loading).
func (d *DB) createGen(ctx context.Context, x execer, g gen, withIndexes bool) error {
	var stmts []string
	if d.Dialect == Postgres {
		stmts = append(stmts, "CREATE SCHEMA "+g.schema())
	}
	for _, t := range append(append([]*table{}, tables...), checkpointTable) {
		stmts = append(stmts, d.Dialect.createTable(t, g.name(t.name)))
		if withIndexes {
			stmts = append(stmts, d.Dialect.createIndexes(t, g.name(t.name), genTag())...)
		}
	}
	stmts = append(stmts, d.Dialect.q("INSERT INTO "+g.name(TCheckpoints)+" ("+d.Dialect.ident("name")+", "+d.Dialect.ident("position")+", updated_at) VALUES (?, 0, NULL)"))
	for i, q := range stmts {
		var err error
		if i == len(stmts)-1 {
			_, err = x.ExecContext(ctx, q, Name)
		} else {
			_, err = x.ExecContext(ctx, q)
		}
		if err != nil {
			return fmt.Errorf("projections: create %s: %w", g.name(""), err)
		}
	}
	return nil
}

func (d *DB) createIndexes(ctx context.Context, x execer, g gen) error {
	tag := genTag()
	for _, t := range tables {
		for _, q := range d.Dialect.createIndexes(t, g.name(t.name), tag) {
			if _, err := x.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("projections: index %s: %w", t.name, err)
			}
		}
	}
	return nil
}

func genTag() string { return strconv.FormatInt(time.Now().UnixNano(), 36) }

func (d *DB) migratePostgres(ctx context.Context) error {
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("projections: migrate: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	// Serialise concurrent migrations of the same database.
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(7072757265)"); err != nil {
		return fmt.Errorf("projections: migrate: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+PostgresSchema); err != nil {
		return fmt.Errorf("projections: migrate: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+PostgresSchema+".generation (id int PRIMARY KEY CHECK (id = 1), version int NOT NULL)"); err != nil {
		return fmt.Errorf("projections: migrate: %w", err)
	}
	var v int
	err = tx.QueryRowContext(ctx, "SELECT version FROM "+PostgresSchema+".generation WHERE id = 1").Scan(&v)
	if err == nil {
		// A read model of an earlier release: add the columns it lacks to
		// the active generation and repoint the views (SELECT * is expanded
		// when a view is created, and the new columns come last).
		g := gen{d: Postgres, version: v}
		added, err := d.addColumns(ctx, tx, g)
		if err != nil {
			return err
		}
		if added > 0 {
			if err := d.pointViews(ctx, tx, g); err != nil {
				return err
			}
		}
		return tx.Commit()
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("projections: migrate: %w", err)
	}
	g := gen{d: Postgres, version: 1}
	if _, err := tx.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+g.schema()+" CASCADE"); err != nil {
		return fmt.Errorf("projections: migrate: %w", err)
	}
	if err := d.createGen(ctx, tx, g, true); err != nil {
		return err
	}
	if err := d.pointViews(ctx, tx, g); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+PostgresSchema+".generation (id, version) VALUES (1, 1)"); err != nil {
		return fmt.Errorf("projections: migrate: %w", err)
	}
	if d.FrontendRole != "" {
		if _, err := tx.ExecContext(ctx, "GRANT USAGE ON SCHEMA "+PostgresSchema+" TO "+quoteIdent(d.FrontendRole)); err != nil {
			return fmt.Errorf("projections: grant: %w", err)
		}
	}
	return tx.Commit()
}

var plainIdent = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func quoteIdent(s string) string {
	if plainIdent.MatchString(s) {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// pointViews (re)creates readmodel.<table> as a view over generation g,
// inside tx: readers switch generations atomically at commit. CREATE OR
// REPLACE keeps each view's identity (and grants, and cached plans of
// readers stay valid); a view whose columns changed is dropped and recreated.
func (d *DB) pointViews(ctx context.Context, tx *sql.Tx, g gen) error {
	for _, t := range append(append([]*table{}, tables...), checkpointTable) {
		view := PostgresSchema + "." + t.name
		def := "SELECT * FROM " + g.name(t.name)
		if _, err := tx.ExecContext(ctx, "SAVEPOINT pv"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "CREATE OR REPLACE VIEW "+view+" AS "+def); err != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT pv"); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "DROP VIEW IF EXISTS "+view); err != nil {
				return fmt.Errorf("projections: view %s: %w", view, err)
			}
			if _, err := tx.ExecContext(ctx, "CREATE VIEW "+view+" AS "+def); err != nil {
				return fmt.Errorf("projections: view %s: %w", view, err)
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT pv"); err != nil {
			return err
		}
		if d.FrontendRole != "" {
			if _, err := tx.ExecContext(ctx, "GRANT SELECT ON "+view+" TO "+quoteIdent(d.FrontendRole)); err != nil {
				return fmt.Errorf("projections: grant %s: %w", view, err)
			}
		}
	}
	return nil
}

// activeGen reads the generation projectors write to; on PostgreSQL it takes
// a share lock on the generation row so a switch waits for the batch.
func (d *DB) activeGen(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, lock bool) (gen, error) {
	if d.Dialect != Postgres {
		return gen{d: d.Dialect}, nil
	}
	query := "SELECT version FROM " + PostgresSchema + ".generation WHERE id = 1"
	if lock {
		query += " FOR SHARE"
	}
	var v int
	if err := q.QueryRowContext(ctx, query).Scan(&v); err != nil {
		return gen{}, fmt.Errorf("projections: read generation (run migrate first?): %w", err)
	}
	return gen{d: Postgres, version: v}, nil
}

// Checkpoint is the position the active generation has applied.
func (d *DB) Checkpoint(ctx context.Context) (uint64, error) {
	g, err := d.activeGen(ctx, d.SQL, false)
	if err != nil {
		return 0, err
	}
	return d.checkpointOf(ctx, d.SQL, g, false)
}

func (d *DB) checkpointOf(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, g gen, forUpdate bool) (uint64, error) {
	query := "SELECT " + d.Dialect.ident("position") + " FROM " + g.name(TCheckpoints) + " WHERE " + d.Dialect.ident("name") + " = ?"
	if forUpdate && d.Dialect != SQLite {
		query += " FOR UPDATE"
	}
	var p int64
	if err := q.QueryRowContext(ctx, d.Dialect.q(query), Name).Scan(&p); err != nil {
		return 0, fmt.Errorf("projections: read checkpoint: %w", err)
	}
	return uint64(p), nil
}

// ApplyBatch folds envs into the active generation in one transaction with
// the checkpoint. expected is the checkpoint the caller believes is stored;
// if another writer moved it, nothing is written and ErrCheckpointMoved is
// returned. Events at or below the stored checkpoint are skipped, so a batch
// delivered twice changes nothing. It returns the new checkpoint.
func (d *DB) ApplyBatch(ctx context.Context, expected uint64, envs []events.Envelope) (uint64, error) {
	var beginner interface {
		BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
	} = d.SQL
	if d.Dialect == MySQL {
		// A blue/green switch holds this lock from its last catch-up to
		// its RENAME (see switchTo); the batch commits before it unlocks.
		conn, unlock, err := d.projectorLock(ctx)
		if err != nil {
			return expected, err
		}
		defer conn.Close()
		defer unlock()
		beginner = conn
	}
	tx, err := beginner.BeginTx(ctx, nil)
	if err != nil {
		return expected, fmt.Errorf("projections: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	g, err := d.activeGen(ctx, tx, true)
	if err != nil {
		return expected, err
	}
	pos, err := d.applyInTx(ctx, tx, g, &expected, envs)
	if err != nil {
		return pos, err
	}
	if err := tx.Commit(); err != nil {
		return expected, fmt.Errorf("projections: commit: %w", err)
	}
	return pos, nil
}

// projectorLockName is the MariaDB named lock that orders projector batches
// and blue/green switches.
const projectorLockName = "purepool_readmodel_projector"

// projectorLock takes the MariaDB named lock on a connection of its own
// (named locks belong to a session, and survive the implicit commit of a
// RENAME). It waits as long as ctx allows, a minute per try.
func (d *DB) projectorLock(ctx context.Context) (*sql.Conn, func(), error) {
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("projections: lock: %w", err)
	}
	for {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 60)", projectorLockName).Scan(&got); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("projections: lock: %w", err)
		}
		if got.Valid && got.Int64 == 1 {
			break
		}
		if ctx.Err() != nil {
			conn.Close()
			return nil, nil, ctx.Err()
		}
	}
	unlock := func() {
		// Without ctx: a cancelled batch must still give the lock back
		// (closing the session would too, but the pool keeps it open).
		conn.ExecContext(context.Background(), "DO RELEASE_LOCK(?)", projectorLockName) //nolint:errcheck
	}
	return conn, unlock, nil
}

// applyInTx is ApplyBatch inside tx on generation g. With expected nil the
// stored checkpoint is taken as is.
func (d *DB) applyInTx(ctx context.Context, tx *sql.Tx, g gen, expected *uint64, envs []events.Envelope) (uint64, error) {
	stored, err := d.checkpointOf(ctx, tx, g, true)
	if err != nil {
		return 0, err
	}
	if expected != nil && stored != *expected {
		return stored, fmt.Errorf("%w: stored %d, expected %d", ErrCheckpointMoved, stored, *expected)
	}
	i := 0
	for i < len(envs) && envs[i].Position <= stored {
		i++
	}
	envs = envs[i:]
	if len(envs) == 0 {
		return stored, nil
	}
	ch := NewChanges(d.payoutLookup(tx, g))
	if err := ch.Fold(ctx, envs); err != nil {
		if ctx.Err() != nil || errors.Is(err, errTransient) {
			return stored, err
		}
		return stored, &foldError{err}
	}
	if err := d.writeChanges(ctx, tx, g, ch); err != nil {
		return stored, err
	}
	if err := d.setCheckpoint(ctx, tx, g, ch.Last); err != nil {
		return stored, err
	}
	return ch.Last, nil
}

func (d *DB) setCheckpoint(ctx context.Context, x execer, g gen, pos uint64) error {
	q := d.Dialect.q("UPDATE " + g.name(TCheckpoints) + " SET " + d.Dialect.ident("position") + " = ?, updated_at = ? WHERE " + d.Dialect.ident("name") + " = ?")
	if _, err := x.ExecContext(ctx, q, int64(pos), d.Dialect.arg(kTime, time.Now()), Name); err != nil {
		return fmt.Errorf("projections: write checkpoint: %w", err)
	}
	return nil
}

func (d *DB) payoutLookup(tx *sql.Tx, g gen) PayoutLookup {
	return func(ctx context.Context, network string, payoutID uuid.UUID) ([]events.PayoutItem, error) {
		q := d.Dialect.q("SELECT miner_id, address, amount_sat FROM " + g.name(TPayoutItems) + " WHERE payout_id = ? AND network = ? ORDER BY address")
		rows, err := tx.QueryContext(ctx, q, d.Dialect.Arg(payoutID), network)
		if err != nil {
			return nil, fmt.Errorf("%w: payout items: %w", errTransient, err)
		}
		defer rows.Close()
		var out []events.PayoutItem
		for rows.Next() {
			var it events.PayoutItem
			if err := rows.Scan(&it.MinerID, &it.Address, &it.AmountSat); err != nil {
				return nil, fmt.Errorf("projections: payout items: %w", err)
			}
			out = append(out, it)
		}
		return out, rows.Err()
	}
}

// writeChanges merges every changed row into generation g, one upsert per row.
func (d *DB) writeChanges(ctx context.Context, tx *sql.Tx, g gen, ch *Changes) error {
	for _, t := range tables {
		s := ch.sets[t.name]
		if s.len() == 0 {
			continue
		}
		stmt, err := tx.PrepareContext(ctx, d.Dialect.upsert(t, g.name(t.name)))
		if err != nil {
			return fmt.Errorf("projections: prepare %s: %w", t.name, err)
		}
		args := make([]any, 0, len(t.cols))
		err = s.each(func(r row) error {
			args = d.Dialect.bind(t, r, args[:0])
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("projections: upsert %s: %w", t.name, err)
			}
			return nil
		})
		stmt.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
