package anchortest

import (
	"context"
	"database/sql"
	"testing"

	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/events/sqlite"
)

// Opened is a migrated event store and plain SQL on its table, for a test
// that tampers behind the store's back.
type Opened struct {
	Store  events.Store
	Tamper Tamper
	URL    string // as purepool's --store takes it
}

// OpenPostgres opens and migrates the PostgreSQL event store at url.
func OpenPostgres(t testing.TB, url string) Opened {
	t.Helper()
	ctx := context.Background()
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return Opened{s, Tamper{DB: db, PG: true, Table: "eventstore.events"}, url}
}

// OpenSQLite opens and migrates the SQLite event store at path.
func OpenSQLite(t testing.TB, path string) Opened {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", sqlite.DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return Opened{s, Tamper{DB: db, Table: "events"}, "sqlite:" + path}
}
