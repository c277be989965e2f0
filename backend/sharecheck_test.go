package backend_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/rpcclient"
)

// askingNode records whether each share's batch asked for pinfo.
type askingNode struct {
	backend.Node
	c *rpcclient.Client

	mu        sync.Mutex
	withPinfo []bool
}

func (n *askingNode) CheckShares(ctx context.Context, sols []biblepay.Solution, withPinfo bool) ([]*rpcclient.ShareCheck, error) {
	n.mu.Lock()
	n.withPinfo = append(n.withPinfo, withPinfo)
	n.mu.Unlock()
	return n.c.CheckShares(ctx, sols, withPinfo)
}

func (n *askingNode) asked() []bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]bool(nil), n.withPinfo...)
}

// TestBatchedSharesKeepThePinfoTTL: with PinfoTTL 0 every share's batch
// asks pinfo; with a TTL only the first within it does, and the next after
// it asks again.
func TestBatchedSharesKeepThePinfoTTL(t *testing.T) {
	for _, tc := range []struct {
		ttl  time.Duration
		want []bool
	}{
		{0, []bool{true, true, true}},
		{time.Second, []bool{true, false, true}},
	} {
		t.Run("ttl="+tc.ttl.String(), func(t *testing.T) {
			var node *askingNode
			h := newHarness(t, newSQLiteStore(t), func(n *backendNetworkConfig, _ *backendConfig) {
				node = &askingNode{Node: n.Node, c: n.Node.(*rpcclient.Client)}
				n.Node, n.PinfoTTL = node, tc.ttl
			})
			a := addrOf(9)
			w := issueCmd(a, "rig", uuid.New())
			h.mustHandle(w)
			for i := range 3 {
				if i == 2 {
					time.Sleep(tc.ttl + 50*time.Millisecond)
				}
				c := submitCmd(a, "rig", h.share(a, w.WorkID).Solution)
				h.mustHandle(c)
				if got := rejection(t, h, c.ID); got != "ACCEPTED" {
					t.Fatalf("share %d: %s", i, got)
				}
			}
			got := node.asked()
			if len(got) != len(tc.want) {
				t.Fatalf("asked %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("asked %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestUnreachableNodeChangesNothing: when the node cannot be asked, the
// share is neither accepted nor rejected; the error is not permanent, so
// the bus redelivers it.
func TestUnreachableNodeChangesNothing(t *testing.T) {
	for _, rpc := range []string{"batch", "3calls"} {
		t.Run("rpc="+rpc, func(t *testing.T) {
			h := newHarness(t, newSQLiteStore(t), func(n *backendNetworkConfig, _ *backendConfig) {
				if rpc == "3calls" {
					n.Node = threeCalls{n.Node}
				}
			})
			a := addrOf(10)
			w := issueCmd(a, "rig", uuid.New())
			h.mustHandle(w)
			s := h.share(a, w.WorkID)
			if err := h.srv.Close(); err != nil {
				t.Fatal(err)
			}
			c := submitCmd(a, "rig", s.Solution)
			err := h.handle(c)
			if err == nil || commands.IsPermanent(err) {
				t.Fatalf("want a retryable error, got %v", err)
			}
			if got := h.streamTypes(events.StreamSolution(c.ID)); len(got) != 0 {
				t.Fatalf("solution stream %v", got)
			}
			if got := h.streamTypes(events.StreamBibleHash(network, s.BibleHash)); len(got) != 0 {
				t.Fatalf("bible hash stream %v", got)
			}
		})
	}
}
