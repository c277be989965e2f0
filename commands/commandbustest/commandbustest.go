// Package commandbustest is the contract every command bus implementation
// (commands/inproc, commands/rabbitmq) must meet, as a test suite they run
// against themselves with Run.
package commandbustest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/commands"
)

// Bus is one fresh, isolated bus under test: nothing else publishes to or
// consumes from it.
type Bus struct {
	Publisher commands.Publisher
	// Consumer consumes the bus's queue; the suite calls Consume on it more
	// than once (one after the other).
	Consumer commands.Consumer
	// DeliveryLimit is how many times a failed message may come back before
	// it is dead-lettered: at most DeliveryLimit+1 deliveries. Keep it small.
	DeliveryLimit int
	// DeadLetters lists the dead-lettered messages with their reasons.
	DeadLetters func(ctx context.Context) ([]DeadLetter, error)
	// Restart, when set, stops the broker under the bus and starts it
	// again; Publisher and Consumer must reconnect by themselves. Without
	// it the BatchAcrossBrokerRestart case is skipped.
	Restart func(ctx context.Context) error
}

// DeadLetter is a message the bus gave up on.
type DeadLetter struct {
	Message commands.Message
	Reason  string
}

// Timeout bounds each contract test.
var Timeout = 60 * time.Second

// Run runs the contract against buses made by newBus (called once per
// subtest).
func Run(t *testing.T, newBus func(t *testing.T) Bus) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newBus(t)) })
	t.Run("HandlerErrorRedelivers", func(t *testing.T) { testRedeliver(t, newBus(t)) })
	t.Run("PermanentErrorDeadLetters", func(t *testing.T) { testPermanent(t, newBus(t)) })
	t.Run("StopBeforeHandlerReturnsKeepsMessage", func(t *testing.T) { testStop(t, newBus(t)) })
	t.Run("ConcurrentPublishers", func(t *testing.T) { testConcurrent(t, newBus(t)) })
	t.Run("DeliveryLimitDeadLetters", func(t *testing.T) { testDeliveryLimit(t, newBus(t)) })
	t.Run("BatchPoisonedCommandDeadLettersAlone", func(t *testing.T) { testBatchPoisoned(t, newBus(t)) })
	t.Run("BatchRedeliveredHandlesEachCommand", func(t *testing.T) { testBatchRedelivered(t, newBus(t)) })
	t.Run("BatchStopBeforeHandlersReturnKeepsCommands", func(t *testing.T) { testBatchStop(t, newBus(t)) })
	t.Run("BatchDeliveryLimitPerCommand", func(t *testing.T) { testBatchDeliveryLimit(t, newBus(t)) })
	t.Run("BatchAcrossBrokerRestart", func(t *testing.T) { RunRestart(t, newBus(t)) })
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	t.Cleanup(cancel)
	return ctx
}

