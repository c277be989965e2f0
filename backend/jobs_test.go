package backend_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/simnode"
)

func TestVardiffRaisesABusyMinersTarget(t *testing.T) {
	h := newHarness(t, newSQLiteStore(t), func(n *backendNetworkConfig, _ *backendConfig) {
		n.VardiffWindow = time.Minute
		n.Vardiff = aggregates.VardiffPolicy{SharesPerMinute: 1, Tolerance: 2, MaxStep: 4}
	})
	h.startView()
	a := addrOf(50)
	h.accept(a, 1)
	ev := backend.NewMinerEvaluator()
	ctx := context.Background()
	h.sync()                                                     // folds everything
	if err := h.b.EvaluateMiners(ctx, network, ev); err != nil { // baseline
		t.Fatal(err)
	}
	h.accept(a, 8) // 8 shares in a one-minute window, aim 1
	h.sync()
	if err := h.b.EvaluateMiners(ctx, network, ev); err != nil {
		t.Fatal(err)
	}
	evs := h.decoded(events.StreamMiner(events.MinerID(network, a)))
	last, ok := evs[len(evs)-1].(events.MinerTargetChanged)
	if !ok {
		t.Fatalf("miner stream ends with %s", evs[len(evs)-1].EventType())
	}
	d0, _ := biblepay.Difficulty(biblepay.DefaultTarget)
	if d, _ := biblepay.Difficulty(last.Target); d != 4*d0 { // 8× the aim, capped at ×MaxStep
		t.Fatalf("new difficulty %d from %d", d, d0)
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestReorgAfterPayoutIsFlagged: a pool block leaves the chain after its
// credits were paid out. The credits are reversed (the miner now owes the
// pool) and the backend logs it loudly.
func TestReorgAfterPayoutIsFlagged(t *testing.T) {
	logs := &syncBuffer{}
	h := newHarness(t, newSQLiteStore(t), func(n *backendNetworkConfig, c *backendConfig) {
		n.Maturity = 3
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	h.startView()
	// The operator funds the wallet beyond what the pool owes.
	h.srv.Node.Generate(6)
	if _, err := h.srv.Node.Fund(simnode.DefaultBlockReward - 10_000); err != nil {
		t.Fatal(err)
	}
	h.sync()
	a := addrOf(61)
	h.accept(a, 1)
	hash := h.minePoolBlock(a)
	h.srv.Node.Generate(2)
	h.sync()
	if !h.block(hash).Matured {
		t.Fatal("not credited")
	}
	credit := h.balance(a)
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	if ps := h.payouts(); len(ps) != 1 || ps[0].Status != aggregates.PayoutSent {
		t.Fatalf("payouts %+v", ps)
	}
	if _, err := h.srv.Node.Reorg(3); err != nil {
		t.Fatal(err)
	}
	h.sync()
	if pb := h.block(hash); !pb.OrphanedAfterMaturity || len(pb.Reversals) == 0 {
		t.Fatalf("block %+v", pb)
	}
	if got := h.balance(a); got != -credit {
		t.Fatalf("balance %d, want the debt %d", got, -credit)
	}
	if !strings.Contains(logs.String(), "ORPHANED AFTER ITS CREDITS WERE PAID") {
		t.Fatalf("no loud log:\n%s", logs)
	}
	// Nothing is paid to a miner in debt.
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	if ps := h.payouts(); len(ps) != 1 {
		t.Fatalf("payouts after the reversal %+v", ps)
	}
}
