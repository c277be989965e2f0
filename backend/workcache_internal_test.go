package backend

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
)

// WorksCached is how many works the backend holds in memory (for tests).
func (b *Backend) WorksCached() int { return b.works.len() }

// WorkWaitsHeld is how many solutions' waits for their work the backend
// remembers (for tests).
func (b *Backend) WorkWaitsHeld() int { return b.waits.len() }

// TestWorkCacheBoundedByAge hands out a work every second for three hours
// with an age of 100 s: the cache never holds more works than were handed
// out or read in the last two ages (about 200, not 10,800), always holds
// those of the last age, and a work in use stays.
func TestWorkCacheBoundedByAge(t *testing.T) {
	const age = 100 * time.Second
	c := newWorkCache(age, 1_000_000)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := make([]uuid.UUID, 3*3600)
	inUse := uuid.New()
	c.put(inUse, workRef{miner: uuid.New()}, t0)
	touched := map[uuid.UUID]time.Time{inUse: t0} // last put or read
	recent := func(now time.Time) int {
		n := 0
		for _, at := range touched {
			if now.Sub(at) <= 2*age {
				n++
			}
		}
		return n
	}
	peak := 0
	for i := range ids {
		now := t0.Add(time.Duration(i) * time.Second)
		ids[i] = uuid.New()
		c.put(ids[i], workRef{miner: uuid.New()}, now)
		touched[ids[i]] = now
		if _, ok := c.get(inUse, now); !ok {
			t.Fatalf("a work read every second was forgotten after %d s", i)
		}
		touched[inUse] = now
		n := c.len()
		peak = max(peak, n)
		if i%10 == 0 && n > recent(now) {
			t.Fatalf("after %d handouts the cache holds %d works; %d were touched in the last two ages", i+1, n, recent(now))
		}
		// Every work of the last age is still there.
		if i%97 == 0 {
			for j := max(0, i-int(age/time.Second)+1); j <= i; j++ {
				if _, ok := c.get(ids[j], now); !ok {
					t.Fatalf("at %d s the work handed out at %d s is forgotten", i, j)
				}
				touched[ids[j]] = now
			}
		}
	}
	// A work not read since 3 ages is gone.
	if _, ok := c.get(ids[0], t0.Add(3*time.Hour)); ok {
		t.Fatal("a work three hours old is still held")
	}
	if peak < int(age/time.Second) {
		t.Fatalf("peak of %d works: the cache forgets works younger than its age", peak)
	}
	t.Logf("%d handouts over %s: at most %d works held", len(ids), 3*time.Hour, peak)
	// After a long idle gap, the next access forgets everything old.
	c.get(uuid.New(), t0.Add(5*time.Hour))
	if n := c.len(); n != 0 {
		t.Fatalf("%d works held after an idle gap of two ages", n)
	}
}

// TestWorkCacheBoundedByCount: handouts faster than the age allows are
// bounded by the count (a burst of 100,000 handouts in one second).
func TestWorkCacheBoundedByCount(t *testing.T) {
	c := newWorkCache(time.Hour, 1000)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var last uuid.UUID
	for range 100_000 {
		last = uuid.New()
		c.put(last, workRef{}, now)
		if n := c.len(); n > 1000 {
			t.Fatalf("%d works held, bound 1000", n)
		}
	}
	if _, ok := c.get(last, now); !ok {
		t.Fatal("the last work handed out is not held")
	}
}

// TestWorkRefKeepsWhatValidationReads: a cached work rebuilds the fields
// DecideSolution reads, and interned strings are shared.
func TestWorkRefKeepsWhatValidationReads(t *testing.T) {
	w := events.WorkIssued{Network: "test", WorkID: uuid.New(), MinerID: uuid.New(), Address: "a", Worker: "w",
		Target: "00ff" + "00000000000000000000000000000000000000000000000000000000000", At: time.Now()}
	got := refOf(w).issued(w.WorkID)
	if got.WorkID != w.WorkID || got.Network != w.Network || got.MinerID != w.MinerID || got.Target != w.Target {
		t.Fatalf("rebuilt %+v from %+v", got, w)
	}
	if refOf(w).target != refOf(events.WorkIssued{Target: string([]byte(w.Target))}).target {
		t.Fatal("equal targets are not interned")
	}
}

// TestWorkWaitsForgetIdleEntries: waits of commands that never came back
// are dropped after keep; a running wait keeps its start.
func TestWorkWaitsForgetIdleEntries(t *testing.T) {
	w := newWorkWaits(time.Minute)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := uuid.New()
	if got := w.start(a, t0); !got.Equal(t0) {
		t.Fatalf("start %s", got)
	}
	if got := w.start(a, t0.Add(30*time.Second)); !got.Equal(t0) {
		t.Fatalf("a second delivery restarted the wait at %s", got)
	}
	for i := range 10_000 {
		w.start(uuid.New(), t0.Add(time.Duration(i)*time.Second))
		if n := w.len(); n > 121 {
			t.Fatalf("%d waits held", n)
		}
	}
	w.done(a)
	b := uuid.New()
	w.start(b, t0)
	w.done(b)
	if got := w.start(b, t0.Add(time.Hour)); !got.Equal(t0.Add(time.Hour)) {
		t.Fatalf("a finished wait was kept: %s", got)
	}
}

// GroupCommitRunning reports whether Run's group commit is up (for tests).
func (b *Backend) GroupCommitRunning() bool { return b.groupRunning.Load() }

// BenchmarkWorkCacheMemory measures the heap a cached work costs: the whole
// decoded WorkIssued by string key (what the cache held before) against the
// workRef the validation needs, by uuid key, for 100,000 handouts of 1,000
// miners.
//
//	go test ./backend -run '^$' -bench WorkCacheMemory
func BenchmarkWorkCacheMemory(b *testing.B) {
	const n = 100_000
	envs := make([]events.Envelope, n)
	for i := range envs {
		a := fmt.Sprintf("y%033d", i%1000)
		ne, err := events.New(uuid.New(), events.WorkIssued{Network: "test", WorkID: uuid.New(), MinerID: uuid.NewSHA1(uuid.Nil, []byte(a)),
			Address: a, Worker: "rig", Target: strings.Repeat("0", 8) + strings.Repeat("f", 56), ThreadID: i % 8, Agent: "1.1.4.1", OS: "LIN",
			At: time.Now()}, events.Metadata{})
		if err != nil {
			b.Fatal(err)
		}
		envs[i] = events.Envelope{Type: ne.Type, Data: ne.Data, SchemaVersion: ne.SchemaVersion}
	}
	decode := func(env events.Envelope) events.WorkIssued {
		e, err := events.Decode(env)
		if err != nil {
			b.Fatal(err)
		}
		return e.(events.WorkIssued)
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var whole, ref float64
	for range b.N {
		before := heap()
		old := newCache[events.WorkIssued](1_000_000)
		for _, env := range envs {
			w := decode(env)
			old.put(w.WorkID.String(), w)
		}
		whole = float64(heap()-before) / n
		runtime.KeepAlive(old)
		old = nil
		before = heap()
		c := newWorkCache(time.Hour, 1_000_000)
		now := time.Now()
		for _, env := range envs {
			w := decode(env)
			c.put(w.WorkID, refOf(w), now)
		}
		ref = float64(heap()-before) / n
		runtime.KeepAlive(c)
	}
	b.ReportMetric(whole, "B/work-before")
	b.ReportMetric(ref, "B/work-after")
	b.ReportMetric(whole/ref, "before/after")
}
