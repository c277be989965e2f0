package projections

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/events"
)

// A read model of shape 4 (no miners.directory_pos) holding a disabled
// miner and one with a target opens with shape 5: the frontend's first
// read of the directory finds both, and a later change is found by
// polling from the position that read returned, once. Not parallel: it
// swaps the package's table descriptions.
func TestMigrate_MinerDirectoryOnAShape4ReadModel(t *testing.T) {
	for _, o := range migrateOpens {
		t.Run(o.name, func(t *testing.T) {
			ctx := context.Background()
			db := openShape(t, o.url(t), 4)
			g, err := db.activeGen(ctx, db.SQL, false)
			if err != nil {
				t.Fatal(err)
			}
			if have, err := db.columnsOf(ctx, db.SQL, g, TMiners); err != nil || have["directory_pos"] || !have["last_share_at"] {
				t.Fatalf("shape 4 miners: %v, %v", have, err)
			}
			d := db.Dialect
			disabled, targeted, plain := uuid.New(), uuid.New(), uuid.New()
			const target = "00000fffff000000000000000000000000000000000000000000000000000000"
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{"INSERT INTO " + g.name(TMiners) + " (network, miner_id, address, state, state_reason) VALUES ('test', ?, 'yA', 'disabled', 'abuse')", []any{d.Arg(disabled)}},
				{"INSERT INTO " + g.name(TMiners) + " (network, miner_id, address, target) VALUES ('test', ?, 'yB', ?)", []any{d.Arg(targeted), target}},
				{"INSERT INTO " + g.name(TMiners) + " (network, miner_id, address, shares) VALUES ('test', ?, 'yC', 3)", []any{d.Arg(plain)}},
			} {
				if _, err := db.SQL.ExecContext(ctx, d.q(q.sql), q.args...); err != nil {
					t.Fatalf("%s: %v", q.sql, err)
				}
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("migrate shape 4: %v", err)
			}
			r := NewReader(db.SQL, db.Dialect)
			all, pos, err := r.MinerDirectory(ctx, -1)
			if err != nil {
				t.Fatal(err)
			}
			got := map[uuid.UUID]DirectoryEntry{}
			for _, e := range all {
				got[e.MinerID] = e
			}
			if len(all) != 2 || got[disabled].Enabled || got[disabled].Address != "yA" || got[targeted].Target != target ||
				!got[targeted].Enabled || pos != 0 {
				t.Fatalf("first read: %+v at %d, want the disabled and the targeted miner at 0", all, pos)
			}
			if again, p, err := r.MinerDirectory(ctx, pos); err != nil || len(again) != 0 || p != pos {
				t.Fatalf("nothing changed, read %+v at %d (%v)", again, p, err)
			}
			// Changes after the migration: the disabled miner enabled, a
			// new target for the other; the plain miner gets shares only.
			if _, err := db.ApplyBatch(ctx, 0, testEnvelopes(t, 2,
				events.MinerEnabled{Network: "test", MinerID: disabled},
				events.SolutionRejected{Network: "test", MinerID: plain, Address: "yC", Worker: "w", Reason: "low", At: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
				events.MinerTargetChanged{Network: "test", MinerID: targeted, Target: target[:63] + "1"},
			)); err != nil {
				t.Fatal(err)
			}
			changed, p, err := r.MinerDirectory(ctx, pos)
			if err != nil || len(changed) != 2 || p != 4 {
				t.Fatalf("changes since %d: %+v at %d (%v), want two at 4", pos, changed, p, err)
			}
			for _, e := range changed {
				switch e.MinerID {
				case disabled:
					if !e.Enabled || e.Position != 2 {
						t.Errorf("enabled miner: %+v", e)
					}
				case targeted:
					if e.Target != target[:63]+"1" || e.Position != 4 {
						t.Errorf("new target: %+v", e)
					}
				default:
					t.Errorf("unchanged miner read: %+v", e)
				}
			}
			if again, p2, err := r.MinerDirectory(ctx, p); err != nil || len(again) != 0 || p2 != p {
				t.Fatalf("read twice: %+v at %d (%v)", again, p2, err)
			}
		})
	}
}
