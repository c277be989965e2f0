package backend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/rpcclient"
)

// echoChecker answers each share with its own block hash as the bible
// hash, records the batches it was asked, and holds each exchange until it
// receives from release (or release is closed).
type echoChecker struct {
	mu      sync.Mutex
	batches [][]string
	pinfo   []bool
	release chan struct{}
	fail    error
}

func (e *echoChecker) CheckShares(ctx context.Context, sols []biblepay.Solution, withPinfo bool) ([]*rpcclient.ShareCheck, error) {
	var hashes []string
	for _, s := range sols {
		hashes = append(hashes, s.BlockHash)
	}
	e.mu.Lock()
	e.batches = append(e.batches, hashes)
	e.pinfo = append(e.pinfo, withPinfo)
	e.mu.Unlock()
	select {
	case <-e.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if e.fail != nil {
		return nil, e.fail
	}
	out := make([]*rpcclient.ShareCheck, len(sols))
	for i, s := range sols {
		out[i] = &rpcclient.ShareCheck{BibleHash: s.BlockHash}
	}
	return out, nil
}

func (e *echoChecker) asked() ([][]string, []bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([][]string(nil), e.batches...), append([]bool(nil), e.pinfo...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestShareCheckGroupCoalesces: shares queued while every sender is busy go
// to the node together, each gets its own answer, and the batch asks pinfo
// when one of them wants it.
func TestShareCheckGroupCoalesces(t *testing.T) {
	node := &echoChecker{release: make(chan struct{})}
	g := newShareCheckGroup(node, 16)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- g.Run(ctx) }()
	waitFor(t, "the group to run", func() bool { g.mu.RLock(); defer g.mu.RUnlock(); return g.running })

	type answer struct {
		hash string
		err  error
	}
	answers := make(map[string]chan answer)
	check := func(hash string, withPinfo bool) {
		ch := make(chan answer, 1)
		answers[hash] = ch
		go func() {
			c, err := g.Check(context.Background(), biblepay.Solution{BlockHash: hash}, withPinfo)
			if err != nil {
				ch <- answer{err: err}
				return
			}
			ch <- answer{hash: c.BibleHash}
		}()
	}
	// Occupy every sender with one share.
	for i := range shareCheckSenders {
		check(fmt.Sprintf("busy%d", i), false)
		waitFor(t, "a sender to take a share", func() bool { b, _ := node.asked(); return len(b) == i+1 })
	}
	// These queue up meanwhile.
	const queued = 10
	for i := range queued {
		check(fmt.Sprintf("queued%d", i), i == 3)
	}
	waitFor(t, "the shares to queue", func() bool { return len(g.reqs) == queued })
	// Free one sender: it takes every queued share into one batch.
	node.release <- struct{}{}
	waitFor(t, "the queued shares to be asked", func() bool { b, _ := node.asked(); return len(b) == shareCheckSenders+1 })
	for range shareCheckSenders {
		node.release <- struct{}{}
	}
	for hash, ch := range answers {
		if a := <-ch; a.err != nil || a.hash != hash {
			t.Errorf("share %s answered %+v", hash, a)
		}
	}
	batches, pinfo := node.asked()
	if len(batches) != shareCheckSenders+1 || len(batches[shareCheckSenders]) != queued || !pinfo[shareCheckSenders] {
		t.Errorf("batches %v, pinfo %v; want the %d queued shares in one batch asking pinfo", batches, pinfo, queued)
	}
	for _, p := range pinfo[:shareCheckSenders] {
		if p {
			t.Errorf("a batch of shares that did not want pinfo asked it: %v", pinfo)
		}
	}

	cancel()
	if err := <-stopped; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	// Stopped, it asks for each share on its own.
	close(node.release)
	c, err := g.Check(context.Background(), biblepay.Solution{BlockHash: "alone"}, true)
	if err != nil || c.BibleHash != "alone" {
		t.Fatalf("after stop: %+v, %v", c, err)
	}
}

// TestShareCheckGroupFailureReachesEveryShare: a failed exchange fails every
// share in it, and a share whose handler gave up is not asked about.
func TestShareCheckGroupFailureReachesEveryShare(t *testing.T) {
	boom := errors.New("node unreachable")
	node := &echoChecker{release: make(chan struct{}), fail: boom}
	close(node.release)
	g := newShareCheckGroup(node, 16)
	gone, cancelGone := context.WithCancel(context.Background())
	cancelGone()
	ask := []*checkReq{
		{ctx: context.Background(), sol: biblepay.Solution{BlockHash: "a"}, done: make(chan checkResult, 1)},
		{ctx: gone, sol: biblepay.Solution{BlockHash: "b"}, done: make(chan checkResult, 1)},
		{ctx: context.Background(), sol: biblepay.Solution{BlockHash: "c"}, done: make(chan checkResult, 1)},
	}
	g.ask(context.Background(), ask)
	if r := <-ask[0].done; !errors.Is(r.err, boom) {
		t.Errorf("a: %v", r.err)
	}
	if r := <-ask[1].done; !errors.Is(r.err, context.Canceled) {
		t.Errorf("b: %v", r.err)
	}
	if r := <-ask[2].done; !errors.Is(r.err, boom) {
		t.Errorf("c: %v", r.err)
	}
	if batches, _ := node.asked(); len(batches) != 1 || len(batches[0]) != 2 {
		t.Errorf("asked %v, want a and c only", batches)
	}
}
