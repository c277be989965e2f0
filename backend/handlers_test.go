package backend_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
)

func equalTypes(a []string, b ...string) bool {
	return strings.Join(a, ",") == strings.Join(b, ",")
}

func TestIssueWorkIdempotent(t *testing.T) {
	h := newHarness(t, newSQLiteStore(t), nil)
	a := addrOf(1)
	c := issueCmd(a, "rig1", uuid.New())
	h.mustHandle(c)
	h.mustHandle(c) // redelivered
	minerStream := events.StreamMiner(events.MinerID(network, a))
	if got := h.streamTypes(minerStream); !equalTypes(got, events.TypeMinerRegistered, events.TypeWorkerRegistered) {
		t.Fatalf("miner stream %v", got)
	}
	if got := h.streamTypes(events.StreamWork(c.WorkID)); !equalTypes(got, events.TypeWorkIssued) {
		t.Fatalf("work stream %v", got)
	}
	h.mustHandle(issueCmd(a, "rig1", uuid.New()))
	h.mustHandle(issueCmd(a, "rig2", uuid.New()))
	if got := h.streamTypes(minerStream); !equalTypes(got, events.TypeMinerRegistered, events.TypeWorkerRegistered, events.TypeWorkerRegistered) {
		t.Fatalf("miner stream after a second worker %v", got)
	}
	if n := len(h.allEvents()); n != 6 {
		t.Fatalf("%d events, want 6", n)
	}
	// A different command reusing the work id can never be handled.
	dup := issueCmd(a, "rig1", c.WorkID)
	if err := h.handle(dup); !commands.IsPermanent(err) {
		t.Fatalf("reused work id: %v", err)
	}
	bad := issueCmd(a, "rig1", uuid.New())
	bad.Network = "main"
	if err := h.handle(bad); !commands.IsPermanent(err) {
		t.Fatalf("unserved network: %v", err)
	}
	bad = issueCmd(a, "rig1", uuid.New())
	bad.MinerID = uuid.New()
	if err := h.handle(bad); !commands.IsPermanent(err) {
		t.Fatalf("inconsistent miner id: %v", err)
	}
}

func rejection(t *testing.T, h *harness, id uuid.UUID) string {
	t.Helper()
	evs := h.decoded(events.StreamSolution(id))
	if len(evs) != 1 {
		t.Fatalf("solution stream holds %d events", len(evs))
	}
	switch e := evs[0].(type) {
	case events.SolutionAccepted:
		return "ACCEPTED"
	case events.SolutionRejected:
		return e.Reason
	}
	t.Fatalf("solution stream holds a %s", evs[0].EventType())
	return ""
}

// TestSubmitSolution runs every validation outcome twice: with the node
// asked in one JSON-RPC batch per share, and in three single calls.
func TestSubmitSolution(t *testing.T) {
	for _, rpc := range []string{"batch", "3calls"} {
		t.Run("rpc="+rpc, func(t *testing.T) {
			h := newHarness(t, newSQLiteStore(t), func(n *backendNetworkConfig, _ *backendConfig) {
				if rpc == "3calls" {
					n.Node = threeCalls{n.Node}
				}
			})
			testSubmitSolution(t, h)
		})
	}
}

