package eventstoretest

// The cases of reading: the global log in pages, one stream from a
// version, and Head.

import (
	"fmt"
	"testing"

	"github.com/purepool/purepool/events"
)

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
