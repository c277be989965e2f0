// Package eventstoretest is the conformance suite of events.Store: every
// adapter (events/postgres, events/sqlite, events/esdb, …) runs the same
// behavioural tests against a real instance of its store.
//
// Usage, in the adapter's _test.go:
//
//	func TestConformance(t *testing.T) {
//		eventstoretest.Run(t, func(t *testing.T) events.Store {
//			s := openFreshStore(t) // skip or fail here if the server is unavailable
//			return s
//		})
//	}
//
// newStore is called once per subtest. It should return a store over an
// empty log where it can (the suite then also checks Head == 0 on an empty
// store), but the suite only relies on what it writes itself: stream names
// are unique per run, and global reads start at the Head observed when the
// subtest began. Run closes each store when its subtest ends (before
// cleanups that newStore registered, such as dropping the database).
//
// A store that lacks an optional capability declares it with an Option; the
// suite then checks the documented fallback (for example ErrNotAtomic) and
// skips only the cases that need the capability.
//
// This API (Run, the Option constructors) is stable: other adapters call it.
package eventstoretest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
)

// StressEnv, when set to any value, makes the concurrency cases run many
// more writers and appends (minutes instead of seconds).
const StressEnv = "PUREPOOL_STRESS"

// Option declares a capability the store under test does not have.
type Option func(*config)

type config struct {
	notAtomic bool
	noChain   bool
	sparse    bool
}

// NotAtomic declares that the store cannot append to several streams in one
// atomic write and returns events.ErrNotAtomic for such a write (as the
// EventStoreDB adapter does). The suite checks that, and skips the
// multi-stream cases.
func NotAtomic() Option { return func(c *config) { c.notAtomic = true } }

// NoHashChain declares that the store leaves Envelope.PrevHash and Hash
// empty. The suite checks that they are empty instead of checking the chain.
func NoHashChain() Option { return func(c *config) { c.noChain = true } }

// SparsePositions declares that global positions increase in commit order
// but may skip numbers. Without it the suite requires gapless positions.
func SparsePositions() Option { return func(c *config) { c.sparse = true } }

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, newStore func(t *testing.T) events.Store, opts ...Option) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	h := &harness{cfg: cfg, newStore: newStore}
	tests := []struct {
		name   string
		atomic bool // needs multi-stream atomic appends
		run    func(t *testing.T, s events.Store)
	}{
		{"AppendAndRead", false, h.testAppendAndRead},
		{"ExpectedVersion", false, h.testExpectedVersion},
		{"ExpectedVersionAcrossStreams", true, h.testExpectedVersionAcrossStreams},
		{"NotAtomic", false, h.testNotAtomic},
		{"ConcurrentAppendOneStream", false, h.testConcurrentOneStream},
		{"ConcurrentAppendsWithSubscriber", false, h.testConcurrentWithSubscriber},
		{"IdempotentAppend", false, h.testIdempotent},
		{"ReadAllPaging", false, h.testReadAllPaging},
		{"ReadStreamFrom", false, h.testReadStream},
		{"NoStreamReservation", true, h.testReservation},
		{"Head", false, h.testHead},
		{"HashChain", false, h.testHashChain},
		{"SubscribeStops", false, h.testSubscribeStops},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.atomic && cfg.notAtomic {
				t.Skip("store declared NotAtomic: no multi-stream atomic appends")
			}
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.run(t, s)
		})
	}
}

type harness struct {
	cfg      config
	newStore func(t *testing.T) events.Store
}

// --- helpers ---

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func streamName(prefix string) string { return prefix + "-" + uuid.NewString() }

var eventSeq atomic.Int64

// newEvent makes an event whose data keeps odd spacing and key order, so a
// store that re-encodes JSON is caught.
func newEvent(typ string) events.NewEvent {
	n := eventSeq.Add(1)
	return events.NewEvent{
		ID:            uuid.New(),
		Type:          typ,
		SchemaVersion: 1,
		Data:          json.RawMessage(fmt.Sprintf(`{"z": %d,  "a":[1, 2.50, "é\u00e9"], "b" :{}}`, n)),
		Metadata:      events.Metadata{CommandID: fmt.Sprintf("cmd-%d", n), CorrelationID: "corr", CausationID: ""},
	}
}

func newEvents(n int, typ string) []events.NewEvent {
	out := make([]events.NewEvent, n)
	for i := range out {
		out[i] = newEvent(typ)
	}
	return out
}

func head(t *testing.T, ctx context.Context, s events.Store) uint64 {
	t.Helper()
	h, err := s.Head(ctx)
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	return h
}

