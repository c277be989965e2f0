package projections_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/projections"
)

// checkPoolMetrics compares the /metrics read with the generator's totals
// and the backend's own fold of the history (aggregates.Ledger).
func checkPoolMetrics(t *testing.T, r *projections.Reader, h *ledgergen.History) {
	t.Helper()
	ctx := context.Background()
	ex := h.Expected
	m, err := r.PoolMetrics(ctx, h.Network, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if m.SharesAccepted != ex.Shares || m.SharesRejected != ex.Rejected || m.ShareDifficulty != ex.Difficulty {
		t.Errorf("shares %d/%d/%d, want %d/%d/%d", m.SharesAccepted, m.SharesRejected, m.ShareDifficulty, ex.Shares, ex.Rejected, ex.Difficulty)
	}
	if len(ex.RejectedByReason) < 2 {
		t.Fatalf("the history rejects for too few reasons: %v", ex.RejectedByReason)
	}
	var sum int64
	for reason, n := range m.RejectedByReason {
		sum += n
		if ex.RejectedByReason[reason] != n {
			t.Errorf("rejected %s: %d, want %d", reason, n, ex.RejectedByReason[reason])
		}
	}
	if sum != ex.Rejected || len(m.RejectedByReason) != len(ex.RejectedByReason) {
		t.Errorf("rejected by reason %v, want %v", m.RejectedByReason, ex.RejectedByReason)
	}
	if m.BlocksFound != ex.BlocksFound || m.BlocksMatured != ex.Matured || m.BlocksOrphaned != ex.Orphans {
		t.Errorf("blocks %d/%d/%d, want %d/%d/%d", m.BlocksFound, m.BlocksMatured, m.BlocksOrphaned, ex.BlocksFound, ex.Matured, ex.Orphans)
	}
	byStatus := map[string]int64{}
	var reward int64
	for _, b := range ex.Blocks {
		byStatus[b.Status]++
		reward += b.RewardSat
	}
	for _, s := range []string{"pending", "matured", "orphaned"} {
		if m.BlocksByStatus[s] != byStatus[s] {
			t.Errorf("blocks %s: %d, want %d", s, m.BlocksByStatus[s], byStatus[s])
		}
	}
	if m.CreditedSat != ex.CreditedSat || m.FeeSat != ex.FeeSat || m.MinersBalanceSat != ex.CreditedSat-ex.ReversedSat-ex.PaidSat {
		t.Errorf("credited %d fee %d balance %d, want %d %d %d", m.CreditedSat, m.FeeSat, m.MinersBalanceSat, ex.CreditedSat, ex.FeeSat,
			ex.CreditedSat-ex.ReversedSat-ex.PaidSat)
	}
	if m.RewardSat < reward { // rewards at discovery; maturity may restate one
		t.Errorf("reward %d < %d", m.RewardSat, reward)
	}
	// Payouts by status: the backend's fold is the truth (signed ones
	// included, which the generator's simple count does not know).
	want := map[string]projections.PayoutTotal{}
	for _, p := range h.Ledger.Network(h.Network).Payouts {
		w := want[p.Status]
		w.Count++
		w.TotalSat += p.TotalSat
		want[p.Status] = w
	}
	if len(want) < 4 {
		t.Fatalf("the history's payouts have too few statuses: %v", want)
	}
	for s, w := range want {
		if m.Payouts[s] != w {
			t.Errorf("payouts %s: %+v, want %+v", s, m.Payouts[s], w)
		}
	}
	if len(m.Payouts) != len(want) {
		t.Errorf("payouts by status %v, want %v", m.Payouts, want)
	}
	if m.PayoutsPaused != ex.PayoutsPaused || m.Height != ex.ChainHeight {
		t.Errorf("paused %v height %d, want %v %d", m.PayoutsPaused, m.Height, ex.PayoutsPaused, ex.ChainHeight)
	}
	hps, workers, err := r.Hashrate(ctx, h.Network, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if m.HashrateHPS != hps || m.ActiveWorkers != workers || workers == 0 {
		t.Errorf("hashrate %d/%d, want %d/%d", m.HashrateHPS, m.ActiveWorkers, hps, workers)
	}
	// A network without events reads as zeros.
	if z, err := r.PoolMetrics(ctx, "test", time.Time{}); err != nil || z.SharesAccepted != 0 || len(z.RejectedByReason) != 0 || len(z.Payouts) != 0 {
		t.Errorf("empty network: %+v, %v", z, err)
	}
}

// The pool metrics fold the same from batches (with overlapping and
// repeated deliveries) on every database, and from a rebuild.
func TestPoolMetrics_MatchGeneratedHistory(t *testing.T) {
	h := smallHistory()
	for _, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := tt.open(t)
			ctx := context.Background()
			var cp uint64
			for i := 0; i < len(h.Envelopes); i += 97 {
				from, j := max(0, i-40), min(i+97, len(h.Envelopes))
				next, err := db.ApplyBatch(ctx, cp, h.Envelopes[from:j])
				if err != nil {
					t.Fatal(err)
				}
				if again, err := db.ApplyBatch(ctx, next, h.Envelopes[from:j]); err != nil || again != next {
					t.Fatalf("replay: %d, %v", again, err)
				}
				cp = next
			}
			checkPoolMetrics(t, projections.NewReader(db.SQL, db.Dialect), h)
		})
	}
	t.Run("rebuild", func(t *testing.T) {
		db := targets[0].open(t)
		store := newEventStore(t)
		load(t, store, h, 0, len(h.Envelopes))
		if _, err := db.Rebuild(context.Background(), store, projections.RebuildOptions{Progress: io.Discard}); err != nil {
			t.Fatal(err)
		}
		checkPoolMetrics(t, projections.NewReader(db.SQL, db.Dialect), h)
	})
}
