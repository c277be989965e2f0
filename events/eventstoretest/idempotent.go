package eventstoretest

// The case of idempotent appends: a retried write (same event ids) is a
// Duplicate that changes nothing; a partial overlap is refused.

import (
	"testing"

	"github.com/purepool/purepool/events"
)

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
