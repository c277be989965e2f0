package http_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
	pphttp "github.com/purepool/purepool/http"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/projections"
)

// TestReadModelMiners projects miner events into a real read model
// (SQLite and PostgreSQL) and reads them back through the directory.
func TestReadModelMiners(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "rm.db") }},
		{"postgres", func(t *testing.T) string { return testenv.NewPostgresDB(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := projections.OpenURL(ctx, tc.url(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			target := biblepay.TargetForDifficulty(1 << 22)
			disabledAddr := biblepay.Networks["main"].Address([20]byte{0xdd})
			mainID := events.MinerID("main", mainMiner)
			disabledID := events.MinerID("main", disabledAddr)
			evs := []struct {
				stream string
				e      events.Event
			}{
				{events.StreamMiner(mainID), events.MinerRegistered{Network: "main", MinerID: mainID, Address: mainMiner, At: at}},
				{events.StreamMiner(mainID), events.MinerTargetChanged{Network: "main", MinerID: mainID, Target: target, Reason: "vardiff", At: at}},
				{events.StreamMiner(disabledID), events.MinerRegistered{Network: "main", MinerID: disabledID, Address: disabledAddr, At: at}},
				{events.StreamMiner(disabledID), events.MinerDisabled{Network: "main", MinerID: disabledID, Reason: "abuse", At: at}},
			}
			var envs []events.Envelope
			versions := map[string]int64{}
			for i, x := range evs {
				ne, err := events.New(uuid.New(), x.e, events.Metadata{})
				if err != nil {
					t.Fatal(err)
				}
				envs = append(envs, events.Envelope{ID: ne.ID, Stream: x.stream, Version: versions[x.stream], Position: uint64(i + 1),
					Type: ne.Type, SchemaVersion: ne.SchemaVersion, RecordedAt: at, Data: ne.Data, Metadata: ne.Metadata})
				versions[x.stream]++
			}
			if _, err := db.ApplyBatch(ctx, 0, envs); err != nil {
				t.Fatal(err)
			}
			dir := pphttp.ReadModelMiners{Reader: projections.NewReader(db.SQL, db.Dialect)}
			for _, c := range []struct {
				network, address string
				want             pphttp.Miner
				found            bool
			}{
				{"main", mainMiner, pphttp.Miner{Target: target}, true},
				{"main", disabledAddr, pphttp.Miner{Disabled: true}, true},
				{"test", mainMiner, pphttp.Miner{}, false},
				{"main", biblepay.Networks["main"].Address([20]byte{0xee}), pphttp.Miner{}, false},
			} {
				m, found, err := dir.Miner(ctx, c.network, c.address)
				if err != nil || found != c.found || m != c.want {
					t.Errorf("%s %s: %+v found=%v err=%v, want %+v found=%v", c.network, c.address, m, found, err, c.want, c.found)
				}
			}
			// And end to end: the disabled miner is refused, the other one
			// gets its target.
			f := newFixtureWith(t, dir)
			if a := post(t, f.addr, readyToMine(disabledAddr, "main")); a.Error != "Miner "+disabledAddr+" is disabled" {
				t.Errorf("disabled miner answered %q", a.Raw)
			}
			if w := mustWork(t, post(t, f.addr, readyToMine(mainMiner, "main"))); w.Target != target {
				t.Errorf("HASHTARGET %s, want %s", w.Target, target)
			}
		})
	}
}