func mustAppend(t *testing.T, ctx context.Context, s events.Store, writes ...events.StreamWrite) events.AppendResult {
	t.Helper()
	res, err := s.Append(ctx, writes...)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	n := 0
	for _, w := range writes {
		n += len(w.Events)
	}
	if len(res.Events) != n {
		t.Fatalf("Append returned %d envelopes for %d events", len(res.Events), n)
	}
	return res
}

// readAfter reads every event with Position > after, in pages of page.
func readAfter(t *testing.T, ctx context.Context, s events.Store, after uint64, page int) []events.Envelope {
	t.Helper()
	var all []events.Envelope
	for {
		got, err := s.ReadAll(ctx, after, page)
		if err != nil {
			t.Fatalf("ReadAll(%d, %d): %v", after, page, err)
		}
		if len(got) > page {
			t.Fatalf("ReadAll(%d, %d) returned %d events", after, page, len(got))
		}
		all = append(all, got...)
		if len(got) < page {
			return all
		}
		after = got[len(got)-1].Position
	}
}

func readStream(t *testing.T, ctx context.Context, s events.Store, stream string) []events.Envelope {
	t.Helper()
	got, err := events.ReadWholeStream(ctx, s, stream)
	if err != nil {
		t.Fatalf("ReadWholeStream(%q): %v", stream, err)
	}
	return got
}

// diff describes how two envelopes differ ("" when equal).
func diff(a, b events.Envelope) string {
	switch {
	case a.ID != b.ID:
		return fmt.Sprintf("id %s != %s", a.ID, b.ID)
	case a.Stream != b.Stream:
		return fmt.Sprintf("stream %q != %q", a.Stream, b.Stream)
	case a.Version != b.Version:
		return fmt.Sprintf("version %d != %d", a.Version, b.Version)
	case a.Position != b.Position:
		return fmt.Sprintf("position %d != %d", a.Position, b.Position)
	case a.Type != b.Type:
		return fmt.Sprintf("type %q != %q", a.Type, b.Type)
	case a.SchemaVersion != b.SchemaVersion:
		return fmt.Sprintf("schema version %d != %d", a.SchemaVersion, b.SchemaVersion)
	case !a.RecordedAt.Equal(b.RecordedAt):
		return fmt.Sprintf("recorded at %s != %s", a.RecordedAt, b.RecordedAt)
	case !bytes.Equal(a.Data, b.Data):
		return fmt.Sprintf("data %s != %s", a.Data, b.Data)
	case a.Metadata != b.Metadata:
		return fmt.Sprintf("metadata %+v != %+v", a.Metadata, b.Metadata)
	case !bytes.Equal(a.PrevHash, b.PrevHash):
		return fmt.Sprintf("prev hash %x != %x", a.PrevHash, b.PrevHash)
	case !bytes.Equal(a.Hash, b.Hash):
		return fmt.Sprintf("hash %x != %x", a.Hash, b.Hash)
	}
	return ""
}

func requireSame(t *testing.T, what string, got, want []events.Envelope) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := diff(got[i], want[i]); d != "" {
			t.Fatalf("%s: event %d differs: %s", what, i, d)
		}
	}
}

// checkOrder checks that positions increase after `after` (by exactly one
// unless the store declared SparsePositions) and that no id repeats.
func (h *harness) checkOrder(t *testing.T, what string, after uint64, envs []events.Envelope) {
	t.Helper()
	seen := make(map[uuid.UUID]bool, len(envs))
	prev := after
	for i, e := range envs {
		if e.Position <= prev || (!h.cfg.sparse && e.Position != prev+1) {
			t.Fatalf("%s: event %d has position %d after %d", what, i, e.Position, prev)
		}
		if seen[e.ID] {
			t.Fatalf("%s: event %s delivered twice", what, e.ID)
		}
		seen[e.ID] = true
		prev = e.Position
	}
}

