package rabbitmq_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/commandbustest"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// adminChannel opens a channel as the broker's admin user.
func adminChannel(t testing.TB, url string) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		testenv.Unavailable(t, "RabbitMQ", err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// newTopology declares a fresh topology with unique names, deleted after the test.
func newTopology(t testing.TB, url string, limit int) rabbitmq.Topology {
	t.Helper()
	p := testenv.UniqueName("pp_cmd")
	top := rabbitmq.Topology{
		Exchange: p + ".x", Queue: p + ".q", DeadLetterExchange: p + ".dlx", DeadLetterQueue: p + ".dead",
		DeliveryLimit: limit,
	}
	ch := adminChannel(t, url)
	if err := rabbitmq.DeclareTopology(ch, top); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rabbitmq.DeleteTopology(ch, top); err != nil {
			t.Logf("delete topology: %v", err)
		}
	})
	return top
}

func newPublisher(t testing.TB, cfg rabbitmq.Config) *rabbitmq.Publisher {
	t.Helper()
	cfg.Logger = quiet
	p, err := rabbitmq.NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

func newConsumer(t testing.TB, cfg rabbitmq.Config) *rabbitmq.Consumer {
	t.Helper()
	cfg.Logger = quiet
	c, err := rabbitmq.NewConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// DeadLetters reads the dead-letter queue without removing anything: the
// messages are requeued when the inspecting channel closes.
func DeadLetters(url string, top rabbitmq.Topology) func(context.Context) ([]commandbustest.DeadLetter, error) {
	return func(context.Context) ([]commandbustest.DeadLetter, error) {
		conn, err := amqp.Dial(url)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			return nil, err
		}
		var out []commandbustest.DeadLetter
		for {
			d, ok, err := ch.Get(top.DeadLetterQueue, false)
			if err != nil {
				return nil, err
			}
			if !ok {
				return out, nil
			}
			id, _ := uuid.Parse(d.MessageId)
			reason, _ := d.Headers[rabbitmq.HeaderReason].(string)
			if reason == "" { // dead-lettered by the broker itself
				reason, _ = d.Headers["x-first-death-reason"].(string)
			}
			out = append(out, commandbustest.DeadLetter{
				Message: commands.Message{ID: id, Name: d.Type, Body: d.Body},
				Reason:  reason,
			})
		}
	}
}

func TestContract(t *testing.T) {
	url := testenv.RequireAMQP(t)
	for _, c := range []struct{ workers, batchSize int }{{1, 0}, {4, 0}, {4, 1}} {
		t.Run(fmt.Sprintf("workers=%d/batch=%d", c.workers, c.batchSize), func(t *testing.T) {
			commandbustest.Run(t, func(t *testing.T) commandbustest.Bus {
				top := newTopology(t, url, 3)
				cfg := rabbitmq.Config{URL: url, Topology: top, Name: t.Name(), Workers: c.workers, BatchSize: c.batchSize,
					ReconnectMin: 20 * time.Millisecond, RedeliveryDelay: 5 * time.Millisecond}
				return commandbustest.Bus{
					Publisher:     newPublisher(t, cfg),
					Consumer:      newConsumer(t, cfg),
					DeliveryLimit: 3,
					DeadLetters:   DeadLetters(url, top),
				}
			})
		})
	}
}

func testMessage() commands.Message {
	return commands.Message{ID: uuid.New(), Name: commands.NameSubmitSolution, Body: []byte(`{"id":"x"}`)}
}

// TestPublishUnroutableFails: mandatory publishing turns "no queue bound"
// into an error, though the broker acks such a message.
func TestPublishUnroutableFails(t *testing.T) {
	url := testenv.RequireAMQP(t)
	top := newTopology(t, url, 3)
	ch := adminChannel(t, url)
	if err := ch.QueueUnbind(top.Queue, "#", top.Exchange, nil); err != nil {
		t.Fatal(err)
	}
	p := newPublisher(t, rabbitmq.Config{URL: url, Topology: top})
	for range 3 { // several, to exercise return/confirm correlation
		err := p.Publish(t.Context(), testMessage())
		if !errors.Is(err, rabbitmq.ErrUnroutable) {
			t.Fatalf("publish with no bound queue: %v, want ErrUnroutable", err)
		}
	}
	if err := ch.QueueBind(top.Queue, "#", top.Exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(t.Context(), testMessage()); err != nil {
		t.Fatalf("publish once bound: %v", err)
	}
}

// TestPublishMissingExchangeFailsThenRecovers: the broker closes the channel
// (404); the publisher reports it and reopens the channel.
func TestPublishMissingExchangeFailsThenRecovers(t *testing.T) {
	url := testenv.RequireAMQP(t)
	top := newTopology(t, url, 3)
	missing := top
	missing.Exchange = testenv.UniqueName("pp_missing")
	p := newPublisher(t, rabbitmq.Config{URL: url, Topology: missing, Channels: 1})
	err := p.Publish(t.Context(), testMessage())
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("publish to a missing exchange: %v, want a 404 error", err)
	}
	ch := adminChannel(t, url)
	if err := ch.ExchangeDeclare(missing.Exchange, amqp.ExchangeTopic, false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(top.Queue, "#", missing.Exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		err := p.Publish(ctx, testMessage())
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("publisher did not recover its channel: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPublishFullQueueFails: with x-overflow=reject-publish the broker
// nacks a publish to a full queue.
func TestPublishFullQueueFails(t *testing.T) {
	url := testenv.RequireAMQP(t)
	p := testenv.UniqueName("pp_cmd")
	top := rabbitmq.Topology{Exchange: p + ".x", Queue: p + ".q", DeadLetterExchange: p + ".dlx", DeadLetterQueue: p + ".dead", MaxLength: 1}
	ch := adminChannel(t, url)
	if err := rabbitmq.DeclareTopology(ch, top); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rabbitmq.DeleteTopology(ch, top) })
	pub := newPublisher(t, rabbitmq.Config{URL: url, Topology: top})
	// Quorum queues enforce the limit once it is exceeded, so the first
	// publishes beyond it may still be accepted; one must be refused.
	for i := range 5 {
		err := pub.Publish(t.Context(), testMessage())
		if errors.Is(err, rabbitmq.ErrNacked) {
			t.Logf("publish %d nacked: %v", i+1, err)
			return
		}
		if err != nil {
			t.Fatalf("publish %d: %v, want nil or ErrNacked", i+1, err)
		}
	}
	t.Fatal("five publishes to a queue with x-max-length 1 all succeeded")
}

// cutter dials real TCP connections it can later hold (stop passing the
// broker's bytes to the client) or cut (close), to simulate network loss.
type cutter struct {
	mu    sync.Mutex
	conns []net.Conn
	held  atomic.Bool
	dials atomic.Int32
}

type heldConn struct {
	net.Conn
	c   *cutter
	cut *atomic.Bool
}

// Read holds what the broker sent while the cutter holds, and drops it if
// the connection is cut meanwhile: it never reached the client.
func (h heldConn) Read(b []byte) (int, error) {
	n, err := h.Conn.Read(b)
	for h.c.held.Load() && !h.cut.Load() {
		time.Sleep(5 * time.Millisecond)
	}
	if h.cut.Load() {
		return 0, net.ErrClosed
	}
	return n, err
}

func (h heldConn) Close() error {
	h.cut.Store(true)
	return h.Conn.Close()
}

func (c *cutter) dial(network, addr string) (net.Conn, error) {
	conn, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.dials.Add(1)
	h := heldConn{conn, c, new(atomic.Bool)}
	c.mu.Lock()
	c.conns = append(c.conns, h)
	c.mu.Unlock()
	return h, nil
}

func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

// TestConnectionLoss: a publish waiting for its confirm when the connection
// drops fails; Publish fails fast while disconnected; publisher and
// consumer both reconnect by themselves and nothing is lost.
func TestConnectionLoss(t *testing.T) {
	url := testenv.RequireAMQP(t)
	top := newTopology(t, url, 3)
	var pc, cc cutter
	cfg := rabbitmq.Config{URL: url, Topology: top, ReconnectMin: 500 * time.Millisecond, ReconnectMax: 500 * time.Millisecond}
	pcfg, ccfg := cfg, cfg
	pcfg.Dial, ccfg.Dial = pc.dial, cc.dial
	pub := newPublisher(t, pcfg)
	con := newConsumer(t, ccfg)

	var mu sync.Mutex
	got := map[uuid.UUID]int{}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- con.Consume(ctx, func(_ context.Context, m commands.Message) error {
			mu.Lock()
			got[m.ID]++
			mu.Unlock()
			return nil
		})
	}()
	first := testMessage()
	if err := pub.Publish(ctx, first); err != nil {
		t.Fatal(err)
	}

	// Hold the broker's answers so the confirm cannot arrive, then cut.
	pc.held.Store(true)
	waiting := make(chan error, 1)
	go func() { waiting <- pub.Publish(ctx, testMessage()) }()
	time.Sleep(100 * time.Millisecond)
	pc.cut()
	pc.held.Store(false)
	if err := <-waiting; err == nil {
		t.Fatal("a publish whose confirm never came returned nil after the connection was lost")
	} else {
		t.Logf("in-flight publish: %v", err)
	}
	// Once it has noticed the loss, and until it reconnects, the publisher
	// fails fast.
	for pub.Connected() {
		if ctx.Err() != nil {
			t.Fatal("the publisher never noticed the lost connection")
		}
		time.Sleep(time.Millisecond)
	}
	// (Failing with ErrNotConnected, rather than succeeding later, shows
	// that Publish does not wait for the reconnect.)
	if err := pub.Publish(ctx, testMessage()); !errors.Is(err, rabbitmq.ErrNotConnected) {
		t.Errorf("publish while disconnected: %v, want ErrNotConnected", err)
	}
	if err := pub.Ready(); err == nil {
		t.Error("Ready while disconnected")
	}
	if err := pub.WaitReady(ctx); err != nil || pub.Ready() != nil {
		t.Fatalf("reconnect: %v, Ready %v", err, pub.Ready())
	}

	cc.cut() // and the consumer's connection too
	var after []uuid.UUID
	deadline := time.Now().Add(30 * time.Second)
	for len(after) < 5 && time.Now().Before(deadline) {
		m := testMessage()
		if err := pub.Publish(ctx, m); err == nil {
			after = append(after, m.ID)
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if len(after) < 5 {
		t.Fatalf("publisher did not recover: %d publishes succeeded", len(after))
	}
	if pc.dials.Load() < 2 || cc.dials.Load() < 1 {
		t.Fatalf("dials: publisher %d consumer %d", pc.dials.Load(), cc.dials.Load())
	}
	for _, id := range append(after, first.ID) {
		for {
			mu.Lock()
			n := got[id]
			mu.Unlock()
			if n > 0 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("message %s published before/after the loss never consumed", id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if cc.dials.Load() < 2 {
		t.Errorf("consumer dialled %d times, want a reconnect", cc.dials.Load())
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Consume returned %v", err)
	}
}

// TestConsumerMissingQueueRetries: a queue that does not exist yet is
// retried, not fatal.
func TestConsumerMissingQueueRetries(t *testing.T) {
	url := testenv.RequireAMQP(t)
	top := newTopology(t, url, 3)
	missing := top
	missing.Queue = testenv.UniqueName("pp_missing")
	c := newConsumer(t, rabbitmq.Config{URL: url, Topology: missing, ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	// It keeps retrying (the queue may be declared by a later setup) until ctx ends.
	if err := c.Consume(ctx, func(context.Context, commands.Message) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Consume of a missing queue: %v, want it to retry until the context ends", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := rabbitmq.NewPublisher(rabbitmq.Config{URL: "http://x", Topology: rabbitmq.DefaultTopology()}); err == nil {
		t.Error("NewPublisher accepted a non-AMQP URL")
	}
	if _, err := rabbitmq.NewConsumer(rabbitmq.Config{URL: "amqp://x/", Topology: rabbitmq.Topology{Queue: "q"}}); err == nil {
		t.Error("NewConsumer accepted an incomplete topology")
	}
}

// TestRedeliveryDelay: a failed message is held before it is requeued, so
// an outage does not exhaust the delivery limit at once.
func TestRedeliveryDelay(t *testing.T) {
	url := testenv.RequireAMQP(t)
	top := newTopology(t, url, 3)
	const delay = 150 * time.Millisecond
	cfg := rabbitmq.Config{URL: url, Topology: top, RedeliveryDelay: delay}
	pub := newPublisher(t, cfg)
	con := newConsumer(t, cfg)
	if err := pub.Publish(t.Context(), testMessage()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var times []time.Time
	err := con.Consume(ctx, func(_ context.Context, m commands.Message) error {
		times = append(times, time.Now())
		if len(times) < 3 {
			return errors.New("node down")
		}
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || len(times) != 3 {
		t.Fatalf("Consume: %v after %d deliveries", err, len(times))
	}
	// Delays double: >= delay before the second delivery, >= 2*delay before the third.
	if d := times[1].Sub(times[0]); d < delay {
		t.Errorf("second delivery after %v, want >= %v", d, delay)
	}
	if d := times[2].Sub(times[1]); d < 2*delay {
		t.Errorf("third delivery after %v, want >= %v", d, 2*delay)
	}
}

// TestConsumerSurvivesQueueRecreated: the broker cancels the consumer when
// its queue is deleted; the consumer reconnects and consumes the queue
// once it is declared again.
func TestConsumerSurvivesQueueRecreated(t *testing.T) {
	url := testenv.RequireAMQP(t)
	top := newTopology(t, url, 3)
	cfg := rabbitmq.Config{URL: url, Topology: top, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond}
	pub := newPublisher(t, cfg)
	con := newConsumer(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	got := make(chan uuid.UUID, 10)
	done := make(chan error, 1)
	go func() {
		done <- con.Consume(ctx, func(_ context.Context, m commands.Message) error { got <- m.ID; return nil })
	}()
	m1 := testMessage()
	if err := pub.Publish(ctx, m1); err != nil {
		t.Fatal(err)
	}
	if id := <-got; id != m1.ID {
		t.Fatalf("got %s", id)
	}
	ch := adminChannel(t, url)
	if _, err := ch.QueueDelete(top.Queue, false, false, false); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, testMessage()); !errors.Is(err, rabbitmq.ErrUnroutable) {
		t.Errorf("publish with the queue gone: %v, want ErrUnroutable", err)
	}
	// Give the broker time to cancel the consumer: a queue recreated at
	// once under the same name can keep a consumer of the old one
	// registered, with nothing to tell the client.
	time.Sleep(300 * time.Millisecond)
	if err := rabbitmq.DeclareTopology(ch, top); err != nil {
		t.Fatal(err)
	}
	m2 := testMessage()
	if err := pub.Publish(ctx, m2); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-got:
		if id != m2.ID {
			t.Fatalf("got %s, want %s", id, m2.ID)
		}
	case <-ctx.Done():
		t.Fatal("the consumer did not come back after its queue was recreated")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Consume: %v", err)
	}
}
