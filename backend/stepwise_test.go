package backend_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/backend/crashpoint"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
)

// stepStores are the stores the stepwise path is proven on: the two SQL
// stores (forced with Config.StepWrites) and EventStoreDB's protocol fake
// (stepwise because it answers ErrNotAtomic).
func stepStores() map[string]func(testing.TB) events.Store {
	return map[string]func(testing.TB) events.Store{
		"sqlite": newSQLiteStore, "postgres": newPostgresStore, "esdbfake": newESDBFakeStore,
	}
}

// betweenWrites is where a stepwise write can be cut.
func betweenWrites(name string) bool {
	return name == crashpoint.SolutionBetweenWrites || name == crashpoint.WorkBetweenWrites || name == crashpoint.ChainBetweenWrites
}

// crashAt runs f with a crash (a panic from the crash hook) at the nth
// point between two writes, and reports whether it was reached.
func crashAt(t *testing.T, nth int, f func()) (crashed bool) {
	t.Helper()
	hits := 0
	crashpoint.SetHook(func(name string) {
		if betweenWrites(name) {
			if hits++; hits == nth {
				panic(crash{name})
			}
		}
	})
	defer crashpoint.SetHook(nil)
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crash); !ok {
				panic(r)
			}
			crashed = true
		}
	}()
	f()
	return false
}

// ledgerDump lists every event of a store by stream, version, id, type and
// data, sorted: the global order may differ, nothing else may. With
// blankPositions the global positions a round names are left out: they are
// the store's own (EventStoreDB's are byte offsets in its log), and cannot
// be compared with another store's.
func ledgerDump(t *testing.T, s events.Store, blankPositions bool) []string {
	h := &harness{t: t, store: s}
	var out []string
	for _, e := range h.allEvents() {
		data := bytes.TrimSpace(e.Data)
		if blankPositions {
			data = positions.ReplaceAll(data, []byte(`"${1}_position":_`))
		}
		out = append(out, fmt.Sprintf("%s v%d %s %s %s", e.Stream, e.Version, e.ID, e.Type, data))
	}
	sort.Strings(out)
	return out
}

var positions = regexp.MustCompile(`"(from|to)_position":[0-9]+`)

func sameLedger(t *testing.T, want, got []string) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%d events without a crash, %d with:\n%q\n%q", len(want), len(got), want, got)
	}
	for i := range want {
		if want[i] != got[i] {
			t.Fatalf("ledgers differ:\n%s\n%s", want[i], got[i])
		}
	}
}

// TestCrashBetweenStepsGivesTheSameLedger handles the same commands and
// chain passes on two stores: on the first in one atomic append each
// (SQLite), on the second one stream at a time with a crash between two of
// the writes of every multi-stream decision, followed by the redelivery (or
// the chain follower's next pass). Both logs must hold the same events.
// Between a share's crash and its redelivery, a second command with the
// same solution arrives: it finds the bible hash reserved by the first and
// is rejected as a duplicate, as it would have been without the crash.
func TestCrashBetweenStepsGivesTheSameLedger(t *testing.T) {
	for name, open := range stepStores() {
		t.Run(name, func(t *testing.T) {
			clock := time.Now().UTC().Truncate(time.Second)
			fixed := func(_ *backendNetworkConfig, c *backendConfig) { c.Now = func() time.Time { return clock } }
			h := newHarness(t, newSQLiteStore(t), fixed)
			cfgB := h.cfg
			cfgB.StepWrites = true
			storeB := open(t)
			bB, err := backend.New(storeB, cfgB)
			if err != nil {
				t.Fatal(err)
			}
			hB := &harness{t: t, store: storeB, srv: h.srv, node: h.node, b: bB, pool: h.pool, miner: h.miner, cfg: cfgB}
			h.startView()
			hB.startView()
			deliver := func(b *backend.Backend, c commands.Command) {
				t.Helper()
				msg, err := commands.Encode(c)
				if err != nil {
					t.Fatal(err)
				}
				if err := b.Handle(t.Context(), msg); err != nil {
					t.Fatalf("%s: %v", c.CommandName(), err)
				}
			}
			// both handles c on the first store, and on the second with a
			// crash at the nth cut (0: none expected), then again.
			both := func(c commands.Command, nth int, meanwhile ...commands.Command) {
				t.Helper()
				deliver(h.b, c)
				for _, m := range meanwhile {
					deliver(h.b, m)
				}
				if nth > 0 && !crashAt(t, nth, func() { deliver(hB.b, c) }) {
					t.Fatalf("%s: no crash at cut %d", c.CommandName(), nth)
				}
				for _, m := range meanwhile {
					deliver(hB.b, m)
				}
				deliver(hB.b, c)
			}
			a, b := addrOf(90), addrOf(91)
			wa, wb := issueCmd(a, "rig", uuid.New()), issueCmd(b, "rig", uuid.New())
			both(wa, 1) // a new miner, then the work
			both(wb, 1)
			sa := h.share(a, wa.WorkID)
			dup := submitCmd(a, "rig", sa.Solution)
			both(submitCmd(a, "rig", sa.Solution), 1, dup)                 // reservation stored, solution not; a duplicate meanwhile
			both(submitCmd(b, "other", h.share(b, wb.WorkID).Solution), 1) // reservation stored, worker and solution not
			both(submitCmd(b, "third", h.share(b, wb.WorkID).Solution), 2) // reservation and worker stored, solution not
			both(submitCmd(b, "rig", "garbage"), 0)
			if got := rejection(t, hB, dup.ID); got != events.RejectDuplicate {
				t.Fatalf("the second owner of a bible hash: %s", got)
			}

			// Chain passes: a pool block discovered (crash before its
			// height), then orphaned by a reorganisation (crash before the
			// new height), then the next pool block found and credited.
			sync := func(hh *harness) {
				t.Helper()
				if err := hh.b.SyncChain(context.Background(), network); err != nil {
					t.Fatal(err)
				}
			}
			passes := func(nth int) {
				t.Helper()
				sync(h)
				if nth > 0 && !crashAt(t, nth, func() { sync(hB) }) {
					t.Fatalf("chain pass: no crash at cut %d", nth)
				}
				sync(hB)
			}
			passes(0)
			orphan := h.minePoolBlock(a)
			passes(1)
			if !hB.block(orphan).Discovered {
				t.Fatal("the pool block was not discovered")
			}
			if _, err := h.srv.Node.Reorg(1); err != nil {
				t.Fatal(err)
			}
			passes(1)
			if pb := hB.block(orphan); !pb.Orphaned {
				t.Fatalf("the replaced pool block: %+v", pb)
			}
			next := h.minePoolBlock(b)
			passes(1)
			if _, err := h.srv.Node.Generate(5); err != nil {
				t.Fatal(err)
			}
			passes(0)
			if pb := hB.block(next); !pb.Matured || len(pb.Credits) == 0 {
				t.Fatalf("the next pool block: %+v", pb)
			}
			blank := name == "esdbfake"
			sameLedger(t, ledgerDump(t, h.store, blank), ledgerDump(t, storeB, blank))
			// The auditor reads the stepwise log as it reads atomic ones.
			rep, err := audit.Run(context.Background(), storeB, audit.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() {
				t.Fatalf("audit: %v", rep.Violations)
			}
		})
	}
}
