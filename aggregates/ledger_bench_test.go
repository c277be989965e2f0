package aggregates_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
)

// BenchmarkMatureBlockCredits folds the credits of one matured block paying
// 5,000 miners (a PPLNS pool), through the ledger against a bare fold of the
// same events into a PoolBlock value (the pure Apply, which copies the
// credit list each time), in the same run:
//
//	go test -run '^$' -bench MatureBlockCredits ./aggregates
func BenchmarkMatureBlockCredits(b *testing.B) {
	const miners = 5000
	credits := make([]events.Event, miners)
	for i := range credits {
		credits[i] = events.MinerCredited{Network: "main", BlockHash: "h", MinerID: uuid.New(), AmountSat: 1, At: t0}
	}
	b.Run("ledger", func(b *testing.B) {
		for b.Loop() {
			l := aggregates.NewLedger(aggregates.LedgerConfig{})
			for i, e := range credits {
				l.ApplyEvent(uint64(i+1), e)
			}
		}
	})
	b.Run("pure-apply", func(b *testing.B) {
		for b.Loop() {
			var blk aggregates.PoolBlock
			for _, e := range credits {
				blk = blk.Apply(e)
			}
		}
	})
}
