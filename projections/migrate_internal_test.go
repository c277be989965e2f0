package projections

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/internal/testenv"
)

// tablesOfShape are the table descriptions as a release of that shape had
// them (the columns added later left out).
func tablesOfShape(shape int) []*table {
	out := make([]*table, len(tables))
	for i, t := range tables {
		c := *t
		c.cols = nil
		for _, col := range t.cols {
			if col.added <= shape {
				c.cols = append(c.cols, col)
			}
		}
		out[i] = &c
	}
	return out
}

// A read model written by the release before the rounds by height (shape
// 1) opens: Migrate adds the new columns, its rows read with their
// defaults, and the new events fold into it. Not parallel: it swaps the
// package's table descriptions while it creates the old shape.
func TestMigrate_AddsColumnsToAnEarlierReadModel(t *testing.T) {
	opens := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "rm.db") }},
		{"postgres", func(t *testing.T) string { return testenv.NewPostgresDB(t) }},
		{"mariadb", func(t *testing.T) string { return "mysql://" + testenv.NewMySQLDB(t) }},
	}
	for _, o := range opens {
		t.Run(o.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := OpenURL(ctx, o.url(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()

			current := tables
			tables = tablesOfShape(1)
			err = db.Migrate(ctx)
			tables = current
			if err != nil {
				t.Fatalf("create the earlier shape: %v", err)
			}
			g, err := db.activeGen(ctx, db.SQL, false)
			if err != nil {
				t.Fatal(err)
			}
			have, err := db.columnsOf(ctx, db.SQL, g, TBlocks)
			if err != nil || have["round_rule"] || !have["reversed_sat"] {
				t.Fatalf("the earlier shape: columns %v, %v", have, err)
			}
			// A block and the pool as the earlier release wrote them.
			t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			d := db.Dialect
			if _, err := db.SQL.ExecContext(ctx, d.q("INSERT INTO "+g.name(TBlocks)+" (network, hash, height, reward_sat, "+d.ident("status")+
				", discovered_at, scheme, round_shares) VALUES ('main', 'old', 7, 100, 'matured', ?, 'PROP', 3)"), d.arg(kTime, t0)); err != nil {
				t.Fatal(err)
			}
			if _, err := db.SQL.ExecContext(ctx, d.q("INSERT INTO "+g.name(TPool)+" (network, blocks_found, fee_sat) VALUES ('main', 1, 1)")); err != nil {
				t.Fatal(err)
			}

			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("migrate the earlier shape: %v", err)
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("a second migrate must be a no-op: %v", err)
			}
			have, err = db.columnsOf(ctx, db.SQL, g, TBlocks)
			if err != nil || !have["round_rule"] || !have["fee_set"] {
				t.Fatalf("after migrate: columns %v, %v", have, err)
			}
			r := NewReader(db.SQL, db.Dialect)
			b, err := r.Block(ctx, "main", "old")
			if err != nil || b.Height != 7 || b.RoundShares != 3 || b.RoundRule != "" || b.RoundOpen() || b.FeeKnown {
				t.Fatalf("the earlier block: %+v, %v", b, err)
			}
			if p, err := r.Pool(ctx, "main"); err != nil || p.BlocksFound != 1 || p.PolicyKnown() {
				t.Fatalf("the earlier pool: %+v, %v", p, err)
			}
			// New events fold into the migrated tables.
			var envs []events.Envelope
			for i, e := range []events.Event{
				events.PoolPolicySet{Network: "main", FeeBps: 100, Scheme: events.SchemePROP, At: t0},
				events.BlockDiscovered{Network: "main", Hash: "new", Height: 9, RewardSat: 100, RoundRule: events.RoundRuleHeight, At: t0},
			} {
				ne, err := events.New(uuid.New(), e, events.Metadata{})
				if err != nil {
					t.Fatal(err)
				}
				envs = append(envs, events.Envelope{ID: ne.ID, Position: uint64(i + 1), Stream: "s", Type: ne.Type, SchemaVersion: ne.SchemaVersion, Data: ne.Data})
			}
			if _, err := db.ApplyBatch(ctx, 0, envs); err != nil {
				t.Fatal(err)
			}
			if b, err := r.Block(ctx, "main", "new"); err != nil || !b.RoundOpen() {
				t.Fatalf("a new block in the migrated read model: %+v, %v", b, err)
			}
			if p, err := r.Pool(ctx, "main"); err != nil || p.FeeBps != 100 || !p.PolicyKnown() || p.BlocksFound != 2 {
				t.Fatalf("the migrated pool: %+v, %v", p, err)
			}
		})
	}
}
