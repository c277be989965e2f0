package http_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/events"
	pphttp "github.com/purepool/purepool/http"
	"github.com/purepool/purepool/projections"
)

// TestChainFreshness: a network whose newest recorded block is too old
// cannot take work (wallets get HEALTH_DOWN and mine solo); a network
// without any recorded block yet, or with a fresh one, can.
func TestChainFreshness(t *testing.T) {
	ctx := context.Background()
	db, err := projections.OpenURL(ctx, "sqlite:"+filepath.Join(t.TempDir(), "rm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	blockAt := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var envs []events.Envelope
	for i, h := range []int64{100, 101} {
		ne, err := events.New(uuid.New(), events.ChainBlockRecorded{Network: "main", Height: h, Hash: "h", Time: blockAt.Add(time.Duration(i-1) * time.Hour)}, events.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, events.Envelope{ID: ne.ID, Stream: events.StreamChain("main"), Version: int64(i), Position: uint64(i + 1),
			Type: ne.Type, SchemaVersion: ne.SchemaVersion, RecordedAt: blockAt, Data: ne.Data})
	}
	if _, err := db.ApplyBatch(ctx, 0, envs); err != nil {
		t.Fatal(err)
	}
	reader := projections.NewReader(db.SQL, db.Dialect)
	for _, tc := range []struct {
		name    string
		network string
		now     time.Time
		stale   bool
	}{
		{"fresh tip", "main", blockAt.Add(30 * time.Minute), false},
		{"tip just within 15 spacings", "main", blockAt.Add(105 * time.Minute), false},
		{"stale tip", "main", blockAt.Add(106 * time.Minute), true},
		{"no block recorded yet", "test", blockAt.Add(100 * time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := pphttp.ChainFreshness{Reader: reader, MaxAge: pphttp.StaleAfter, Now: func() time.Time { return tc.now }}
			err := c.CanTakeWork(ctx, tc.network)
			if got := errors.Is(err, pphttp.ErrChainStale); got != tc.stale || (!tc.stale && err != nil) {
				t.Fatalf("CanTakeWork = %v, want stale=%v", err, tc.stale)
			}
		})
	}

	// The tip is read once per TipCache, not per wallet request: a block
	// recorded meanwhile shows once the cache has run out.
	now := blockAt.Add(106 * time.Minute)
	cached := &pphttp.ChainFreshness{Reader: reader, MaxAge: pphttp.StaleAfter, Now: func() time.Time { return now }, TipCache: time.Hour}
	uncached := &pphttp.ChainFreshness{Reader: reader, MaxAge: pphttp.StaleAfter, Now: func() time.Time { return now }, TipCache: -1}
	for _, c := range []*pphttp.ChainFreshness{cached, uncached} {
		if err := c.CanTakeWork(ctx, "main"); !errors.Is(err, pphttp.ErrChainStale) {
			t.Fatalf("stale tip: %v", err)
		}
	}
	ne, err := events.New(uuid.New(), events.ChainBlockRecorded{Network: "main", Height: 102, Hash: "h2", Time: now}, events.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplyBatch(ctx, 2, []events.Envelope{{ID: ne.ID, Stream: events.StreamChain("main"), Version: 2, Position: 3,
		Type: ne.Type, SchemaVersion: ne.SchemaVersion, RecordedAt: now, Data: ne.Data}}); err != nil {
		t.Fatal(err)
	}
	if err := cached.CanTakeWork(ctx, "main"); !errors.Is(err, pphttp.ErrChainStale) {
		t.Fatalf("within the cache: %v, want the cached stale tip", err)
	}
	if err := uncached.CanTakeWork(ctx, "main"); err != nil {
		t.Fatalf("read every time: %v, want the new block", err)
	}
}
