// Package eventstoretest is the conformance suite of events.Store: every
// adapter (events/postgres, events/sqlite, events/esdb, …) runs the same
// behavioural tests against a real instance of its store.
//
// Usage, in the adapter's _test.go:
//
//	func TestConformance(t *testing.T) {
//		eventstoretest.Run(t, func(t *testing.T) events.Store {
//			s := openFreshStore(t) // skip or fail here if the server is unavailable
//			return s
//		})
//	}
//
// newStore is called once per subtest. It should return a store over an
// empty log where it can (the suite then also checks Head == 0 on an empty
// store), but the suite only relies on what it writes itself: stream names
// are unique per run, and global reads start at the Head observed when the
// subtest began. Run closes each store when its subtest ends (before
// cleanups that newStore registered, such as dropping the database).
//
// A store that lacks an optional capability declares it with an Option; the
// suite then checks the documented fallback (for example ErrNotAtomic) and
// skips only the cases that need the capability.
//
// This API (Run, the Option constructors) is stable: other adapters call it.
package eventstoretest

// This file holds the suite's entry point (Run), the options a store
// declares, and the list of cases; the cases are in append.go,
// idempotent.go, read.go, subscribe.go and chain.go, their helpers in
// helpers.go.

import (
	"testing"

	"github.com/purepool/purepool/events"
)

// StressEnv, when set to any value, makes the concurrency cases run many
// more writers and appends (minutes instead of seconds).
const StressEnv = "PUREPOOL_STRESS"

// Option declares a capability the store under test does not have.
type Option func(*config)

type config struct {
	notAtomic bool
	noChain   bool
	sparse    bool
}

// NotAtomic declares that the store cannot append to several streams in one
// atomic write and returns events.ErrNotAtomic for such a write (as the
// EventStoreDB adapter does). The suite checks that, and skips the
// multi-stream cases.
func NotAtomic() Option { return func(c *config) { c.notAtomic = true } }

// NoHashChain declares that the store leaves Envelope.PrevHash and Hash
// empty. The suite checks that they are empty instead of checking the chain.
func NoHashChain() Option { return func(c *config) { c.noChain = true } }

// SparsePositions declares that global positions increase in commit order
// but may skip numbers. Without it the suite requires gapless positions.
func SparsePositions() Option { return func(c *config) { c.sparse = true } }

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, newStore func(t *testing.T) events.Store, opts ...Option) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	h := &harness{cfg: cfg, newStore: newStore}
	tests := []struct {
		name   string
		atomic bool // needs multi-stream atomic appends
		run    func(t *testing.T, s events.Store)
	}{
		{"AppendAndRead", false, h.testAppendAndRead},
		{"ExpectedVersion", false, h.testExpectedVersion},
		{"ExpectedVersionAcrossStreams", true, h.testExpectedVersionAcrossStreams},
		{"NotAtomic", false, h.testNotAtomic},
		{"ConcurrentAppendOneStream", false, h.testConcurrentOneStream},
		{"ConcurrentAppendsWithSubscriber", false, h.testConcurrentWithSubscriber},
		{"IdempotentAppend", false, h.testIdempotent},
		{"ReadAllPaging", false, h.testReadAllPaging},
		{"ReadStreamFrom", false, h.testReadStream},
		{"NoStreamReservation", true, h.testReservation},
		{"Head", false, h.testHead},
		{"HashChain", false, h.testHashChain},
		{"SubscribeStops", false, h.testSubscribeStops},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.atomic && cfg.notAtomic {
				t.Skip("store declared NotAtomic: no multi-stream atomic appends")
			}
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.run(t, s)
		})
	}
}

type harness struct {
	cfg      config
	newStore func(t *testing.T) events.Store
}
