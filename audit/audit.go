// Package audit re-checks Purepool's ledger from the event log alone.
//
// Run reads the whole global log from position 1, in pages, and in one pass
//
//   - recomputes the tamper-evidence chain (events.ChainHash) of a store
//     that keeps one (events.ChainKeeper: PostgreSQL and SQLite do,
//     EventStoreDB does not, and the report says so): positions must be
//     gapless from 1, each PrevHash must be the previous event's Hash, each
//     Hash must be the recomputed one, and none may be empty, so an edited,
//     deleted, inserted, reordered or blanked row is named by its position;
//   - folds every event through the backend's own fold (aggregates.Ledger,
//     with aggregates.Split, PoolBlock and Payout underneath), never through
//     a read model, and checks the ledger's invariants on the way and at the
//     end (see the Kind constants);
//   - proves the rounds fair (fairness.go): re-derives every round from the
//     accepted shares by the rule its block was discovered under — by height
//     (PROP: the shares mined up to the block's height not counted before;
//     PPLNS: the last N by height; late shares named by LateSharesCounted)
//     or, for logs of earlier releases, by position — and reports a winning
//     share outside its block's round, a share counted twice, a round changed
//     after it was fixed or credited, a fee other than the PoolPolicySet's
//     basis points (or than FeeOf the reward), an empty round whose reward
//     the pool kept, and misuse of the carry account;
//   - optionally asks the node's wallet about every sent payout (Wallet) and
//     compares a read model's balances with the replay (ReadModel).
//
// What breaks the log or the ledger is a Violation in the Report. A few
// states the runbook explains are Findings instead (KnownStates: a miner's
// debt after a pool block was orphaned once its credits were paid, an empty
// round of a release before the rounds by height), each with the event
// that caused it; each is checked against its causing events, and is a
// violation as soon as it is more than they explain. An error is returned
// only when the audit itself could not run (the store or a service
// failed): Report.ExitStatus and ExitCouldNotRun are the verdicts of
// `purepool audit`.
package audit

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/purepool/purepool/events"
)

// Reader is the part of events.Store the auditor reads.
type Reader interface {
	ReadAll(ctx context.Context, after uint64, max int) ([]events.Envelope, error)
	Head(ctx context.Context) (uint64, error)
}

// Progress is told how many events were audited; *progressbar.ProgressBar
// satisfies it (see NewProgressBar).
type Progress interface {
	ChangeMax64(max int64)
	Add64(n int64) error
	Finish() error
}

// Anchor is a (position, hash) pair recorded earlier, e.g. from a previous
// report's head. The chain alone cannot tell a truncated log or a rewritten
// suffix (with every hash recomputed) from a genuine one; an anchor kept
// outside the database can.
type Anchor struct {
	Position uint64
	Hash     []byte
}

// chainKeeping asks the store whether it keeps the hash chain
// (events.ChainKeeper): by what it is, never by what its rows hold. A
// reader that does not say is held to the chain.
func chainKeeping(r Reader) (kept bool, name string) {
	if ck, ok := r.(events.ChainKeeper); ok {
		return ck.KeepsChain(), ck.StoreName()
	}
	return true, ""
}

// Options configure Run. The zero value audits the log alone.
type Options struct {
	// PageSize is how many events one ReadAll returns (default 5000).
	PageSize int
	// Workers decode and hash pages in parallel (default GOMAXPROCS).
	Workers int
	// Progress, if set, is advanced as events are audited.
	Progress Progress
	// Anchors are checked against the log (chain_anchor violations).
	Anchors []Anchor
	// Statement, if set, collects the statement of one miner (see Statement).
	Statement *StatementRequest
	// Wallet, if set, confirms every sent payout (--verify-chain).
	Wallet Wallet
	// Chain, if set, reads the payout transactions back to check the log
	// heads they anchor (--verify-chain; anchors.go).
	Chain Chain
	// ReadModel, if set, is compared with the replay.
	ReadModel ReadModel
	// RequireChain makes a store that keeps no hash chain (EventStoreDB)
	// a violation (KindChainNotKept) instead of a warning in the report.
	RequireChain bool
}

