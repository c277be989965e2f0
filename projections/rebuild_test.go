package projections_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/events"
	eventsqlite "github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/projections"
)

func newEventStore(t testing.TB) events.Store {
	t.Helper()
	ctx := context.Background()
	s, err := eventsqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s.PollInterval = 20 * time.Millisecond
	t.Cleanup(func() { s.Close() })
	return s
}

// load appends the history's events with positions in (from, to].
func load(t testing.TB, s events.Store, h *ledgergen.History, from, to int) {
	t.Helper()
	part := &ledgergen.History{Envelopes: h.Envelopes[from:to]}
	for _, w := range part.Writes(500) {
		if _, err := s.Append(context.Background(), w...); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The runner follows the store live, a rebuild switches generations while a
// reader keeps reading and while new events arrive, and afterwards the
// runner carries on in the new generation: the result equals the history.
func TestRebuild_BlueGreenWithLiveRunnerAndReaders(t *testing.T) {
	h := smallHistory()
	split := len(h.Envelopes) * 4 / 5
	for _, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			db := tt.open(t)
			store := newEventStore(t)
			load(t, store, h, 0, split/2)

			stopRunner := startRunner(ctx, t, db, store)
			load(t, store, h, split/2, split) // live, while the runner follows
			waitFor(t, "runner catch-up", func() bool {
				cp, err := db.Checkpoint(ctx)
				return err == nil && cp == uint64(split)
			})

			// A reader that must never see a half-built or missing table.
			reader := projections.NewReader(db.SQL, db.Dialect)
			var readErr error
			var reads int
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				var last int64
				for {
					select {
					case <-stop:
						return
					default:
					}
					p, err := reader.Pool(ctx, h.Network)
					if err == nil && p.Shares < last {
						err = errors.New("pool shares went backwards: a reader saw a partial table")
					}
					if err != nil {
						readErr = err
						return
					}
					last = p.Shares
					reads++
				}
			}()

			st, err := db.Rebuild(ctx, store, projections.RebuildOptions{
				Progress: io.Discard,
				PageSize: 700,
				BeforeSwitch: func(ctx context.Context) error {
					load(t, store, h, split, len(h.Envelopes)) // appended during the rebuild
					return nil
				},
			})
			if err != nil {
				t.Fatalf("rebuild: %v", err)
			}
			if st.Events == 0 || st.Position < uint64(split) || st.Rows == 0 {
				t.Fatalf("rebuild stats %+v", st)
			}
			waitFor(t, "runner after switch", func() bool {
				cp, err := db.Checkpoint(ctx)
				return err == nil && cp == uint64(len(h.Envelopes))
			})
			close(stop)
			wg.Wait()
			if readErr != nil {
				t.Fatalf("concurrent reader: %v", readErr)
			}
			if reads == 0 {
				t.Fatal("the concurrent reader never read")
			}
			t.Logf("%d concurrent reads; rebuild %+v", reads, st)
			checkAgainst(t, db, h)
			status, err := db.Status(ctx, store)
			if err != nil || len(status) != 1 || status[0].Lag != 0 || status[0].Position != uint64(len(h.Envelopes)) {
				t.Fatalf("status %+v, %v", status, err)
			}
			if db.Dialect == projections.Postgres && status[0].Generation != 2 {
				t.Fatalf("generation %d after one rebuild, want 2", status[0].Generation)
			}
			// A second rebuild with nothing new is also correct.
			if _, err := db.Rebuild(ctx, store, projections.RebuildOptions{}); err != nil {
				t.Fatalf("second rebuild: %v", err)
			}
			waitFor(t, "runner after second switch", func() bool {
				cp, err := db.Checkpoint(ctx)
				return err == nil && cp == uint64(len(h.Envelopes))
			})
			checkAgainst(t, db, h)
			stopRunner()
		})
	}
}