// newMessage encodes a real command so that bodies are what production sends.
func newMessage(t *testing.T, i int) commands.Message {
	t.Helper()
	var c commands.Command
	id := uuid.New()
	at := time.Date(2026, 11, 25, 12, 0, i%60, 123456000, time.UTC)
	switch i % 3 {
	case 0:
		c = commands.SubmitSolution{ID: id, Network: "main", MinerID: uuid.New(), Address: "B5tWpb8K1S7NmH4Zx1rAPyUqWnBpVaEcU8",
			Worker: fmt.Sprintf("rig%d", i), Solution: "a,b,c,\"quoted\" <&>", ThreadID: i, ReceivedAt: at}
	case 1:
		c = commands.IssueWork{ID: id, Network: "test", MinerID: uuid.New(), WorkID: uuid.New(), Target: strings.Repeat("0f", 32), IssuedAt: at}
	default:
		c = commands.ReconcilePayout{ID: id, Network: "main", PayoutID: uuid.New(), TxID: "ab12", At: at}
	}
	m, err := commands.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func publish(t *testing.T, ctx context.Context, b Bus, m commands.Message) {
	t.Helper()
	if err := b.Publisher.Publish(ctx, m); err != nil {
		t.Fatalf("publish %s: %v", m.ID, err)
	}
}

// consume runs Consume in the background; the returned stop cancels it and
// waits for it to return.
func consume(t *testing.T, ctx context.Context, c commands.Consumer, h commands.Handler) (stop func()) {
	t.Helper()
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Consume(cctx, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("Consume returned %v, want context.Canceled", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Consume did not return within 30s of its context ending")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// eventually polls cond until it holds or ctx ends.
func eventually(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func deadLetters(t *testing.T, ctx context.Context, b Bus) []DeadLetter {
	t.Helper()
	d, err := b.DeadLetters(ctx)
	if err != nil {
		t.Fatalf("dead letters: %v", err)
	}
	return d
}

func findDead(t *testing.T, ctx context.Context, b Bus, id uuid.UUID) (DeadLetter, bool) {
	for _, d := range deadLetters(t, ctx, b) {
		if d.Message.ID == id {
			return d, true
		}
	}
	return DeadLetter{}, false
}

// recorder keeps every delivery per message id.
type recorder struct {
	mu   sync.Mutex
	seen map[uuid.UUID][]commands.Message
}

func newRecorder() *recorder { return &recorder{seen: map[uuid.UUID][]commands.Message{}} }

func (r *recorder) add(m commands.Message) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m.Body = bytes.Clone(m.Body)
	r.seen[m.ID] = append(r.seen[m.ID], m)
	return len(r.seen[m.ID])
}

func (r *recorder) get(id uuid.UUID) []commands.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]commands.Message(nil), r.seen[id]...)
}

func (r *recorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func testRoundTrip(t *testing.T, b Bus) {
	ctx := testContext(t)
	var sent []commands.Message
	for i := range 3 {
		m := newMessage(t, i)
		publish(t, ctx, b, m)
		sent = append(sent, m)
	}
	rec := newRecorder()
	consume(t, ctx, b.Consumer, func(_ context.Context, m commands.Message) error { rec.add(m); return nil })
	eventually(t, ctx, "all messages handled", func() bool { return rec.distinct() == len(sent) })
	for _, want := range sent {
		got := rec.get(want.ID)
		if len(got) != 1 {
			t.Fatalf("message %s handled %d times, want 1", want.ID, len(got))
		}
		g := got[0]
		if g.Name != want.Name || !bytes.Equal(g.Body, want.Body) || g.Redelivered != 0 {
			t.Errorf("got %s %q redelivered=%d body %s\nwant %s %q redelivered=0 body %s", g.ID, g.Name, g.Redelivered, g.Body, want.ID, want.Name, want.Body)
		}
		if _, err := commands.Decode(g); err != nil {
			t.Errorf("decode delivered message: %v", err)
		}
	}
	if d := deadLetters(t, ctx, b); len(d) != 0 {
		t.Errorf("dead letters after a clean round trip: %v", d)
	}
}

func testRedeliver(t *testing.T, b Bus) {
	ctx := testContext(t)
	m := newMessage(t, 0)
	publish(t, ctx, b, m)
	rec := newRecorder()
	var handled atomic.Bool
	consume(t, ctx, b.Consumer, func(_ context.Context, got commands.Message) error {
		if rec.add(got) == 1 {
			return errors.New("node RPC timed out")
		}
		handled.Store(true)
		return nil
	})
	eventually(t, ctx, "the message to be handled after a failure", handled.Load)
	got := rec.get(m.ID)
	if len(got) != 2 {
		t.Fatalf("delivered %d times, want 2", len(got))
	}
	if got[0].Redelivered != 0 || got[1].Redelivered < 1 {
		t.Errorf("Redelivered = %d then %d, want 0 then >= 1", got[0].Redelivered, got[1].Redelivered)
	}
	if !bytes.Equal(got[1].Body, m.Body) || got[1].Name != m.Name {
		t.Errorf("redelivered message differs: %s %s", got[1].Name, got[1].Body)
	}
	if d := deadLetters(t, ctx, b); len(d) != 0 {
		t.Errorf("dead letters after a recovered failure: %v", d)
	}
}

func testPermanent(t *testing.T, b Bus) {
	ctx := testContext(t)
	bad, marker := newMessage(t, 0), newMessage(t, 1)
	publish(t, ctx, b, bad)
	rec := newRecorder()
	consume(t, ctx, b.Consumer, func(_ context.Context, got commands.Message) error {
		rec.add(got)
		if got.ID == bad.ID {
			return commands.Permanent(errors.New("solution has 15 fields"))
		}
		return nil
	})
	var dl DeadLetter
	eventually(t, ctx, "the dead letter", func() bool {
		var ok bool
		dl, ok = findDead(t, ctx, b, bad.ID)
		return ok
	})
	if !strings.Contains(dl.Reason, "solution has 15 fields") {
		t.Errorf("dead-letter reason %q does not carry the handler's error", dl.Reason)
	}
	if dl.Message.Name != bad.Name || !bytes.Equal(dl.Message.Body, bad.Body) {
		t.Errorf("dead letter %s %s, want %s %s", dl.Message.Name, dl.Message.Body, bad.Name, bad.Body)
	}
	// A message published after it is handled; had the bad one been
	// requeued it would have come back by then.
	publish(t, ctx, b, marker)
	eventually(t, ctx, "the marker", func() bool { return len(rec.get(marker.ID)) > 0 })
	if n := len(rec.get(bad.ID)); n != 1 {
		t.Errorf("permanently failing message delivered %d times, want 1", n)
	}
}

func testStop(t *testing.T, b Bus) {
	ctx := testContext(t)
	m := newMessage(t, 2)
	publish(t, ctx, b, m)
	started := make(chan struct{})
	var once sync.Once
	stop := consume(t, ctx, b.Consumer, func(hctx context.Context, got commands.Message) error {
		once.Do(func() { close(started) })
		<-hctx.Done() // still working when the consumer is told to stop
		return hctx.Err()
	})
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the message was never delivered")
	}
	stop()
	rec := newRecorder()
	consume(t, ctx, b.Consumer, func(_ context.Context, got commands.Message) error { rec.add(got); return nil })
	eventually(t, ctx, "the unacknowledged message to come back", func() bool { return len(rec.get(m.ID)) > 0 })
	got := rec.get(m.ID)[0]
	if got.Name != m.Name || !bytes.Equal(got.Body, m.Body) {
		t.Errorf("returned message differs: %s %s", got.Name, got.Body)
	}
	if d := deadLetters(t, ctx, b); len(d) != 0 {
		t.Errorf("dead letters after a stop: %v", d)
	}
}

func testConcurrent(t *testing.T, b Bus) {
	ctx := testContext(t)
	const publishers, each = 16, 20
	rec := newRecorder()
	consume(t, ctx, b.Consumer, func(_ context.Context, got commands.Message) error { rec.add(got); return nil })
	ids := make(chan uuid.UUID, publishers*each)
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				m := newMessage(t, p*each+i)
				if err := b.Publisher.Publish(ctx, m); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
				ids <- m.ID
			}
		})
	}
	wg.Wait()
	close(ids)
	if t.Failed() {
		return
	}
	eventually(t, ctx, "every message handled", func() bool { return rec.distinct() >= publishers*each })
	for id := range ids {
		if n := len(rec.get(id)); n != 1 {
			t.Errorf("message %s handled %d times, want 1", id, n)
		}
	}
	if rec.distinct() != publishers*each {
		t.Errorf("handled %d distinct messages, want %d", rec.distinct(), publishers*each)
	}
}

