package eventstoretest

// The cases of appending: reads of what was appended, expected versions
// (one stream, several streams, under contention), atomic multi-stream
// writes or their ErrNotAtomic fallback, and reservation streams.

import (
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
)

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
