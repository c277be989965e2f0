package sqlite_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/sqlite"
)

func newEvent() events.NewEvent {
	return events.NewEvent{ID: uuid.New(), Type: "Tested", SchemaVersion: 1, Data: json.RawMessage(`{"x": 1}`)}
}

func collect(ctx context.Context, s events.Store, after uint64) (<-chan events.Envelope, <-chan error) {
	got := make(chan events.Envelope, 100)
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(ctx, after, func(_ context.Context, batch []events.Envelope) error {
			for _, e := range batch {
				got <- e
			}
			return nil
		})
	}()
	return got, done
}

func expect(t *testing.T, got <-chan events.Envelope, id uuid.UUID, why string) {
	t.Helper()
	select {
	case e := <-got:
		if e.ID != id {
			t.Fatalf("%s: delivered %s, want %s", why, e.ID, id)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: not delivered", why)
	}
}

// With polling effectively off, an append in this process wakes the subscriber.
func TestSubscribe_WokenByThisProcess(t *testing.T) {
	s := openStore(t)
	s.PollInterval = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e1 := newEvent()
	if _, err := events.Append(ctx, s, "live", events.NoStream, e1); err != nil {
		t.Fatal(err)
	}
	got, done := collect(ctx, s, 0)
	expect(t, got, e1.ID, "catch-up")
	for i := range 3 {
		e := newEvent()
		if _, err := events.Append(ctx, s, "live", events.Exact(int64(i)), e); err != nil {
			t.Fatal(err)
		}
		expect(t, got, e.ID, "live")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe returned %v", err)
	}
}

// Another process (here another Store on the same file) is seen by polling,
// and the hash chain continues across handles.
func TestTwoHandlesOnOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open := func() *sqlite.Store {
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	}
	reader, writer := open(), open()
	reader.PollInterval = 20 * time.Millisecond
	got, _ := collect(ctx, reader, 0)
	var ids []uuid.UUID
	for i := range 3 {
		w := writer
		if i == 1 {
			w = reader
		}
		e := newEvent()
		ids = append(ids, e.ID)
		if _, err := events.Append(ctx, w, "shared", events.Any, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		expect(t, got, id, "cross-handle")
	}
	all, err := writer.ReadAll(ctx, 0, 10)
	if err != nil || len(all) != 3 {
		t.Fatalf("ReadAll: %d, %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if !bytes.Equal(all[i].PrevHash, all[i-1].Hash) || all[i].Position != all[i-1].Position+1 {
			t.Fatalf("event %d does not continue the log", all[i].Position)
		}
	}
}

func TestOpen_RefusesMemoryAndURIs(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "x.db?mode=memory"} {
		if s, err := sqlite.Open(context.Background(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}
