package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx": the tests tamper with plain SQL
	_ "modernc.org/sqlite"             // "sqlite": the tests tamper with plain SQL

	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/esdb"
	"github.com/purepool/purepool/events/esdb/esdbfake"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/internal/testenv"
)

// chainTamper runs plain SQL against an event table behind the store's back.
type chainTamper struct {
	db    *sql.DB
	pg    bool
	table string
}

func (c chainTamper) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	query = strings.ReplaceAll(query, "events", c.table)
	if c.pg {
		for i := 1; strings.Contains(query, "?"); i++ {
			query = strings.Replace(query, "?", fmt.Sprintf("$%d", i), 1)
		}
		query = strings.ReplaceAll(query, "x''", `'\x'::bytea`)
	}
	if _, err := c.db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func (c chainTamper) lastPayoutStream(t *testing.T) string {
	t.Helper()
	var stream string
	q := strings.ReplaceAll("SELECT stream FROM events WHERE type = 'PayoutSent' ORDER BY position DESC LIMIT 1", "events", c.table)
	if err := c.db.QueryRow(q).Scan(&stream); err != nil {
		t.Fatal(err)
	}
	return stream
}

// The tamper cases of issue 14 that used to switch the chain check off:
// every one must make `purepool audit` exit 1, on SQLite and PostgreSQL.
func TestAuditCommandBlankedChain(t *testing.T) {
	ctx := context.Background()
	h := ledgergen.Generate(ledgergen.Config{Network: "test", Seed: 63, ChainBlocks: 100})
	opens := map[string]func(t *testing.T) (string, chainTamper){
		"sqlite": func(t *testing.T) (string, chainTamper) {
			path := filepath.Join(t.TempDir(), "events.db")
			s, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := h.AppendTo(ctx, s, 500); err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite", sqlite.DSN(path))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return "sqlite:" + path, chainTamper{db: db, table: "events"}
		},
		"postgres": func(t *testing.T) (string, chainTamper) {
			url := testenv.NewPostgresDB(t)
			s, err := postgres.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := h.AppendTo(ctx, s, 500); err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("pgx", url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return url, chainTamper{db: db, pg: true, table: "eventstore.events"}
		},
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, c chainTamper)
	}{
		{"blank every hash", func(t *testing.T, c chainTamper) {
			c.exec(t, "UPDATE events SET prev_hash = x'', hash = x''")
		}},
		{"blank one row's hash", func(t *testing.T, c chainTamper) {
			c.exec(t, "UPDATE events SET hash = x'' WHERE position = ?", 100)
		}},
		{"delete the last payout, renumber, blank every hash", func(t *testing.T, c chainTamper) {
			c.exec(t, "DELETE FROM events WHERE stream = ?", c.lastPayoutStream(t))
			c.exec(t, "UPDATE events SET position = position + 10000000")
			c.exec(t, `UPDATE events SET position = r.rn FROM
				(SELECT position AS p, row_number() OVER (ORDER BY position) AS rn FROM events) AS r WHERE events.position = r.p`)
			c.exec(t, "UPDATE events SET prev_hash = x'', hash = x''")
		}},
	}
	for _, storeName := range []string{"sqlite", "postgres"} {
		for _, c := range cases {
			t.Run(storeName+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				url, db := opens[storeName](t)
				if code, out, errOut := runAuditMain(t, "audit", "--store", url, "--quiet"); code != 0 {
					t.Fatalf("before tampering: exit %d\n%s\n%s", code, out, errOut)
				}
				c.tamper(t, db)
				code, out, errOut := runAuditMain(t, "audit", "--store", url, "--quiet")
				if code != 1 || !strings.Contains(out, "chain_missing at position") || !strings.Contains(out, "hash chain: BROKEN") ||
					strings.Contains(out, "violations: none") || strings.Contains(out+errOut, "not kept") {
					t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
				}
			})
		}
	}
}

// EventStoreDB keeps no chain: the audit checks the ledger, exits 0 when
// it holds, and says plainly, in the report and on stderr, that tampering
// would not show; --require-chain makes that exit 1.
func TestAuditCommandEventStoreDB(t *testing.T) {
	ctx := context.Background()
	fake, err := esdbfake.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Stop)
	s, err := esdb.Open(fake.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The miners and their shares, one event per append (EventStoreDB
	// cannot write several streams atomically).
	h := ledgergen.Generate(ledgergen.Config{Network: "test", Seed: 64, ChainBlocks: 20})
	n := 0
	for _, e := range h.Envelopes {
		if e.Type == events.TypeBlockDiscovered {
			break
		}
		if _, err := events.Append(ctx, s, e.Stream, events.Any, events.NewEvent{ID: e.ID, Type: e.Type, SchemaVersion: e.SchemaVersion,
			Data: e.Data, Metadata: e.Metadata}); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n < 10 {
		t.Fatalf("only %d events before the first block", n)
	}
	const warning = "hash chain: not kept by EventStoreDB — tampering is not detectable from the log alone"
	for _, c := range []struct {
		args    []string
		code    int
		outWant []string
	}{
		{nil, 0, []string{"WARNING: " + warning, "violations: none\nWARNING: the ledger's invariants hold, but EventStoreDB keeps no hash chain"}},
		{[]string{"--format", "json"}, 0, []string{`"chain_kept": false`, `"chain_warning": "` + warning + `"`, `"store": "EventStoreDB"`}},
		{[]string{"--require-chain"}, 1, []string{"chain_not_kept", warning}},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, out, errOut := runAuditMain(t, append([]string{"audit", "--store", fake.URL(), "--quiet"}, c.args...)...)
			if code != c.code || !strings.Contains(errOut, "purepool audit: WARNING: "+warning) {
				t.Fatalf("exit %d (want %d)\n%s\nstderr: %s", code, c.code, out, errOut)
			}
			for _, w := range c.outWant {
				if !strings.Contains(out, w) {
					t.Errorf("report lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestAuditHelpDocumentsExitStatus(t *testing.T) {
	code, _, errOut := runAuditMain(t, "audit", "-h")
	for _, w := range []string{"Exit status:", "0  clean: no violation, or known findings only. With EventStoreDB", "--require-chain",
		"1  at least one violation", "2  the audit could not run", "debt_after_orphan", "old_release_empty_round", "docs/operations.md §5.5"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("help lacks %q (exit %d):\n%s", w, code, errOut)
		}
	}
}
