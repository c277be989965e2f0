package esdb_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/esdb"
	"github.com/purepool/purepool/events/esdb/esdbfake"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newFake starts a fake server and a store connected to it.
func newFake(t *testing.T, extra ...string) (*esdbfake.Server, *esdb.Store) {
	t.Helper()
	fake, err := esdbfake.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Stop)
	s, err := esdb.Open(fake.URL(extra...), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return fake, s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newEvent(t *testing.T, typ string, n int) events.NewEvent {
	t.Helper()
	data, _ := json.Marshal(map[string]int{"n": n})
	return events.NewEvent{ID: uuid.New(), Type: typ, SchemaVersion: 1, Data: data,
		Metadata: events.Metadata{CommandID: fmt.Sprintf("cmd-%d", n), CorrelationID: "corr", CausationID: "cause"}}
}

func newEvents(t *testing.T, n int) []events.NewEvent {
	out := make([]events.NewEvent, n)
	for i := range out {
		out[i] = newEvent(t, "Tested", i)
	}
	return out
}

func TestAppendMapsEnvelopeBothWays(t *testing.T) {
	_, s := newFake(t)
	ctx := ctxT(t)
	before := time.Now().UTC().Add(-time.Second)
	evs := newEvents(t, 3)
	evs[1].SchemaVersion = 2
	res, err := events.Append(ctx, s, "miner-1", events.NoStream, evs...)
	if err != nil {
		t.Fatal(err)
	}
	if res.Duplicate || len(res.Events) != 3 {
		t.Fatalf("result = %+v", res)
	}
	read, err := s.ReadStream(ctx, "miner-1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(read) != 3 {
		t.Fatalf("read %d events", len(read))
	}
	for i, env := range read {
		e := evs[i]
		if env.ID != e.ID || env.Type != e.Type || env.SchemaVersion != e.SchemaVersion ||
			string(env.Data) != string(e.Data) || env.Metadata != e.Metadata || env.Stream != "miner-1" || env.Version != int64(i) {
			t.Errorf("event %d: read %+v, wrote %+v", i, env, e)
		}
		if env.RecordedAt.Location() != time.UTC || env.RecordedAt.Before(before) || env.RecordedAt.Nanosecond()%1000 != 0 {
			t.Errorf("event %d: RecordedAt %v is not a recent UTC microsecond time", i, env.RecordedAt)
		}
		if env.PrevHash != nil || env.Hash != nil {
			t.Errorf("event %d: this store keeps no hash chain, got %x/%x", i, env.PrevHash, env.Hash)
		}
		if i > 0 && env.Position <= read[i-1].Position {
			t.Errorf("positions not increasing: %d then %d", read[i-1].Position, env.Position)
		}
		if env.Position == 0 {
			t.Errorf("event %d has no position", i)
		}
		// The append result is the same stored envelope.
		got := res.Events[i]
		if got.ID != env.ID || got.Position != env.Position || got.Version != env.Version || !got.RecordedAt.Equal(env.RecordedAt) {
			t.Errorf("append result %d = %+v, read %+v", i, got, env)
		}
	}
	if read[1].Position == read[0].Position+1 {
		t.Log("note: positions happened to be dense")
	}
}

func TestStoredMetadataIsReadableByOtherTools(t *testing.T) {
	fake, s := newFake(t)
	ctx := ctxT(t)
	e := newEvent(t, "Tested", 7)
	if _, err := events.Append(ctx, s, "s-meta", events.Any, e); err != nil {
		t.Fatal(err)
	}
	// Read the raw event with the client itself: the metadata is JSON with
	// the schema version and EventStoreDB's correlation keys.
	cfg, _ := esdbclient.ParseConnectionString(fake.URL())
	c, err := esdbclient.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rs, err := c.ReadStream(ctx, "s-meta", esdbclient.ReadStreamOptions{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	ev, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(ev.Event.UserMetadata, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"command_id": "cmd-7", "correlation_id": "corr", "causation_id": "cause",
		"schema_version": float64(1), "$correlationId": "corr", "$causationId": "cause"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("metadata[%q] = %v, want %v (all: %v)", k, m[k], v, m)
		}
	}
	if ev.Event.ContentType != "application/json" || ev.Event.EventID != e.ID || ev.Event.EventType != "Tested" {
		t.Errorf("raw event = %+v", ev.Event)
	}
}

func TestExpectedVersions(t *testing.T) {
	_, s := newFake(t)
	ctx := ctxT(t)
	if _, err := events.Append(ctx, s, "st", events.Exact(0), newEvent(t, "A", 0)); !errors.Is(err, events.ErrWrongExpectedVersion) {
		t.Fatalf("Exact(0) on a missing stream: err = %v", err)
	}
	if _, err := events.Append(ctx, s, "st", events.NoStream, newEvent(t, "A", 1)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		expected events.ExpectedVersion
		ok       bool
	}{
		{"NoStream on an existing stream", events.NoStream, false},
		{"Exact behind", events.Exact(5), false},
		{"Exact current", events.Exact(0), true},
		{"Exact stale", events.Exact(0), false},
		{"Any", events.Any, true},
		{"Exact current again", events.Exact(2), true},
	}
	for _, c := range cases {
		_, err := events.Append(ctx, s, "st", c.expected, newEvent(t, "A", 2))
		if c.ok && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if !c.ok {
			if !errors.Is(err, events.ErrWrongExpectedVersion) {
				t.Errorf("%s: err = %v, want ErrWrongExpectedVersion", c.name, err)
			}
			var e *esdbclient.Error
			if !errors.As(err, &e) || e.Code() != esdbclient.ErrorCodeWrongExpectedVersion {
				t.Errorf("%s: the server's error is not kept: %v", c.name, err)
			}
		}
	}
	all, err := events.ReadWholeStream(ctx, s, "st")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("stream holds %d events, want 4 (refused writes must store nothing)", len(all))
	}
}

func TestRetriedWriteIsDuplicate(t *testing.T) {
	for _, expected := range []events.ExpectedVersion{events.NoStream, events.Any} {
		t.Run(expected.String(), func(t *testing.T) {
			fake, s := newFake(t)
			ctx := ctxT(t)
			evs := newEvents(t, 3)
			first, err := events.Append(ctx, s, "dup", expected, evs...)
			if err != nil {
				t.Fatal(err)
			}
			// Another write lands after it: a retry must still be recognised.
			if _, err := events.Append(ctx, s, "dup", events.Exact(2), newEvent(t, "Later", 9)); err != nil {
				t.Fatal(err)
			}
			n := fake.Len()
			again, err := events.Append(ctx, s, "dup", expected, evs...)
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			if !again.Duplicate {
				t.Fatal("retry not reported as Duplicate")
			}
			for i := range first.Events {
				a, b := first.Events[i], again.Events[i]
				if a.ID != b.ID || a.Position != b.Position || a.Version != b.Version {
					t.Errorf("retry returned %+v, first write %+v", b, a)
				}
			}
			if fake.Len() != n {
				t.Fatalf("retry stored %d new records", fake.Len()-n)
			}
		})
	}
}

func TestPartialOverlapIsMismatch(t *testing.T) {
	for _, expected := range []events.ExpectedVersion{events.NoStream, events.Any} {
		t.Run(expected.String(), func(t *testing.T) {
			fake, s := newFake(t)
			ctx := ctxT(t)
			evs := newEvents(t, 2)
			if _, err := events.Append(ctx, s, "over", expected, evs...); err != nil {
				t.Fatal(err)
			}
			n := fake.Len()
			_, err := events.Append(ctx, s, "over", expected, evs[0], newEvent(t, "New", 5))
			if !errors.Is(err, events.ErrDuplicateMismatch) {
				t.Fatalf("err = %v, want ErrDuplicateMismatch", err)
			}
			if fake.Len() != n {
				t.Fatal("a refused write stored events")
			}
		})
	}
}

func TestMultiStreamWriteIsNotAtomic(t *testing.T) {
	fake, s := newFake(t)
	ctx := ctxT(t)
	n := fake.Len()
	_, err := s.Append(ctx,
		events.StreamWrite{Stream: "biblehash-main-ab", Expected: events.NoStream, Events: newEvents(t, 1)},
		events.StreamWrite{Stream: "solution-1", Expected: events.NoStream, Events: newEvents(t, 1)})
	if !errors.Is(err, events.ErrNotAtomic) {
		t.Fatalf("err = %v, want ErrNotAtomic", err)
	}
	if fake.Len() != n || fake.Appends() != 0 {
		t.Fatal("a refused multi-stream write reached the server")
	}
}

func TestInvalidWritesAreRefusedBeforeTheServer(t *testing.T) {
	fake, s := newFake(t)
	ctx := ctxT(t)
	good := newEvent(t, "A", 1)
	noID := good
	noID.ID = uuid.Nil
	sys := newEvent(t, "$metadata", 1)
	badJSON := newEvent(t, "A", 1)
	badJSON.Data = json.RawMessage(`{`)
	for name, w := range map[string]events.StreamWrite{
		"empty stream":  {Stream: "", Expected: events.Any, Events: []events.NewEvent{good}},
		"system stream": {Stream: "$settings", Expected: events.Any, Events: []events.NewEvent{good}},
		"nil id":        {Stream: "x", Expected: events.Any, Events: []events.NewEvent{noID}},
		"system type":   {Stream: "x", Expected: events.Any, Events: []events.NewEvent{sys}},
		"bad json":      {Stream: "x", Expected: events.Any, Events: []events.NewEvent{badJSON}},
		"bad expected":  {Stream: "x", Expected: events.ExpectedVersion(-3), Events: []events.NewEvent{good}},
	} {
		if _, err := s.Append(ctx, w); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if fake.Appends() != 0 {
		t.Fatalf("%d invalid writes reached the server", fake.Appends())
	}
}

func TestEmptyWriteChecksTheExpectation(t *testing.T) {
	_, s := newFake(t)
	ctx := ctxT(t)
	if _, err := events.Append(ctx, s, "e", events.NoStream); err != nil {
		t.Fatalf("NoStream on a missing stream: %v", err)
	}
	if _, err := events.Append(ctx, s, "e", events.Exact(0)); !errors.Is(err, events.ErrWrongExpectedVersion) {
		t.Fatalf("Exact(0) on a missing stream: %v", err)
	}
	events.Append(ctx, s, "e", events.NoStream, newEvent(t, "A", 0))
	if _, err := events.Append(ctx, s, "e", events.Exact(0)); err != nil {
		t.Fatalf("Exact(0) on a one-event stream: %v", err)
	}
}

func TestReadStreamPagesAndMissingStream(t *testing.T) {
	_, s := newFake(t)
	ctx := ctxT(t)
	got, err := s.ReadStream(ctx, "nobody", 0, 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("missing stream: %v, %v", got, err)
	}
	evs := newEvents(t, 25)
	if _, err := events.Append(ctx, s, "paged", events.NoStream, evs...); err != nil {
		t.Fatal(err)
	}
	var seen []uuid.UUID
	for from := int64(0); ; {
		page, err := s.ReadStream(ctx, "paged", from, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if e.Version != int64(len(seen)) {
				t.Fatalf("version %d at index %d", e.Version, len(seen))
			}
			seen = append(seen, e.ID)
		}
		if len(page) < 10 {
			break
		}
		from = page[len(page)-1].Version + 1
	}
	if len(seen) != 25 {
		t.Fatalf("paged through %d events", len(seen))
	}
	for i, e := range evs {
		if seen[i] != e.ID {
			t.Fatalf("event %d out of order", i)
		}
	}
	if page, _ := s.ReadStream(ctx, "paged", 25, 10); len(page) != 0 {
		t.Fatalf("read past the end: %d events", len(page))
	}
	if page, _ := s.ReadStream(ctx, "paged", 20, 3); len(page) != 3 || page[0].Version != 20 {
		t.Fatalf("read from 20 max 3: %+v", page)
	}
}

func TestReadAllSkipsSystemEventsAndIsExclusive(t *testing.T) {
	fake, s := newFake(t)
	ctx := ctxT(t)
	if h, err := s.Head(ctx); err != nil || h != 0 {
		t.Fatalf("Head of a store holding only system events = %d, %v", h, err)
	}
	var want []uuid.UUID
	for i := 0; i < 7; i++ {
		e := newEvent(t, "A", i)
		if _, err := events.Append(ctx, s, fmt.Sprintf("s-%d", i%3), events.Any, e); err != nil {
			t.Fatal(err)
		}
		want = append(want, e.ID)
		fake.AppendSystem("$stats-127.0.0.1:2113", "$statsCollected")
	}
	all, err := s.ReadAll(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 7 {
		t.Fatalf("ReadAll returned %d events, want the 7 written", len(all))
	}
	for i, e := range all {
		if e.ID != want[i] {
			t.Fatalf("event %d out of order", i)
		}
	}
	head, err := s.Head(ctx)
	if err != nil || head != all[6].Position {
		t.Fatalf("Head = %d, %v; want %d (the newest non-system event)", head, err, all[6].Position)
	}
	// Exclusive and paged.
	var got []uuid.UUID
	for after := uint64(0); ; {
		page, err := s.ReadAll(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if e.Position <= after {
				t.Fatalf("ReadAll(after=%d) returned position %d", after, e.Position)
			}
			got = append(got, e.ID)
		}
		after = page[len(page)-1].Position
	}
	if len(got) != 7 {
		t.Fatalf("paged ReadAll saw %d events", len(got))
	}
	if rest, err := s.ReadAll(ctx, head, 10); err != nil || len(rest) != 0 {
		t.Fatalf("ReadAll after head = %v, %v", rest, err)
	}
}

// collector gathers delivered events for Subscribe tests.
type collector struct {
	mu      sync.Mutex
	envs    []events.Envelope
	batches int
	notify  chan struct{}
}

func newCollector() *collector { return &collector{notify: make(chan struct{}, 1)} }

func (c *collector) handle(_ context.Context, batch []events.Envelope) error {
	c.mu.Lock()
	c.envs = append(c.envs, batch...)
	c.batches++
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return nil
}

func (c *collector) waitFor(t *testing.T, n int) []events.Envelope {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		c.mu.Lock()
		got := append([]events.Envelope(nil), c.envs...)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-c.notify:
		case <-deadline:
			t.Fatalf("received %d of %d events", len(got), n)
		}
	}
}

func runSubscribe(t *testing.T, s *esdb.Store, after uint64, handle func(context.Context, []events.Envelope) error) (cancel func() error) {
	ctx, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Subscribe(ctx, after, handle) }()
	return func() error {
		stop()
		select {
		case err := <-errc:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Subscribe did not return after its context ended")
			return nil
		}
	}
}