// An event that cannot be decoded stops the runner with an error (skipping
// it would make balances wrong), and nothing of its batch is written; an
// event type this build does not know is skipped.
func TestRunner_StopsOnUndecodableEvent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := targets[0].open(t)
	store := newEventStore(t)
	h := smallHistory()
	load(t, store, h, 0, 50)
	future := events.NewEvent{ID: uuid.New(), Type: "SomethingNewer", SchemaVersion: 1, Data: []byte(`{}`)}
	if _, err := events.Append(ctx, store, "future-1", events.Any, future); err != nil {
		t.Fatal(err)
	}
	runner := &projections.Runner{Store: store, DB: db, RetryDelay: 10 * time.Millisecond, Logger: discardLogger()}
	bad := events.NewEvent{ID: uuid.New(), Type: events.TypeSolutionAccepted, SchemaVersion: 1, Data: []byte(`{"difficulty":"lots"}`)}
	if _, err := events.Append(ctx, store, "solution-bad", events.Any, bad); err != nil {
		t.Fatal(err)
	}
	err := runner.Run(ctx)
	if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "SolutionAccepted at position 52") {
		t.Fatalf("runner: %v, want a decode error at position 52", err)
	}
	if cp, err := db.Checkpoint(ctx); err != nil || cp != 0 {
		t.Fatalf("checkpoint %d (%v): the failed batch must write nothing", cp, err)
	}
	// Applied up to just before it, the unknown type is skipped.
	if cp, err := db.ApplyBatch(ctx, 0, mustReadAll(t, store)[:51]); err != nil || cp != 51 {
		t.Fatalf("apply with an unknown type: %d, %v", cp, err)
	}
}

func mustReadAll(t *testing.T, s events.Store) []events.Envelope {
	t.Helper()
	envs, err := s.ReadAll(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	return envs
}

// Two projector instances on one read model (as during a deploy) still
// apply every event exactly once.
func TestRunner_TwoInstances(t *testing.T) {
	h := smallHistory()
	for _, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			db := tt.open(t)
			store := newEventStore(t)
			load(t, store, h, 0, len(h.Envelopes)/3)
			errs := make(chan error, 2)
			for i := 0; i < 2; i++ {
				r := &projections.Runner{Store: store, DB: db, MaxBatch: 50 + 37*i, RetryDelay: 5 * time.Millisecond, Logger: discardLogger()}
				go func() { errs <- r.Run(ctx) }()
			}
			load(t, store, h, len(h.Envelopes)/3, len(h.Envelopes))
			waitFor(t, "both runners", func() bool {
				cp, err := db.Checkpoint(ctx)
				return err == nil && cp == uint64(len(h.Envelopes))
			})
			cancel()
			for i := 0; i < 2; i++ {
				if err := <-errs; !errors.Is(err, context.Canceled) {
					t.Fatalf("runner: %v", err)
				}
			}
			checkAgainst(t, db, h)
		})
	}
}

// While a rebuild switches generations, live projectors are held off: what
// they would apply to the old tables after the switch's last catch-up would
// vanish from the views at the switch, and readers would see them go back.
// On MariaDB, whose RENAME TABLE cannot run in a transaction, a named lock
// does this (SQLite's switch is one write transaction, trivially).
func TestRebuild_SwitchHoldsOffLiveProjectors(t *testing.T) {
	h := smallHistory()
	split := len(h.Envelopes) / 2
	for _, tt := range targets {
		if tt.name == "sqlite" {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			db := tt.open(t)
			store := newEventStore(t)
			load(t, store, h, 0, split)
			stopRunner := startRunner(ctx, t, db, store)
			waitFor(t, "runner catch-up", func() bool {
				cp, err := db.Checkpoint(ctx)
				return err == nil && cp == uint64(split)
			})
			opt := projections.RebuildOptions{PageSize: 700}
			var during uint64
			projections.DuringSwitch(&opt, func(ctx context.Context) error {
				load(t, store, h, split, len(h.Envelopes)) // after the switch's catch-up
				// The live projector follows the log within milliseconds
				// (see the wait above); held off, it must not move at all.
				for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
					cp, err := db.Checkpoint(ctx)
					if err != nil {
						return err
					}
					during = max(during, cp)
				}
				return nil
			})
			if _, err := db.Rebuild(ctx, store, opt); err != nil {
				t.Fatalf("rebuild: %v", err)
			}
			if during != uint64(split) {
				t.Fatalf("during the switch the live views moved from %d to %d", split, during)
			}
			waitFor(t, "runner after switch", func() bool {
				cp, err := db.Checkpoint(ctx)
				return err == nil && cp == uint64(len(h.Envelopes))
			})
			checkAgainst(t, db, h)
			stopRunner()
		})
	}
}

// startRunner runs a live projector; the returned stop ends it and checks
// that it ran until then.
func startRunner(ctx context.Context, t *testing.T, db *projections.DB, store events.Store) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	runner := &projections.Runner{Store: store, DB: db, MaxBatch: 300, RetryDelay: 20 * time.Millisecond, Logger: discardLogger()}
	runErr := make(chan error, 1)
	go func() { runErr <- runner.Run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		if err := <-runErr; !errors.Is(err, context.Canceled) {
			t.Fatalf("runner: %v", err)
		}
	}
}
