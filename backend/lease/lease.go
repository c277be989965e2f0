// Package lease is a backend.Locker on any events.Store: a named lock is a
// lease stream (events.StreamLease) whose last LeaseTaken says who holds it
// and until when. It needs nothing of the store but single-stream appends
// with an expected version, so it works where PostgreSQL's advisory locks
// (backend/pglock) do not: on EventStoreDB, and on SQLite shared by
// processes.
//
// # Rules
//
//   - Take: read the stream to its end; if it is empty, or its last lease
//     has ended (now >= Until by the taker's clock), or is this locker's
//     own, append LeaseTaken{owner, now+TTL} expecting the version read. Two
//     takers racing for an ended lease append at the same expected version:
//     one wins, the other gets ErrWrongExpectedVersion and does not hold it.
//   - Renew: every Renew period the holder appends the next LeaseTaken
//     expecting its own last version. A conflict means another owner took
//     the lease (it had ended): the holder has lost it.
//   - Act: the holder acts under the lock only while now < Until - Skew by
//     its own clock (Holds; backend.Fence). With clocks that differ by less
//     than Skew, a taker's now >= Until implies the holder's now >=
//     Until - Skew: never two holders acting at once. A holder that cannot
//     renew (store unreachable, process paused) stops acting by itself.
//   - A lock stays held between the passes of its job (unlock only frees it
//     for this process's next pass), so a steady holder writes one event per
//     Renew period and none per pass; Close hands the leases over at once.
//
// Takeover: a holder that dies renewed at most Renew before, so its lease
// ends at most TTL after its death, and the survivor takes it at its next
// try after that: within TTL plus the survivor's job period (defaults:
// 30 s + 5 s).
//
// The lease keeps two processes from following the chain or paying at the
// same time; it is not what makes a payout exactly-once. That rests on the
// store: PayoutPlanned is appended with NoStream on payout-{id}, every later
// payout event with the stream's expected version, a transaction is signed
// and recorded before it is broadcast, and the wallet is asked before any
// resend. A holder paused past its lease (a stopped VM) that wakes between
// its Holds check and its write is stopped by those versions, not by the
// lease.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
)

// ErrNotHeld is returned by Holds when this locker may not act under a lock.
var ErrNotHeld = errors.New("lease: not held")

// Config configures a Locker.
type Config struct {
	// Owner names this process in the leases it takes; it must differ
	// between processes (default: host, pid and a random suffix).
	Owner string
	// TTL is how long a lease lasts after it was taken or renewed (default 30 s).
	TTL time.Duration
	// Renew is the renewal period (default TTL/3). Tests set it long and
	// call Renew themselves.
	Renew time.Duration
	// Skew bounds the difference between the backends' clocks (default
	// 2 s): a holder stops acting Skew before its lease ends.
	Skew   time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

// Locker hands out leases on one store.
type Locker struct {
	store events.Store
	cfg   Config

	mu     sync.Mutex
	leases map[string]*state
	done   chan struct{}
	wg     sync.WaitGroup
	closed bool
}

// state is what this locker knows of one lease stream.
type state struct {
	version  int64 // last version read or written (-1: none)
	owner    string
	until    time.Time
	busy     bool // held by a pass of this process (unlock clears it)
	renewing bool
}

// New returns a Locker on store.
func New(store events.Store, cfg Config) *Locker {
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		var r [4]byte
		_, _ = rand.Read(r[:])
		cfg.Owner = host + ":" + strconv.Itoa(os.Getpid()) + ":" + hex.EncodeToString(r[:])
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 30 * time.Second
	}
	if cfg.Renew <= 0 {
		cfg.Renew = cfg.TTL / 3
	}
	if cfg.Skew <= 0 {
		cfg.Skew = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Locker{store: store, cfg: cfg, leases: map[string]*state{}, done: make(chan struct{})}
}

// Owner is the name this locker writes into its leases.
func (l *Locker) Owner() string { return l.cfg.Owner }

func (l *Locker) mine(s *state) bool { return s.owner == l.cfg.Owner }

// TryLock implements backend.Locker: ok when this locker holds the lease
// (already, or taken now) and no other pass of this process has it.
func (l *Locker) TryLock(ctx context.Context, name string) (func(), bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, false, errors.New("lease: locker closed")
	}
	s := l.leases[name]
	if s == nil {
		s = &state{version: -1}
		l.leases[name] = s
	}
	if s.busy {
		return nil, false, nil
	}
	now := l.cfg.Now()
	if !(l.mine(s) && now.Before(s.until.Add(-l.cfg.Skew))) {
		// Not held with time to spare: read what others wrote, and take
		// (or take back) the lease if it has ended or is ours.
		if err := l.refresh(ctx, name, s); err != nil {
			return nil, false, err
		}
		if !l.mine(s) && now.Before(s.until) {
			return nil, false, nil
		}
		if err := l.take(ctx, name, s, now); err != nil {
			if errors.Is(err, events.ErrWrongExpectedVersion) || errors.Is(err, events.ErrDuplicateMismatch) {
				return nil, false, nil // another taker won; read again next time
			}
			return nil, false, err
		}
	}
	s.busy = true
	if !s.renewing {
		s.renewing = true
		l.wg.Add(1)
		go l.renewLoop(name)
	}
	return func() {
		l.mu.Lock()
		s.busy = false
		l.mu.Unlock()
	}, true, nil
}

