package http_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
	pphttp "github.com/purepool/purepool/http"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/projections"
)

// projector applies events to a read model as the projector does, one
// batch at a time, with increasing positions.
type projector struct {
	db       *projections.DB
	pos      uint64
	versions map[string]int64
}

func (p *projector) apply(t *testing.T, evs ...events.Event) {
	t.Helper()
	var envs []events.Envelope
	for _, e := range evs {
		ne, err := events.New(uuid.New(), e, events.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		p.pos++
		envs = append(envs, events.Envelope{ID: ne.ID, Stream: "s", Version: p.versions["s"], Position: p.pos,
			Type: ne.Type, SchemaVersion: ne.SchemaVersion, RecordedAt: time.Now().UTC(), Data: ne.Data})
		p.versions["s"]++
	}
	if _, err := p.db.ApplyBatch(context.Background(), p.pos-uint64(len(evs)), envs); err != nil {
		t.Fatal(err)
	}
}

// TestDirectory checks that the in-memory directory answers every miner
// exactly as the read model does (ReadModelMiners, a query per request),
// after its first read and after reads of the changes since, on SQLite,
// PostgreSQL and MariaDB: targets, disabled and enabled miners, miners
// the pool never saw, miners registered after the first read.
func TestDirectory(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "rm.db") }},
		{"postgres", func(t *testing.T) string { return testenv.NewPostgresDB(t) }},
		{"mariadb", func(t *testing.T) string { return "mysql://" + testenv.NewMySQLDB(t) }},
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
			reader := projections.NewReader(db.SQL, db.Dialect)
			p := &projector{db: db, versions: map[string]int64{}}
			addr := func(b byte) string { return biblepay.Networks["main"].Address([20]byte{0xd0, b}) }
			id := func(b byte) uuid.UUID { return events.MinerID("main", addr(b)) }
			t1, t2 := biblepay.TargetForDifficulty(1<<22), biblepay.TargetForDifficulty(1<<23)
			p.apply(t,
				events.MinerRegistered{Network: "main", MinerID: id(1), Address: addr(1)},
				events.MinerTargetChanged{Network: "main", MinerID: id(1), Target: t1},
				events.MinerRegistered{Network: "main", MinerID: id(2), Address: addr(2)},
				events.MinerDisabled{Network: "main", MinerID: id(2), Reason: "abuse"},
				events.MinerRegistered{Network: "main", MinerID: id(3), Address: addr(3)}, // nothing of its own
			)
			dir := pphttp.NewDirectory(reader, pphttp.DirectoryConfig{Networks: []string{"main"}, Poll: time.Hour, MaxStale: time.Hour})
			same := func(when string) {
				t.Helper()
				for _, c := range []struct{ network, address string }{
					{"main", addr(1)}, {"main", addr(2)}, {"main", addr(3)}, {"main", addr(4)}, {"main", addr(5)},
					{"test", addr(1)}, // the same address on another network: another miner
				} {
					want, wantFound, err := pphttp.ReadModelMiners{Reader: reader}.Miner(ctx, c.network, c.address)
					if err != nil {
						t.Fatal(err)
					}
					got, found, err := dir.Miner(ctx, c.network, c.address)
					if err != nil {
						t.Fatalf("%s: %s %s: %v", when, c.network, c.address, err)
					}
					// What the handler hands out: found without a target
					// and enabled is handled as not found.
					if got != want || (found && !wantFound) {
						t.Errorf("%s: %s %s: %+v found=%v, the read model says %+v found=%v", when, c.network, c.address, got, found, want, wantFound)
					}
				}
			}
			same("first read")

			// Changes: a new target, the disabled miner enabled, the plain
			// one disabled, a miner registered since with a target.
			p.apply(t,
				events.MinerTargetChanged{Network: "main", MinerID: id(1), Target: t2},
				events.MinerEnabled{Network: "main", MinerID: id(2)},
				events.MinerDisabled{Network: "main", MinerID: id(3), Reason: "abuse"},
				events.MinerRegistered{Network: "main", MinerID: id(4), Address: addr(4)},
				events.MinerTargetChanged{Network: "main", MinerID: id(4), Target: t1},
			)
			if err := dir.ReadNow(ctx); err != nil {
				t.Fatal(err)
			}
			same("after a read of the changes")
			if m, _, _ := dir.Miner(ctx, "main", addr(3)); !m.Disabled {
				t.Errorf("miner 3 not disabled: %+v", m)
			}

			// End to end: the disabled miner is refused, the others get
			// their target or the default.
			f := newFixtureWith(t, dir)
			if a := post(t, f.addr, readyToMine(addr(3), "main")); a.Error != "Miner "+addr(3)+" is disabled" {
				t.Errorf("disabled miner answered %q", a.Raw)
			}
			if w := mustWork(t, post(t, f.addr, readyToMine(addr(1), "main"))); w.Target != t2 {
				t.Errorf("HASHTARGET %s, want %s", w.Target, t2)
			}
			if w := mustWork(t, post(t, f.addr, readyToMine(addr(5), "main"))); w.Target != biblepay.DefaultTarget {
				t.Errorf("a new miner's HASHTARGET %s, want the default %s", w.Target, biblepay.DefaultTarget)
			}
		})
	}
}

