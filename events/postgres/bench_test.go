package postgres_test

// Benchmarks of the PostgreSQL event store against a baseline measured in
// the same run: raw batched INSERTs of identical rows (same table shape, no
// lock, no checks, no hash chain) through the same pgx pool.
//
//	go test -run='^$' -bench=. -benchtime=2s ./events/postgres/
//
// Compare AppendBatch100 with RawInsertBatch100/* (events/s), and
// AppendSingle with RawInsertSingle.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/eventstoretest"
	"github.com/purepool/purepool/events/internal/appendplan"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/internal/testenv"
)

func reportEventsPerSecond(b *testing.B, perOp int) {
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "events/s")
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
	reportEventsPerSecond(b, 1)
}

// BenchmarkAppendBatch100 appends 100 events per call: 10 streams of 10.
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
	reportEventsPerSecond(b, 100)
}

// rawTable prepares the baseline: a table of the same shape as
// eventstore.events, and rows identical to those Append stores.
func rawTable(b *testing.B) (*pgxpool.Pool, func(n int, next *uint64) [][]any) {
	url := testenv.NewPostgresDB(b)
	ctx := context.Background()
	s, err := postgres.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	s.Close()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `CREATE TABLE raw_events (LIKE eventstore.events INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	template := eventstoretest.BenchWrites(b, 1, 1)[0].Events[0]
	rows := func(n int, next *uint64) [][]any {
		out := make([][]any, n)
		for i := range out {
			*next++
			e := events.Envelope{ID: uuid.New(), Stream: fmt.Sprintf("solution-%d", i/10), Version: int64(*next),
				Position: *next, Type: template.Type, SchemaVersion: template.SchemaVersion,
				RecordedAt: events.Timestamp(time.Now()), Data: template.Data, Metadata: template.Metadata}
			hash := events.ChainHash(nil, e)
			out[i] = []any{int64(e.Position), e.Stream, e.Version, [16]byte(e.ID), e.Type, int32(e.SchemaVersion),
				e.RecordedAt, []byte(e.Data), appendplan.MarshalMetadata(e.Metadata), hash, hash}
		}
		return out
	}
	return pool, rows
}

const rawInsert = `INSERT INTO raw_events (position, stream, version, event_id, type, schema_version,
	recorded_at, data, metadata, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

func BenchmarkRawInsertSingle(b *testing.B) {
	pool, rows := rawTable(b)
	ctx := context.Background()
	var next uint64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		row := rows(1, &next)[0]
		b.StartTimer()
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, rawInsert, row...)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	reportEventsPerSecond(b, 1)
}

// BenchmarkRawInsertBatch100 is the baseline of AppendBatch100: 100 rows in
// one transaction, sent as a pipelined pgx.Batch of INSERTs or as COPY.
func BenchmarkRawInsertBatch100(b *testing.B) {
	for _, mode := range []string{"batch", "copy"} {
		b.Run(mode, func(b *testing.B) {
			pool, rows := rawTable(b)
			ctx := context.Background()
			var next uint64
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				batchRows := rows(100, &next)
				b.StartTimer()
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					if mode == "copy" {
						_, err := tx.CopyFrom(ctx, pgx.Identifier{"raw_events"}, []string{"position", "stream", "version",
							"event_id", "type", "schema_version", "recorded_at", "data", "metadata", "prev_hash", "hash"},
							pgx.CopyFromRows(batchRows))
						return err
					}
					batch := &pgx.Batch{}
					for _, r := range batchRows {
						batch.Queue(rawInsert, r...)
					}
					return tx.SendBatch(ctx, batch).Close()
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			reportEventsPerSecond(b, 100)
		})
	}
}

// BenchmarkReadAll reads a log of 20,000 events from the start in pages of
// 1000, as a catching-up projector does.
func BenchmarkReadAll(b *testing.B) {
	s := openStore(b)
	defer s.Close()
	ctx := context.Background()
	const total = 20000
	for range total / 1000 {
		writes := eventstoretest.BenchWrites(b, 100, 10)
		if _, err := s.Append(ctx, writes...); err != nil {
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
	reportEventsPerSecond(b, total)
}

// BenchmarkInterleaved alternates, in every iteration, one Append and the
// same rows through each raw baseline, timing each separately, so that load
// from other processes on a shared machine falls on all of them alike. It
// reports events/s of each and the ratio Append / baseline.
func BenchmarkInterleaved(b *testing.B) {
	for _, size := range []struct {
		name              string
		streams, perWrite int
	}{{"single", 1, 1}, {"batch100", 10, 10}} {
		b.Run(size.name, func(b *testing.B) {
			s := openStore(b)
			defer s.Close()
			pool, rows := rawTable(b)
			ctx := context.Background()
			writes := eventstoretest.BenchWrites(b, size.streams, size.perWrite)
			n := size.streams * size.perWrite
			cols := []string{"position", "stream", "version", "event_id", "type", "schema_version", "recorded_at",
				"data", "metadata", "prev_hash", "hash"}
			var next uint64
			var tAppend, tBatch, tCopy time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				eventstoretest.FreshIDs(writes)
				batchRows, copyRows := rows(n, &next), rows(n, &next)
				b.StartTimer()

				t0 := time.Now()
				if _, err := s.Append(ctx, writes...); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					batch := &pgx.Batch{}
					for _, r := range batchRows {
						batch.Queue(rawInsert, r...)
					}
					return tx.SendBatch(ctx, batch).Close()
				})
				if err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					_, err := tx.CopyFrom(ctx, pgx.Identifier{"raw_events"}, cols, pgx.CopyFromRows(copyRows))
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				t3 := time.Now()
				tAppend += t1.Sub(t0)
				tBatch += t2.Sub(t1)
				tCopy += t3.Sub(t2)
			}
			events := float64(b.N * n)
			b.ReportMetric(events/tAppend.Seconds(), "append-events/s")
			b.ReportMetric(events/tBatch.Seconds(), "raw-insert-events/s")
			b.ReportMetric(events/tCopy.Seconds(), "raw-copy-events/s")
			b.ReportMetric(tBatch.Seconds()/tAppend.Seconds(), "append/raw-insert")
			b.ReportMetric(tCopy.Seconds()/tAppend.Seconds(), "append/raw-copy")
		})
	}
}
