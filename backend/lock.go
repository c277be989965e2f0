package backend

import (
	"context"
	"sync"
)

// Locker hands out named locks that at most one holder (across every
// backend process sharing the store) holds at a time. TryLock returns
// ok=false when another holder has it.
type Locker interface {
	TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)
}

// LocalLocker is a Locker for a single process.
type LocalLocker struct {
	mu   sync.Mutex
	held map[string]bool
}

// NewLocalLocker returns an in-process Locker.
func NewLocalLocker() *LocalLocker { return &LocalLocker{held: map[string]bool{}} }

// TryLock implements Locker.
func (l *LocalLocker) TryLock(_ context.Context, name string) (func(), bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[name] {
		return nil, false, nil
	}
	l.held[name] = true
	return func() {
		l.mu.Lock()
		delete(l.held, name)
		l.mu.Unlock()
	}, true, nil
}

// Fence is implemented by Lockers whose locks can end while held (a lease
// its holder could not renew in time, backend/lease): Holds reports an
// error once this process may no longer act under name. The jobs ask right
// before each step that matters (recording a chain height, crediting,
// planning, signing and broadcasting a payout) and stop the pass when it
// fails. A Locker without it (advisory locks, LocalLocker) holds its locks
// until unlock.
type Fence interface {
	Holds(name string) error
}

// holds is the Fence check of the Backend's Locker, nil for one without it.
func (b *Backend) holds(name string) error {
	if f, ok := b.locker.(Fence); ok {
		return f.Holds(name)
	}
	return nil
}
