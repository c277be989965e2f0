package backend_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/simminer"
)

// The node can show a pool block before the pool has handled the share that
// found it. The follower then holds the block back (FinderShareWait) so the
// round it closes pays the finder for its winning share; without the wait
// the share would fall into the next round.
func TestPoolBlockWaitsForItsWinningShare(t *testing.T) {
	for _, tt := range []struct {
		name       string
		wait       time.Duration
		finderPaid bool
	}{
		{"held back until the share is stored", time.Minute, true},
		{"no wait: the share misses its round", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, newSQLiteStore(t), func(_ *backend.NetworkConfig, cfg *backend.Config) {
				cfg.FinderShareWait = tt.wait
			})
			h.startView()
			ctx := context.Background()
			finder, other := addrOf(31), addrOf(32)

			w1 := uuid.New()
			h.mustHandle(issueCmd(other, "w", w1))
			h.mustHandle(submitCmd(other, "w", h.share(other, w1).Solution))

			w2 := uuid.New()
			h.mustHandle(issueCmd(finder, "w", w2))
			var win simminer.Share
			for i := 0; ; i++ {
				if win = h.share(finder, w2); win.IsBlock {
					break
				}
				if i > 200 {
					t.Fatal("no share met the network target")
				}
			}
			if err := h.node.SubmitBlock(ctx, win.BlockHex); err != nil {
				t.Fatal(err)
			}
			blockHash := win.Fields[0]
			if err := h.b.SyncChain(ctx, network); err != nil {
				t.Fatal(err)
			}
			discoveredEarly := len(h.decoded(events.StreamBlock(network, blockHash))) > 0
			if tt.wait > 0 && discoveredEarly {
				t.Fatal("the pool block was recorded before its winning share was stored")
			}

			h.mustHandle(submitCmd(finder, "w", win.Solution))
			if err := h.b.SyncChain(ctx, network); err != nil {
				t.Fatal(err)
			}
			var round *events.RoundClosed
			for _, e := range h.decoded(events.StreamBlock(network, blockHash)) {
				if r, ok := e.(events.RoundClosed); ok {
					round = &r
				}
			}
			if round == nil {
				t.Fatal("the pool block was never recorded")
			}
			paid := false
			for _, s := range round.Shares {
				if s.MinerID == events.MinerID(network, finder) {
					paid = true
				}
			}
			if paid != tt.finderPaid {
				t.Fatalf("finder in the round = %v, want %v (round %+v)", paid, tt.finderPaid, round.Shares)
			}
		})
	}
}