// Run audits the log r holds up to its head when Run starts.
func Run(ctx context.Context, r Reader, opt Options) (*Report, error) {
	if opt.PageSize <= 0 {
		opt.PageSize = 5000
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	// A node that cannot be reached fails the audit before the replay,
	// even when no sent payout would have asked it anything: an audit
	// asked to check against the chain that could not is no verdict.
	if n, ok := opt.Wallet.(interface {
		GetBlockCount(ctx context.Context) (int64, error)
	}); ok {
		if _, err := n.GetBlockCount(ctx); err != nil {
			return nil, fmt.Errorf("audit: node: %w", err)
		}
	}
	// The read model is read first: its checkpoint is then at most the head
	// read next, and the replay can be compared with it at that position.
	var rm *ReadModelSnapshot
	if opt.ReadModel != nil {
		s, err := opt.ReadModel.Snapshot(ctx)
		if err != nil {
			return nil, fmt.Errorf("audit: read model: %w", err)
		}
		rm = &s
	}
	head, err := r.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: head: %w", err)
	}
	if opt.Progress != nil {
		opt.Progress.ChangeMax64(int64(head))
	}
	a := newAuditor(opt)
	a.chainKept, a.rep.Store = chainKeeping(r)
	a.rep.ChainKept = a.chainKept
	if !a.chainKept {
		a.rep.chainNotKept()
		if opt.RequireChain {
			a.violation(KindChainNotKept, 0, "", "hash chain", "%s", a.rep.ChainWarning)
		}
	}
	if rm != nil {
		a.snapshotAt = rm.Position
		if rm.Position == 0 {
			a.takeSnapshot() // an empty read model is compared with the empty ledger
		}
	}
	if err := readPipeline(ctx, r, head, opt, a.apply); err != nil {
		return nil, err
	}
	a.finish()
	if opt.Progress != nil {
		_ = opt.Progress.Finish()
	}
	if rm != nil {
		a.compareReadModel(*rm)
	}
	if opt.Wallet != nil {
		if err := a.verifyWallet(ctx, opt.Wallet); err != nil {
			return nil, err
		}
		if node, ok := opt.Wallet.(blockHasher); ok {
			if err := a.verifyDebts(ctx, node); err != nil {
				return nil, err
			}
		}
	}
	if err := a.checkAnchors(ctx); err != nil { // anchors.go
		return nil, err
	}
	a.rep.sortViolations()
	return a.rep, nil
}

// decoded is one envelope ready for the fold: its event (or why it has
// none) and its recomputed chain hash.
type decoded struct {
	env   *events.Envelope
	event events.Event
	err   error
	hash  []byte
}

type page struct {
	envs []events.Envelope
	out  []decoded
	done chan struct{}
}

// readPipeline reads pages up to head in one goroutine, decodes and hashes
// them on workers, and hands them to fold in position order on the calling
// goroutine. Decoding and hashing are most of the cost and need no state,
// so they run in parallel; the fold is sequential by nature.
func readPipeline(ctx context.Context, r Reader, head uint64, opt Options, fold func(decoded)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ordered := make(chan *page, 2*opt.Workers)
	work := make(chan *page, 2*opt.Workers)
	var readErr error
	go func() {
		defer close(ordered)
		defer close(work)
		var after uint64
		for after < head {
			envs, err := r.ReadAll(ctx, after, opt.PageSize)
			if err != nil {
				readErr = fmt.Errorf("audit: read after position %d: %w", after, err)
				return
			}
			// Events appended after the audit started are left for the next audit.
			n := len(envs)
			for n > 0 && envs[n-1].Position > head {
				n--
			}
			envs = envs[:n]
			if len(envs) == 0 {
				return
			}
			p := &page{envs: envs, done: make(chan struct{})}
			select {
			case ordered <- p:
			case <-ctx.Done():
				return
			}
			select {
			case work <- p:
			case <-ctx.Done():
				return
			}
			if last := envs[len(envs)-1].Position; last > after {
				after = last
			} else {
				readErr = fmt.Errorf("audit: the store returned position %d after position %d", last, after)
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h chainHasher
			for p := range work {
				p.out = make([]decoded, len(p.envs))
				for i := range p.envs {
					env := &p.envs[i]
					ev, err := decode(*env)
					p.out[i] = decoded{env: env, event: ev, err: err, hash: h.sum(env.PrevHash, env)}
				}
				close(p.done)
			}
		}()
	}
	defer func() {
		cancel() // stops the reader if the fold ended early
		wg.Wait()
	}()
	for p := range ordered {
		select {
		case <-p.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		for _, d := range p.out {
			fold(d)
		}
		if opt.Progress != nil {
			_ = opt.Progress.Add64(int64(len(p.out)))
		}
	}
	if readErr != nil {
		return readErr
	}
	return ctx.Err() // the parent's: this function cancels its own only on return
}

// ReadAllEvents reads every event up to the head and discards it: the
// baseline the replay's speed is measured against.
func ReadAllEvents(ctx context.Context, r Reader, pageSize int) (uint64, error) {
	head, err := r.Head(ctx)
	if err != nil {
		return 0, err
	}
	var after, n uint64
	for after < head {
		envs, err := r.ReadAll(ctx, after, pageSize)
		if err != nil {
			return n, err
		}
		if len(envs) == 0 {
			break
		}
		n += uint64(len(envs))
		after = envs[len(envs)-1].Position
	}
	return n, nil
}
