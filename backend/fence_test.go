package backend_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/backend/crashpoint"
	"github.com/purepool/purepool/backend/lease"
	"github.com/purepool/purepool/events"
)

// handClock is a clock the test moves.
type handClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *handClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *handClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestLeaseLostMidPassStopsTheFollower: the chain follower holds its lease
// when the pass starts; while it reads a block from the node, the lease
// runs out (the process was paused, the store unreachable for its
// renewals). It records nothing more, and the backend that takes the lease
// over records the chain, each height once.
func TestLeaseLostMidPassStopsTheFollower(t *testing.T) {
	for name, open := range stepStores() {
		t.Run(name, func(t *testing.T) {
			store := open(t)
			clock := &handClock{now: time.Now().UTC()}
			lcfg := func(owner string) lease.Config {
				return lease.Config{Owner: owner, TTL: 30 * time.Second, Renew: time.Hour, Skew: 2 * time.Second, Now: clock.Now, Logger: quietLogger()}
			}
			la, lb := lease.New(store, lcfg("a")), lease.New(store, lcfg("b"))
			t.Cleanup(func() { la.Close(); lb.Close() })
			h := newHarness(t, store, func(_ *backendNetworkConfig, c *backendConfig) { c.Locker = la })
			cfgB := h.cfg
			cfgB.Locker = lb
			bB, err := backend.New(store, cfgB)
			if err != nil {
				t.Fatal(err)
			}
			hB := &harness{t: t, store: store, srv: h.srv, node: h.node, b: bB, pool: h.pool, miner: h.miner, cfg: cfgB}
			h.startView()
			hB.startView()
			h.sync() // a takes the lease and records the chain
			recorded := len(h.streamTypes(events.StreamChain(network)))
			if _, err := h.srv.Node.Generate(2); err != nil {
				t.Fatal(err)
			}
			crashpoint.SetHook(func(name string) {
				if name == crashpoint.ChainAfterRPC {
					clock.add(29 * time.Second) // within Skew of the lease's end
				}
			})
			err = h.b.SyncChain(context.Background(), network)
			crashpoint.SetHook(nil)
			if !errors.Is(err, lease.ErrNotHeld) {
				t.Fatalf("a's pass after its lease ran out: %v", err)
			}
			if got := len(h.streamTypes(events.StreamChain(network))); got != recorded {
				t.Fatalf("a recorded %d heights without its lease", got-recorded)
			}
			hB.sync() // the lease has not ended yet: b does nothing
			if got := len(h.streamTypes(events.StreamChain(network))); got != recorded {
				t.Fatal("b followed the chain while a's lease lasted")
			}
			clock.add(time.Second)
			hB.sync()
			heights := map[int64]int{}
			for _, e := range h.decoded(events.StreamChain(network)) {
				heights[e.(events.ChainBlockRecorded).Height]++
			}
			if int64(len(heights)) != h.srv.Node.Height() {
				t.Fatalf("%d heights recorded of %d", len(heights), h.srv.Node.Height())
			}
			for hgt, n := range heights {
				if n != 1 {
					t.Fatalf("height %d recorded %d times", hgt, n)
				}
			}
			if err := h.b.SyncChain(context.Background(), network); err != nil {
				t.Fatal(err) // a finds the lease taken: nothing to do, no error
			}
		})
	}
}
