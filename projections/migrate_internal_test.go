package projections

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/internal/testenv"
)

// tablesOfShape are the table descriptions as a release of that shape had
// them (the tables and columns added later left out).
func tablesOfShape(shape int) []*table {
	var out []*table
	for _, t := range tables {
		if t.added > shape {
			continue
		}
		c := *t
		c.cols = nil
		for _, col := range t.cols {
			if col.added <= shape {
				c.cols = append(c.cols, col)
			}
		}
		out = append(out, &c)
	}
	return out
}

// openShape opens a fresh read model of an earlier shape.
func openShape(t *testing.T, url string, shape int) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := OpenURL(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	current := tables
	tables = tablesOfShape(shape)
	err = db.Migrate(ctx)
	tables = current
	if err != nil {
		t.Fatalf("create shape %d: %v", shape, err)
	}
	return db
}

var migrateOpens = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "rm.db") }},
	{"postgres", func(t *testing.T) string { return testenv.NewPostgresDB(t) }},
	{"mariadb", func(t *testing.T) string { return "mysql://" + testenv.NewMySQLDB(t) }},
}

func testEnvelopes(t *testing.T, first uint64, evs ...events.Event) []events.Envelope {
	t.Helper()
	var envs []events.Envelope
	for i, e := range evs {
		ne, err := events.New(uuid.New(), e, events.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, events.Envelope{ID: ne.ID, Position: first + uint64(i), Stream: "s", Type: ne.Type, SchemaVersion: ne.SchemaVersion, Data: ne.Data})
	}
	return envs
}

