package eventstoretest

// The cases of subscriptions: subscribers tailing concurrent writers and
// resuming from a checkpoint, and a subscription that stops when its
// handler fails or its context is cancelled.

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/purepool/purepool/events"
)

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
