package backend

import (
	"context"
	"errors"
	"sync"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/rpcclient"
)

const (
	// shareCheckBatch is the most shares one exchange with the node asks
	// about (two calls each, plus one pinfo).
	shareCheckBatch = 16
	// shareCheckSenders is how many exchanges are in flight at once: a
	// node runs each batch's calls in order on one RPC thread, and
	// biblepayd serves four (-rpcthreads), so four keep it busy.
	shareCheckSenders = 4
)

// errCheckStopped answers a share queued when the group stopped; the
// handler fails and its command is redelivered.
var errCheckStopped = errors.New("backend: share check group stopped")

// shareCheckGroup puts the node questions of shares validated at the same
// time into one JSON-RPC batch: with the node a round trip away, the HTTP
// exchange, not the node's work, is most of what a share costs. Each share
// gets exactly the answers a batch of its own would have had (the calls are
// independent; a shared pinfo is asked during every share's validation);
// when the exchange fails, every share in it gets the error and its command
// is redelivered. Like the group commit it never waits on a timer: a share
// that finds the senders idle goes alone.
type shareCheckGroup struct {
	node ShareChecker
	max  int
	reqs chan *checkReq

	mu      sync.RWMutex // guards running against enqueues (read) and stop (write)
	running bool
}

type checkReq struct {
	ctx       context.Context
	sol       biblepay.Solution
	withPinfo bool
	done      chan checkResult // buffered: a sender never blocks on it
}

type checkResult struct {
	check *rpcclient.ShareCheck
	err   error
}

func newShareCheckGroup(node ShareChecker, max int) *shareCheckGroup {
	return &shareCheckGroup{node: node, max: max, reqs: make(chan *checkReq, shareCheckSenders*max)}
}

// Check asks the node about one share, together with others' while the
// group runs, on its own otherwise.
func (g *shareCheckGroup) Check(ctx context.Context, sol biblepay.Solution, withPinfo bool) (*rpcclient.ShareCheck, error) {
	r := &checkReq{ctx: ctx, sol: sol, withPinfo: withPinfo, done: make(chan checkResult, 1)}
	if !g.enqueue(r) {
		return g.alone(ctx, sol, withPinfo)
	}
	select {
	case res := <-r.done:
		return res.check, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// enqueue hands r to the senders unless the group is stopped or its queue
// is full; it never blocks.
func (g *shareCheckGroup) enqueue(r *checkReq) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if !g.running {
		return false
	}
	select {
	case g.reqs <- r:
		return true
	default:
		return false
	}
}

func (g *shareCheckGroup) alone(ctx context.Context, sol biblepay.Solution, withPinfo bool) (*rpcclient.ShareCheck, error) {
	checks, err := g.node.CheckShares(ctx, []biblepay.Solution{sol}, withPinfo)
	if err != nil {
		return nil, err
	}
	if len(checks) != 1 {
		return nil, errors.New("backend: the node checked no share")
	}
	return checks[0], nil
}

// Run sends batches until ctx ends, then answers what is still queued.
func (g *shareCheckGroup) Run(ctx context.Context) error {
	g.mu.Lock()
	g.running = true
	g.mu.Unlock()
	var wg sync.WaitGroup
	for range shareCheckSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.send(ctx)
		}()
	}
	wg.Wait()
	g.mu.Lock()
	g.running = false
	g.mu.Unlock()
	for {
		select {
		case r := <-g.reqs:
			r.done <- checkResult{err: errCheckStopped}
		default:
			return ctx.Err()
		}
	}
}

// send takes what is queued, up to max shares, and asks about it in one
// exchange, until ctx ends.
func (g *shareCheckGroup) send(ctx context.Context) {
	for {
		var batch []*checkReq
		select {
		case r := <-g.reqs:
			batch = append(batch, r)
		case <-ctx.Done():
			return
		}
	drain:
		for len(batch) < g.max {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		g.ask(ctx, batch)
	}
}

func (g *shareCheckGroup) ask(ctx context.Context, batch []*checkReq) {
	live := batch[:0:0]
	sols := make([]biblepay.Solution, 0, len(batch))
	withPinfo := false
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- checkResult{err: err} // its handler has gone
			continue
		}
		live = append(live, r)
		sols = append(sols, r.sol)
		withPinfo = withPinfo || r.withPinfo
	}
	if len(live) == 0 {
		return
	}
	checks, err := g.node.CheckShares(ctx, sols, withPinfo)
	if err == nil && len(checks) != len(live) {
		err = errors.New("backend: the node checked another number of shares")
	}
	for i, r := range live {
		if err != nil {
			r.done <- checkResult{err: err}
			continue
		}
		r.done <- checkResult{check: checks[i]}
	}
}
