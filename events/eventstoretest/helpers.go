package eventstoretest

// The helpers the cases share: events to append, reads, and the checks of
// what a store returned.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
)

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
