package resilience_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/internal/testenv"
)

// stressEnv makes the restart tests run more rounds (and enables the ones
// too slow for the default suite).
const stressEnv = "PUREPOOL_STRESS"

// waitFor polls cond every 10 ms until it holds; it fails the test after
// timeout with what.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// storeWriter appends batches of 1 to 3 events to its own stream with exact
// expected versions. A failed append is retried with the same event ids
// until it succeeds: when the outcome of the failed attempt was unknown (the
// connection died around COMMIT), the retry reports Duplicate instead of
// writing twice.
type storeWriter struct {
	stream     string
	acked      []uuid.UUID // event ids whose Append returned nil, in stream order
	failures   atomic.Int64
	duplicates int // retries that found their write already stored
}

func (w *storeWriter) run(ctx context.Context, s events.Store, stop *atomic.Bool, total *atomic.Int64) error {
	for !stop.Load() {
		n := 1 + len(w.acked)%3
		write := events.StreamWrite{Stream: w.stream, Expected: events.NoStream}
		if len(w.acked) > 0 {
			write.Expected = events.Exact(int64(len(w.acked) - 1))
		}
		for i := range n {
			data, _ := json.Marshal(map[string]int{"seq": len(w.acked) + i})
			write.Events = append(write.Events, events.NewEvent{
				ID: uuid.New(), Type: "resilience.Probe", SchemaVersion: 1, Data: data,
			})
		}
		for {
			res, err := s.Append(ctx, write)
			if err == nil {
				if len(res.Events) != n {
					return fmt.Errorf("%s: append of %d events returned %d", w.stream, n, len(res.Events))
				}
				for i, e := range res.Events {
					if e.ID != write.Events[i].ID || e.Version != int64(len(w.acked)+i) {
						return fmt.Errorf("%s: stored %s at version %d, want %s at %d",
							w.stream, e.ID, e.Version, write.Events[i].ID, len(w.acked)+i)
					}
				}
				if res.Duplicate {
					w.duplicates++
				}
				for _, e := range write.Events {
					w.acked = append(w.acked, e.ID)
				}
				total.Add(int64(n))
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Repeating the exact same write can never conflict: a write
			// that was stored reads back as Duplicate.
			if errors.Is(err, events.ErrWrongExpectedVersion) || errors.Is(err, events.ErrDuplicateMismatch) {
				return fmt.Errorf("%s: retry of the same write: %w", w.stream, err)
			}
			w.failures.Add(1)
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// logSubscriber runs Subscribe the way a projector does: when Subscribe
// returns an error, it resumes from the last position its handler accepted.
type logSubscriber struct {
	mu         sync.Mutex
	delivered  []events.Envelope
	checkpoint uint64
	resumes    int
	lastErr    error
}

func (sub *logSubscriber) run(ctx context.Context, s events.Store) {
	for ctx.Err() == nil {
		sub.mu.Lock()
		from := sub.checkpoint
		sub.mu.Unlock()
		err := s.Subscribe(ctx, from, func(_ context.Context, batch []events.Envelope) error {
			sub.mu.Lock()
			defer sub.mu.Unlock()
			sub.delivered = append(sub.delivered, batch...)
			sub.checkpoint = batch[len(batch)-1].Position
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		sub.mu.Lock()
		sub.resumes++
		sub.lastErr = err
		sub.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
}

func (sub *logSubscriber) state() (checkpoint uint64, resumes int) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.checkpoint, sub.resumes
}

// TestPostgresStore_ServerRestartsUnderLoad stops and crashes a private
// PostgreSQL server while writers append and a subscription tails the log.
//
// What it shows:
//   - while the server is down, Append and Head return errors (never a
//     false success), and the writers' appends fail;
//   - once it is back, the same Store (its pgxpool) reconnects by itself:
//     appends succeed again without reopening anything;
//   - a write whose outcome was unknown is retried with the same ids and is
//     stored once (the log holds exactly the acknowledged events, each
//     stream in write order, positions gapless);
//   - Subscribe does not reconnect internally: it returns the read error to
//     its caller, who calls it again from its checkpoint; across the
//     restarts the subscriber receives every event exactly once, in
//     position order.
func TestPostgresStore_ServerRestartsUnderLoad(t *testing.T) {
	t.Parallel()
	pg := testenv.NewPrivatePostgres(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	store, err := postgres.Open(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	store.PollInterval = 50 * time.Millisecond
	store.PageSize = 7 // several pages per catch-up, so a resume can land mid-catch-up

	subCtx, stopSub := context.WithCancel(ctx)
	defer stopSub()
	sub := &logSubscriber{}
	var subDone sync.WaitGroup
	subDone.Go(func() { sub.run(subCtx, store) })

	writers := make([]*storeWriter, 3)
	var stop atomic.Bool
	var total atomic.Int64
	writerErrs := make(chan error, len(writers))
	var writing sync.WaitGroup
	for i := range writers {
		writers[i] = &storeWriter{stream: fmt.Sprintf("resilience-%d", i)}
		writing.Go(func() { writerErrs <- writers[i].run(ctx, store, &stop, &total) })
	}
	failures := func() (n int64) {
		for _, w := range writers {
			n += w.failures.Load()
		}
		return n
	}
	progress := func(n int64, after string) {
		t.Helper()
		from := total.Load()
		waitFor(t, 30*time.Second, fmt.Sprintf("%d more appended events after %s", n, after),
			func() bool { return total.Load() >= from+n })
	}

	rounds := 2
	if stress() {
		rounds = 10
	}
	progress(30, "start")
	for round := range rounds {
		kind := "stop"
		began := time.Now()
		if round%2 == 0 {
			if err := pg.Stop(); err != nil {
				t.Fatal(err)
			}
		} else {
			kind = "crash"
			pg.Crash()
		}
		stopped := time.Since(began)
		failed, resumed := failures(), func() int { _, r := sub.state(); return r }()

		probe := events.NewEvent{ID: uuid.New(), Type: "resilience.Probe", SchemaVersion: 1, Data: []byte(`{}`)}
		if _, err := events.Append(ctx, store, "resilience-probe", events.Any, probe); err == nil {
			t.Fatalf("round %d (%s): Append succeeded while the server was down", round, kind)
		}
		if _, err := store.Head(ctx); err == nil {
			t.Fatalf("round %d (%s): Head succeeded while the server was down", round, kind)
		}
		waitFor(t, 10*time.Second, "the writers to see the outage", func() bool { return failures() > failed })
		waitFor(t, 10*time.Second, "Subscribe to return the outage", func() bool { _, r := sub.state(); return r > resumed })

		began = time.Now()
		if err := pg.Start(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %s took %s, start %s", round, kind, stopped.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
		progress(30, fmt.Sprintf("%s in round %d", kind, round))
	}
	stop.Store(true)
	writing.Wait()
	close(writerErrs)
	for err := range writerErrs {
		if err != nil {
			t.Fatal(err)
		}
	}

	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the subscriber to reach the head", func() bool { c, _ := sub.state(); return c >= head })
	stopSub()
	subDone.Wait()

	// The log holds exactly the acknowledged events, each once.
	var log []events.Envelope
	for {
		page, err := store.ReadAll(ctx, uint64(len(log)), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		log = append(log, page...)
	}
	var acked, duplicates int
	for _, w := range writers {
		acked += len(w.acked)
		duplicates += w.duplicates
		stored, err := events.ReadWholeStream(ctx, store, w.stream)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != len(w.acked) {
			t.Fatalf("%s: %d events stored, %d acknowledged", w.stream, len(stored), len(w.acked))
		}
		for i, e := range stored {
			if e.ID != w.acked[i] || e.Version != int64(i) {
				t.Fatalf("%s: version %d holds %s (version %d), want %s", w.stream, i, e.ID, e.Version, w.acked[i])
			}
		}
	}
	if uint64(len(log)) != head || len(log) != acked {
		t.Fatalf("log has %d events, head %d, acknowledged %d", len(log), head, acked)
	}
	seen := map[uuid.UUID]bool{}
	for i, e := range log {
		if e.Position != uint64(i+1) {
			t.Fatalf("log position %d at index %d: positions must be gapless", e.Position, i)
		}
		if seen[e.ID] {
			t.Fatalf("event %s stored twice", e.ID)
		}
		seen[e.ID] = true
	}

	// The subscriber got every event exactly once, in order.
	sub.mu.Lock()
	delivered, resumes, lastErr := sub.delivered, sub.resumes, sub.lastErr
	sub.mu.Unlock()
	if len(delivered) != len(log) {
		t.Fatalf("subscriber received %d events, the log has %d", len(delivered), len(log))
	}
	for i := range log {
		if delivered[i].ID != log[i].ID || delivered[i].Position != log[i].Position {
			t.Fatalf("delivery %d: %s at %d, want %s at %d",
				i, delivered[i].ID, delivered[i].Position, log[i].ID, log[i].Position)
		}
	}
	if resumes < rounds {
		t.Fatalf("Subscribe returned %d times over %d outages; each outage must reach the caller", resumes, rounds)
	}
	t.Logf("%d events in %d outages: %d failed appends retried, %d retries found their write stored (duplicate), "+
		"subscriber resumed %d times (last error: %v)", len(log), rounds, failures(), duplicates, resumes, lastErr)
}

func stress() bool { return os.Getenv(stressEnv) != "" }
