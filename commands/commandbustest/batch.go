package commandbustest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/commands"
)

// The batch cases: commands published together (commands.BatchPublisher,
// and for RabbitMQ one broker message) are still handled, redelivered and
// dead-lettered one by one.

func batchPublisher(t *testing.T, b Bus) commands.BatchPublisher {
	t.Helper()
	bp, ok := b.Publisher.(commands.BatchPublisher)
	if !ok {
		t.Fatalf("the publisher %T does not implement commands.BatchPublisher", b.Publisher)
	}
	return bp
}

// newBatch makes n commands of one name, as the frontend's group commit
// gathers them (a batch holds one name).
func newBatch(t *testing.T, n int) []commands.Message {
	t.Helper()
	out := make([]commands.Message, n)
	for i := range out {
		out[i] = newMessage(t, 3*i) // all SubmitSolution
	}
	return out
}

func publishBatch(t *testing.T, ctx context.Context, b Bus, msgs []commands.Message) {
	t.Helper()
	if err := batchPublisher(t, b).PublishBatch(ctx, msgs); err != nil {
		t.Fatalf("publish a batch of %d: %v", len(msgs), err)
	}
}

// store is an idempotent handler's effect: the set of commands stored.
type store struct {
	mu     sync.Mutex
	stored map[uuid.UUID]bool
}

func newStore() *store { return &store{stored: map[uuid.UUID]bool{}} }

func (s *store) put(id uuid.UUID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stored[id] = true
}

func (s *store) has(ids ...uuid.UUID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if !s.stored[id] {
			return false
		}
	}
	return true
}