func checkExactlyOnce(t *testing.T, got []events.Envelope, want []uuid.UUID) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("delivered %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i] {
			t.Fatalf("event %d: got %s, want %s", i, got[i].ID, want[i])
		}
		if i > 0 && got[i].Position <= got[i-1].Position {
			t.Fatalf("positions not increasing at %d", i)
		}
	}
}

func appendN(t *testing.T, ctx context.Context, s events.Store, stream string, n int) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	for i := 0; i < n; i++ {
		e := newEvent(t, "A", i)
		if _, err := events.Append(ctx, s, stream, events.Any, e); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

func TestSubscribeCatchesUpThenGoesLive(t *testing.T) {
	fake, s := newFake(t)
	ctx := ctxT(t)
	want := appendN(t, ctx, s, "sub", 5)
	c := newCollector()
	stop := runSubscribe(t, s, 0, c.handle)
	c.waitFor(t, 5)
	fake.AppendSystem("$stats-127.0.0.1:2113", "$statsCollected")
	want = append(want, appendN(t, ctx, s, "sub", 3)...)
	got := c.waitFor(t, 8)
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe returned %v after cancel, want context.Canceled", err)
	}
	checkExactlyOnce(t, got, want)
	starts := fake.SubscriptionStarts()
	if len(starts) != 1 || !starts[0].FromStart {
		t.Fatalf("subscription starts = %+v, want one from Start", starts)
	}
}

