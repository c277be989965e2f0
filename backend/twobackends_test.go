package backend_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/backend/lease"
	"github.com/purepool/purepool/backend/pglock"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/simnode"
)

// TestTwoBackends runs two backends on one store and one node, competing
// for the same commands and running the same jobs, and checks the ledger
// stays whole: every height recorded once, every pool block discovered and
// credited once and exactly, no payout sent twice. On PostgreSQL the jobs'
// locks are advisory locks (pglock); on EventStoreDB (its protocol fake)
// and SQLite they are leases in the store itself (backend/lease).
func TestTwoBackends(t *testing.T) {
	for _, name := range []string{"postgres/pglock", "esdbfake/lease", "sqlite/lease"} {
		t.Run(name, func(t *testing.T) { twoBackends(t, name) })
	}
}

func twoBackends(t *testing.T, name string) {
	ctx := context.Background()
	var store events.Store
	lockers := make([]backend.Locker, 2)
	switch name {
	case "postgres/pglock":
		var url string
		store, url = newPostgresStoreURL(t)
		for i := range lockers {
			l, err := pglock.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(l.Close)
			lockers[i] = l
		}
	default:
		if name == "sqlite/lease" {
			store = newSQLiteStore(t)
		} else {
			store = newESDBFakeStore(t)
		}
		for i := range lockers {
			l := lease.New(store, lease.Config{Owner: fmt.Sprint("backend-", i), Logger: quietLogger()})
			t.Cleanup(func() { l.Close() })
			lockers[i] = l
		}
	}
	var nc backendNetworkConfig
	var cfg backendConfig
	h := newHarness(t, store, func(n *backendNetworkConfig, c *backendConfig) {
		n.PayoutInterval = 30 * time.Millisecond
		c.Locker = lockers[0]
		nc, cfg = *n, *c
	})
	cfg.Networks = []backend.NetworkConfig{nc}
	cfg.Locker = lockers[1]
	second, err := backend.New(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	bus := inprocBus(t)
	h.startAll(bus.cons)
	ctx2, cancel2 := context.WithCancel(ctx)
	done2 := make(chan error, 1)
	go func() { done2 <- second.Run(ctx2, backend.RunOptions{Consumer: bus.cons, Consumers: 2}) }()
	var stopOnce sync.Once
	stopSecond := func() { stopOnce.Do(func() { cancel2(); <-done2 }) }
	t.Cleanup(stopSecond)

	miners := []string{addrOf(70), addrOf(71), addrOf(72)}
	var ids []uuid.UUID
	for i, a := range miners {
		w := issueCmd(a, "rig", uuid.New())
		msg, _ := commands.Encode(w)
		bus.pub.Publish(ctx, msg)
		for range i + 2 {
			c := submitCmd(a, "rig", h.share(a, w.WorkID).Solution)
			ids = append(ids, c.ID)
			msg, _ := commands.Encode(c)
			bus.pub.Publish(ctx, msg)
			bus.pub.Publish(ctx, msg)
		}
	}
	eventually(t, "shares recorded", func() bool {
		for _, id := range ids {
			if len(h.streamTypes(events.StreamSolution(id))) == 0 {
				return false
			}
		}
		return true
	})
	var blocks []string
	for i := range 2 {
		blocks = append(blocks, h.minePoolBlock(miners[i]))
		h.srv.Node.Generate(1)
		time.Sleep(50 * time.Millisecond)
	}
	h.srv.Node.Generate(6)
	// FeeCredited is the last event of a crediting: a subscription may hand
	// an append's events over in several batches.
	credited := func(hash string) bool { b := h.block(hash); return b.Matured && b.Fee != nil }
	eventually(t, "both blocks credited", func() bool { return credited(blocks[0]) && credited(blocks[1]) })
	eventually(t, "all paid", func() bool {
		var owed int64
		h.b.View().Read(func(l *aggregates.Ledger) {
			for _, c := range l.Network(network).PayoutCandidates() {
				owed += c.BalanceSat
			}
			if len(l.Network(network).Unsettled) > 0 {
				owed++
			}
		})
		return owed == 0
	})
	stopSecond()
	h.stop()

	heights := map[int64]int{}
	for _, e := range h.decoded(events.StreamChain(network)) {
		heights[e.(events.ChainBlockRecorded).Height]++
	}
	for hgt, n := range heights {
		if n != 1 {
			t.Fatalf("height %d recorded %d times", hgt, n)
		}
	}
	if int64(len(heights)) != h.srv.Node.Height() {
		t.Fatalf("%d heights recorded of %d", len(heights), h.srv.Node.Height())
	}
	for _, hash := range blocks {
		got := h.streamTypes(events.StreamBlock(network, hash))
		var disc, mat int
		for _, typ := range got {
			switch typ {
			case events.TypeBlockDiscovered:
				disc++
			case events.TypeBlockMatured:
				mat++
			}
		}
		pb := h.block(hash)
		sum := pb.Fee.AmountSat
		for _, c := range pb.Credits {
			sum += c.AmountSat
		}
		if disc != 1 || mat != 1 || sum != simnode.DefaultBlockReward {
			t.Fatalf("block %s: %v, credits+fee %d", hash, got, sum)
		}
	}
	h.checkNeverTwice()
	// The leases' events sit in the same log: the auditor passes them by.
	rep, err := audit.Run(ctx, store, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("audit: %v", rep.Violations)
	}
}