// Holds implements backend.Fence: nil while this locker may act under
// name (it holds the lease, and its end is more than Skew away).
func (l *Locker) Holds(name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.leases[name]
	if s == nil || !l.mine(s) {
		return fmt.Errorf("%w: %s", ErrNotHeld, name)
	}
	if now := l.cfg.Now(); !now.Before(s.until.Add(-l.cfg.Skew)) {
		return fmt.Errorf("%w: %s: the lease ends at %s, now is %s (skew %s)", ErrNotHeld, name,
			s.until.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano), l.cfg.Skew)
	}
	return nil
}

// Renew renews every lease this locker holds (the background loop calls it
// every Renew period). A lease another owner took meanwhile is lost.
func (l *Locker) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs error
	for name, s := range l.leases {
		if l.mine(s) {
			errs = errors.Join(errs, l.renew(ctx, name, s))
		}
	}
	return errs
}

// renew extends one lease. Callers hold mu.
func (l *Locker) renew(ctx context.Context, name string, s *state) error {
	err := l.take(ctx, name, s, l.cfg.Now())
	if errors.Is(err, events.ErrWrongExpectedVersion) || errors.Is(err, events.ErrDuplicateMismatch) {
		// Someone appended after our last lease: it had ended, and the
		// lease is another's now. Read who holds it.
		s.owner = ""
		if rerr := l.refresh(ctx, name, s); rerr != nil {
			return errors.Join(err, rerr)
		}
		l.cfg.Logger.Error("lease lost: another backend holds it now; this one stops the job", "lease", name, "holder", s.owner, "until", s.until)
		return fmt.Errorf("lease %s: lost to %s: %w", name, s.owner, err)
	}
	if err != nil {
		l.cfg.Logger.Warn("lease not renewed; it ends unless a later renewal succeeds", "lease", name, "until", s.until, "err", err)
	}
	return err
}

func (l *Locker) renewLoop(name string) {
	defer l.wg.Done()
	t := time.NewTicker(l.cfg.Renew)
	defer t.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-t.C:
		}
		l.mu.Lock()
		s := l.leases[name]
		if !l.mine(s) {
			s.renewing = false
			l.mu.Unlock()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.cfg.Renew)
		_ = l.renew(ctx, name, s)
		cancel()
		l.mu.Unlock()
	}
}

// take appends this locker's LeaseTaken after version s.version. Callers
// hold mu.
func (l *Locker) take(ctx context.Context, name string, s *state, now time.Time) error {
	next := s.version + 1
	e := events.LeaseTaken{Name: name, Owner: l.cfg.Owner, Until: now.Add(l.cfg.TTL).UTC(), At: now.UTC()}
	// The id names the owner and the version: an ambiguous append retried
	// at the same version is recognised as the same one.
	id := uuid.NewSHA1(events.Namespace, []byte("lease:"+name+":"+l.cfg.Owner+":"+strconv.FormatInt(next, 10)))
	ne, err := events.New(id, e, events.Metadata{CorrelationID: "lease:" + name})
	if err != nil {
		return err
	}
	expected := events.NoStream
	if s.version >= 0 {
		expected = events.Exact(s.version)
	}
	if _, err := events.Append(ctx, l.store, events.StreamLease(name), expected, ne); err != nil {
		return fmt.Errorf("lease %s: %w", name, err)
	}
	s.version, s.owner, s.until = next, l.cfg.Owner, e.Until
	return nil
}

// refresh reads the lease stream after the version known. Callers hold mu.
func (l *Locker) refresh(ctx context.Context, name string, s *state) error {
	stream := events.StreamLease(name)
	for {
		page, err := l.store.ReadStream(ctx, stream, s.version+1, 1000)
		if err != nil {
			return fmt.Errorf("lease %s: read: %w", name, err)
		}
		for _, env := range page {
			e, err := events.Decode(env)
			if err != nil {
				return fmt.Errorf("lease %s: %w", name, err)
			}
			t, ok := e.(events.LeaseTaken)
			if !ok {
				return fmt.Errorf("lease %s: %s holds a %s", name, stream, env.Type)
			}
			s.version, s.owner, s.until = env.Version, t.Owner, t.Until
		}
		if len(page) < 1000 {
			return nil
		}
	}
}

// Close stops renewing and hands every lease this locker holds over at
// once (a LeaseTaken that ends now), so that another backend need not wait
// for it to expire. Call it after the jobs have stopped.
func (l *Locker) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs error
	for name, s := range l.leases {
		if !l.mine(s) {
			continue
		}
		next := s.version + 1
		now := l.cfg.Now().UTC()
		id := uuid.NewSHA1(events.Namespace, []byte("lease:"+name+":"+l.cfg.Owner+":"+strconv.FormatInt(next, 10)))
		ne, err := events.New(id, events.LeaseTaken{Name: name, Owner: l.cfg.Owner, Until: now, At: now}, events.Metadata{CorrelationID: "lease:" + name})
		if err == nil {
			_, err = events.Append(ctx, l.store, events.StreamLease(name), events.Exact(s.version), ne)
		}
		errs = errors.Join(errs, err)
		s.owner = ""
	}
	return errs
}
