package resilience_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/internal/testenv"
)

// commandLedger is what the test knows about the commands: the ids whose
// Publish returned nil, and how often the consumer saw each id. The
// consumer dedupes by id (the way the backend's handlers are idempotent),
// so "seen at least once" is "applied exactly once".
type commandLedger struct {
	mu        sync.Mutex
	published map[uuid.UUID]bool
	seen      map[uuid.UUID]int
	failed    int // Publish calls that returned an error
}

func (l *commandLedger) counts() (published, seen, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.published), len(l.seen), l.failed
}

// missing lists the published ids the consumer has not seen yet.
func (l *commandLedger) missing() []uuid.UUID {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []uuid.UUID
	for id := range l.published {
		if l.seen[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// busLoad is three publishers publishing as fast as confirms come back and
// a consumer with two workers, all on one Config, recording in a ledger.
type busLoad struct {
	pub        *rabbitmq.Publisher
	ledger     *commandLedger
	seq        atomic.Int64
	stop       atomic.Bool
	publishing sync.WaitGroup
	stopCons   context.CancelFunc
	consuming  sync.WaitGroup
}

func startBusLoad(t *testing.T, ctx context.Context, cfg rabbitmq.Config) *busLoad {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	pub, err := rabbitmq.NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	if err := pub.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	cons, err := rabbitmq.NewConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := &busLoad{pub: pub, ledger: &commandLedger{published: map[uuid.UUID]bool{}, seen: map[uuid.UUID]int{}}}
	consCtx, stopCons := context.WithCancel(ctx)
	l.stopCons = stopCons
	t.Cleanup(func() { stopCons(); l.stop.Store(true); l.publishing.Wait(); l.consuming.Wait() })
	l.consuming.Go(func() {
		_ = cons.Consume(consCtx, func(_ context.Context, m commands.Message) error {
			l.ledger.mu.Lock()
			defer l.ledger.mu.Unlock()
			l.ledger.seen[m.ID]++
			return nil
		})
	})
	for range 3 {
		l.publishing.Go(func() {
			for !l.stop.Load() {
				msg := l.message()
				pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := pub.Publish(pctx, msg)
				cancel()
				l.ledger.mu.Lock()
				if err == nil {
					l.ledger.published[msg.ID] = true
				} else {
					l.ledger.failed++
				}
				l.ledger.mu.Unlock()
				if err != nil {
					time.Sleep(10 * time.Millisecond) // fails fast while disconnected
				}
			}
		})
	}
	return l
}

func (l *busLoad) message() commands.Message {
	body, _ := json.Marshal(map[string]int64{"seq": l.seq.Add(1)})
	return commands.Message{ID: uuid.New(), Name: "ResilienceProbe", Body: body}
}

// progress waits until n more publishes have been confirmed.
func (l *busLoad) progress(t *testing.T, n int, after string) {
	t.Helper()
	from, _, _ := l.ledger.counts()
	waitFor(t, 60*time.Second, fmt.Sprintf("%d more confirmed publishes after %s", n, after),
		func() bool { p, _, _ := l.ledger.counts(); return p >= from+n })
}

// outage checks the publisher's side of a broker outage that has begun:
// it notices, and Publish fails until it is back.
func (l *busLoad) outage(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	_, _, failed := l.ledger.counts()
	waitFor(t, 10*time.Second, "the publisher to notice "+what, func() bool { return !l.pub.Connected() })
	if err := l.pub.Publish(ctx, l.message()); err == nil {
		t.Fatalf("%s: Publish returned nil while the publisher was disconnected", what)
	}
	waitFor(t, 10*time.Second, "the publishers to see "+what, func() bool { _, _, f := l.ledger.counts(); return f > failed })
}

// finish stops publishing and checks that every confirmed command reached
// the consumer.
func (l *busLoad) finish(t *testing.T) {
	t.Helper()
	l.stop.Store(true)
	l.publishing.Wait()
	waitFor(t, 60*time.Second, "the consumer to see every confirmed command", func() bool { return len(l.ledger.missing()) == 0 })
	l.stopCons()
	l.consuming.Wait()

	published, seen, failed := l.ledger.counts()
	l.ledger.mu.Lock()
	duplicates := 0
	for _, n := range l.ledger.seen {
		duplicates += n - 1
	}
	l.ledger.mu.Unlock()
	if published == 0 || failed == 0 {
		t.Fatalf("%d publishes confirmed, %d failed: the test must see both", published, failed)
	}
	t.Logf("%d commands confirmed, %d publishes failed; consumer saw %d distinct ids (%d redelivered duplicates)",
		published, failed, seen, duplicates)
}

// declareTopology declares a topology with unique names through url.
func declareTopology(t *testing.T, url string) rabbitmq.Topology {
	t.Helper()
	prefix := testenv.UniqueName("pp_resilience")
	top := rabbitmq.Topology{Exchange: prefix + ".x", Queue: prefix + ".q",
		DeadLetterExchange: prefix + ".dlx", DeadLetterQueue: prefix + ".dead", DeliveryLimit: 20}
	conn, err := amqp.Dial(url)
	if err != nil {
		testenv.Unavailable(t, "RabbitMQ", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := rabbitmq.DeclareTopology(ch, top); err != nil {
		t.Fatal(err)
	}
	return top
}

// TestRabbitMQBus_BrokerRestartsUnderLoad stops (cleanly) and crashes
// (SIGKILL) a private RabbitMQ node while publishers and a consumer run.
//
// What it shows:
//   - while the node is down, Publish returns an error, never nil;
//   - the Publisher and the Consumer reconnect by themselves once it is back
//     (no new objects, no restart of the caller);
//   - every command whose Publish returned nil is consumed at least once,
//     across both a clean stop and a crash (the quorum queue confirms only
//     what it has written to disk); duplicates (an ack lost in the outage)
//     are counted and absorbed by deduplicating on the command id.
//
// A node takes 8 to 17 s to boot on this machine (and 3 to 17 s to start
// again), so one run costs 20 to 40 s: it runs only with PUREPOOL_STRESS=1.
// TestRabbitMQBus_BrokerClosesConnections covers the client side of an
// outage in the default suite.
func TestRabbitMQBus_BrokerRestartsUnderLoad(t *testing.T) {
	if !stress() {
		t.Skipf("boots a private RabbitMQ node three times (20 to 40 s); set %s=1", stressEnv)
	}
	t.Parallel()
	node := testenv.NewPrivateRabbitMQ(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	top := declareTopology(t, node.URL())
	load := startBusLoad(t, ctx, rabbitmq.Config{URL: node.URL(), Topology: top, Name: "resilience", Workers: 2,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond, RedeliveryDelay: 10 * time.Millisecond})

	load.progress(t, 200, "start")
	for round, kind := range []string{"stop", "crash"} {
		began := time.Now()
		if kind == "stop" {
			if err := node.Stop(); err != nil {
				t.Fatal(err)
			}
		} else {
			node.Crash()
		}
		stopped := time.Since(began)
		load.outage(t, ctx, "the broker's "+kind)

		began = time.Now()
		if err := node.Start(); err != nil {
			t.Fatal(err)
		}
		started := time.Since(began)
		began = time.Now()
		if err := load.pub.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %s took %s, start %s, publisher reconnected %s later",
			round, kind, stopped.Round(time.Millisecond), started.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
		load.progress(t, 200, kind)
	}
	load.finish(t)
}

// TestRabbitMQBus_BrokerClosesConnections has the shared broker close every
// connection of the bus (320 CONNECTION_FORCED, what clients get first when
// a node shuts down) while publishers and a consumer run. It is scoped: the
// bus connects as a user of its own and `rabbitmqctl
// close_all_user_connections` closes that user's connections only, so the
// other packages' tests on the shared broker are untouched. It shows the
// same guarantees as the restart test, without the node's boot time.
func TestRabbitMQBus_BrokerClosesConnections(t *testing.T) {
	t.Parallel()
	admin := testenv.RequireAMQP(t)
	ctl, err := exec.LookPath("rabbitmqctl")
	if err != nil {
		testenv.Unavailable(t, "rabbitmqctl", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	run := func(args ...string) error {
		// Not ctx: the cleanup's delete_user runs after ctx ended.
		rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(rctx, ctl, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("rabbitmqctl %s: %w: %s", args[0], err, out)
		}
		return nil
	}

	uri, err := amqp.ParseURI(admin)
	if err != nil {
		t.Fatal(err)
	}
	user, password := testenv.UniqueName("pp_resilience"), uuid.NewString()
	if err := run("add_user", user, password); err != nil {
		testenv.Unavailable(t, "rabbitmqctl (as root or rabbitmq)", err)
	}
	t.Cleanup(func() {
		if err := run("delete_user", user); err != nil {
			t.Log(err)
		}
	})
	if err := run("set_permissions", "-p", uri.Vhost, user, ".*", ".*", ".*"); err != nil {
		t.Fatal(err)
	}
	top := declareTopology(t, admin)
	t.Cleanup(func() {
		conn, err := amqp.Dial(admin)
		if err != nil {
			return
		}
		defer conn.Close()
		if ch, err := conn.Channel(); err == nil {
			_ = rabbitmq.DeleteTopology(ch, top)
		}
	})
	uri.Username, uri.Password = user, password
	// A slow reconnect keeps the publisher down long enough to be seen down.
	load := startBusLoad(t, ctx, rabbitmq.Config{URL: uri.String(), Topology: top, Name: "resilience", Workers: 2,
		ReconnectMin: 300 * time.Millisecond, ReconnectMax: 300 * time.Millisecond, RedeliveryDelay: 10 * time.Millisecond})

	load.progress(t, 200, "start")
	if err := run("close_all_user_connections", user, "purepool resilience test"); err != nil {
		t.Fatal(err)
	}
	load.outage(t, ctx, "the forced close")
	if err := load.pub.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	load.progress(t, 200, "the forced close")
	load.finish(t)
}