// checkMatches checks the stored envelopes against what was appended.
func checkMatches(t *testing.T, stream string, firstVersion int64, got []events.Envelope, sent []events.NewEvent) {
	t.Helper()
	if len(got) != len(sent) {
		t.Fatalf("%d envelopes for %d events", len(got), len(sent))
	}
	for i, e := range got {
		n := sent[i]
		switch {
		case e.ID != n.ID:
			t.Fatalf("event %d: id %s, want %s", i, e.ID, n.ID)
		case e.Stream != stream:
			t.Fatalf("event %d: stream %q, want %q", i, e.Stream, stream)
		case e.Version != firstVersion+int64(i):
			t.Fatalf("event %d: version %d, want %d", i, e.Version, firstVersion+int64(i))
		case e.Type != n.Type || e.SchemaVersion != n.SchemaVersion:
			t.Fatalf("event %d: type %q v%d, want %q v%d", i, e.Type, e.SchemaVersion, n.Type, n.SchemaVersion)
		case !bytes.Equal(e.Data, n.Data):
			t.Fatalf("event %d: data %s, want the exact bytes %s", i, e.Data, n.Data)
		case e.Metadata != n.Metadata:
			t.Fatalf("event %d: metadata %+v, want %+v", i, e.Metadata, n.Metadata)
		case e.RecordedAt.Location() != time.UTC || !e.RecordedAt.Equal(events.Timestamp(e.RecordedAt)):
			t.Fatalf("event %d: RecordedAt %v is not UTC with microsecond precision", i, e.RecordedAt)
		case e.RecordedAt.IsZero():
			t.Fatalf("event %d: RecordedAt is zero", i)
		}
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

// --- the cases ---

func (h *harness) testAppendAndRead(t *testing.T, s events.Store) {
	ctx := ctxFor(t)
	base := head(t, ctx, s)
	if base == 0 {
		if got := readAfter(t, ctx, s, 0, 10); len(got) != 0 {
			t.Fatalf("Head is 0 but ReadAll(0) returned %d events", len(got))
		}
	}
	stream := streamName("conformance")
	sent := newEvents(3, "Tested")
	res := mustAppend(t, ctx, s, events.StreamWrite{Stream: stream, Expected: events.NoStream, Events: sent})
	if res.Duplicate {
		t.Fatal("a new write reported Duplicate")
	}
	checkMatches(t, stream, 0, res.Events, sent)
	h.checkOrder(t, "Append result", base, res.Events)
	requireSame(t, "ReadWholeStream vs Append result", readStream(t, ctx, s, stream), res.Events)
	requireSame(t, "ReadAll vs Append result", readAfter(t, ctx, s, base, 100), res.Events)
	if got := head(t, ctx, s); got != res.Events[2].Position {
		t.Fatalf("Head %d, want %d", got, res.Events[2].Position)
	}

	more := newEvents(2, "TestedAgain")
	res2 := mustAppend(t, ctx, s, events.StreamWrite{Stream: stream, Expected: events.Exact(2), Events: more})
	checkMatches(t, stream, 3, res2.Events, more)
	h.checkOrder(t, "second Append result", res.Events[2].Position, res2.Events)
}

func (h *harness) testExpectedVersion(t *testing.T, s events.Store) {
	ctx := ctxFor(t)
	stream := streamName("expected")
	steps := []struct {
		name     string
		expected events.ExpectedVersion
		ok       bool
		version  int64 // stream version after the step
	}{
		{"Exact(0) on a missing stream", events.Exact(0), false, -1},
		{"Exact(5) on a missing stream", events.Exact(5), false, -1},
		{"NoStream on a missing stream", events.NoStream, true, 0},
		{"NoStream on an existing stream", events.NoStream, false, 0},
		{"Exact(1) when at 0", events.Exact(1), false, 0},
		{"Exact(0) when at 0", events.Exact(0), true, 1},
		{"Exact(0) when at 1", events.Exact(0), false, 1},
		{"Any when at 1", events.Any, true, 2},
		{"Exact(2) when at 2", events.Exact(2), true, 3},
		{"NoStream when at 3", events.NoStream, false, 3},
	}
	for _, st := range steps {
		before := head(t, ctx, s)
		ev := newEvent("Versioned")
		res, err := events.Append(ctx, s, stream, st.expected, ev)
		if st.ok {
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if len(res.Events) != 1 || res.Events[0].Version != st.version || res.Events[0].ID != ev.ID {
				t.Fatalf("%s: stored %+v, want version %d", st.name, res.Events, st.version)
			}
		} else {
			wantErr(t, st.name, err, events.ErrWrongExpectedVersion)
			if len(res.Events) != 0 || res.Duplicate {
				t.Fatalf("%s: failed append returned %+v", st.name, res)
			}
			if got := head(t, ctx, s); got != before {
				t.Fatalf("%s: failed append moved Head from %d to %d", st.name, before, got)
			}
		}
		got := readStream(t, ctx, s, stream)
		if int64(len(got)) != st.version+1 {
			t.Fatalf("%s: stream holds %d events, want %d", st.name, len(got), st.version+1)
		}
		for i, e := range got {
			if e.Version != int64(i) {
				t.Fatalf("%s: event %d has version %d", st.name, i, e.Version)
			}
		}
	}
}

func (h *harness) testExpectedVersionAcrossStreams(t *testing.T, s events.Store) {
	ctx := ctxFor(t)
	a, b := streamName("across-a"), streamName("across-b")
	mustAppend(t, ctx, s, events.StreamWrite{Stream: a, Expected: events.NoStream, Events: newEvents(1, "A")})
	before := head(t, ctx, s)
	// b's expectation holds, a's does not: neither is written.
	_, err := s.Append(ctx,
		events.StreamWrite{Stream: b, Expected: events.NoStream, Events: newEvents(2, "B")},
		events.StreamWrite{Stream: a, Expected: events.Exact(3), Events: newEvents(1, "A")},
	)
	wantErr(t, "multi-stream append with one wrong expectation", err, events.ErrWrongExpectedVersion)
	if got := readStream(t, ctx, s, b); len(got) != 0 {
		t.Fatalf("stream b holds %d events after a failed atomic append", len(got))
	}
	if got := readStream(t, ctx, s, a); len(got) != 1 {
		t.Fatalf("stream a holds %d events, want 1", len(got))
	}
	if got := head(t, ctx, s); got != before {
		t.Fatalf("failed append moved Head from %d to %d", before, got)
	}
	// Both hold: both are written, in the order given.
	evB, evA := newEvents(2, "B"), newEvents(1, "A")
	res := mustAppend(t, ctx, s,
		events.StreamWrite{Stream: b, Expected: events.NoStream, Events: evB},
		events.StreamWrite{Stream: a, Expected: events.Exact(0), Events: evA},
	)
	checkMatches(t, b, 0, res.Events[:2], evB)
	checkMatches(t, a, 1, res.Events[2:], evA)
	h.checkOrder(t, "multi-stream append", before, res.Events)
}

func (h *harness) testNotAtomic(t *testing.T, s events.Store) {
	if !h.cfg.notAtomic {
		t.Skip("store is atomic across streams (see ExpectedVersionAcrossStreams)")
	}
	ctx := ctxFor(t)
	a, b := streamName("notatomic-a"), streamName("notatomic-b")
	before := head(t, ctx, s)
	_, err := s.Append(ctx,
		events.StreamWrite{Stream: a, Expected: events.Any, Events: newEvents(1, "A")},
		events.StreamWrite{Stream: b, Expected: events.Any, Events: newEvents(1, "B")},
	)
	wantErr(t, "multi-stream append on a NotAtomic store", err, events.ErrNotAtomic)
	if len(readStream(t, ctx, s, a))+len(readStream(t, ctx, s, b)) != 0 || head(t, ctx, s) != before {
		t.Fatal("a refused multi-stream append stored events")
	}
}

func (h *harness) testConcurrentOneStream(t *testing.T, s events.Store) {
	ctx := ctxFor(t)
	writers, rounds := 8, 6
	if os.Getenv(StressEnv) != "" {
		writers, rounds = 32, 100
	}
	stream := streamName("contended")
	var winners []uuid.UUID
	for round := range rounds {
		expected := events.NoStream
		if round > 0 {
			expected = events.Exact(int64(round - 1))
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		type outcome struct {
			id  uuid.UUID
			err error
		}
		results := make(chan outcome, writers)
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ev := newEvent("Contended")
				<-start
				_, err := events.Append(ctx, s, stream, expected, ev)
				results <- outcome{ev.ID, err}
			}()
		}
		close(start)
		wg.Wait()
		close(results)
		var won []uuid.UUID
		for r := range results {
			switch {
			case r.err == nil:
				won = append(won, r.id)
			case errors.Is(r.err, events.ErrWrongExpectedVersion):
			default:
				t.Fatalf("round %d: unexpected error %v", round, r.err)
			}
		}
		if len(won) != 1 {
			t.Fatalf("round %d (expected %s): %d writers won, want exactly 1", round, expected, len(won))
		}
		winners = append(winners, won[0])
	}
	got := readStream(t, ctx, s, stream)
	if len(got) != rounds {
		t.Fatalf("stream holds %d events, want %d", len(got), rounds)
	}
	for i, e := range got {
		if e.Version != int64(i) || e.ID != winners[i] {
			t.Fatalf("event %d: version %d id %s, want version %d id %s", i, e.Version, e.ID, i, winners[i])
		}
	}
}

// testConcurrentWithSubscriber runs writers on many streams while subscriber
// A tails the log and stops part-way; subscriber B resumes from A's
// checkpoint. A's accepted batches followed by B's must equal ReadAll.
func (h *harness) testConcurrentWithSubscriber(t *testing.T, s events.Store) {
	ctx := ctxFor(t)
	base := head(t, ctx, s)
	writers, appendsPerWriter := 4, 30
	if os.Getenv(StressEnv) != "" {
		writers, appendsPerWriter = 16, 500
	}
	streams := make([]string, 10)
	for i := range streams {
		streams[i] = streamName("busy")
	}

	type tail struct {
		mu       sync.Mutex
		accepted []events.Envelope
		last     atomic.Uint64
	}
	errStop := errors.New("subscriber A stops here")
	var a, b tail
	stopAt := writers * appendsPerWriter / 2 // events, well before the writers finish
	subCtx, cancelSubs := context.WithCancel(ctx)
	defer cancelSubs()
	aDone := make(chan error, 1)
	go func() {
		aDone <- s.Subscribe(subCtx, base, func(_ context.Context, batch []events.Envelope) error {
			if len(batch) == 0 {
				return errors.New("handle called with an empty batch")
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			if len(a.accepted) >= stopAt {
				return errStop // this batch is not accepted: B must deliver it again
			}
			a.accepted = append(a.accepted, batch...)
			a.last.Store(batch[len(batch)-1].Position)
			return nil
		})
	}()

	var wg sync.WaitGroup
	writeErrs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for range appendsPerWriter {
				nStreams := 1
				if !h.cfg.notAtomic {
					nStreams = 1 + rng.IntN(2)
				}
				first := rng.IntN(len(streams))
				var writes []events.StreamWrite
				for k := range nStreams {
					writes = append(writes, events.StreamWrite{
						Stream:   streams[(first+k)%len(streams)],
						Expected: events.Any,
						Events:   newEvents(1+rng.IntN(3), "Busy"),
					})
				}
				if _, err := s.Append(ctx, writes...); err != nil {
					writeErrs <- err
					return
				}
			}
		}()
	}

	writersDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(writersDone)
	}()

	// A stops with our error on the first batch after it has seen enough; if
	// the writers finish first, single appends give it that batch. B then
	// resumes from A's checkpoint.
	var aErr error
	select {
	case aErr = <-aDone:
	case <-writersDone:
		nudge := streamName("nudge")
	nudging:
		for range 100 {
			if _, err := s.Append(ctx, events.StreamWrite{Stream: nudge, Expected: events.Any, Events: newEvents(1, "Nudge")}); err != nil {
				t.Fatalf("nudge append: %v", err)
			}
			select {
			case aErr = <-aDone:
				break nudging
			case <-time.After(2 * time.Second):
			}
		}
	}
	if !errors.Is(aErr, errStop) {
		t.Fatalf("subscriber A returned %v, want the handler's error", aErr)
	}
	checkpoint := a.last.Load()
	bDone := make(chan error, 1)
	go func() {
		bDone <- s.Subscribe(subCtx, checkpoint, func(_ context.Context, batch []events.Envelope) error {
			if len(batch) == 0 {
				return errors.New("handle called with an empty batch")
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			b.accepted = append(b.accepted, batch...)
			b.last.Store(batch[len(batch)-1].Position)
			return nil
		})
	}()

	<-writersDone
	close(writeErrs)
	for err := range writeErrs {
		t.Fatalf("writer: %v", err)
	}
	final := head(t, ctx, s)
	deadline := time.Now().Add(30 * time.Second)
	for b.last.Load() < final {
		select {
		case err := <-bDone:
			t.Fatalf("subscriber B stopped early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscriber B reached %d, head is %d", b.last.Load(), final)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancelSubs()
	if err := <-bDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("subscriber B returned %v after its context was cancelled, want context.Canceled", err)
	}

	all := readAfter(t, ctx, s, base, 100)
	if want := writers * appendsPerWriter; len(all) < want {
		t.Fatalf("ReadAll has %d events, want at least %d", len(all), want)
	}
	h.checkOrder(t, "ReadAll", base, all)
	a.mu.Lock()
	b.mu.Lock()
	delivered := append(append([]events.Envelope(nil), a.accepted...), b.accepted...)
	b.mu.Unlock()
	a.mu.Unlock()
	h.checkOrder(t, "subscribers A then B", base, delivered)
	requireSame(t, "subscribers A then B vs ReadAll", delivered, all)
	if len(a.accepted) == 0 || len(b.accepted) == 0 {
		t.Fatalf("A delivered %d and B %d events: the restart was not exercised", len(a.accepted), len(b.accepted))
	}
}

func (h *harness) testIdempotent(t *testing.T, s events.Store) {
	ctx := ctxFor(t)
	s1, s2 := streamName("idem-1"), streamName("idem-2")
	writes := []events.StreamWrite{{Stream: s1, Expected: events.NoStream, Events: newEvents(2, "Idem")}}
	if !h.cfg.notAtomic {
		writes = append(writes, events.StreamWrite{Stream: s2, Expected: events.NoStream, Events: newEvents(1, "Idem")})
	}
	first := mustAppend(t, ctx, s, writes...)
	after := head(t, ctx, s)

	again, err := s.Append(ctx, writes...)
	if err != nil {
		t.Fatalf("retried append: %v (a retry with the same ids must succeed)", err)
	}
	if !again.Duplicate {
		t.Fatal("retried append did not report Duplicate")
	}
	requireSame(t, "retry result vs first result", again.Events, first.Events)
	if got := head(t, ctx, s); got != after {
		t.Fatalf("retried append moved Head from %d to %d", after, got)
	}
	if got := readStream(t, ctx, s, s1); len(got) != 2 {
		t.Fatalf("stream holds %d events after a retry, want 2", len(got))
	}

	// A later retry whose expected version no longer holds is still a retry.
	moved := mustAppend(t, ctx, s, events.StreamWrite{Stream: s1, Expected: events.Exact(1), Events: newEvents(1, "Later")})
	after = moved.Events[0].Position
	again, err = s.Append(ctx, writes...)
	if err != nil || !again.Duplicate {
		t.Fatalf("retry after the stream moved on: Duplicate=%v err=%v, want a Duplicate", again.Duplicate, err)
	}
	requireSame(t, "late retry result vs first result", again.Events, first.Events)

	// A retried write whose expectations still hold (Any) is also a retry.
	anyWrite := events.StreamWrite{Stream: s1, Expected: events.Any, Events: newEvents(2, "IdemAny")}
	anyFirst := mustAppend(t, ctx, s, anyWrite)
	after = anyFirst.Events[1].Position
	again, err = s.Append(ctx, anyWrite)
	if err != nil || !again.Duplicate {
		t.Fatalf("retry of an Any write: Duplicate=%v err=%v, want a Duplicate", again.Duplicate, err)
	}
	requireSame(t, "Any retry result vs first result", again.Events, anyFirst.Events)
	if got := head(t, ctx, s); got != after {
		t.Fatalf("retried Any append moved Head from %d to %d", after, got)
	}

	// Partial overlap: one stored id beside a new one.
	fresh := newEvent("Idem")
	_, err = s.Append(ctx, events.StreamWrite{Stream: s1, Expected: events.Any,
		Events: []events.NewEvent{writes[0].Events[0], fresh}})
	wantErr(t, "partially overlapping append", err, events.ErrDuplicateMismatch)
	if got := head(t, ctx, s); got != after {
		t.Fatalf("refused append moved Head from %d to %d", after, got)
	}
	for _, e := range readStream(t, ctx, s, s1) {
		if e.ID == fresh.ID {
			t.Fatal("the new event of a partially overlapping append was stored")
		}
	}
}

func (h *harness) testReadAllPaging(t *testing.T, s events.Store) {
	ctx := ctxFor(t)
	base := head(t, ctx, s)
	var appended []events.Envelope
	for i := range 5 {
		res := mustAppend(t, ctx, s, events.StreamWrite{Stream: streamName("page"), Expected: events.Any,
			Events: newEvents(1+i*2, "Paged")}) // 1+3+5+7+9 = 25
		appended = append(appended, res.Events...)
	}
	whole := readAfter(t, ctx, s, base, 1000)
	requireSame(t, "ReadAll in one page vs Append results", whole, appended)
	for _, page := range []int{1, 7, 25} {
		requireSame(t, fmt.Sprintf("ReadAll in pages of %d", page), readAfter(t, ctx, s, base, page), whole)
	}
	// From the middle.
	mid := whole[11].Position
	requireSame(t, "ReadAll from the middle", readAfter(t, ctx, s, mid, 4), whole[12:])
	got, err := s.ReadAll(ctx, whole[len(whole)-1].Position, 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("ReadAll after the head: %d events, err %v; want none", len(got), err)
	}
	got, err = s.ReadAll(ctx, base, 3)
	if err != nil || len(got) != 3 {
		t.Fatalf("ReadAll(max 3): %d events, err %v; want 3", len(got), err)
	}
}

func (h *harness) testReadStream(t *testing.T, s events.Store) {
	ctx := ctxFor(t)
	stream, other := streamName("read"), streamName("other")
	var sent []events.NewEvent
	for i, n := range []int{4, 1, 5} {
		evs := newEvents(n, "Read")
		sent = append(sent, evs...)
		expected := events.Any
		if i == 0 {
			expected = events.NoStream
		}
		mustAppend(t, ctx, s, events.StreamWrite{Stream: stream, Expected: expected, Events: evs})
		mustAppend(t, ctx, s, events.StreamWrite{Stream: other, Expected: events.Any, Events: newEvents(1, "Other")})
	}
	all := readStream(t, ctx, s, stream)
	checkMatches(t, stream, 0, all, sent)

	cases := []struct {
		from  int64
		max   int
		first int64
		n     int
	}{
		{0, 100, 0, 10},
		{4, 3, 4, 3},
		{7, 100, 7, 3},
		{9, 1, 9, 1},
		{10, 5, 0, 0},
		{50, 5, 0, 0},
	}
	for _, c := range cases {
		got, err := s.ReadStream(ctx, stream, c.from, c.max)
		if err != nil {
			t.Fatalf("ReadStream(from %d, max %d): %v", c.from, c.max, err)
		}
		if len(got) != c.n {
			t.Fatalf("ReadStream(from %d, max %d): %d events, want %d", c.from, c.max, len(got), c.n)
		}
		if c.n > 0 {
			requireSame(t, fmt.Sprintf("ReadStream(from %d, max %d)", c.from, c.max), got, all[c.first:c.first+int64(c.n)])
		}
	}
	got, err := s.ReadStream(ctx, streamName("missing"), 0, 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("ReadStream of a missing stream: %d events, err %v; want none and no error", len(got), err)
	}
}

// testReservation: a NoStream write to a reservation stream, atomic with the
// entity's events, makes a value usable once.
func (h *harness) testReservation(t *testing.T, s events.Store) {
	ctx := ctxFor(t)
	reservation := streamName("biblehash-test")
	entity1, entity2, entity3 := streamName("solution"), streamName("solution"), streamName("solution")

	first := mustAppend(t, ctx, s,
		events.StreamWrite{Stream: entity1, Expected: events.NoStream, Events: newEvents(1, "SolutionAccepted")},
		events.StreamWrite{Stream: reservation, Expected: events.NoStream, Events: newEvents(1, "BibleHashReserved")},
	)
	before := head(t, ctx, s)

	// The entity part comes first and is fine on its own; the reservation fails.
	_, err := s.Append(ctx,
		events.StreamWrite{Stream: entity2, Expected: events.NoStream, Events: newEvents(2, "SolutionAccepted")},
		events.StreamWrite{Stream: reservation, Expected: events.NoStream, Events: newEvents(1, "BibleHashReserved")},
	)
	wantErr(t, "second reservation of the same value", err, events.ErrWrongExpectedVersion)
	// And in the other order.
	_, err = s.Append(ctx,
		events.StreamWrite{Stream: reservation, Expected: events.NoStream, Events: newEvents(1, "BibleHashReserved")},
		events.StreamWrite{Stream: entity3, Expected: events.NoStream, Events: newEvents(1, "SolutionAccepted")},
	)
	wantErr(t, "third reservation of the same value", err, events.ErrWrongExpectedVersion)

	if got := readStream(t, ctx, s, entity2); len(got) != 0 {
		t.Fatalf("entity of a refused reservation holds %d events", len(got))
	}
	if got := readStream(t, ctx, s, entity3); len(got) != 0 {
		t.Fatalf("entity of a refused reservation holds %d events", len(got))
	}
	requireSame(t, "reservation stream", readStream(t, ctx, s, reservation), first.Events[1:])
	if got := head(t, ctx, s); got != before {
		t.Fatalf("refused reservations moved Head from %d to %d", before, got)
	}
}

func (h *harness) testHead(t *testing.T, s events.Store) {
	ctx := ctxFor(t)
	base := head(t, ctx, s)
	if base == 0 {
		if got := readAfter(t, ctx, s, 0, 1); len(got) != 0 {
			t.Fatal("Head is 0 but the log is not empty")
		}
	} else if got, _ := s.ReadAll(ctx, base, 1); len(got) != 0 {
		t.Fatalf("events exist after Head %d", base)
	}
	for i := range 3 {
		res := mustAppend(t, ctx, s, events.StreamWrite{Stream: streamName("head"), Expected: events.NoStream,
			Events: newEvents(i+1, "Headed")})
		want := res.Events[len(res.Events)-1].Position
		if got := head(t, ctx, s); got != want {
			t.Fatalf("Head %d after an append ending at %d", got, want)
		}
	}
}

func (h *harness) testHashChain(t *testing.T, s events.Store) {
	ctx := ctxFor(t)
	base := head(t, ctx, s)
	var appended []events.Envelope
	for i := range 4 {
		var writes []events.StreamWrite
		writes = append(writes, events.StreamWrite{Stream: streamName("chain"), Expected: events.Any, Events: newEvents(1+i, "Chained")})
		if i%2 == 1 && !h.cfg.notAtomic {
			writes = append(writes, events.StreamWrite{Stream: streamName("chain"), Expected: events.NoStream, Events: newEvents(2, "Chained")})
		}
		appended = append(appended, mustAppend(t, ctx, s, writes...).Events...)
	}
	stored := readAfter(t, ctx, s, base, 100)
	requireSame(t, "ReadAll vs Append results (hashes included)", stored, appended)
	// The store says by what it is whether it keeps the chain (the
	// auditor relies on that, never on the data), and says it truly.
	ck, ok := s.(events.ChainKeeper)
	if !ok {
		t.Fatalf("%T does not implement events.ChainKeeper", s)
	}
	if ck.KeepsChain() == h.cfg.noChain {
		t.Fatalf("%T (%s): KeepsChain() = %v, but the suite was told NoHashChain = %v", s, ck.StoreName(), ck.KeepsChain(), h.cfg.noChain)
	}
	if ck.StoreName() == "" {
		t.Fatalf("%T: empty StoreName", s)
	}
	if h.cfg.noChain {
		for _, e := range stored {
			if len(e.PrevHash) != 0 || len(e.Hash) != 0 {
				t.Fatalf("store declared NoHashChain but event %d has hashes", e.Position)
			}
		}
		return
	}
	for i, e := range stored {
		if len(e.Hash) != 32 {
			t.Fatalf("event %d: hash has %d bytes, want 32", e.Position, len(e.Hash))
		}
		if want := events.ChainHash(e.PrevHash, e); !bytes.Equal(e.Hash, want) {
			t.Fatalf("event %d: Hash %x != ChainHash %x", e.Position, e.Hash, want)
		}
		switch {
		case i > 0:
			if !bytes.Equal(e.PrevHash, stored[i-1].Hash) {
				t.Fatalf("event %d: PrevHash %x != previous event's Hash %x", e.Position, e.PrevHash, stored[i-1].Hash)
			}
		case e.Position == 1:
			if len(e.PrevHash) != 0 {
				t.Fatalf("first event of the log has PrevHash %x, want empty", e.PrevHash)
			}
		default:
			prev, err := s.ReadAll(ctx, e.Position-2, 1)
			if err == nil && len(prev) == 1 && prev[0].Position == e.Position-1 && !bytes.Equal(e.PrevHash, prev[0].Hash) {
				t.Fatalf("event %d: PrevHash does not link to event %d", e.Position, prev[0].Position)
			}
		}
	}
	// Any change to a hashed field changes the hash.
	e := stored[0]
	tampered := e
	tampered.Data = json.RawMessage(bytes.Replace(e.Data, []byte(`"z"`), []byte(`"y"`), 1))
	if bytes.Equal(events.ChainHash(e.PrevHash, tampered), e.Hash) {
		t.Fatal("ChainHash did not change with the data")
	}
}

func (h *harness) testSubscribeStops(t *testing.T, s events.Store) {
	ctx := ctxFor(t)
	base := head(t, ctx, s)
	stream := streamName("live")
	first := mustAppend(t, ctx, s, events.StreamWrite{Stream: stream, Expected: events.NoStream, Events: newEvents(2, "Live")})

	// Live delivery to a subscriber that has caught up, then a handler error.
	errHandler := errors.New("handler failed")
	got := make(chan []events.Envelope, 10)
	done := make(chan error, 1)
	var calls atomic.Int32
	go func() {
		done <- s.Subscribe(ctx, base, func(_ context.Context, batch []events.Envelope) error {
			got <- append([]events.Envelope(nil), batch...)
			if calls.Add(1) > 1 && batch[len(batch)-1].Position > first.Events[1].Position {
				return errHandler
			}
			return nil
		})
	}()
	var delivered []events.Envelope
	for len(delivered) < 2 {
		select {
		case batch := <-got:
			delivered = append(delivered, batch...)
		case <-time.After(20 * time.Second):
			t.Fatal("catch-up delivered nothing")
		}
	}
	requireSame(t, "catch-up", delivered, first.Events)
	second := mustAppend(t, ctx, s, events.StreamWrite{Stream: stream, Expected: events.Exact(1), Events: newEvents(1, "Live")})
	for len(delivered) < 3 {
		select {
		case batch := <-got:
			delivered = append(delivered, batch...)
		case <-time.After(20 * time.Second):
			t.Fatal("a live append was not delivered")
		}
	}
	requireSame(t, "catch-up then live", delivered, append(first.Events, second.Events...))
	select {
	case err := <-done:
		if !errors.Is(err, errHandler) {
			t.Fatalf("Subscribe returned %v, want the handler's error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Subscribe did not return after the handler failed")
	}

	// Cancelling the context ends a subscription that is waiting.
	subCtx, cancel := context.WithCancel(ctx)
	done = make(chan error, 1)
	now := head(t, ctx, s)
	go func() {
		done <- s.Subscribe(subCtx, now, func(context.Context, []events.Envelope) error {
			return errors.New("nothing should be delivered after the head")
		})
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Subscribe returned %v after cancel, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Subscribe did not return after its context was cancelled")
	}
}
