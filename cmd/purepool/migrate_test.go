package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/internal/testenv"
)

func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := Main(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// appendAndRead proves the schema works: an event goes in and comes back.
func appendAndRead(t *testing.T, s events.Store) {
	t.Helper()
	ctx := context.Background()
	ev, err := events.New(events.Namespace, events.PayoutsPaused{Network: "test", Reason: "migrate test"}, events.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.Append(ctx, s, "payouts-test", events.NoStream, ev); err != nil {
		t.Fatalf("append after migrate: %v", err)
	}
	got, err := s.ReadAll(ctx, 0, 10)
	if err != nil || len(got) != 2 || got[1].ID != ev.ID {
		t.Fatalf("read after migrate: %v, %d events", err, len(got))
	}
	// Migrate wrote the installation's id first, once however often it ran.
	if got[0].Type != events.TypePoolInstalled || got[0].Stream != events.StreamPool {
		t.Fatalf("first event %s in %s, want the PoolInstalled of migrate", got[0].Type, got[0].Stream)
	}
}

func TestMigrate_Postgres(t *testing.T) {
	url := testenv.NewPostgresDB(t)
	for i := range 2 { // the second run finds nothing to do
		if code, out, errOut := runMain(t, "migrate", "--store", url); code != 0 || !strings.Contains(out, "up to date (postgres)") {
			t.Fatalf("run %d: exit %d, stdout %q, stderr %q", i+1, code, out, errOut)
		}
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var applied int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM eventstore.schema_migrations`).Scan(&applied); err != nil {
		t.Fatalf("migrations table: %v", err)
	}
	if applied != 1 {
		t.Fatalf("%d migrations recorded, want 1 (each file once)", applied)
	}
	var dataType string
	if err := conn.QueryRow(ctx, `SELECT data_type FROM information_schema.columns
		WHERE table_schema = 'eventstore' AND table_name = 'events' AND column_name = 'data'`).Scan(&dataType); err != nil {
		t.Fatalf("events table: %v", err)
	}
	if dataType != "json" {
		t.Fatalf("eventstore.events.data is %s, want json", dataType)
	}
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendAndRead(t, s)
	// Migrating a database that holds events changes nothing.
	if code, _, errOut := runMain(t, "migrate", "--store", url); code != 0 {
		t.Fatalf("migrate with events stored: exit %d: %s", code, errOut)
	}
	if h, err := s.Head(ctx); err != nil || h != 2 {
		t.Fatalf("head after re-migrate: %d, %v", h, err)
	}
}

func TestMigrate_SQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub dir", "events.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if code, out, errOut := runMain(t, "migrate", "--store", "sqlite://"+path); code != 0 || !strings.Contains(out, "up to date (sqlite); pool id ") {
			t.Fatalf("run %d: exit %d, stdout %q, stderr %q", i+1, code, out, errOut)
		}
	}
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendAndRead(t, s)
}

func TestMigrate_BadArguments(t *testing.T) {
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"migrate"}, "--store is required"},
		{[]string{"migrate", "--store", "mysql://x"}, `unsupported store URL scheme "mysql"`},
		{[]string{"migrate", "--store", "sqlite://host/x.db"}, "invalid sqlite store URL"},
		{[]string{"migrate", "--store", "sqlite:"}, "no file path"},
		{[]string{"migrate", "--store", "sqlite:x.db", "extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := runMain(t, tt.args...)
			if code != 2 || !strings.Contains(errOut, tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errOut, tt.stderr)
			}
		})
	}
}

func TestParseEventStoreURL(t *testing.T) {
	tests := []struct{ raw, kind, location string }{
		{"postgres://u@127.0.0.1:5432/db?sslmode=disable", "postgres", "postgres://u@127.0.0.1:5432/db?sslmode=disable"},
		{"postgresql://u@h/db", "postgres", "postgresql://u@h/db"},
		{"sqlite:///var/lib/purepool/events.db", "sqlite", "/var/lib/purepool/events.db"},
		{"sqlite:data/events.db", "sqlite", "data/events.db"},
	}
	for _, tt := range tests {
		got, err := parseEventStoreURL(tt.raw)
		if err != nil || got.kind != tt.kind || got.location != tt.location {
			t.Errorf("parseEventStoreURL(%q) = %+v, %v; want %s %s", tt.raw, got, err, tt.kind, tt.location)
		}
	}
}
