package backend_test

import (
	"bytes"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
)

// TestRedeliveryGivesTheSameLedger handles one sequence of commands on two
// fresh stores: once on the first, and every command twice (then the whole
// sequence once more) on the second. Event ids derive from command ids and
// decisions from the same facts, so both logs must hold exactly the same
// events, stream by stream.
type storeReader = events.Store

func TestRedeliveryGivesTheSameLedger(t *testing.T) {
	storeA, storeB := newSQLiteStore(t), newSQLiteStore(t)
	h := newHarness(t, storeA, nil)
	bB, err := backend.New(storeB, backend.Config{Networks: []backend.NetworkConfig{{Name: network, PoolAddress: h.pool, Node: h.node,
		StaleTolerance: 1, FeeBps: 100}}, WorkWait: 2 * time.Second, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	a, b := addrOf(80), addrOf(81)
	now := time.Now().UTC()
	wa, wb := issueCmd(a, "rig", uuid.New()), issueCmd(b, "rig", uuid.New())
	sa := h.share(a, wa.WorkID)
	var seq []commands.Command
	seq = append(seq, wa, wb,
		submitCmd(a, "rig", sa.Solution),
		submitCmd(a, "rig", sa.Solution), // a duplicate share
		submitCmd(b, "rig", h.share(b, wb.WorkID).Solution),
		submitCmd(b, "other", h.share(b, wb.WorkID).Solution), // registers a worker
		submitCmd(b, "rig", "garbage"),
		commands.DisableMiner{ID: uuid.New(), Network: network, Address: a, Reason: "r", At: now},
		submitCmd(a, "rig", h.share(a, wa.WorkID).Solution), // rejected: disabled
		commands.EnableMiner{ID: uuid.New(), Network: network, Address: a, At: now},
		commands.PausePayouts{ID: uuid.New(), Network: network, Reason: "r", At: now},
		commands.ResumePayouts{ID: uuid.New(), Network: network, At: now},
	)
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
	for _, c := range seq {
		deliver(h.b, c)
		deliver(bB, c)
		deliver(bB, c)
	}
	for _, c := range seq {
		deliver(bB, c)
	}
	dump := func(s storeReader) []string {
		h2 := &harness{t: t, store: s}
		var out []string
		for _, e := range h2.allEvents() {
			out = append(out, fmt.Sprintf("%s v%d %s %s %s", e.Stream, e.Version, e.ID, e.Type, bytes.TrimSpace(e.Data)))
		}
		sort.Strings(out)
		return out
	}
	la, lb := dump(storeA), dump(storeB)
	if len(la) != len(lb) {
		t.Fatalf("%d events once, %d with redeliveries", len(la), len(lb))
	}
	for i := range la {
		if la[i] != lb[i] {
			t.Fatalf("logs differ:\n%s\n%s", la[i], lb[i])
		}
	}
	if len(la) < 15 {
		t.Fatalf("only %d events", len(la))
	}
}
