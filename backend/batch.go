package backend

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/purepool/purepool/events"
)

// groupAppender is a group commit for the hot path: handlers running at
// the same time hand it their writes, and it appends them together in one
// atomic store append, so a store that commits one transaction at a time
// (PostgreSQL behind its advisory lock, SQLite) stores many shares per
// commit. Writes of one batch never share a stream. When the combined
// append fails because of one member (a version conflict, a partial
// duplicate), each member is appended on its own, so every handler gets
// exactly the outcome its own write would have had.
type groupAppender struct {
	store events.Store
	max   int
	reqs  chan *groupReq
	// notAtomic: the store answered ErrNotAtomic to a combined append.
	notAtomic atomic.Bool
}

type groupReq struct {
	ctx    context.Context
	writes []events.StreamWrite
	done   chan error
}

func newGroupAppender(store events.Store, max int) *groupAppender {
	return &groupAppender{store: store, max: max, reqs: make(chan *groupReq, 4*max)}
}

// Append appends writes atomically, possibly together with others'.
func (g *groupAppender) Append(ctx context.Context, writes []events.StreamWrite) error {
	if g.notAtomic.Load() {
		// Nothing can be combined on this store (EventStoreDB): each
		// handler appends its own write at once, concurrently with the
		// others, instead of queueing behind one appender that would store
		// them one round trip at a time. Two writes to one stream are
		// ordered by the store's expected-version check, as between two
		// backends.
		_, err := g.store.Append(ctx, writes...)
		return err
	}
	r := &groupReq{ctx: ctx, writes: writes, done: make(chan error, 1)}
	select {
	case g.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		// The write may still be stored; the caller's retry will find it
		// (same event ids) and see a duplicate.
		return ctx.Err()
	}
}

// Run appends batches until ctx ends.
func (g *groupAppender) Run(ctx context.Context) error {
	var carry []*groupReq
	for {
		batch := carry
		carry = nil
		if len(batch) == 0 {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		streams := map[string]bool{}
		for _, r := range batch {
			for _, w := range r.writes {
				streams[w.Stream] = true
			}
		}
	drain:
		for len(batch) < g.max {
			select {
			case r := <-g.reqs:
				clash := false
				for _, w := range r.writes {
					clash = clash || streams[w.Stream]
				}
				if clash {
					carry = append(carry, r)
					break drain
				}
				for _, w := range r.writes {
					streams[w.Stream] = true
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		g.flush(ctx, batch)
	}
}

func (g *groupAppender) flush(ctx context.Context, batch []*groupReq) {
	live := batch[:0:0]
	for _, r := range batch {
		if r.ctx.Err() != nil {
			r.done <- r.ctx.Err()
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	if len(live) == 1 {
		_, err := g.store.Append(live[0].ctx, live[0].writes...)
		live[0].done <- err
		return
	}
	if g.notAtomic.Load() {
		// A store without atomic multi-stream writes (EventStoreDB) takes
		// every member on its own: combining would only be refused.
		for _, r := range live {
			_, err := g.store.Append(r.ctx, r.writes...)
			r.done <- err
		}
		return
	}
	var all []events.StreamWrite
	for _, r := range live {
		all = append(all, r.writes...)
	}
	_, err := g.store.Append(ctx, all...)
	if err == nil {
		for _, r := range live {
			r.done <- nil
		}
		return
	}
	if errors.Is(err, events.ErrNotAtomic) {
		g.notAtomic.Store(true)
	}
	if errors.Is(err, events.ErrWrongExpectedVersion) || errors.Is(err, events.ErrDuplicateMismatch) || errors.Is(err, events.ErrNotAtomic) {
		for _, r := range live {
			_, err := g.store.Append(r.ctx, r.writes...)
			r.done <- err
		}
		return
	}
	for _, r := range live {
		r.done <- err
	}
}
