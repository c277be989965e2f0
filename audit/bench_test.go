package audit_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/internal/testenv"
)

// The replay benchmarks run on a generated history of
// PUREPOOL_AUDIT_BENCH_EVENTS events (default 1,000,000):
//
//	go test ./audit -run '^$' -bench . -benchtime 3x -v
//
// The history is generated once into a SQLite store; the other benchmarks
// copy it from there. Each store benchmark reads the whole log alone (the
// baseline) and then audits it, and logs the ratio of the two rates. Both
// run with the garbage-collector setting `purepool audit` uses (GOGC 400).
var (
	benchOnce   sync.Once
	benchDir    string
	benchSource *sqlite.Store
	benchEvents uint64
)

func benchSQLite(b *testing.B) *sqlite.Store {
	benchOnce.Do(func() {
		ctx := context.Background()
		n := 1_000_000
		if s := os.Getenv("PUREPOOL_AUDIT_BENCH_EVENTS"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil {
				b.Fatalf("PUREPOOL_AUDIT_BENCH_EVENTS: %v", err)
			}
			n = v
		}
		start := time.Now()
		h := ledgergen.Generate(ledgergen.Config{Seed: 99, Events: n, Miners: 50, SharesPerBlock: 40})
		b.Logf("generated %d events in %v", len(h.Envelopes), time.Since(start))
		dir, err := os.MkdirTemp("", "purepool-audit-bench")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = dir
		s, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"))
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if err := h.AppendTo(ctx, s, 5000); err != nil {
			b.Fatal(err)
		}
		b.Logf("loaded into SQLite in %v", time.Since(start))
		benchSource, benchEvents = s, uint64(len(h.Envelopes))
	})
	if benchSource == nil {
		b.Fatal("no benchmark history")
	}
	runtime.GC() // the generator's memory is gone
	return benchSource
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchSource != nil {
		benchSource.Close()
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

func eventsPerSecond(b *testing.B, n uint64) float64 {
	return float64(n) * float64(b.N) / b.Elapsed().Seconds()
}

// BenchmarkReplayInMemory is the audit alone, the log already in memory.
func BenchmarkReplayInMemory(b *testing.B) {
	src := benchSQLite(b)
	ctx := context.Background()
	envs := make([]events.Envelope, 0, benchEvents)
	for {
		page, err := src.ReadAll(ctx, uint64(len(envs)), 10000)
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		envs = append(envs, page...)
	}
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	b.ResetTimer()
	for b.Loop() {
		rep, err := audit.Run(ctx, sliceReader(envs), audit.Options{})
		if err != nil || !rep.OK() {
			b.Fatalf("%v %v", err, rep.Violations)
		}
	}
	b.ReportMetric(eventsPerSecond(b, benchEvents), "events/s")
}

// benchStore measures reading alone and the audit on the same store.
func benchStore(b *testing.B, s events.Store) {
	ctx := context.Background()
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	var readRate, auditRate float64
	b.Run("read-all", func(b *testing.B) {
		for b.Loop() {
			n, err := audit.ReadAllEvents(ctx, s, 5000)
			if err != nil || n != benchEvents {
				b.Fatalf("read %d: %v", n, err)
			}
		}
		readRate = eventsPerSecond(b, benchEvents)
		b.ReportMetric(readRate, "events/s")
	})
	b.Run("audit", func(b *testing.B) {
		for b.Loop() {
			rep, err := audit.Run(ctx, s, audit.Options{})
			if err != nil || !rep.OK() || rep.Events != benchEvents {
				b.Fatalf("%v %v", err, rep.Violations)
			}
		}
		auditRate = eventsPerSecond(b, benchEvents)
		b.ReportMetric(auditRate, "events/s")
	})
	if readRate > 0 {
		b.Logf("audit %.0f events/s = %.2f × reading alone (%.0f events/s)", auditRate, auditRate/readRate, readRate)
	}
}

func BenchmarkSQLite(b *testing.B) {
	benchStore(b, benchSQLite(b))
}

func BenchmarkPostgres(b *testing.B) {
	src := benchSQLite(b)
	ctx := context.Background()
	s, err := postgres.Open(ctx, testenv.NewPostgresDB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var after uint64
	for {
		page, err := src.ReadAll(ctx, after, 5000)
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		var w []events.StreamWrite
		in := map[string]bool{}
		for _, e := range page {
			ne := events.NewEvent{ID: e.ID, Type: e.Type, SchemaVersion: e.SchemaVersion, Data: e.Data, Metadata: e.Metadata}
			if n := len(w); n > 0 && w[n-1].Stream == e.Stream {
				w[n-1].Events = append(w[n-1].Events, ne)
				continue
			}
			if in[e.Stream] { // a stream appears once per append: cut here to keep the order
				if _, err := s.Append(ctx, w...); err != nil {
					b.Fatal(err)
				}
				w, in = nil, map[string]bool{}
			}
			in[e.Stream] = true
			w = append(w, events.StreamWrite{Stream: e.Stream, Expected: events.Any, Events: []events.NewEvent{ne}})
		}
		if _, err := s.Append(ctx, w...); err != nil {
			b.Fatal(err)
		}
		after = page[len(page)-1].Position
	}
	b.Logf("copied into PostgreSQL in %v", time.Since(start))
	benchStore(b, s)
}
