package loadtest

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pphttp "github.com/purepool/purepool/http"
	"github.com/purepool/purepool/simminer"
)

// BenchmarkPool starts the stack once (it takes seconds) and measures,
// from b.RunParallel miners (PUREPOOL_LOAD_PARALLELISM per core, default
// 64): ReadyToMine/bare, one wallet readytomine2 against a bare net/http
// handler answering a fixed work (the baseline); ReadyToMine/pool, the same
// against the pool (read model lookup, IssueWork published to RabbitMQ and
// confirmed); Round, a whole wallet round through the pool (readytomine2, a
// share mined on a fresh template, the solution). Run it with
//
//	PUREPOOL_LOAD=1 go test ./internal/loadtest -run '^$' -bench Pool -benchtime 20s
func BenchmarkPool(b *testing.B) {
	if os.Getenv("PUREPOOL_LOAD") != "1" {
		b.Skip("load benchmark: set PUREPOOL_LOAD=1")
	}
	s := startStack(b, envInt("PUREPOOL_LOAD_WORKERS", 64))
	pool := s.pool
	bare := bareServer(b, pphttp.WorkAnswer(pool, shareTarget, "eef5cbcb-f673-4203-a791-f773b177f1df", "0b9f6e0a-3f1e-4c55-9d2f-4f0c1d2e3a4b"))
	for _, target := range []struct{ name, url string }{{"bare", bare}, {"pool", s.poolURL}} {
		b.Run("ReadyToMine/"+target.name, func(b *testing.B) {
			benchParallel(b, target.url, s, func(ctx context.Context, m *simminer.Miner, i int, t *tally) {
				raw, err := m.Do(ctx, m.Request("readytomine2", 0, "").Bytes())
				if err != nil {
					t.transport[errorKind(err)]++
					return
				}
				if t.statusOK(raw) {
					if _, err := simminer.ParseWork(raw, s.net); err != nil {
						t.protoErrs[err.Error()]++
					}
				}
			})
		})
	}
	b.Run("Round", func(b *testing.B) {
		benchParallel(b, s.poolURL, s, func(ctx context.Context, m *simminer.Miner, i int, t *tally) {
			oneRound(ctx, m, s.rpc, i, t)
		})
	})
}

var benchMiner atomic.Int64

func benchParallel(b *testing.B, url string, s *stack, op func(context.Context, *simminer.Miner, int, *tally)) {
	b.SetParallelism(envInt("PUREPOOL_LOAD_PARALLELISM", 64))
	var mu sync.Mutex
	total := newTally()
	ctx := context.Background()
	began := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		m, err := simminer.New(simminer.Config{Pool: url, Worker: minerAddress(int(benchMiner.Add(1))%60000) + "/bench",
			Network: s.net, Node: s.rpc, Timeout: 60 * time.Second})
		if err != nil {
			b.Error(err)
			return
		}
		t := newTally()
		for i := 0; pb.Next(); i++ {
			op(ctx, m, i, t)
		}
		mu.Lock()
		total.merge(t)
		mu.Unlock()
	})
	b.StopTimer()
	took := time.Since(began)
	b.ReportMetric(float64(b.N)/took.Seconds(), "ops/s")
	if len(total.non200)+len(total.protoErrs)+len(total.transport) > 0 {
		b.Errorf("non-200 %s; protocol errors %s; transport %s", sortedCounts(total.non200), sortedCounts(total.protoErrs), sortedCounts(total.transport))
	}
}
