package backend

import (
	"sync"
	"time"
	"unique"

	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
)

// workRef is what share validation needs of a recorded work (the rest of
// its WorkIssued is history: address, worker, agent, issue time): whose it
// is, on which network and at which target. Network and target are
// interned: a pool hands out few distinct ones.
type workRef struct {
	miner   uuid.UUID
	network unique.Handle[string]
	target  unique.Handle[string]
}

func refOf(w events.WorkIssued) workRef {
	return workRef{miner: w.MinerID, network: unique.Make(w.Network), target: unique.Make(w.Target)}
}

// issued rebuilds the part of the WorkIssued that aggregates.DecideSolution
// reads (work id, network, miner, target); the other fields stay empty.
func (r workRef) issued(id uuid.UUID) *events.WorkIssued {
	return &events.WorkIssued{WorkID: id, Network: r.network.Value(), MinerID: r.miner, Target: r.target.Value()}
}

// workCache remembers recently recorded works, bounded by age and count.
// Forgetting one is always safe (it is read again from its stream), so the
// bounds only trade store reads for memory. It keeps two generations: new
// and used entries go to the current one; when the current one is age old
// (or holds max/2 entries) it becomes the previous one and the previous one
// is dropped. An entry put or read at t is thus kept until at least t+age
// (unless the count bound rotates sooner) and the cache never holds more
// than max entries, nor entries idle for 3×age.
type workCache struct {
	mu       sync.Mutex
	cur, old map[uuid.UUID]workRef
	since    time.Time // when cur began
	age      time.Duration
	max      int
}

func newWorkCache(age time.Duration, max int) *workCache {
	return &workCache{cur: map[uuid.UUID]workRef{}, age: age, max: max}
}

// rotate starts a new generation when the current one is age old or half
// the count bound; after an idle gap of 2×age both generations go.
func (c *workCache) rotate(now time.Time) {
	if c.since.IsZero() {
		c.since = now
	}
	switch d := now.Sub(c.since); {
	case d >= 2*c.age:
		c.cur, c.old, c.since = map[uuid.UUID]workRef{}, nil, now
	case d >= c.age || len(c.cur) >= c.max/2:
		c.cur, c.old, c.since = map[uuid.UUID]workRef{}, c.cur, now
	}
}

func (c *workCache) get(id uuid.UUID, now time.Time) (workRef, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rotate(now)
	if r, ok := c.cur[id]; ok {
		return r, true
	}
	r, ok := c.old[id]
	if ok { // in use: keep it for another generation
		c.cur[id] = r
		delete(c.old, id)
	}
	return r, ok
}

func (c *workCache) put(id uuid.UUID, r workRef, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rotate(now)
	delete(c.old, id)
	c.cur[id] = r
}

// len is the number of works held.
func (c *workCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.old)
}

// workWaits remembers when this backend first found a solution's work
// missing, by command id: the solution is rejected UNKNOWN_WORK only once
// the backend itself waited WorkWait for the work, however late the
// command queue delivered it. The memory is a wait, not a fact: a restart
// (or another backend) starts the wait again, which only delays a
// rejection.
type workWaits struct {
	mu     sync.Mutex
	first  map[uuid.UUID]time.Time
	keep   time.Duration // entries idle this long are dropped
	pruned time.Time
}

func newWorkWaits(keep time.Duration) *workWaits {
	return &workWaits{first: map[uuid.UUID]time.Time{}, keep: keep}
}

// start returns when the wait of command id began, beginning it now if it
// had not. Entries of commands that never came back (handled by another
// backend) are dropped after keep.
func (w *workWaits) start(id uuid.UUID, now time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.Sub(w.pruned) >= w.keep {
		for k, t := range w.first {
			if now.Sub(t) >= w.keep {
				delete(w.first, k)
			}
		}
		w.pruned = now
	}
	t, ok := w.first[id]
	if !ok {
		t = now
		w.first[id] = t
	}
	return t
}

// done forgets the wait of a command handled for good.
func (w *workWaits) done(id uuid.UUID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.first, id)
}

func (w *workWaits) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.first)
}
