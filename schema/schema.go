// Package schema holds Purepool's SQL schemas as embedded migration files and
// the small runner that applies them to PostgreSQL, SQLite or MariaDB/MySQL.
//
// # Layout
//
// Migration files live in one directory per series, named so that file-name
// order is application order:
//
//	schema/postgres/0001_eventstore.sql   event store, PostgreSQL (schema eventstore)
//	schema/sqlite/0001_eventstore.sql     event store, SQLite (demo mode)
//	schema/postgres/readmodel/0001_….sql  (future) read models, PostgreSQL
//	schema/mysql/0001_….sql               (future) read models, MariaDB
//
// A series is described by a [Set]: its dialect, its directory and the table
// that records which of its files were applied. Only the *.sql files directly
// inside the directory belong to the set, so postgres/readmodel is a series of
// its own beside postgres. A new directory must also be added to the
// go:embed line below.
//
// # Applying
//
// [Apply] takes a session lock (PostgreSQL advisory lock, MySQL GET_LOCK; SQLite
// needs none because its write transactions are exclusive), creates the
// migrations table if needed, and applies each file not yet recorded there, in
// file-name order, each in its own transaction together with the row that
// records it. Re-running Apply is therefore a no-op, and two processes running
// it at once apply each file once. The table keeps each file's SHA-256: if an
// applied file was edited afterwards, Apply refuses to continue (add a new
// file instead of changing an old one).
//
// PostgreSQL and SQLite run DDL transactionally, so a failing file leaves
// nothing behind. MariaDB/MySQL commit DDL implicitly: a file that fails half
// way leaves its earlier statements applied and unrecorded, so keep MySQL
// files to one idempotent step each (CREATE TABLE IF NOT EXISTS …). For MySQL
// the runner splits a file into statements at every ';' that ends a line,
// because go-sql-driver/mysql runs one statement per call unless
// multiStatements is set.
//
// Example, for the read-model engineer:
//
//	var ReadModelPostgres = schema.Set{Dialect: schema.Postgres, Dir: "postgres/readmodel", Table: "readmodel.schema_migrations"}
//	applied, err := schema.Apply(ctx, db, ReadModelPostgres)
//
// db is a *sql.DB; with a pgxpool.Pool use stdlib.OpenDBFromPool(pool).
package schema

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
)

//go:embed postgres sqlite
var embedded embed.FS

// FS is every embedded migration file, rooted at this directory
// ("postgres/0001_eventstore.sql", …).
var FS fs.FS = embedded

// Dialect selects the SQL flavour of the runner's own statements.
type Dialect string

// Dialects the runner knows.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
	MySQL    Dialect = "mysql"
)

// Set is one ordered series of migration files.
type Set struct {
	Dialect Dialect
	// Dir is the directory of the series inside FS, e.g. "postgres".
	Dir string
	// Table records the applied files, e.g. "eventstore.schema_migrations".
	// A schema-qualified name is created with its schema on PostgreSQL.
	Table string
	// FS overrides the embedded files (tests); nil means schema.FS.
	FS fs.FS
}

// The event store's series.
var (
	EventStorePostgres = Set{Dialect: Postgres, Dir: "postgres", Table: "eventstore.schema_migrations"}
	EventStoreSQLite   = Set{Dialect: SQLite, Dir: "sqlite", Table: "schema_migrations"}
)

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// ErrChanged is returned when a file that was already applied has changed since.
var ErrChanged = errors.New("schema: an applied migration file was changed")

// File is one migration of a set.
type File struct {
	Name     string // base name, e.g. "0001_eventstore.sql"
	SQL      string
	Checksum string // hex SHA-256 of SQL
}

