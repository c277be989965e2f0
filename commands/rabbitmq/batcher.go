package rabbitmq

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/purepool/purepool/commands"
)

// batcher is the Publisher's group commit. Publish queues its command and
// waits; one dispatcher goroutine sends what is queued as batches. When
// nothing is in flight a command goes out at once, alone (after BatchDelay,
// if set). While a batch awaits its confirm, the commands arriving pile up
// and leave together when it is confirmed, so the batch size follows the
// load with no timer; only a full batch (BatchSize commands) goes out beside
// one in flight, up to one per channel. Measured (bench_test.go): on a
// loaded broker each broker message costs far more than its size, so fewer,
// fuller batches give both the most commands/s and the lowest p99.
type batcher struct {
	p       *Publisher
	size    int
	delay   time.Duration
	slots   chan struct{} // one per batch awaiting its confirm
	wake    chan struct{} // a command was queued
	done    chan struct{} // closed when the dispatcher and its flushes ended
	flushes sync.WaitGroup

	mu       sync.Mutex
	pending  map[string][]*pubReq // by command name (the routing key)
	order    []string             // names with queued commands, served in turn
	inflight int                  // batches awaiting their confirms
	closed   bool
}

// pubReq is one Publish waiting for its batch's outcome.
type pubReq struct {
	ctx   context.Context
	msg   commands.Message // Body is the batcher's own copy
	entry []byte           // the command encoded for an envelope
	at    time.Time
	done  chan error // buffered: the flush never blocks on a waiter gone
}

func newBatcher(ctx context.Context, p *Publisher) *batcher {
	b := &batcher{
		p:       p,
		size:    p.cfg.batchSize(),
		delay:   p.cfg.batchDelay(),
		slots:   make(chan struct{}, p.cfg.Channels),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		pending: map[string][]*pubReq{},
	}
	go b.run(ctx)
	return b
}

func (b *batcher) publish(ctx context.Context, msg commands.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rabbitmq: publish %s %s: %w", msg.Name, msg.ID, err)
	}
	// The caller may reuse its buffer once Publish returns, which it does
	// on ctx's end even while the batch is being sent.
	msg.Body = slices.Clone(msg.Body)
	r := &pubReq{ctx: ctx, msg: msg, entry: encodeEntry(msg), at: time.Now(), done: make(chan error, 1)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return fmt.Errorf("rabbitmq: publish %s %s: %w", msg.Name, msg.ID, ErrClosed)
	}
	if len(b.pending[msg.Name]) == 0 {
		b.order = append(b.order, msg.Name)
	}
	b.pending[msg.Name] = append(b.pending[msg.Name], r)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default: // the dispatcher has a wake-up pending already
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		// If the batch was sent the command may be queued: an error all
		// the same, as for a single publish whose confirm was not awaited.
		return fmt.Errorf("rabbitmq: publish %s %s: waiting for the broker's confirm: %w", msg.Name, msg.ID, ctx.Err())
	}
}

// run is the dispatcher.
func (b *batcher) run(ctx context.Context) {
	defer close(b.done)
	defer b.flushes.Wait()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		ready, wait := b.ready(time.Now())
		if !ready {
			var fire <-chan time.Time
			if wait > 0 {
				timer.Reset(wait)
				fire = timer.C
			}
			select {
			case <-ctx.Done():
				b.close()
				return
			case <-b.wake:
			case <-fire:
			}
			if !timer.Stop() && fire != nil {
				select { // drain a fire that lost the race with wake
				case <-timer.C:
				default:
				}
			}
			continue
		}
		select {
		case b.slots <- struct{}{}:
		case <-ctx.Done():
			b.close()
			return
		}
		reqs := b.take()
		if len(reqs) == 0 {
			<-b.slots
			continue
		}
		b.flushes.Add(1)
		go func() {
			defer b.flushes.Done()
			b.flush(ctx, reqs)
			b.mu.Lock()
			b.inflight--
			b.mu.Unlock()
			<-b.slots
			select { // what piled up meanwhile may go now
			case b.wake <- struct{}{}:
			default:
			}
		}()
	}
}

// ready says whether a batch should go now, or else how long to wait for
// more commands (0: until a command is queued or a batch confirmed).
func (b *batcher) ready(now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.order) == 0 {
		return false, 0
	}
	var oldest time.Time
	for _, name := range b.order {
		q := b.pending[name]
		if len(q) >= b.size {
			return true, 0
		}
		if oldest.IsZero() || q[0].at.Before(oldest) {
			oldest = q[0].at
		}
	}
	if b.inflight > 0 {
		return false, 0
	}
	wait := oldest.Add(b.delay).Sub(now)
	return wait <= 0, wait
}

// take removes the next batch from the queue: commands of the name whose
// turn it is, oldest first, up to the size and byte limits. Commands whose
// Publish already gave up are dropped: nobody would be told the outcome.
func (b *batcher) take() []*pubReq {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.order) == 0 {
		return nil
	}
	turn := 0
	if b.inflight > 0 { // only a full batch goes beside one in flight
		turn = slices.IndexFunc(b.order, func(name string) bool { return len(b.pending[name]) >= b.size })
		if turn < 0 {
			return nil
		}
	}
	name := b.order[turn]
	q := b.pending[name]
	var out []*pubReq
	n, size := 0, 0
	for ; n < len(q) && len(out) < b.size; n++ {
		r := q[n]
		if r.ctx.Err() != nil {
			continue
		}
		if len(out) > 0 && size+len(r.entry) > maxBatchBytes {
			break
		}
		out = append(out, r)
		size += len(r.entry)
	}
	clear(q[:n])
	b.order = slices.Delete(b.order, turn, turn+1)
	if len(out) > 0 {
		b.inflight++
	}
	if rest := q[n:]; len(rest) > 0 {
		b.pending[name] = rest
		b.order = append(b.order, name) // other names take their turn first
	} else {
		delete(b.pending, name)
	}
	return out
}

// flush publishes one batch and tells each of its Publish calls.
func (b *batcher) flush(ctx context.Context, reqs []*pubReq) {
	msgs := make([]commands.Message, len(reqs))
	entries := make([][]byte, len(reqs))
	for i, r := range reqs {
		msgs[i], entries[i] = r.msg, r.entry
	}
	err := b.p.publishGroup(ctx, msgs, entries)
	for _, r := range reqs {
		r.done <- err
	}
}

// close fails every queued command: the publisher is closing.
func (b *batcher) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for _, q := range b.pending {
		for _, r := range q {
			r.done <- fmt.Errorf("rabbitmq: publish %s %s: %w", r.msg.Name, r.msg.ID, ErrClosed)
		}
	}
	b.pending, b.order = map[string][]*pubReq{}, nil
}