// A read model written by the release before signed payouts (shape 2)
// opens: Migrate adds the payout columns and the tables of shape 3, its
// payouts read as before (no transactions, no anchor, no on-chain
// amounts), and the new events fold into it: a correction of a payout it
// holds returns the amounts from its stored items, a confirmation keeps
// the stored txid, and signed payouts, the anchor and the pool id appear.
// Not parallel: it swaps the package's table descriptions.
func TestMigrate_SignedPayoutsOnAShape2ReadModel(t *testing.T) {
	for _, o := range migrateOpens {
		t.Run(o.name, func(t *testing.T) {
			ctx := context.Background()
			db := openShape(t, o.url(t), 2)
			g, err := db.activeGen(ctx, db.SQL, false)
			if err != nil {
				t.Fatal(err)
			}
			if have, err := db.columnsOf(ctx, db.SQL, g, TPayouts); err != nil || have["tx_set"] || !have["halted_at"] {
				t.Fatalf("shape 2 payouts: %v, %v", have, err)
			}
			if have, err := db.columnsOf(ctx, db.SQL, g, TPayoutTxs); err != nil || len(have) != 0 {
				t.Fatalf("shape 2 has no %s: %v, %v", TPayoutTxs, have, err)
			}
			// Two sent payouts, their items, the miner and the pool as the
			// earlier release wrote them.
			t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			d := db.Dialect
			miner, old, old2 := uuid.New(), uuid.New(), uuid.New()
			const addr = "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci"
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{"INSERT INTO " + g.name(TPayouts) + " (network, payout_id, " + d.ident("status") + ", total_sat, items, txid, fee_sat, planned_at, sent_at) VALUES ('test', ?, 'sent', 700, 1, ?, 5, ?, ?)",
					[]any{d.Arg(old), hex64("0"), d.arg(kTime, t0), d.arg(kTime, t0)}},
				{"INSERT INTO " + g.name(TPayouts) + " (network, payout_id, " + d.ident("status") + ", total_sat, items, txid, fee_sat, planned_at, sent_at) VALUES ('test', ?, 'sent', 300, 1, ?, 5, ?, ?)",
					[]any{d.Arg(old2), hex64("9"), d.arg(kTime, t0), d.arg(kTime, t0)}},
				{"INSERT INTO " + g.name(TPayoutItems) + " (payout_id, miner_id, network, address, amount_sat) VALUES (?, ?, 'test', ?, 700)", []any{d.Arg(old), d.Arg(miner), addr}},
				{"INSERT INTO " + g.name(TPayoutItems) + " (payout_id, miner_id, network, address, amount_sat) VALUES (?, ?, 'test', ?, 300)", []any{d.Arg(old2), d.Arg(miner), addr}},
				{"INSERT INTO " + g.name(TMiners) + " (network, miner_id, address, credited_sat, paid_sat, balance_sat) VALUES ('test', ?, ?, 5000, 1000, 4000)", []any{d.Arg(miner), addr}},
				{"INSERT INTO " + g.name(TPool) + " (network, credited_sat, paid_sat, payouts) VALUES ('test', 5000, 1000, 2)", nil},
			} {
				if _, err := db.SQL.ExecContext(ctx, d.q(q.sql), q.args...); err != nil {
					t.Fatalf("%s: %v", q.sql, err)
				}
			}

			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("migrate shape 2: %v", err)
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("a second migrate must be a no-op: %v", err)
			}
			for _, tb := range []string{TPayoutTxs, TPayoutSends, TInstallation} {
				if have, err := db.columnsOf(ctx, db.SQL, g, tb); err != nil || len(have) == 0 {
					t.Fatalf("after migrate, %s: %v, %v", tb, have, err)
				}
			}
			r := NewReader(db.SQL, db.Dialect)
			p, err := r.Payout(ctx, "test", old)
			if err != nil || p.Status != "sent" || p.TxID != hex64("0") || p.FeeSat != 5 || p.Anchor != nil || p.Attempts != 0 ||
				len(p.Transactions) != 0 || len(p.Items) != 1 || p.Items[0].AmountSat != 700 || p.Items[0].SentSat != 0 {
				t.Fatalf("the earlier payout: %+v, %v", p, err)
			}
			if pool, err := r.Pool(ctx, "test"); err != nil || pool.PoolID != uuid.Nil || pool.PaidSat != 1000 {
				t.Fatalf("the earlier pool: %+v, %v", pool, err)
			}
			if _, found, err := r.LatestAnchor(ctx, "test"); found || err != nil {
				t.Fatalf("no anchor yet: %v, %v", found, err)
			}

			pool := uuid.New()
			neu := uuid.New()
			item := []events.PayoutItem{{MinerID: miner, Address: addr, AmountSat: 2000}}
			send := []events.PayoutItem{{MinerID: miner, Address: addr, AmountSat: 1990}}
			envs := testEnvelopes(t, 1,
				events.PoolInstalled{PoolID: pool, At: t0.Add(time.Hour)},
				events.PayoutConfirmed{Network: "test", PayoutID: old2, TxID: hex64("9"), Confirmations: 6, At: t0.Add(time.Hour)},
				events.PayoutCorrected{Network: "test", PayoutID: old, TxID: hex64("0"), Reason: "wrong reconcile", At: t0.Add(2 * time.Hour)},
				events.PayoutPlanned{Network: "test", PayoutID: neu, Items: item, TotalSat: 2000, PoolID: pool,
					Anchor: &events.LogAnchor{Size: 4, Root: hex64("a"), Hash: hex64("b")}, At: t0.Add(3 * time.Hour)},
				events.PayoutSigned{Network: "test", PayoutID: neu, TxID: hex64("5"), Hex: "01", Inputs: []events.OutPoint{{TxID: hex64("6")}},
					FeeSat: 10, Sends: send, Attempt: 1, At: t0.Add(3 * time.Hour)},
				events.PayoutSent{Network: "test", PayoutID: neu, TxID: hex64("5"), FeeSat: 10, At: t0.Add(4 * time.Hour)},
			)
			for i := range envs { // one batch each: the merges with the migrated rows
				if _, err := db.ApplyBatch(ctx, uint64(i), envs[i:i+1]); err != nil {
					t.Fatal(err)
				}
			}
			if p, err := r.Payout(ctx, "test", old2); err != nil || p.Status != "confirmed" || p.TxID != hex64("9") || p.FeeSat != 5 {
				t.Fatalf("the earlier payout, confirmed: %+v, %v", p, err)
			}
			if p, err := r.Payout(ctx, "test", old); err != nil || p.Status != "corrected" || p.TxID != hex64("0") || p.FeeSat != 5 || !strings.Contains(p.Reason, "wrong reconcile") {
				t.Fatalf("the earlier payout, corrected: %+v, %v", p, err)
			}
			if m, err := r.Miner(ctx, "test", addr); err != nil || m.PaidSat != 1000-700+2000 || m.BalanceSat != 4000+700-2000 {
				t.Fatalf("the miner after the correction: %+v, %v", m, err)
			}
			if p, err := r.Payout(ctx, "test", neu); err != nil || p.Status != "sent" || p.TxID != hex64("5") || p.FeeSat != 10 || p.Attempts != 1 ||
				len(p.Transactions) != 1 || len(p.Items) != 1 || p.Items[0].SentSat != 1990 || p.PoolID != pool {
				t.Fatalf("a signed payout in the migrated read model: %+v, %v", p, err)
			}
			if pl, err := r.Pool(ctx, "test"); err != nil || pl.PoolID != pool || pl.PaidSat != 1000-700+2000 {
				t.Fatalf("the migrated pool: %+v, %v", pl, err)
			}
			if a, found, err := r.LatestAnchor(ctx, "test"); err != nil || !found || a.Size != 4 || a.TxID != hex64("5") || a.PayoutID != neu {
				t.Fatalf("the latest anchor: %+v, %v, %v", a, found, err)
			}
		})
	}
}

func hex64(c string) string { return strings.Repeat(c, 64) }

// A read model written by the release before the rounds by height (shape
// 1) opens: Migrate adds the new columns, its rows read with their
// defaults, and the new events fold into it. Not parallel: it swaps the
// package's table descriptions while it creates the old shape.
func TestMigrate_AddsColumnsToAnEarlierReadModel(t *testing.T) {
	for _, o := range migrateOpens {
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