// Files lists the set's migration files in application order.
func (s Set) Files() ([]File, error) {
	fsys := s.FS
	if fsys == nil {
		fsys = FS
	}
	entries, err := fs.ReadDir(fsys, s.Dir)
	if err != nil {
		return nil, fmt.Errorf("schema: read %s: %w", s.Dir, err)
	}
	var out []File
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(s.Dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("schema: read %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(b)
		out = append(out, File{Name: e.Name(), SQL: string(b), Checksum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Apply applies the files of s that db has not recorded yet and returns
// their names (empty when the schema was up to date). See the package
// documentation for the guarantees.
func Apply(ctx context.Context, db *sql.DB, s Set) (applied []string, err error) {
	if !identifier.MatchString(s.Table) {
		return nil, fmt.Errorf("schema: invalid migrations table name %q", s.Table)
	}
	switch s.Dialect {
	case Postgres, SQLite, MySQL:
	default:
		return nil, fmt.Errorf("schema: unknown dialect %q", s.Dialect)
	}
	files, err := s.Files()
	if err != nil {
		return nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("schema: connect: %w", err)
	}
	defer conn.Close()

	unlock, err := lock(ctx, conn, s)
	if err != nil {
		return nil, err
	}
	defer func() {
		if uerr := unlock(); uerr != nil && err == nil {
			err = uerr
		}
	}()

	if err := createTable(ctx, conn, s); err != nil {
		return nil, err
	}
	done, err := recorded(ctx, conn, s)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if sum, ok := done[f.Name]; ok {
			if sum != f.Checksum {
				return applied, fmt.Errorf("%w: %s/%s (recorded sha256 %s, file now %s)", ErrChanged, s.Dir, f.Name, sum, f.Checksum)
			}
			continue
		}
		if err := applyFile(ctx, conn, s, f); err != nil {
			return applied, err
		}
		applied = append(applied, f.Name)
	}
	return applied, nil
}

func lockKey(s Set) int64 {
	h := fnv.New64a()
	h.Write([]byte("purepool/schema:" + s.Table))
	return int64(h.Sum64())
}

func lock(ctx context.Context, conn *sql.Conn, s Set) (unlock func() error, err error) {
	switch s.Dialect {
	case Postgres:
		key := lockKey(s)
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
			return nil, fmt.Errorf("schema: lock: %w", err)
		}
		return func() error {
			_, err := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key)
			return err
		}, nil
	case MySQL:
		name := fmt.Sprintf("purepool_schema_%x", uint64(lockKey(s)))
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 60)", name).Scan(&got); err != nil {
			return nil, fmt.Errorf("schema: lock: %w", err)
		}
		if !got.Valid || got.Int64 != 1 {
			return nil, fmt.Errorf("schema: lock %s: timed out", name)
		}
		return func() error {
			_, err := conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(?)", name)
			return err
		}, nil
	default: // SQLite: write transactions are exclusive; the primary key stops a double record.
		return func() error { return nil }, nil
	}
}

func createTable(ctx context.Context, conn *sql.Conn, s Set) error {
	var stmts []string
	switch s.Dialect {
	case Postgres:
		if schemaName, _, ok := strings.Cut(s.Table, "."); ok {
			stmts = append(stmts, "CREATE SCHEMA IF NOT EXISTS "+schemaName)
		}
		stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+s.Table+
			" (name text PRIMARY KEY, sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
	case MySQL:
		stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+s.Table+
			" (name VARCHAR(255) PRIMARY KEY, sha256 CHAR(64) NOT NULL, applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))")
	case SQLite:
		stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+s.Table+
			" (name TEXT PRIMARY KEY, sha256 TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))")
	}
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("schema: create %s: %w", s.Table, err)
		}
	}
	return nil
}

func recorded(ctx context.Context, conn *sql.Conn, s Set) (map[string]string, error) {
	rows, err := conn.QueryContext(ctx, "SELECT name, sha256 FROM "+s.Table)
	if err != nil {
		return nil, fmt.Errorf("schema: read %s: %w", s.Table, err)
	}
	defer rows.Close()
	done := map[string]string{}
	for rows.Next() {
		var name, sum string
		if err := rows.Scan(&name, &sum); err != nil {
			return nil, fmt.Errorf("schema: read %s: %w", s.Table, err)
		}
		done[name] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("schema: read %s: %w", s.Table, err)
	}
	return done, nil
}

func applyFile(ctx context.Context, conn *sql.Conn, s Set, f File) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("schema: %s/%s: begin: %w", s.Dir, f.Name, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	stmts := []string{f.SQL}
	if s.Dialect == MySQL {
		stmts = splitStatements(f.SQL)
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("schema: apply %s/%s: %w", s.Dir, f.Name, err)
		}
	}
	record := "INSERT INTO " + s.Table + " (name, sha256) VALUES (?, ?)"
	if s.Dialect == Postgres {
		record = "INSERT INTO " + s.Table + " (name, sha256) VALUES ($1, $2)"
	}
	if _, err := tx.ExecContext(ctx, record, f.Name, f.Checksum); err != nil {
		return fmt.Errorf("schema: record %s/%s: %w", s.Dir, f.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("schema: commit %s/%s: %w", s.Dir, f.Name, err)
	}
	return nil
}

// splitStatements cuts a MySQL file at each ';' that ends a line and drops
// empty and comment-only pieces.
func splitStatements(src string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		q := strings.TrimSpace(cur.String())
		cur.Reset()
		if q == "" {
			return
		}
		meaningful := false
		for _, line := range strings.Split(q, "\n") {
			l := strings.TrimSpace(line)
			if l != "" && !strings.HasPrefix(l, "--") && !strings.HasPrefix(l, "#") {
				meaningful = true
				break
			}
		}
		if meaningful {
			out = append(out, q)
		}
	}
	for _, line := range strings.SplitAfter(src, "\n") {
		trimmed := strings.TrimRight(line, " \t\r\n")
		if strings.HasSuffix(trimmed, ";") {
			cur.WriteString(strings.TrimSuffix(trimmed, ";"))
			cur.WriteString("\n")
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return out
}
