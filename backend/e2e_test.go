package backend_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/inproc"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/simnode"
)

// bus is a publisher and consumer pair.
type bus struct {
	pub  commands.Publisher
	cons commands.Consumer
}

func inprocBus(t *testing.T) bus {
	b := inproc.New()
	t.Cleanup(func() { b.Close() })
	return bus{b, b}
}

func rabbitBus(t *testing.T) bus {
	url := testenv.RequireAMQP(t)
	p := testenv.UniqueName("pp_backend")
	top := rabbitmq.Topology{Exchange: p + ".x", Queue: p + ".q", DeadLetterExchange: p + ".dlx", DeadLetterQueue: p + ".dead", DeliveryLimit: 20}
	conn, err := amqp.Dial(url)
	if err != nil {
		testenv.Unavailable(t, "RabbitMQ", err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := rabbitmq.DeclareTopology(ch, top); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rabbitmq.DeleteTopology(ch, top) })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := rabbitmq.Config{URL: url, Topology: top, Name: t.Name(), Workers: 4, RedeliveryDelay: 20 * time.Millisecond, Logger: quiet}
	pub, err := rabbitmq.NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := pub.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	cons, err := rabbitmq.NewConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return bus{pub, cons}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEndToEnd runs the whole backend on each event store with a command
// bus: miners' work and shares arrive as commands, each published twice;
// the chain follower finds a pool block, sees it orphaned by a
// reorganisation, finds the next one, matures and credits it exactly (the
// orphaned round carried into it); the payer pays the miners through the
// simulated wallet, once. On EventStoreDB (its protocol fake, and a live
// server when PUREPOOL_TEST_ESDB_URL names one) every multi-stream decision
// is stored one stream at a time.
func TestEndToEnd(t *testing.T) {
	buses := map[string]func(*testing.T) bus{"inproc": inprocBus, "rabbitmq": rabbitBus}
	cases := []struct {
		store string
		open  func(testing.TB) events.Store
		bus   string
	}{
		{"postgres", newPostgresStore, "inproc"},
		{"postgres", newPostgresStore, "rabbitmq"},
		{"esdbfake", newESDBFakeStore, "inproc"},
		{"esdblive", newESDBLiveStore, "inproc"},
	}
	for _, c := range cases {
		t.Run(c.store+"/"+c.bus, func(t *testing.T) {
			store := c.open(t)
			bs := buses[c.bus](t)
			h := newHarness(t, store, func(n *backendNetworkConfig, _ *backendConfig) {
				n.PayoutInterval = 100 * time.Millisecond
			})
			h.startAll(bs.cons)
			ctx := context.Background()
			publish := func(c commands.Command) {
				msg, err := commands.Encode(c)
				if err != nil {
					t.Fatal(err)
				}
				for range 2 { // at-least-once: every command twice
					if err := bs.pub.Publish(ctx, msg); err != nil {
						t.Fatal(err)
					}
				}
			}
			miners := []string{addrOf(40), addrOf(41), addrOf(42)}
			var solutions []uuid.UUID
			for i, a := range miners {
				w := issueCmd(a, "rig", uuid.New())
				publish(w)
				for range i + 1 {
					c := submitCmd(a, "rig", h.share(a, w.WorkID).Solution)
					solutions = append(solutions, c.ID)
					publish(c)
				}
			}
			eventually(t, "every share recorded", func() bool {
				for _, id := range solutions {
					if len(h.streamTypes(events.StreamSolution(id))) == 0 {
						return false
					}
				}
				return true
			})
			for _, id := range solutions {
				if got := rejection(t, h, id); got != "ACCEPTED" {
					t.Fatalf("share %s: %s", id, got)
				}
			}
			for _, a := range miners {
				if got := h.streamTypes(events.StreamMiner(events.MinerID(network, a))); len(got) != 2 {
					t.Fatalf("miner %s stream %v", a, got)
				}
			}
			orphan := h.minePoolBlock(miners[1])
			eventually(t, "the first pool block discovered", func() bool { return h.block(orphan).Discovered })
			if _, err := h.srv.Node.Reorg(1); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the first pool block orphaned", func() bool { return h.block(orphan).Orphaned })
			hash := h.minePoolBlock(miners[0])
			eventually(t, "the pool block discovered", func() bool { return h.block(hash).Discovered })
			if _, err := h.srv.Node.Generate(5); err != nil {
				t.Fatal(err)
			}
			// The crediting is one append to the block's stream, but a
			// subscription may hand its events over in several batches
			// (the EventStoreDB server does): wait for the last of them,
			// the fee, not only for BlockMatured.
			eventually(t, "the pool block credited", func() bool { b := h.block(hash); return b.Matured && b.Fee != nil })
			pb := h.block(hash)
			credited := map[string]int64{}
			sum := pb.Fee.AmountSat
			for _, c := range pb.Credits {
				credited[c.Address] = c.AmountSat
				sum += c.AmountSat
			}
			if sum != simnode.DefaultBlockReward || len(credited) != 3 || pb.Round.TotalShares != 6 {
				t.Fatalf("credits %v fee %d round %+v", credited, pb.Fee.AmountSat, pb.Round)
			}
			// MaxRecipients is 2: the three miners are paid in two payouts.
			eventually(t, "every miner paid", func() bool {
				var n int
				for _, p := range h.payouts() {
					if p.Status == aggregates.PayoutSent || p.Status == aggregates.PayoutConfirmed {
						n += len(p.Items)
					}
				}
				return n == 3
			})
			h.stop()
			entries, err := h.node.ListTransactions(ctx, "*", 1000, 0)
			if err != nil {
				t.Fatal(err)
			}
			var fees int64
			for _, p := range h.payouts() {
				fees += p.FeeSat
			}
			got := map[string]int64{}
			for _, e := range entries {
				if e.Category == "send" {
					got[e.Address] += -int64(e.Amount)
				}
			}
			var received int64
			for _, a := range miners {
				if got[a] <= 0 || got[a] > credited[a] {
					t.Fatalf("miner %s received %d, credited %d", a, got[a], credited[a])
				}
				received += got[a]
			}
			if received+fees != credited[miners[0]]+credited[miners[1]]+credited[miners[2]] {
				t.Fatalf("received %d + network fees %d != credited", received, fees)
			}
			h.checkNeverTwice()
			rep, err := audit.Run(ctx, h.store, audit.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() {
				t.Fatalf("audit: %v", rep.Violations)
			}
		})
	}
}
