package rabbitmq_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/commandbustest"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/internal/testenv"
)

// queueDepth is the number of ready messages in q.
func queueDepth(t *testing.T, ch *amqp.Channel, top rabbitmq.Topology) int {
	t.Helper()
	q, err := ch.QueueDeclarePassive(top.Queue, true, false, false, false, top.QueueArgs())
	if err != nil {
		t.Fatal(err)
	}
	return q.Messages
}

// TestBatchIsOneBrokerMessage: PublishBatch sends the commands of one name
// as one broker message, and concurrent Publish calls share messages.
func TestBatchIsOneBrokerMessage(t *testing.T) {
	url := testenv.RequireAMQP(t)
	for _, c := range []struct {
		batchSize int
		want      string
	}{{0, "one message"}, {1, "one message per command"}} {
		t.Run(fmt.Sprintf("batch=%d", c.batchSize), func(t *testing.T) {
			top := newTopology(t, url, 3)
			pub := newPublisher(t, rabbitmq.Config{URL: url, Topology: top, BatchSize: c.batchSize})
			ch := adminChannel(t, url)
			var msgs []commands.Message
			for range 5 {
				msgs = append(msgs, testMessage())
			}
			if err := pub.PublishBatch(t.Context(), msgs); err != nil {
				t.Fatal(err)
			}
			want := 1
			if c.batchSize == 1 {
				want = len(msgs)
			}
			if got := queueDepth(t, ch, top); got != want {
				t.Fatalf("%d commands in %d broker messages, want %s", len(msgs), got, c.want)
			}
			d, ok, err := ch.Get(top.Queue, true)
			if err != nil || !ok {
				t.Fatalf("get: %v %v", ok, err)
			}
			if c.batchSize == 1 {
				if d.ContentType != "application/json" || d.MessageId != msgs[0].ID.String() || d.Type != msgs[0].Name {
					t.Fatalf("BatchSize 1 published %s %s %s, want a plain message as before batching", d.ContentType, d.Type, d.MessageId)
				}
				return
			}
			if d.ContentType != rabbitmq.BatchContentType || d.Headers[rabbitmq.HeaderBatch] != int64(len(msgs)) || d.RoutingKey != commands.NameSubmitSolution {
				t.Fatalf("batch published as %s, headers %v, routing key %s", d.ContentType, d.Headers, d.RoutingKey)
			}
		})
	}

	t.Run("concurrent Publish", func(t *testing.T) {
		top := newTopology(t, url, 3)
		pub := newPublisher(t, rabbitmq.Config{URL: url, Topology: top, Channels: 1})
		ch := adminChannel(t, url)
		const n = 200
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if err := pub.Publish(t.Context(), testMessage()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		// With one batch in flight at a time, 200 simultaneous publishes
		// cannot take 200 messages.
		got := queueDepth(t, ch, top)
		t.Logf("%d concurrent publishes in %d broker messages", n, got)
		if got >= n {
			t.Errorf("%d concurrent publishes took %d broker messages: nothing was batched", n, got)
		}
	})
}

// rawPublish puts a hand-made message on the command exchange.
func rawPublish(t *testing.T, ch *amqp.Channel, top rabbitmq.Topology, pub amqp.Publishing) {
	t.Helper()
	pub.DeliveryMode = amqp.Persistent
	if err := ch.PublishWithContext(t.Context(), top.Exchange, commands.NameSubmitSolution, true, false, pub); err != nil {
		t.Fatal(err)
	}
}

// TestConsumeHandMadeBatches: what an older frontend or a broken publisher
// may send. A plain message is consumed as before batching; an envelope
// that cannot be read is dead-lettered whole; a command of a batch whose id
// is no UUID is dead-lettered alone; a body that is not JSON travels in
// base64 and arrives byte for byte.
func TestConsumeHandMadeBatches(t *testing.T) {
	url := testenv.RequireAMQP(t)
	top := newTopology(t, url, 3)
	ch := adminChannel(t, url)
	good := testMessage()
	odd := commands.Message{ID: uuid.New(), Name: commands.NameSubmitSolution, Body: []byte("not json \x00\xff")}
	single := testMessage()
	entry := func(m commands.Message) map[string]any {
		return map[string]any{"id": m.ID.String(), "name": m.Name, "body": json.RawMessage(m.Body)}
	}
	env, err := json.Marshal(map[string]any{"commands": []any{
		entry(good),
		map[string]any{"id": "not-a-uuid", "name": commands.NameSubmitSolution, "body": json.RawMessage(`{"x":1}`)},
		map[string]any{"id": odd.ID.String(), "name": odd.Name, "body_b64": []byte(odd.Body)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	rawPublish(t, ch, top, amqp.Publishing{ContentType: rabbitmq.BatchContentType, MessageId: "batch-1", Body: env})
	rawPublish(t, ch, top, amqp.Publishing{ContentType: rabbitmq.BatchContentType, MessageId: "batch-broken", Body: []byte(`{"commands":[`)})
	rawPublish(t, ch, top, amqp.Publishing{ContentType: rabbitmq.BatchContentType, MessageId: "batch-empty", Body: []byte(`{"commands":[]}`)})
	rawPublish(t, ch, top, amqp.Publishing{ContentType: "application/json", MessageId: single.ID.String(), Type: single.Name, Body: single.Body})

	con := newConsumer(t, rabbitmq.Config{URL: url, Topology: top, Workers: 2})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	got := map[uuid.UUID]commands.Message{}
	done := make(chan error, 1)
	go func() {
		done <- con.Consume(ctx, func(_ context.Context, m commands.Message) error {
			mu.Lock()
			defer mu.Unlock()
			got[m.ID] = m
			return nil
		})
	}()
	dead := DeadLetters(url, top)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		d, err := dead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 3 && len(d) == 3 {
			reasons := map[string]string{}
			for _, l := range d {
				reasons[l.Message.Name+"/"+l.Reason] = ""
			}
			t.Logf("dead letters: %v", reasons)
			var broken, empty, badID bool
			for _, l := range d {
				switch {
				case strings.Contains(l.Reason, "not a UUID"):
					badID = l.Message.Name == commands.NameSubmitSolution && string(l.Message.Body) == `{"x":1}`
				case strings.Contains(l.Reason, "no commands"):
					empty = true
				case strings.Contains(l.Reason, "undecodable command batch"):
					broken = true
				}
			}
			if !broken || !empty || !badID {
				t.Fatalf("dead letters %v: want the broken and the empty batch whole, and the bad id alone", d)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("handled %d, dead letters %v", n, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	for _, want := range []commands.Message{good, odd, single} {
		g, ok := got[want.ID]
		if !ok || g.Name != want.Name || string(g.Body) != string(want.Body) {
			t.Errorf("command %s: got %q %q, want %q %q", want.ID, g.Name, g.Body, want.Name, want.Body)
		}
	}
}

// TestContractBrokerRestart runs the contract's broker-restart case on a
// private RabbitMQ node (booted once, then stopped and started again). A
// node boots in 10 to 60 s on this machine, so it runs only with
// PUREPOOL_STRESS=1 (as .ci/run runs the restart tests).
func TestContractBrokerRestart(t *testing.T) {
	if os.Getenv("PUREPOOL_STRESS") == "" {
		t.Skip("boots a private RabbitMQ node and restarts it (20 to 80 s); set PUREPOOL_STRESS=1")
	}
	node := testenv.NewPrivateRabbitMQ(t)
	p := testenv.UniqueName("pp_cmd")
	top := rabbitmq.Topology{Exchange: p + ".x", Queue: p + ".q", DeadLetterExchange: p + ".dlx", DeadLetterQueue: p + ".dead", DeliveryLimit: 5}
	// The node and its topology are thrown away with the test.
	if err := rabbitmq.DeclareTopology(adminChannel(t, node.URL()), top); err != nil {
		t.Fatal(err)
	}
	cfg := rabbitmq.Config{URL: node.URL(), Topology: top, Name: t.Name(), Workers: 2,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond, RedeliveryDelay: 10 * time.Millisecond}
	commandbustest.RunRestart(t, commandbustest.Bus{
		Publisher:     newPublisher(t, cfg),
		Consumer:      newConsumer(t, cfg),
		DeliveryLimit: 5,
		DeadLetters:   DeadLetters(node.URL(), top),
		Restart:       func(context.Context) error { return node.Restart() },
	})
}

// publishConcurrently runs n Publish calls at once and returns their errors.
func publishConcurrently(ctx context.Context, pub *rabbitmq.Publisher, n int) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = pub.Publish(ctx, testMessage()) })
	}
	wg.Wait()
	return errs
}

// TestBatchDoubtFailsEveryWaiter: a batch the broker returns as unroutable,
// or whose confirm is lost with the connection, fails every Publish in it.
func TestBatchDoubtFailsEveryWaiter(t *testing.T) {
	url := testenv.RequireAMQP(t)

	t.Run("unroutable", func(t *testing.T) {
		top := newTopology(t, url, 3)
		ch := adminChannel(t, url)
		if err := ch.QueueUnbind(top.Queue, "#", top.Exchange, nil); err != nil {
			t.Fatal(err)
		}
		pub := newPublisher(t, rabbitmq.Config{URL: url, Topology: top, Channels: 1})
		for i, err := range publishConcurrently(t.Context(), pub, 50) {
			if !errors.Is(err, rabbitmq.ErrUnroutable) {
				t.Errorf("publish %d: %v, want ErrUnroutable", i, err)
			}
		}
		if err := pub.PublishBatch(t.Context(), []commands.Message{testMessage(), testMessage()}); !errors.Is(err, rabbitmq.ErrUnroutable) {
			t.Errorf("PublishBatch: %v, want ErrUnroutable", err)
		}
		if n := queueDepth(t, ch, top); n != 0 {
			t.Errorf("%d messages queued", n)
		}
	})

	t.Run("confirm lost", func(t *testing.T) {
		top := newTopology(t, url, 3)
		var pc cutter
		// BatchSize 10: full batches go out beside the first, held, one, so
		// batches are in flight when the connection is cut.
		pub := newPublisher(t, rabbitmq.Config{URL: url, Topology: top, Dial: pc.dial, BatchSize: 10,
			ReconnectMin: 500 * time.Millisecond, ReconnectMax: 500 * time.Millisecond})
		// Hold the broker's answers so no confirm arrives, then cut.
		pc.held.Store(true)
		done := make(chan []error, 1)
		go func() { done <- publishConcurrently(t.Context(), pub, 50) }()
		time.Sleep(200 * time.Millisecond)
		pc.cut()
		pc.held.Store(false)
		kinds := map[string]int{}
		for i, err := range <-done {
			if err == nil {
				t.Errorf("publish %d returned nil though no confirm came before the connection was lost", i)
				continue
			}
			switch {
			case errors.Is(err, rabbitmq.ErrConfirmLost):
				kinds["confirm lost"]++
			case errors.Is(err, rabbitmq.ErrNotConnected):
				kinds["not connected"]++
			default:
				kinds[err.Error()]++
			}
		}
		t.Logf("errors: %v", kinds)
	})
}