func ids(msgs []commands.Message) []uuid.UUID {
	out := make([]uuid.UUID, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

// A Permanent error on one command of a batch dead-letters that command
// alone; the others are handled once and none is dead-lettered.
func testBatchPoisoned(t *testing.T, b Bus) {
	ctx := testContext(t)
	msgs := newBatch(t, 5)
	bad := msgs[2]
	publishBatch(t, ctx, b, msgs)
	rec := newRecorder()
	consume(t, ctx, b.Consumer, func(_ context.Context, got commands.Message) error {
		rec.add(got)
		if got.ID == bad.ID {
			return commands.Permanent(errors.New("solution has 15 fields"))
		}
		return nil
	})
	var dl DeadLetter
	eventually(t, ctx, "the dead letter and the other commands handled", func() bool {
		var ok bool
		dl, ok = findDead(t, ctx, b, bad.ID)
		return ok && rec.distinct() == len(msgs)
	})
	if !strings.Contains(dl.Reason, "solution has 15 fields") {
		t.Errorf("dead-letter reason %q does not carry the handler's error", dl.Reason)
	}
	if dl.Message.Name != bad.Name || !bytes.Equal(dl.Message.Body, bad.Body) {
		t.Errorf("dead letter %s %s, want %s %s", dl.Message.Name, dl.Message.Body, bad.Name, bad.Body)
	}
	// A message published after the batch is settled; had the batch been
	// requeued it would have come back by then.
	marker := newMessage(t, 1)
	publish(t, ctx, b, marker)
	eventually(t, ctx, "the marker", func() bool { return len(rec.get(marker.ID)) > 0 })
	for _, m := range msgs {
		got := rec.get(m.ID)
		if len(got) != 1 {
			t.Errorf("command %s handled %d times, want 1", m.ID, len(got))
			continue
		}
		if g := got[0]; g.Name != m.Name || !bytes.Equal(g.Body, m.Body) || g.Redelivered != 0 {
			t.Errorf("got %s %q redelivered=%d body %s, want %s %q redelivered=0 body %s",
				g.ID, g.Name, g.Redelivered, g.Body, m.ID, m.Name, m.Body)
		}
	}
	if d := deadLetters(t, ctx, b); len(d) != 1 {
		t.Errorf("%d dead letters, want only the poisoned command's: %v", len(d), d)
	}
}

// A transient failure of one command of a batch redelivers it; every
// command ends up stored exactly once by an idempotent handler, none is
// lost or dead-lettered.
func testBatchRedelivered(t *testing.T, b Bus) {
	ctx := testContext(t)
	msgs := newBatch(t, 6)
	flaky := msgs[1]
	publishBatch(t, ctx, b, msgs)
	rec, st := newRecorder(), newStore()
	consume(t, ctx, b.Consumer, func(_ context.Context, got commands.Message) error {
		if rec.add(got) == 1 && got.ID == flaky.ID {
			return errors.New("node RPC timed out")
		}
		st.put(got.ID)
		return nil
	})
	eventually(t, ctx, "every command of the batch stored", func() bool { return st.has(ids(msgs)...) })
	got := rec.get(flaky.ID)
	if len(got) != 2 || got[0].Redelivered != 0 || got[1].Redelivered < 1 {
		var r []int
		for _, g := range got {
			r = append(r, g.Redelivered)
		}
		t.Errorf("the failed command was delivered with Redelivered %v, want 0 then >= 1", r)
	}
	for _, m := range msgs {
		for _, g := range rec.get(m.ID) {
			if g.Name != m.Name || !bytes.Equal(g.Body, m.Body) {
				t.Errorf("redelivered command differs: %s %s", g.Name, g.Body)
			}
		}
	}
	if d := deadLetters(t, ctx, b); len(d) != 0 {
		t.Errorf("dead letters after a recovered failure: %v", d)
	}
}

// A consumer stopped while it handles a batch leaves the commands not
// handled to the next one: the batch returns whole, and commands handled
// before are at most handled again (idempotently).
func testBatchStop(t *testing.T, b Bus) {
	ctx := testContext(t)
	msgs := newBatch(t, 4)
	slow := msgs[len(msgs)-1]
	publishBatch(t, ctx, b, msgs)
	started := make(chan struct{})
	var once sync.Once
	st := newStore()
	stop := consume(t, ctx, b.Consumer, func(hctx context.Context, got commands.Message) error {
		if got.ID != slow.ID {
			st.put(got.ID)
			return nil
		}
		once.Do(func() { close(started) })
		<-hctx.Done() // still working when the consumer is told to stop
		return hctx.Err()
	})
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the batch was never delivered")
	}
	stop()
	if st.has(slow.ID) {
		t.Fatal("a command whose handler failed was stored")
	}
	consume(t, ctx, b.Consumer, func(_ context.Context, got commands.Message) error { st.put(got.ID); return nil })
	eventually(t, ctx, "every command of the batch stored", func() bool { return st.has(ids(msgs)...) })
	if d := deadLetters(t, ctx, b); len(d) != 0 {
		t.Errorf("dead letters after a stop: %v", d)
	}
}

// A command of a batch that always fails is dead-lettered after
// DeliveryLimit+1 deliveries with its last error; the others are stored and
// not dead-lettered.
func testBatchDeliveryLimit(t *testing.T, b Bus) {
	if b.DeliveryLimit <= 0 || b.DeliveryLimit > 10 {
		t.Fatalf("Bus.DeliveryLimit = %d; the suite needs a small positive limit", b.DeliveryLimit)
	}
	ctx := testContext(t)
	msgs := newBatch(t, 3)
	poisoned := msgs[0]
	publishBatch(t, ctx, b, msgs)
	rec, st := newRecorder(), newStore()
	consume(t, ctx, b.Consumer, func(_ context.Context, got commands.Message) error {
		rec.add(got)
		if got.ID == poisoned.ID {
			return errors.New("wallet locked")
		}
		st.put(got.ID)
		return nil
	})
	expectDeadAfterLimit(t, ctx, b, rec, poisoned.ID, "wallet locked")
	if !st.has(ids(msgs[1:])...) {
		t.Error("the other commands of the batch were not stored")
	}
	if d := deadLetters(t, ctx, b); len(d) != 1 {
		t.Errorf("%d dead letters, want only the poisoned command's: %v", len(d), d)
	}
}

// RunRestart is the BatchAcrossBrokerRestart case on its own, for a bus on
// a broker of its own (whose restart would disturb other tests): publishers
// keep publishing, alone and in batches, while the broker stops and starts;
// every command whose Publish or PublishBatch returned nil is handled.
// Skipped when b.Restart is nil.
func RunRestart(t *testing.T, b Bus) {
	if b.Restart == nil {
		t.Skip("the bus has no broker to restart")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	st := newStore()
	consume(t, ctx, b.Consumer, func(_ context.Context, got commands.Message) error { st.put(got.ID); return nil })
	bp := batchPublisher(t, b)

	var (
		mu         sync.Mutex
		ok         []uuid.UUID
		failed     int
		stop       atomic.Bool
		publishing sync.WaitGroup
	)
	okCount := func() int { mu.Lock(); defer mu.Unlock(); return len(ok) }
	for p := range 8 {
		publishing.Go(func() {
			for i := 0; !stop.Load(); i++ {
				var msgs []commands.Message
				var err error
				pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
				if p == 0 { // one explicit batch publisher beside Publish's own batching
					msgs = newBatch(t, 5)
					err = bp.PublishBatch(pctx, msgs)
				} else {
					msgs = []commands.Message{newMessage(t, p*1000+i)}
					err = b.Publisher.Publish(pctx, msgs[0])
				}
				pcancel()
				mu.Lock()
				if err == nil {
					ok = append(ok, ids(msgs)...)
				} else {
					failed++
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(10 * time.Millisecond) // Publish fails fast while disconnected
				}
			}
		})
	}
	t.Cleanup(func() { stop.Store(true); publishing.Wait() })
	progress := func(n int, after string) {
		t.Helper()
		from := okCount()
		eventually(t, ctx, "more confirmed publishes after "+after, func() bool { return okCount() >= from+n })
	}
	progress(200, "start")
	if err := b.Restart(ctx); err != nil {
		t.Fatalf("restart the broker: %v", err)
	}
	progress(200, "the restart")
	stop.Store(true)
	publishing.Wait()
	mu.Lock()
	confirmed, nfailed := slicesClone(ok), failed
	mu.Unlock()
	eventually(t, ctx, "every confirmed command handled", func() bool { return st.has(confirmed...) })
	t.Logf("%d commands confirmed and handled, %d publishes failed during the restart", len(confirmed), nfailed)
}

func slicesClone(s []uuid.UUID) []uuid.UUID { return append([]uuid.UUID(nil), s...) }