func testDeliveryLimit(t *testing.T, b Bus) {
	if b.DeliveryLimit <= 0 || b.DeliveryLimit > 10 {
		t.Fatalf("Bus.DeliveryLimit = %d; the suite needs a small positive limit", b.DeliveryLimit)
	}
	ctx := testContext(t)
	m := newMessage(t, 0)
	publish(t, ctx, b, m)
	rec := newRecorder()
	consume(t, ctx, b.Consumer, func(_ context.Context, got commands.Message) error {
		rec.add(got)
		return errors.New("wallet locked")
	})
	expectDeadAfterLimit(t, ctx, b, rec, m.ID, "wallet locked")
}

// expectDeadAfterLimit waits for the command id in the dead-letter place
// with reason in its reason, after exactly DeliveryLimit+1 deliveries
// counted 0, 1, 2, … (a plain message or a command of a batch alike).
func expectDeadAfterLimit(t *testing.T, ctx context.Context, b Bus, rec *recorder, id uuid.UUID, reason string) {
	t.Helper()
	var dl DeadLetter
	eventually(t, ctx, "the dead letter", func() bool {
		var ok bool
		dl, ok = findDead(t, ctx, b, id)
		return ok
	})
	if !strings.Contains(dl.Reason, reason) {
		t.Errorf("dead-letter reason %q does not carry the last error", dl.Reason)
	}
	got := rec.get(id)
	if len(got) != b.DeliveryLimit+1 {
		t.Errorf("delivered %d times before dead-lettering, want DeliveryLimit+1 = %d", len(got), b.DeliveryLimit+1)
	}
	for i, g := range got {
		if g.Redelivered != i {
			t.Errorf("delivery %d has Redelivered = %d, want %d", i, g.Redelivered, i)
		}
	}
}
