// Package inproc is the command bus of the embedded (single-process) mode:
// the same semantics as commands/rabbitmq, in memory.
//
// It is NOT durable: Publish returns once the message is queued in memory,
// so commands queued but not yet handled are lost if the process dies. The
// embedded mode accepts this (it is a demo and a test harness; the pool's
// money lives in the event store, and a lost IssueWork or SubmitSolution
// only costs the miner that share). Everything else matches RabbitMQ: a
// handler error redelivers the message (Redelivered counts earlier
// deliveries) up to the delivery limit, a Permanent error or the limit
// dead-letters it with the error as reason, and a message whose handler
// has not returned nil when Consume stops goes back to the queue.
package inproc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/purepool/purepool/commands"
)

// DefaultDeliveryLimit is the commands package's, as for RabbitMQ.
const DefaultDeliveryLimit = commands.DefaultDeliveryLimit

// ErrFull is returned by Publish when the queue holds MaxLength messages
// (like a RabbitMQ queue with x-overflow=reject-publish).
var ErrFull = errors.New("inproc: command queue full")

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("inproc: bus closed")

// DeadLetter is a message that will never be handled, with the reason.
type DeadLetter struct {
	Message commands.Message
	Reason  string
	At      time.Time
}

// Bus is a Publisher and a Consumer at once. Several Consume calls may run
// at the same time (competing consumers).
type Bus struct {
	deliveryLimit   int
	maxLength       int
	redeliveryDelay time.Duration

	mu     sync.Mutex
	queue  []commands.Message // Redelivered holds the count of earlier deliveries
	dead   []DeadLetter
	wake   chan struct{} // closed and replaced whenever queue grows
	closed bool
}

// Option configures a Bus.
type Option func(*Bus)

// WithDeliveryLimit sets how many times a message may come back after a
// failed delivery before it is dead-lettered (as RabbitMQ's
// x-delivery-limit: at most limit+1 deliveries).
func WithDeliveryLimit(limit int) Option { return func(b *Bus) { b.deliveryLimit = limit } }

// WithRedeliveryDelay sets how long Consume holds a failed message before
// requeueing it, doubled per earlier delivery and capped at 30 s (default
// 100 ms, as commands/rabbitmq; negative: at once).
func WithRedeliveryDelay(d time.Duration) Option { return func(b *Bus) { b.redeliveryDelay = d } }

// WithMaxLength bounds the queue; Publish beyond it fails with ErrFull.
func WithMaxLength(n int) Option { return func(b *Bus) { b.maxLength = n } }

// New makes an empty bus.
func New(opts ...Option) *Bus {
	b := &Bus{deliveryLimit: DefaultDeliveryLimit, redeliveryDelay: 100 * time.Millisecond, wake: make(chan struct{})}
	for _, o := range opts {
		o(b)
	}
	if b.deliveryLimit <= 0 {
		b.deliveryLimit = DefaultDeliveryLimit
	}
	return b
}

// Publish queues msg. It returns once the message is in memory.
func (b *Bus) Publish(ctx context.Context, msg commands.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if msg.Name == "" {
		return errors.New("inproc: publish: message has no command name")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.maxLength > 0 && len(b.queue) >= b.maxLength {
		return fmt.Errorf("inproc: publish %s %s: %w", msg.Name, msg.ID, ErrFull)
	}
	msg.Body = slices.Clone(msg.Body) // the caller may reuse its buffer
	msg.Redelivered = 0
	b.push(msg)
	return nil
}

// PublishBatch queues msgs at once: all of them, or none (a full queue or a
// nameless message fails the whole call). In memory there is no confirm to
// share, so a batch is simply its commands, each delivered, redelivered and
// dead-lettered on its own, which is what commands/rabbitmq's consumer
// makes of a batch.
func (b *Bus) PublishBatch(ctx context.Context, msgs []commands.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Name == "" {
			return errors.New("inproc: publish batch: a message has no command name")
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.maxLength > 0 && len(b.queue)+len(msgs) > b.maxLength {
		return fmt.Errorf("inproc: publish a batch of %d: %w", len(msgs), ErrFull)
	}
	for _, m := range msgs {
		m.Body = slices.Clone(m.Body)
		m.Redelivered = 0
		b.queue = append(b.queue, m)
	}
	close(b.wake)
	b.wake = make(chan struct{})
	return nil
}

// push appends and wakes consumers; b.mu is held.
func (b *Bus) push(msg commands.Message) {
	b.queue = append(b.queue, msg)
	close(b.wake)
	b.wake = make(chan struct{})
}

// Close makes further publishes fail; queued messages stay inspectable.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

// Len is the number of messages waiting.
func (b *Bus) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// DeadLetters returns a copy of the dead-letter list, oldest first.
func (b *Bus) DeadLetters() []DeadLetter {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.dead)
}

// next takes the oldest message, waiting for one until ctx ends.
func (b *Bus) next(ctx context.Context) (commands.Message, error) {
	for {
		b.mu.Lock()
		if len(b.queue) > 0 {
			m := b.queue[0]
			b.queue[0] = commands.Message{}
			b.queue = b.queue[1:]
			b.mu.Unlock()
			return m, nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return commands.Message{}, ctx.Err()
		case <-wake:
		}
	}
}

// Consume hands messages to h one at a time until ctx ends, then returns
// ctx.Err().
func (b *Bus) Consume(ctx context.Context, h commands.Handler) error {
	for {
		msg, err := b.next(ctx)
		if err != nil {
			return err
		}
		err = commands.SafeCall(ctx, h, msg)
		transient := err != nil && !commands.IsPermanent(err) && msg.Redelivered < b.deliveryLimit
		if transient && ctx.Err() == nil {
			b.sleep(ctx, msg.Redelivered)
		}
		b.mu.Lock()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			// Stopped before the handler succeeded: it goes back, first in
			// line, as a broker returns an unacked message.
			msg.Redelivered++
			b.queue = slices.Insert(b.queue, 0, msg)
			close(b.wake)
			b.wake = make(chan struct{})
		case commands.IsPermanent(err):
			b.dead = append(b.dead, DeadLetter{Message: msg, Reason: err.Error(), At: time.Now().UTC()})
		case msg.Redelivered >= b.deliveryLimit:
			b.dead = append(b.dead, DeadLetter{Message: msg,
				Reason: fmt.Sprintf("delivery limit %d reached: %v", b.deliveryLimit, err), At: time.Now().UTC()})
		default:
			msg.Redelivered++
			b.push(msg)
		}
		b.mu.Unlock()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// sleep holds a failed message before it is requeued.
func (b *Bus) sleep(ctx context.Context, earlier int) {
	if b.redeliveryDelay <= 0 {
		return
	}
	t := time.NewTimer(min(b.redeliveryDelay<<min(earlier, 16), 30*time.Second))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

var (
	_ commands.Publisher      = (*Bus)(nil)
	_ commands.BatchPublisher = (*Bus)(nil)
	_ commands.Consumer       = (*Bus)(nil)
)
