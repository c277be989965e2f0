package aggregates_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
)

// TestLedgerRoundsProperty drives the ledger through random histories of
// shares, pool blocks, orphanings before maturity, maturities and payouts,
// deciding every step with the aggregates, and checks after each step:
//
//   - every share up to the last closed round is counted exactly once by the
//     rounds of blocks still on the chain or by the rounds waiting to be
//     carried over (PROP never loses or double-counts a share);
//   - balances plus what was paid out equal the rewards of matured blocks;
//   - no balance is negative.
func TestLedgerRoundsProperty(t *testing.T) {
	for seed := range uint64(30) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			f := &feed{t: t, l: aggregates.NewLedger(aggregates.LedgerConfig{}), versions: map[string]int64{}}
			var shareDiff = map[uint64]int64{}
			var blocks []string
			var matured, paid int64
			for step := range 300 {
				n := f.l.Network("main")
				switch r := rng.IntN(10); {
				case r < 6:
					m := fmt.Sprint("m", rng.IntN(5))
					d := 1 + rng.Int64N(100)
					f.add(accepted(m, d))
					shareDiff[f.l.Position] = d
				case r < 7:
					h := fmt.Sprint("blk", step)
					f.discover(h, int64(step), 1+rng.Int64N(1e12), events.SchemePROP)
					blocks = append(blocks, h)
				case r < 8 && len(blocks) > 0:
					b := n.Block(blocks[rng.IntN(len(blocks))])
					if b.Pending() {
						evs, err := aggregates.DecideOrphan(b, "x", t0)
						mustNoErr(t, err)
						f.add(evs...)
					}
				case r < 9 && len(blocks) > 0:
					b := n.Block(blocks[rng.IntN(len(blocks))])
					evs, err := aggregates.DecideMature(b, 101, aggregates.MaturityPolicy{Maturity: 101, FeeBps: rng.Int64N(500)}, aggregates.Maturing{}, t0)
					mustNoErr(t, err)
					if len(evs) > 0 {
						matured += b.RewardSat
					}
					f.add(evs...)
				default:
					if ids := n.UnsettledPayouts(); len(ids) > 0 {
						p := n.Payouts[ids[0]]
						if rng.IntN(2) == 0 {
							f.add(events.PayoutSent{Network: "main", PayoutID: p.ID, TxID: "tx"})
							paid += p.TotalSat
						} else {
							f.add(events.PayoutFailed{Network: "main", PayoutID: p.ID})
						}
						break
					}
					evs, err := aggregates.DecidePlanPayout(n.Schedule, nil, n.PayoutCandidates(),
						aggregates.PayoutPolicy{MinPayoutSat: 1 + rng.Int64N(1e11), MaxRecipients: 1 + rng.IntN(4)}, aggregates.PayoutID("main", n.PayoutCount), t0)
					if err == nil {
						f.add(evs...)
					}
				}
				// Invariants.
				var inRounds int64
				for _, b := range n.Blocks {
					if b.Round != nil && !b.Orphaned {
						inRounds += b.Round.TotalDifficulty
					}
				}
				for _, c := range n.Carry {
					inRounds += c.TotalDifficulty
				}
				var closed int64
				for pos, d := range shareDiff {
					if pos <= n.LastClose {
						closed += d
					}
				}
				if inRounds != closed {
					t.Fatalf("step %d: rounds count %d difficulty, shares up to the last close %d", step, inRounds, closed)
				}
				var bal, planned int64
				for id, v := range n.Balances {
					if v < 0 {
						t.Fatalf("step %d: balance of %s is %d", step, id, v)
					}
					bal += v
				}
				for id := range n.Unsettled {
					planned += n.Payouts[id].TotalSat
				}
				if bal+planned+paid != matured {
					t.Fatalf("step %d: balances %d + planned %d + paid %d != matured rewards %d", step, bal, planned, paid, matured)
				}
			}
		})
	}
}
