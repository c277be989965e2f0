package lease_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/backend/lease"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/esdb"
	"github.com/purepool/purepool/events/esdb/esdbfake"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var (
	_ backend.Locker = (*lease.Locker)(nil)
	_ backend.Fence  = (*lease.Locker)(nil)
)

func stores() map[string]func(t *testing.T) events.Store {
	return map[string]func(t *testing.T) events.Store{
		"sqlite": func(t *testing.T) events.Store {
			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "events.db"))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"postgres": func(t *testing.T) events.Store {
			s, err := postgres.Open(t.Context(), testenv.NewPostgresDB(t))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"esdbfake": func(t *testing.T) events.Store {
			fake, err := esdbfake.Listen()
			if err != nil {
				t.Fatal(err)
			}
			s, err := esdb.Open(fake.URL(), quiet)
			if err != nil {
				fake.Stop()
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close(); fake.Stop() })
			return s
		},
	}
}

// clock is a shared hand-moved clock: the test decides when time passes.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const (
	ttl  = 30 * time.Second
	skew = 2 * time.Second
)

func newLocker(store events.Store, owner string, c *clock) *lease.Locker {
	// Renew is long: the test renews by hand, so nothing depends on timing.
	return lease.New(store, lease.Config{Owner: owner, TTL: ttl, Renew: time.Hour, Skew: skew, Now: c.Now, Logger: quiet})
}

// TestTwoLockersOneHolder: two backends contend for a lock on one store;
// the holder renews, then dies (stops renewing); it stops acting Skew
// before its lease ends, the other takes over only once it has ended, and
// at no step do both hold it.
func TestTwoLockersOneHolder(t *testing.T) {
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store := open(t)
			c := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			a, b := newLocker(store, "a", c), newLocker(store, "b", c)
			const lock = "chain-test"
			try := func(l *lease.Locker) bool {
				t.Helper()
				unlock, ok, err := l.TryLock(ctx, lock)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					unlock()
				}
				return ok
			}
			neverBoth := func(step string) {
				t.Helper()
				if a.Holds(lock) == nil && b.Holds(lock) == nil {
					t.Fatalf("%s: both hold %s", step, lock)
				}
			}
			if !try(a) {
				t.Fatal("a could not take a free lock")
			}
			if try(b) {
				t.Fatal("b took a held lock")
			}
			neverBoth("taken")
			// In-process exclusion: a second pass of a's process waits.
			unlock, ok, err := a.TryLock(ctx, lock)
			if err != nil || !ok {
				t.Fatalf("a again: %v %v", ok, err)
			}
			if _, ok2, _ := a.TryLock(ctx, lock); ok2 {
				t.Fatal("two passes of one process hold the lock")
			}
			unlock()

			// a renews in time: b still cannot take it past the first end.
			c.add(ttl / 2)
			if err := a.Renew(ctx); err != nil {
				t.Fatal(err)
			}
			c.add(ttl/2 + time.Second)
			if try(b) {
				t.Fatal("b took a renewed lock")
			}
			if err := a.Holds(lock); err != nil {
				t.Fatalf("a after renewing: %v", err)
			}
			neverBoth("renewed")

			// a dies: no more renewals. Just before the end minus skew it
			// may still act; from there on it may not, and b may not take
			// the lease until it has ended.
			c.add(ttl/2 - time.Second - skew - time.Millisecond)
			if err := a.Holds(lock); err != nil {
				t.Fatalf("a before its lease's end: %v", err)
			}
			c.add(time.Millisecond)
			if err := a.Holds(lock); !errors.Is(err, lease.ErrNotHeld) {
				t.Fatalf("a within skew of its lease's end: %v", err)
			}
			if try(b) {
				t.Fatal("b took the lease before it ended")
			}
			c.add(skew)
			if !try(b) {
				t.Fatal("b could not take an ended lease")
			}
			neverBoth("taken over")
			if err := b.Holds(lock); err != nil {
				t.Fatal(err)
			}
			// a comes back: its renewal finds the lease lost, and it cannot
			// take it back.
			if err := a.Renew(ctx); err == nil {
				t.Fatal("a renewed a lease b holds")
			}
			if try(a) {
				t.Fatal("a took back b's lease")
			}
			neverBoth("a back")

			// b hands over on Close: a takes it at once.
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if !try(a) {
				t.Fatal("a could not take a handed-over lease")
			}
			if err := b.Holds(lock); err == nil {
				t.Fatal("b holds after Close")
			}
			a.Close()
		})
	}
}

// TestRaceForAnEndedLease: many lockers try at once for a free lease;
// exactly one gets it (the expected version decides).
func TestRaceForAnEndedLease(t *testing.T) {
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			store := open(t)
			c := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			for round := range 3 {
				lockers := make([]*lease.Locker, 6)
				for i := range lockers {
					lockers[i] = newLocker(store, string(rune('a'+i))+string(rune('0'+round)), c)
					t.Cleanup(func() { lockers[i].Close() })
				}
				var wg sync.WaitGroup
				var mu sync.Mutex
				won := 0
				for _, l := range lockers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						unlock, ok, err := l.TryLock(context.Background(), "payouts-test")
						if err != nil {
							t.Error(err)
							return
						}
						if ok {
							unlock()
							mu.Lock()
							won++
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				if won != 1 {
					t.Fatalf("round %d: %d lockers took the lease", round, won)
				}
				c.add(ttl) // the winner dies; the next round races again
			}
		})
	}
}
