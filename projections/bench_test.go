package projections_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/purepool/purepool/events"
	eventpg "github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/projections"
)

// The rebuild benchmark loads a generated history into the PostgreSQL event
// store once, then measures, in the same run:
//
//	read-all: reading every event with ReadAll (the floor a rebuild cannot beat)
//	fold:     reading and folding in memory (parallel decode)
//	rebuild:  the whole blue/green rebuild into a PostgreSQL read model (COPY)
//
// Each reports events/s; compare rebuild with read-all. Size with
// PUREPOOL_BENCH_BLOCKS (chain blocks; 2000 ≈ 210k events).
var benchOnce struct {
	sync.Once
	store *eventpg.Store
	url   string
	n     int
	err   error
}

func benchStore(b *testing.B) (*eventpg.Store, int) {
	benchOnce.Do(func() {
		blocks := 2000
		if v, err := strconv.Atoi(os.Getenv("PUREPOOL_BENCH_BLOCKS")); err == nil && v > 0 {
			blocks = v
		}
		h := ledgergen.Generate(ledgergen.Config{Seed: 1, Miners: 200, ChainBlocks: blocks, SharesPerBlock: 30, Maturity: 20})
		ctx := context.Background()
		benchOnce.url = testenv.NewPostgresDB(b)
		s, err := eventpg.Open(ctx, benchOnce.url)
		if err != nil {
			benchOnce.err = err
			return
		}
		if err := s.Migrate(ctx); err != nil {
			benchOnce.err = err
			return
		}
		for _, w := range h.Writes(2000) {
			if _, err := s.Append(ctx, w...); err != nil {
				benchOnce.err = err
				return
			}
		}
		benchOnce.store, benchOnce.n = s, len(h.Envelopes)
	})
	if benchOnce.err != nil {
		b.Fatal(benchOnce.err)
	}
	return benchOnce.store, benchOnce.n
}

func BenchmarkRebuild_Postgres(b *testing.B) {
	store, n := benchStore(b)
	ctx := context.Background()
	b.Run("read-all", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var after uint64
			got := 0
			for {
				envs, err := store.ReadAll(ctx, after, 10000)
				if err != nil {
					b.Fatal(err)
				}
				if len(envs) == 0 {
					break
				}
				got += len(envs)
				after = envs[len(envs)-1].Position
			}
			if got != n {
				b.Fatalf("read %d of %d", got, n)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("fold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			ch, err := projections.FoldAll(ctx, store, uint64(n), 10000, nil)
			if err != nil || ch.Last != uint64(n) {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("rebuild", func(b *testing.B) {
		db, err := projections.OpenURL(ctx, testenv.NewPostgresDB(b))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		if err := db.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			st, err := db.Rebuild(ctx, events.Store(store), projections.RebuildOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if st.Position != uint64(n) {
				b.Fatalf("rebuilt to %d of %d", st.Position, n)
			}
			b.Logf("rebuild: %d events, %d rows; fold %s, write %s, total %s", st.Events, st.Rows, st.Fold, st.Write, st.Total)
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkFold folds a generated history held in memory: the CPU cost of
// the projection logic alone (decode + fold), without any database.
func BenchmarkFold(b *testing.B) {
	blocks := 1000
	if v, err := strconv.Atoi(os.Getenv("PUREPOOL_BENCH_BLOCKS")); err == nil && v > 0 {
		blocks = v
	}
	h := ledgergen.Generate(ledgergen.Config{Seed: 1, Miners: 200, ChainBlocks: blocks, SharesPerBlock: 30, Maturity: 20})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ch := projections.NewChanges(nil)
		if err := ch.Fold(context.Background(), h.Envelopes); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(h.Envelopes))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
