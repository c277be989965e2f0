package backend_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/backend"
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
			h.startView() // the stale case lets the chain follower see the tip move
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
	// A share that arrives after the pool saw the tip move three blocks on
	// from its previous height is stale.
	s3 := h.share(a, w.WorkID)
	if _, err := h.srv.Node.Generate(3); err != nil {
		t.Fatal(err)
	}
	h.sync()
	time.Sleep(1100 * time.Millisecond) // block times have whole seconds
	c := submitCmd(a, "rig", s3.Solution)
	h.mustHandle(c)
	if got := rejection(t, h, c.ID); got != events.RejectStale {
		t.Errorf("stale share: %s", got)
	}
	// The same from a frontend whose clock runs an hour ahead: still stale
	// (a later receipt only makes more blocks earlier than it).
	s4 := h.share(a, w.WorkID)
	if _, err := h.srv.Node.Generate(3); err != nil {
		t.Fatal(err)
	}
	h.sync()
	time.Sleep(1100 * time.Millisecond)
	c = submitCmd(a, "rig", s4.Solution)
	c.ReceivedAt = time.Now().Add(time.Hour)
	h.mustHandle(c)
	if got := rejection(t, h, c.ID); got != events.RejectStale {
		t.Errorf("stale share with a receipt time in the future: %s", got)
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
	// A share whose work never comes is rejected once the backend waited
	// WorkWait for it.
	lost := submitCmd(a, "rig", h.share(a, uuid.New()).Solution)
	for range 50 {
		if err := h.handle(lost); err == nil {
			break
		} else if commands.IsPermanent(err) {
			t.Fatal(err)
		}
	}
	if got := rejection(t, h, lost.ID); got != events.RejectUnknownWork {
		t.Fatalf("work never issued: %s", got)
	}
}

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestWorkWaitCountsFromFirstHandling: a queue that lags by more than
// WorkWait must not turn an honest share into UNKNOWN_WORK. The wait counts
// from when the backend first found the work missing (on its clock), not
// from the frontend's ReceivedAt; a share whose work never comes is still
// rejected once that wait is over, and a restarted backend waits again.
func TestWorkWaitCountsFromFirstHandling(t *testing.T) {
	clock := &fakeClock{now: time.Now().UTC()}
	const wait = 400 * time.Millisecond
	store := newSQLiteStore(t)
	h := newHarness(t, store, func(_ *backendNetworkConfig, c *backendConfig) { c.WorkWait, c.Now = wait, clock.Now })
	a := addrOf(5)
	retried := func(b *backend.Backend, c commands.SubmitSolution, what string) {
		t.Helper()
		msg, _ := commands.Encode(c)
		if err := b.Handle(context.Background(), msg); err == nil || commands.IsPermanent(err) {
			t.Fatalf("%s: want a retry, got %v", what, err)
		}
		if got := h.streamTypes(events.StreamSolution(c.ID)); len(got) != 0 {
			t.Fatalf("%s: written %v", what, got)
		}
	}

	// Handled an hour after the frontend received it, before its work.
	w := issueCmd(a, "rig", uuid.New())
	late := submitCmd(a, "rig", h.share(a, w.WorkID).Solution)
	late.ReceivedAt = clock.Now().Add(-time.Hour)
	retried(h.b, late, "share of a lagging queue")
	clock.Add(wait - time.Millisecond)
	retried(h.b, late, "just before the backend's wait is over")
	h.mustHandle(w) // the work arrives
	h.mustHandle(late)
	if got := rejection(t, h, late.ID); got != "ACCEPTED" {
		t.Fatalf("a share whose work arrived within the wait: %s", got)
	}
	if n := h.b.WorkWaitsHeld(); n != 0 {
		t.Fatalf("%d waits held after the share was handled", n)
	}

	// In the same batch: handled at once with its work, by parallel
	// handlers, an hour late. The clock stands still, so only acceptance
	// can end it.
	w2 := issueCmd(a, "rig", uuid.New())
	same := submitCmd(a, "rig", h.share(a, w2.WorkID).Solution)
	same.ReceivedAt = clock.Now().Add(-time.Hour)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 100 {
			if err := h.handle(same); err == nil || commands.IsPermanent(err) {
				return
			}
		}
	}()
	h.mustHandle(w2)
	wg.Wait()
	if got := rejection(t, h, same.ID); got != "ACCEPTED" {
		t.Fatalf("a share handled with its work: %s", got)
	}

	// A work that never comes: rejected once the backend waited WorkWait.
	lost := submitCmd(a, "rig", h.share(a, uuid.New()).Solution)
	lost.ReceivedAt = clock.Now().Add(-time.Hour)
	retried(h.b, lost, "first handling of a share without work")
	clock.Add(wait)
	h.mustHandle(lost)
	if got := rejection(t, h, lost.ID); got != events.RejectUnknownWork {
		t.Fatalf("work never issued: %s", got)
	}

	// A backend restarted after the first one waited in vain starts its
	// own wait.
	lost2 := submitCmd(a, "rig", h.share(a, uuid.New()).Solution)
	retried(h.b, lost2, "before the restart")
	clock.Add(2 * wait)
	restarted, err := backend.New(store, backend.Config{Networks: []backend.NetworkConfig{{Name: network, PoolAddress: h.pool, Node: h.node,
		StaleTolerance: 1, FeeBps: 100}}, WorkWait: wait, Now: clock.Now, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	retried(restarted, lost2, "first handling after a restart")
	clock.Add(wait)
	msg, _ := commands.Encode(lost2)
	if err := restarted.Handle(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if got := rejection(t, h, lost2.ID); got != events.RejectUnknownWork {
		t.Fatalf("after the restarted backend's wait: %s", got)
	}
}

// TestWorkCacheStaysBounded hands out works through the IssueWork handler
// over two simulated hours: the works held in memory stay bounded by what
// WorkCacheAge lets live, and a share on a work the cache forgot is still
// accepted (the work is read from its stream).
func TestWorkCacheStaysBounded(t *testing.T) {
	clock := &fakeClock{now: time.Now().UTC()}
	const age = time.Minute
	h := newHarness(t, newSQLiteStore(t), func(_ *backendNetworkConfig, c *backendConfig) {
		c.Now, c.WorkCacheAge = clock.Now, age
	})
	a := addrOf(6)
	first := issueCmd(a, "rig", uuid.New())
	h.mustHandle(first)
	const handouts, step = 1200, 6 * time.Second // one every 6 s: 10 per minute
	peak := 0
	for range handouts {
		clock.Add(step)
		h.mustHandle(issueCmd(a, "rig", uuid.New()))
		peak = max(peak, h.b.WorksCached())
	}
	// Two generations of one age each, plus the generation's first entry.
	if limit := int(2*age/step) + 1; peak > limit {
		t.Fatalf("%d handouts over %s: up to %d works held, want at most %d", handouts, handouts*step, peak, limit)
	}
	if peak < int(age/step) {
		t.Fatalf("only %d works held: the cache forgets works younger than its age", peak)
	}
	c := submitCmd(a, "rig", h.share(a, first.WorkID).Solution)
	h.mustHandle(c)
	if got := rejection(t, h, c.ID); got != "ACCEPTED" {
		t.Fatalf("share on a work the cache forgot: %s", got)
	}
	t.Logf("%d handouts over %s: at most %d works held", handouts+1, handouts*step, peak)
}

// countingStore counts the appends that reach a real store.
type countingStore struct {
	events.Store
	appends atomic.Int64
}

func (s *countingStore) Append(ctx context.Context, writes ...events.StreamWrite) (events.AppendResult, error) {
	s.appends.Add(1)
	return s.Store.Append(ctx, writes...)
}

// TestIssueWorkGroupCommit hands out works from many handlers at once
// through the group commit: fresh handouts share appends; then fresh
// handouts mixed with what must fail or be a duplicate on its own
// (redeliveries, first contacts of new miners whose registrations conflict
// with each other, a work id reused by another command). Each command gets
// the outcome it would have had alone: every work is stored exactly once,
// every miner registered once, only the reused work id is refused.
func TestIssueWorkGroupCommit(t *testing.T) {
	store := &countingStore{Store: newSQLiteStore(t)}
	h := newHarness(t, store, nil)
	h.startAll(nil)
	for !h.b.GroupCommitRunning() {
		time.Sleep(time.Millisecond)
	}
	const miners, perMiner = 8, 40
	var registered []commands.IssueWork
	for m := range miners - 2 { // the last two are new to the pool
		c := issueCmd(addrOf(byte(40+m)), "rig", uuid.New())
		h.mustHandle(c)
		registered = append(registered, c)
	}
	handleAll := func(cmds []commands.IssueWork) []error {
		errs := make([]error, len(cmds))
		var wg sync.WaitGroup
		for i, c := range cmds {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = h.handle(c) }()
		}
		wg.Wait()
		return errs
	}
	var fresh []commands.IssueWork
	for m := range miners - 2 {
		for range perMiner {
			fresh = append(fresh, issueCmd(addrOf(byte(40+m)), "rig", uuid.New()))
		}
	}
	before := store.appends.Load()
	for i, err := range handleAll(fresh) {
		if err != nil {
			t.Errorf("handout %d: %v", i, err)
		}
	}
	if appends := store.appends.Load() - before; appends >= int64(len(fresh)) {
		t.Fatalf("%d handouts took %d appends: no group commit", len(fresh), appends)
	} else {
		t.Logf("%d handouts from %d handlers at once in %d appends", len(fresh), len(fresh), appends)
	}

	var mixed []commands.IssueWork
	for m := range miners {
		for range perMiner {
			mixed = append(mixed, issueCmd(addrOf(byte(40+m)), "rig", uuid.New()))
		}
	}
	for i := 0; i < len(fresh); i += 5 {
		mixed = append(mixed, fresh[i]) // redelivered
	}
	thief := issueCmd(addrOf(40), "rig", fresh[7].WorkID) // reuses a work id
	mixed = append(mixed, thief)
	for i, err := range handleAll(mixed) {
		if mixed[i].ID == thief.ID {
			if !commands.IsPermanent(err) {
				t.Errorf("a work id issued by another command: %v", err)
			}
		} else if err != nil {
			t.Errorf("mixed handout %d: %v", i, err)
		}
	}
	all := append(append(registered, fresh...), mixed[:miners*perMiner]...)
	for _, c := range all {
		envs := h.decoded(events.StreamWork(c.WorkID))
		if len(envs) != 1 {
			t.Fatalf("work %s: %d events", c.WorkID, len(envs))
		}
		if w := envs[0].(events.WorkIssued); w.MinerID != c.MinerID {
			t.Fatalf("work %s recorded for %s", c.WorkID, w.MinerID)
		}
	}
	for m := range miners {
		id := events.MinerID(network, addrOf(byte(40+m)))
		if got := h.streamTypes(events.StreamMiner(id)); !equalTypes(got, events.TypeMinerRegistered, events.TypeWorkerRegistered) {
			t.Fatalf("miner %d: %v", m, got)
		}
	}
	stored := 0
	for _, env := range h.allEvents() {
		if !strings.HasPrefix(env.Stream, "policy-") { // the chain follower's PoolPolicySet
			stored++
		}
	}
	if n := stored; n != len(all)+2*miners {
		t.Fatalf("%d events stored, want %d", n, len(all)+2*miners)
	}
}
