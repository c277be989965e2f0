package ledgergen_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/purepool/purepool/events"
	eventsqlite "github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/internal/ledgergen"
)

func TestGenerate_ConsistentHistory(t *testing.T) {
	cfg := ledgergen.Config{Seed: 11, Miners: 6, ChainBlocks: 120, Maturity: 5, PayoutEvery: 15}
	h := ledgergen.Generate(cfg)
	again := ledgergen.Generate(cfg)
	if len(h.Envelopes) != len(again.Envelopes) || !bytes.Equal(h.Envelopes[len(h.Envelopes)-1].Hash, again.Envelopes[len(again.Envelopes)-1].Hash) {
		t.Fatal("the same config generated different histories")
	}
	types := h.ByType()
	for _, typ := range events.Types() {
		if typ == events.TypeMinerEnabled || typ == events.TypeMinerDisabled || typ == events.TypePayoutsPaused || typ == events.TypePayoutsResumed || typ == events.TypeMinerTargetChanged {
			continue // admin events are rare by design
		}
		if types[typ] == 0 {
			t.Errorf("no %s event in the history", typ)
		}
	}
	var prev []byte
	credits := map[string]int64{}
	fees := map[string]int64{}
	for i, env := range h.Envelopes {
		if env.Position != uint64(i+1) || !bytes.Equal(env.PrevHash, prev) || !bytes.Equal(env.Hash, events.ChainHash(prev, env)) {
			t.Fatalf("event %d: position or hash chain broken", i)
		}
		prev = env.Hash
		ev, err := events.Decode(env)
		if err != nil {
			t.Fatal(err)
		}
		switch e := ev.(type) {
		case events.MinerCredited:
			credits[e.BlockHash] += e.AmountSat
		case events.FeeCredited:
			fees[e.BlockHash] += e.AmountSat
		}
	}
	for hash, b := range h.Expected.Blocks {
		if _, matured := fees[hash]; matured && credits[hash]+fees[hash] != b.RewardSat {
			t.Errorf("block %s: credits %d + fee %d != reward %d", hash, credits[hash], fees[hash], b.RewardSat)
		}
	}
	for _, m := range h.Expected.Miners {
		if m.BalanceSat != m.CreditedSat-m.ReversedSat-m.PaidSat {
			t.Errorf("miner %s: balance %d != %d - %d - %d", m.Address, m.BalanceSat, m.CreditedSat, m.ReversedSat, m.PaidSat)
		}
	}
}

// Appending Writes in order to an empty store reproduces the positions and streams.
func TestWrites_ReproducePositions(t *testing.T) {
	ctx := context.Background()
	h := ledgergen.Generate(ledgergen.Config{Seed: 2, Miners: 3, ChainBlocks: 40})
	s, err := eventsqlite.Open(ctx, filepath.Join(t.TempDir(), "e.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, w := range h.Writes(100) {
		if _, err := s.Append(ctx, w...); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ReadAll(ctx, 0, len(h.Envelopes)+10)
	if err != nil || len(got) != len(h.Envelopes) {
		t.Fatalf("read %d events (%v), want %d", len(got), err, len(h.Envelopes))
	}
	for i, e := range got {
		w := h.Envelopes[i]
		if e.ID != w.ID || e.Position != w.Position || e.Stream != w.Stream || e.Version != w.Version || e.Type != w.Type {
			t.Fatalf("event %d: stored %s/%d %s at %d, generated %s/%d %s at %d", i, e.Stream, e.Version, e.Type, e.Position, w.Stream, w.Version, w.Type, w.Position)
		}
	}
}
