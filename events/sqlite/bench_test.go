package sqlite_test

// Benchmarks of the SQLite event store, with a baseline measured in the same
// run: raw INSERTs of identical rows into a table of the same shape in the
// same file, in one transaction, without checks or hash chain.
//
//	go test -run='^$' -bench=. -benchtime=2s ./events/sqlite/

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/events/eventstoretest"
	"github.com/purepool/purepool/events/internal/appendplan"
	"github.com/purepool/purepool/events/sqlite"
)

// BenchmarkInterleaved alternates one Append and one raw insert of the same
// number of rows per iteration and reports both rates and their ratio.
func BenchmarkInterleaved(b *testing.B) {
	for _, size := range []struct {
		name              string
		streams, perWrite int
	}{{"single", 1, 1}, {"batch100", 10, 10}} {
		b.Run(size.name, func(b *testing.B) {
			dir := b.TempDir()
			ctx := context.Background()
			s, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			raw, err := sql.Open("sqlite", sqlite.DSN(filepath.Join(dir, "raw.db")))
			if err != nil {
				b.Fatal(err)
			}
			defer raw.Close()
			if _, err := raw.Exec(`CREATE TABLE raw_events (position INTEGER PRIMARY KEY, stream TEXT NOT NULL,
				version INTEGER NOT NULL, event_id BLOB NOT NULL UNIQUE, type TEXT NOT NULL, schema_version INTEGER NOT NULL,
				recorded_at INTEGER NOT NULL, data BLOB NOT NULL, metadata BLOB NOT NULL, prev_hash BLOB NOT NULL,
				hash BLOB NOT NULL, UNIQUE (stream, version))`); err != nil {
				b.Fatal(err)
			}
			writes := eventstoretest.BenchWrites(b, size.streams, size.perWrite)
			n := size.streams * size.perWrite
			template := writes[0].Events[0]
			var next int64
			var tAppend, tRaw time.Duration
			b.ResetTimer()
			for range b.N {
				eventstoretest.FreshIDs(writes)
				t0 := time.Now()
				if _, err := s.Append(ctx, writes...); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				tx, err := raw.Begin()
				if err != nil {
					b.Fatal(err)
				}
				stmt, err := tx.Prepare(`INSERT INTO raw_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
				if err != nil {
					b.Fatal(err)
				}
				for i := range n {
					next++
					id := uuid.New()
					hash := make([]byte, 32)
					if _, err := stmt.Exec(next, "solution-"+string(rune('a'+i/10)), next, id[:], template.Type,
						template.SchemaVersion, time.Now().UnixMicro(), []byte(template.Data),
						appendplan.MarshalMetadata(template.Metadata), hash, hash); err != nil {
						b.Fatal(err)
					}
				}
				stmt.Close()
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				tAppend += t1.Sub(t0)
				tRaw += t2.Sub(t1)
			}
			events := float64(b.N * n)
			b.ReportMetric(events/tAppend.Seconds(), "append-events/s")
			b.ReportMetric(events/tRaw.Seconds(), "raw-insert-events/s")
			b.ReportMetric(tRaw.Seconds()/tAppend.Seconds(), "append/raw-insert")
		})
	}
}

func BenchmarkAppendSingle(b *testing.B) {
	s := openStore(b)
	defer s.Close()
	ctx := context.Background()
	writes := eventstoretest.BenchWrites(b, 1, 1)
	b.ResetTimer()
	for range b.N {
		eventstoretest.FreshIDs(writes)
		if _, err := s.Append(ctx, writes...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkAppendBatch100(b *testing.B) {
	s := openStore(b)
	defer s.Close()
	ctx := context.Background()
	writes := eventstoretest.BenchWrites(b, 10, 10)
	b.ResetTimer()
	for range b.N {
		eventstoretest.FreshIDs(writes)
		if _, err := s.Append(ctx, writes...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkReadAll reads a log of 20,000 events from the start in pages of 1000.
func BenchmarkReadAll(b *testing.B) {
	s := openStore(b)
	defer s.Close()
	ctx := context.Background()
	const total = 20000
	for range total / 1000 {
		if _, err := s.Append(ctx, eventstoretest.BenchWrites(b, 100, 10)...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		var after uint64
		n := 0
		for {
			page, err := s.ReadAll(ctx, after, 1000)
			if err != nil {
				b.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			n += len(page)
			after = page[len(page)-1].Position
		}
		if n != total {
			b.Fatalf("read %d events, want %d", n, total)
		}
	}
	b.ReportMetric(float64(b.N*total)/b.Elapsed().Seconds(), "events/s")
}
