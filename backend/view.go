package backend

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/anchor"
	"github.com/purepool/purepool/events"
)

// View is the backend's in-memory ledger: aggregates.Ledger folded from the
// event store by a subscription. It is derived from events only; whoever
// decides from it appends with expected versions, so a stale view costs a
// retry, never a wrong write.
type View struct {
	mu     sync.Mutex
	ledger *aggregates.Ledger
	// tree is the Merkle tree over the folded events' chain hashes, and
	// lastHash the newest one: the head a payout anchors. noChain: an
	// event without a hash was folded (a store that keeps no chain), so
	// there is no head to anchor.
	tree     *anchor.Tree
	lastHash []byte
	noChain  bool
	moved    chan struct{} // closed and replaced whenever the position moves
	err      error
}

// NewView returns an empty view.
func NewView(cfg aggregates.LedgerConfig) *View {
	return &View{ledger: aggregates.NewLedger(cfg), moved: make(chan struct{}), tree: anchor.NewTree()}
}

// Run folds every stored event, then follows new ones, until ctx ends. A
// subscription that ends because the store could not be read (a database
// restart) is resumed from the last folded position after a pause; only a
// fold error (an event the ledger cannot apply) ends Run.
func (v *View) Run(ctx context.Context, store events.Store) error {
	pause := 100 * time.Millisecond
	for {
		v.mu.Lock()
		after := v.ledger.Position
		v.mu.Unlock()
		err := store.Subscribe(ctx, after, func(_ context.Context, batch []events.Envelope) error {
			v.mu.Lock()
			defer v.mu.Unlock()
			for _, env := range batch {
				if err := v.ledger.Apply(env); err != nil {
					v.err = err
					return fmt.Errorf("backend: fold %s at %d: %w", env.Type, env.Position, err)
				}
				if len(env.Hash) == 0 || env.Position != v.tree.Size()+1 {
					v.noChain = true
				} else if !v.noChain {
					v.tree.Append(env.Hash)
					v.lastHash = env.Hash
				}
			}
			close(v.moved)
			v.moved = make(chan struct{})
			return nil
		})
		v.mu.Lock()
		folded := v.err
		v.mu.Unlock()
		if ctx.Err() != nil || folded != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// headLocked is the log head folded so far (nil on a store without a hash
// chain, or an empty one); the caller holds v.mu (inside Read).
func (v *View) headLocked() *events.LogAnchor {
	if v.noChain || v.tree.Size() == 0 {
		return nil
	}
	root := v.tree.Root()
	return &events.LogAnchor{Size: v.tree.Size(), Root: hex.EncodeToString(root[:]), Hash: hex.EncodeToString(v.lastHash)}
}

// Head is the log head folded so far (nil without a hash chain).
func (v *View) Head() *events.LogAnchor {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.headLocked()
}

// Read runs f with the ledger locked. f must not keep the pointer.
func (v *View) Read(f func(l *aggregates.Ledger)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f(v.ledger)
}

// WaitFor returns once the view has folded position pos.
func (v *View) WaitFor(ctx context.Context, pos uint64) error {
	for {
		v.mu.Lock()
		done, moved, err := v.ledger.Position >= pos, v.moved, v.err
		v.mu.Unlock()
		if done {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitForAppend waits until the view folded the result of an append.
func (v *View) WaitForAppend(ctx context.Context, res events.AppendResult) error {
	var last uint64
	for _, e := range res.Events {
		last = max(last, e.Position)
	}
	return v.WaitFor(ctx, last)
}