func TestSubscribeFromCheckpointIsExclusive(t *testing.T) {
	fake, s := newFake(t)
	ctx := ctxT(t)
	ids := appendN(t, ctx, s, "cp", 6)
	all, err := s.ReadAll(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	checkpoint := all[2].Position
	c := newCollector()
	stop := runSubscribe(t, s, checkpoint, c.handle)
	got := c.waitFor(t, 3)
	stop()
	checkExactlyOnce(t, got, ids[3:])
	st := fake.SubscriptionStarts()[0]
	if st.FromStart || st.Commit != checkpoint || st.Prepare != checkpoint {
		t.Fatalf("subscribed from %+v, want Position{%d,%d}", st, checkpoint, checkpoint)
	}
}

func TestSubscribeResubscribesAfterDropFromLastDelivered(t *testing.T) {
	fake, s := newFake(t)
	ctx := ctxT(t)
	want := appendN(t, ctx, s, "drop", 4)
	c := newCollector()
	stop := runSubscribe(t, s, 0, c.handle)
	got := c.waitFor(t, 4)
	lastDelivered := got[3].Position
	fake.DropSubscriptions()
	want = append(want, appendN(t, ctx, s, "drop", 4)...)
	got = c.waitFor(t, 8)
	// Wait a moment for a duplicate, should the resubscription replay.
	time.Sleep(100 * time.Millisecond)
	c.mu.Lock()
	got = append([]events.Envelope(nil), c.envs...)
	c.mu.Unlock()
	stop()
	checkExactlyOnce(t, got, want)
	starts := fake.SubscriptionStarts()
	if len(starts) < 2 {
		t.Fatalf("no resubscription: %+v", starts)
	}
	if st := starts[1]; st.FromStart || st.Commit != lastDelivered {
		t.Fatalf("resubscribed from %+v, want after the last delivered position %d", st, lastDelivered)
	}
}

func TestSubscribeReturnsHandlerError(t *testing.T) {
	_, s := newFake(t)
	ctx := ctxT(t)
	appendN(t, ctx, s, "h", 2)
	boom := errors.New("boom")
	err := s.Subscribe(ctx, 0, func(context.Context, []events.Envelope) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Subscribe returned %v, want the handler's error", err)
	}
}

func TestSubscribeBatchesWaitingEvents(t *testing.T) {
	_, s := newFake(t)
	ctx := ctxT(t)
	want := appendN(t, ctx, s, "b", 40)
	c := newCollector()
	stop := runSubscribe(t, s, 0, c.handle)
	got := c.waitFor(t, 40)
	stop()
	checkExactlyOnce(t, got, want)
	if c.batches >= 40 {
		t.Fatalf("40 waiting events came in %d batches; want them grouped", c.batches)
	}
}

// The v4 client closes itself for good when rediscovery fails; the store
// replaces it, so a server that comes back is usable again.
func TestStoreSurvivesServerRestart(t *testing.T) {
	fake, s := newFake(t, "maxDiscoverAttempts=1", "discoveryInterval=10", "gossipTimeout=1")
	ctx := ctxT(t)
	appendN(t, ctx, s, "r", 1)
	fake.Stop()
	if _, err := s.ReadStream(ctx, "r", 0, 10); err == nil {
		t.Fatal("read succeeded with the server down")
	}
	// Twice, so the client's failed rediscovery has closed it.
	s.ReadStream(ctx, "r", 0, 10)
	if err := fake.Restart(); err != nil {
		t.Fatal(err)
	}
	// gRPC backs off between reconnects (1 s base, growing, with jitter), so
	// the first calls after the restart may still fail fast: poll until the
	// context's deadline rather than for a fixed second.
	var got []events.Envelope
	var err error
	for ctx.Err() == nil {
		if got, err = s.ReadStream(ctx, "r", 0, 10); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || len(got) != 1 {
		t.Fatalf("after restart: %v, %v", got, err)
	}
}

func TestClosedStoreRefusesCalls(t *testing.T) {
	_, s := newFake(t)
	s.Close()
	if _, err := s.ReadStream(context.Background(), "x", 0, 1); err == nil {
		t.Fatal("read on a closed store succeeded")
	}
	if err := s.Subscribe(context.Background(), 0, func(context.Context, []events.Envelope) error { return nil }); err == nil {
		t.Fatal("Subscribe on a closed store returned nil")
	}
}

// A subscription outlives a full server outage: it resubscribes, through a
// replaced client, from the last delivered position.
func TestSubscribeSurvivesServerRestart(t *testing.T) {
	fake, s := newFake(t, "maxDiscoverAttempts=1", "discoveryInterval=10", "gossipTimeout=1")
	ctx := ctxT(t)
	want := appendN(t, ctx, s, "outage", 3)
	c := newCollector()
	stop := runSubscribe(t, s, 0, c.handle)
	c.waitFor(t, 3)
	fake.Stop()
	// Long enough for two failed resubscriptions: the first makes the client
	// rediscover, the second finds it closed for good.
	time.Sleep(400 * time.Millisecond)
	if err := fake.Restart(); err != nil {
		t.Fatal(err)
	}
	want = append(want, appendN(t, ctx, s, "outage", 3)...)
	got := c.waitFor(t, 6)
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe returned %v", err)
	}
	checkExactlyOnce(t, got, want)
	if n := len(fake.SubscriptionStarts()); n < 2 {
		t.Fatalf("%d subscriptions; the outage did not force a resubscription", n)
	}
}

func TestOpenRejectsOtherSchemes(t *testing.T) {
	if _, err := esdb.Open("kurrentdb://127.0.0.1:2113?tls=false", quiet); err == nil {
		t.Fatal("a kurrentdb:// string was accepted by the v4 client")
	}
}

// BenchmarkAppend compares one single-event Append through the adapter
// (last-revision read + append + read-back) with the bare client's
// AppendToStream, both against the in-process fake. Report the ratio.
func BenchmarkAppend(b *testing.B) {
	fake, err := esdbfake.Listen()
	if err != nil {
		b.Fatal(err)
	}
	defer fake.Stop()
	ctx := context.Background()
	b.Run("bare-client", func(b *testing.B) {
		cfg, _ := esdbclient.ParseConnectionString(fake.URL())
		c, err := esdbclient.NewClient(cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		for i := 0; b.Loop(); i++ {
			_, err := c.AppendToStream(ctx, fmt.Sprintf("bare-%d", i%100), esdbclient.AppendToStreamOptions{},
				esdbclient.EventData{EventID: uuid.New(), EventType: "A", ContentType: esdbclient.ContentTypeJson, Data: []byte(`{"n":1}`)})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("adapter", func(b *testing.B) {
		s, err := esdb.Open(fake.URL(), quiet)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		for i := 0; b.Loop(); i++ {
			e := events.NewEvent{ID: uuid.New(), Type: "A", SchemaVersion: 1, Data: json.RawMessage(`{"n":1}`)}
			if _, err := events.Append(ctx, s, fmt.Sprintf("adapter-%d", i%100), events.Any, e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