func testSubmitSolution(t *testing.T, h *harness) {
	a, other := addrOf(2), addrOf(3)
	w := issueCmd(a, "rig", uuid.New())
	h.mustHandle(w)
	s := h.share(a, w.WorkID)

	good := submitCmd(a, "rig", s.Solution)
	h.mustHandle(good)
	before := len(h.allEvents())
	h.mustHandle(good) // redelivered: nothing new
	if after := len(h.allEvents()); after != before {
		t.Fatalf("redelivery wrote %d events", after-before)
	}
	if got := rejection(t, h, good.ID); got != "ACCEPTED" {
		t.Fatalf("good share: %s", got)
	}
	acc := h.decoded(events.StreamSolution(good.ID))[0].(events.SolutionAccepted)
	if acc.Difficulty != 4 || acc.BibleHash != s.BibleHash || acc.WorkID != w.WorkID {
		t.Fatalf("accepted %+v", acc)
	}
	if got := h.streamTypes(events.StreamBibleHash(network, s.BibleHash)); !equalTypes(got, events.TypeBibleHashReserved) {
		t.Fatalf("reservation %v", got)
	}

	// The same share again, as another submission: a duplicate.
	again := submitCmd(a, "rig", s.Solution)
	h.mustHandle(again)
	if got := rejection(t, h, again.ID); got != events.RejectDuplicate {
		t.Fatalf("second submission: %s", got)
	}

	// A new worker name on a share registers the worker with the acceptance.
	s2 := h.share(a, w.WorkID)
	c2 := submitCmd(a, "newrig", s2.Solution)
	h.mustHandle(c2)
	if got := rejection(t, h, c2.ID); got != "ACCEPTED" {
		t.Fatalf("second share: %s", got)
	}
	if got := h.streamTypes(events.StreamMiner(events.MinerID(network, a))); len(got) != 3 {
		t.Fatalf("miner stream %v", got)
	}

	cases := []struct {
		name   string
		cmd    func() commands.SubmitSolution
		reason string
	}{
		{"malformed", func() commands.SubmitSolution { return submitCmd(a, "rig", "1,2,3") }, events.RejectMalformed},
		{"bible hash the node does not compute", func() commands.SubmitSolution {
			s := h.share(a, w.WorkID)
			f := append([]string(nil), s.Fields...)
			f[4] = strings.Repeat("0", 63) + "1"
			return submitCmd(a, "rig", strings.Join(f, ","))
		}, events.RejectBibleHashWrong},
		{"work of another miner", func() commands.SubmitSolution {
			s := h.share(a, w.WorkID)
			return submitCmd(other, "rig", strings.Replace(s.Solution, events.MinerID(network, a).String(), events.MinerID(network, other).String(), 1))
		}, events.RejectWrongMiner},
		{"high hash", func() commands.SubmitSolution {
			s := h.share(a, w.WorkID)
			f := append([]string(nil), s.Fields...)
			f[4] = "f" + strings.Repeat("0", 63)
			return submitCmd(a, "rig", strings.Join(f, ","))
		}, events.RejectHighHash},
	}
	for _, tc := range cases {
		c := tc.cmd()
		h.mustHandle(c)
		if got := rejection(t, h, c.ID); got != tc.reason {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.reason)
		}
	}
	// A share mined before the tip moved three blocks on is stale.
	s3 := h.share(a, w.WorkID)
	if _, err := h.srv.Node.Generate(3); err != nil {
		t.Fatal(err)
	}
	c := submitCmd(a, "rig", s3.Solution)
	h.mustHandle(c)
	if got := rejection(t, h, c.ID); got != events.RejectStale {
		t.Errorf("stale share: %s", got)
	}
	// A share whose coinbase pays someone else.
	foreign := h.shareTo(a, w.WorkID, other)
	c = submitCmd(a, "rig", foreign.Solution)
	h.mustHandle(c)
	if got := rejection(t, h, c.ID); got != events.RejectInvalidRecipient {
		t.Errorf("foreign recipient: %s", got)
	}
	// A disabled miner's shares are rejected.
	h.mustHandle(commands.DisableMiner{ID: uuid.New(), Network: network, Address: a, Reason: "test", At: time.Now().UTC()})
	c = submitCmd(a, "rig", h.share(a, w.WorkID).Solution)
	h.mustHandle(c)
	if got := rejection(t, h, c.ID); got != events.RejectMinerDisabled {
		t.Errorf("disabled miner: %s", got)
	}
	h.mustHandle(commands.EnableMiner{ID: uuid.New(), Network: network, Address: a, At: time.Now().UTC()})
	c = submitCmd(a, "rig", h.share(a, w.WorkID).Solution)
	h.mustHandle(c)
	if got := rejection(t, h, c.ID); got != "ACCEPTED" {
		t.Errorf("re-enabled miner: %s", got)
	}
}

func TestSolutionBeforeItsWork(t *testing.T) {
	h := newHarness(t, newSQLiteStore(t), func(_ *backendNetworkConfig, c *backendConfig) { c.WorkWait = 400 * time.Millisecond })
	a := addrOf(4)
	w := issueCmd(a, "rig", uuid.New())
	s := h.share(a, w.WorkID)
	early := submitCmd(a, "rig", s.Solution)
	if err := h.handle(early); err == nil || commands.IsPermanent(err) {
		t.Fatalf("a share before its work must be retried, got %v", err)
	}
	if got := h.streamTypes(events.StreamSolution(early.ID)); len(got) != 0 {
		t.Fatalf("nothing may be written yet: %v", got)
	}
	h.mustHandle(w)
	h.mustHandle(early)
	if got := rejection(t, h, early.ID); got != "ACCEPTED" {
		t.Fatalf("after the work arrived: %s", got)
	}
	// A share whose work never comes is rejected once the wait is over.
	lost := submitCmd(a, "rig", h.share(a, uuid.New()).Solution)
	lost.ReceivedAt = time.Now().Add(-time.Second).UTC()
	h.mustHandle(lost)
	if got := rejection(t, h, lost.ID); got != events.RejectUnknownWork {
		t.Fatalf("work never issued: %s", got)
	}
}