// TestDirectoryChainTip: the chain tips are held like the miners, with
// ChainFreshness's rule: healthy before the first block, and while the
// newest block is younger than MaxAge.
func TestDirectoryChainTip(t *testing.T) {
	ctx := context.Background()
	db, err := projections.OpenURL(ctx, "sqlite:"+filepath.Join(t.TempDir(), "rm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	p := &projector{db: db, versions: map[string]int64{}}
	block := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	now := block.Add(time.Minute)
	dir := pphttp.NewDirectory(projections.NewReader(db.SQL, db.Dialect), pphttp.DirectoryConfig{
		Networks: []string{"main"}, Poll: time.Hour, MaxStale: time.Hour,
		MaxAge: func(string) time.Duration { return 10 * time.Minute }, Now: func() time.Time { return now },
	})
	if err := dir.CanTakeWork(ctx, "main"); err != nil {
		t.Fatalf("before the first block: %v", err)
	}
	p.apply(t, events.ChainBlockRecorded{Network: "main", Height: 7, Hash: strings.Repeat("7", 64), Time: block},
		events.ChainBlockRecorded{Network: "test", Height: 9, Hash: strings.Repeat("9", 64), Time: block.Add(-time.Hour)})
	if err := dir.ReadNow(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		network string
		now     time.Time
		stale   bool
	}{
		{"main", block.Add(time.Minute), false},
		{"main", block.Add(11 * time.Minute), true},
		{"test", block.Add(time.Minute), true}, // not configured: read when first asked about
		{"regtest", block, false},              // no block yet
	} {
		now = c.now
		err := dir.CanTakeWork(ctx, c.network)
		if c.stale != errors.Is(err, pphttp.ErrChainStale) || (!c.stale && err != nil) {
			t.Errorf("%s at %s: %v, want stale=%v", c.network, c.now, err, c.stale)
		}
	}
}

// TestDirectoryReadModelDown: a copy older than MaxStale is not used; when
// the read model does not answer, the frontend answers HEALTH_DOWN, as it
// did when it read the read model on every request.
func TestDirectoryReadModelDown(t *testing.T) {
	ctx := context.Background()
	db, err := projections.OpenURL(ctx, "sqlite:"+filepath.Join(t.TempDir(), "rm.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// Every copy is too old at once: each request reads (the per-request
	// behaviour of before, the worst case of the cache).
	dir := pphttp.NewDirectory(projections.NewReader(db.SQL, db.Dialect), pphttp.DirectoryConfig{
		Networks: []string{"main"}, Poll: time.Nanosecond, MaxStale: time.Nanosecond})
	f := newFixtureWith(t, dir)
	mustWork(t, post(t, f.addr, readyToMine(mainMiner, "main")))
	db.Close()
	if _, _, err := dir.Miner(ctx, "main", mainMiner); !errors.Is(err, pphttp.ErrDirectoryStale) {
		t.Fatalf("read model closed: %v, want ErrDirectoryStale", err)
	}
	if a := post(t, f.addr, readyToMine(mainMiner, "main")); a.Error != pphttp.MsgHealthDown {
		t.Errorf("read model closed: answered %q, want %s", a.Raw, pphttp.MsgHealthDown)
	}
}

// TestDirectoryPolledByServer: a miner disabled in the read model after
// the directory's first read is refused once a later read (the poll the
// server runs, or a request's background read) found the change.
func TestDirectoryPolledByServer(t *testing.T) {
	ctx := context.Background()
	db, err := projections.OpenURL(ctx, "sqlite:"+filepath.Join(t.TempDir(), "rm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dir := pphttp.NewDirectory(projections.NewReader(db.SQL, db.Dialect), pphttp.DirectoryConfig{
		Networks: []string{"main"}, Poll: 10 * time.Millisecond, MaxStale: time.Hour})
	f := newFixtureWith(t, dir)
	mustWork(t, post(t, f.addr, readyToMine(mainMiner, "main")))
	p := &projector{db: db, versions: map[string]int64{}}
	id := events.MinerID("main", mainMiner)
	p.apply(t, events.MinerRegistered{Network: "main", MinerID: id, Address: mainMiner},
		events.MinerDisabled{Network: "main", MinerID: id, Reason: "abuse"})
	// Eventually (the poll), not at a given time: no timed assertion.
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, _, err := dir.Miner(ctx, "main", mainMiner)
		if err != nil {
			t.Fatal(err)
		}
		if m.Disabled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server's poll never read the disabled miner")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if a := post(t, f.addr, readyToMine(mainMiner, "main")); a.Error != "Miner "+mainMiner+" is disabled" {
		t.Errorf("disabled miner answered %q", a.Raw)
	}
}
