package audit_test

import (
	"testing"
	"time"

	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/internal/ledgergen"
)

// The project's generator of ledger histories writes what the backend
// would: its default histories, and those the projections' and the
// website's tests use, pass the audit with no violation, and the replay's
// balances are the generator's expected ones.
func TestGeneratorHistoriesPassTheAudit(t *testing.T) {
	for _, cfg := range []ledgergen.Config{
		{},        // every default
		{Seed: 7}, // formerly 53 split mismatches and 13 negative balances
		{Seed: 7, Miners: 8, ChainBlocks: 170, SharesPerBlock: 8, PayoutEvery: 20, Maturity: 6}, // projections' smallHistory
		{Seed: 3, Miners: 6, ChainBlocks: 170, SharesPerBlock: 6, PayoutEvery: 20, Maturity: 6, Spacing: time.Hour},
		{Seed: 1, Miners: 200, ChainBlocks: 300, SharesPerBlock: 30, Maturity: 20}, // the rebuild benchmark's shape
		{Seed: 9, Network: "test", Events: 30000, Miners: 50, SharesPerBlock: 40},  // the audit benchmark's shape
	} {
		h := ledgergen.Generate(cfg)
		rep := mustRun(t, h, audit.Options{PageSize: 1000})
		if !rep.OK() {
			t.Errorf("seed %d: %d violations, first: %+v", cfg.Seed, len(rep.Violations), rep.Violations[0])
			continue
		}
		n := rep.Networks[0]
		ex := h.Expected
		if n.Network != h.Network || int64(n.BlocksOrphaned) != ex.Orphans || int64(n.BlocksMatured) != ex.Matured || n.AcceptedShares != ex.Shares ||
			n.RejectedShares != ex.Rejected || n.CreditedSat != ex.CreditedSat || n.FeeSat != ex.FeeSat || n.ReversedSat != ex.ReversedSat ||
			n.FeeReversedSat != ex.FeeReversedSat || n.PaidSat != ex.PaidSat || n.Payouts != len(ex.Payouts) {
			t.Errorf("seed %d: audit totals %+v, generator's %+v", cfg.Seed, n, ex)
		}
		if ex.Orphans < 2 || ex.ReversedSat == 0 {
			t.Errorf("seed %d: %d orphans, %d reversed: no late reorganisation", cfg.Seed, ex.Orphans, ex.ReversedSat)
		}
		for _, a := range rep.Accounts {
			if m, ok := ex.Miners[a.ID]; ok && (a.BalanceSat != m.BalanceSat || a.PaidSat != m.PaidSat || a.ReversedSat != m.ReversedSat) {
				t.Errorf("seed %d: account %+v, generator's %+v", cfg.Seed, a, *m)
			}
		}
	}
}
