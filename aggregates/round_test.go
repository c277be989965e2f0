package aggregates_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
)

// minedOn is an accepted share of miner mined at height (previous height
// height-1); id names it; blockHash is the block it solved (a pool block's
// hash for a winning share).
func minedOn(id, miner string, height, diff int64, blockHash string) events.SolutionAccepted {
	return events.SolutionAccepted{Network: "main", SolutionID: uid(id), MinerID: uid(miner), Address: "addr-" + miner,
		Difficulty: diff, PrevHeight: height - 1, BlockHash: blockHash}
}

func newFeed(t *testing.T, window int) *feed {
	f := &feed{t: t, l: aggregates.NewLedger(aggregates.LedgerConfig{PPLNSWindow: map[string]int{"main": window}}), versions: map[string]int64{}}
	for _, m := range []string{"a", "b", "c", "finder"} {
		f.add(events.MinerRegistered{Network: "main", MinerID: uid(m), Address: "addr-" + m})
	}
	return f
}

// discoverByHeight records a pool block as this release does: no round yet.
func (f *feed) discoverByHeight(hash string, height, reward int64, finder uuid.UUID) {
	f.t.Helper()
	d := events.BlockDiscovered{Network: "main", Hash: hash, Height: height, RewardSat: reward, FinderMinerID: finder,
		RoundRule: events.RoundRuleHeight}
	evs, err := aggregates.DecideDiscover(f.l.Network("main").Block(hash), d, nil)
	mustNoErr(f.t, err)
	if len(evs) != 1 {
		f.t.Fatalf("discovery by height wrote %v", typesOf(evs))
	}
	f.add(evs...)
}

// mature credits a pool block as the follower does, and returns its events.
func (f *feed) mature(hash, scheme string, feeBps int64) []events.Event {
	f.t.Helper()
	m, err := f.l.MaturingOf("main", hash, scheme, t0)
	mustNoErr(f.t, err)
	evs, err := aggregates.DecideMature(f.l.Network("main").Block(hash), 101, aggregates.MaturityPolicy{Maturity: 101, FeeBps: feeBps}, m, t0)
	mustNoErr(f.t, err)
	f.add(evs...)
	return evs
}

func closedRound(evs []events.Event) (r events.RoundClosed, late []events.LateShare, empty *events.RoundEmpty, credits map[uuid.UUID]int64, fee int64) {
	credits = map[uuid.UUID]int64{}
	for _, e := range evs {
		switch e := e.(type) {
		case events.RoundClosed:
			r = e
		case events.LateSharesCounted:
			late = e.Shares
		case events.RoundEmpty:
			x := e
			empty = &x
		case events.MinerCredited:
			credits[e.MinerID] += e.AmountSat
		case events.FeeCredited:
			fee = e.AmountSat
		}
	}
	return
}

func tallyOf(r events.RoundClosed) map[uuid.UUID]int64 {
	m := map[uuid.UUID]int64{}
	for _, s := range r.Shares {
		m[s.MinerID] = s.Difficulty
	}
	return m
}

func sumOf(m map[uuid.UUID]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}

// Two pool blocks recorded in one pass, and shares validated out of order:
// each round counts the shares mined on its heights, and each winning share
// counts in its own block's round, whatever the order they were stored in.
func TestRoundsByHeightTwoBlocksInOnePass(t *testing.T) {
	f := newFeed(t, 100)
	f.add(minedOn("s1", "a", 20, 10, ""))
	f.discoverByHeight("h21", 21, 1_000_000, uid("b"))
	f.discoverByHeight("h22", 22, 2_000_000, uid("c")) // both found before their shares were validated
	f.add(minedOn("win22", "c", 22, 5, "h22"))         // the later block's winning share first
	f.add(minedOn("s2", "a", 21, 10, ""))
	f.add(minedOn("win21", "b", 21, 20, "h21"))
	f.add(minedOn("s3", "a", 23, 7, "")) // a share of the next round, stored before both matured

	r21, late, empty, credits, fee := closedRound(f.mature("h21", events.SchemePROP, 100))
	if got := tallyOf(r21); len(got) != 2 || got[uid("a")] != 20 || got[uid("b")] != 20 || late != nil || empty != nil {
		t.Fatalf("round 21 %v late %v empty %v", got, late, empty)
	}
	if r21.Rule != events.RoundRuleHeight || r21.FromHeight != 0 || fee != 10_000 || sumOf(credits)+fee != 1_000_000 {
		t.Fatalf("round 21 %+v fee %d credits %v", r21, fee, credits)
	}
	r22, late, _, credits, fee := closedRound(f.mature("h22", events.SchemePROP, 100))
	if got := tallyOf(r22); len(got) != 1 || got[uid("c")] != 5 || late != nil || r22.FromHeight != 21 {
		t.Fatalf("round 22 %v from %d late %v", got, r22.FromHeight, late)
	}
	if fee != 20_000 || credits[uid("c")] != 1_980_000 {
		t.Fatalf("round 22 fee %d credits %v", fee, credits)
	}
	if open := f.l.Network("main").Open; len(open) != 1 || open[0].SolutionID != uid("s3") {
		t.Fatalf("open after both rounds: %+v", open)
	}
}

// A share stored after its round was credited counts once, in the next
// round, named by LateSharesCounted; nothing is counted twice.
func TestRoundsByHeightLateShare(t *testing.T) {
	f := newFeed(t, 100)
	f.add(minedOn("s1", "a", 10, 10, ""))
	f.discoverByHeight("h10", 10, 1000, uid("a"))
	f.mature("h10", events.SchemePROP, 0)
	f.add(minedOn("late", "b", 9, 30, "")) // mined on height 9, validated after 10 was credited
	f.add(minedOn("s2", "c", 12, 10, ""))
	f.discoverByHeight("h12", 12, 1000, uid("c"))
	r, late, _, credits, _ := closedRound(f.mature("h12", events.SchemePROP, 0))
	if got := tallyOf(r); got[uid("b")] != 30 || got[uid("c")] != 10 || len(got) != 2 {
		t.Fatalf("round 12 %v", got)
	}
	if len(late) != 1 || late[0].SolutionID != uid("late") || late[0].MinedHeight != 9 || late[0].MissedBlock != "h10" {
		t.Fatalf("late %+v", late)
	}
	if credits[uid("b")] != 750 || credits[uid("c")] != 250 {
		t.Fatalf("credits %v", credits)
	}
	if b := f.l.Network("main").Block("h12"); b.Late == nil || len(b.Late.Shares) != 1 {
		t.Fatalf("block state keeps no late shares: %+v", b.Late)
	}
}

// A pool block orphaned before maturity had no round yet: its shares simply
// belong to the next pool block's heights.
func TestRoundsByHeightOrphanedPredecessor(t *testing.T) {
	f := newFeed(t, 100)
	f.add(minedOn("s1", "a", 5, 10, ""))
	f.discoverByHeight("h5", 5, 1000, uid("a"))
	evs, err := aggregates.DecideOrphan(f.l.Network("main").Block("h5"), "x5", t0)
	mustNoErr(t, err)
	f.add(evs...)
	f.add(minedOn("s2", "b", 7, 10, ""))
	f.discoverByHeight("h7", 7, 1000, uid("b"))
	r, late, _, _, _ := closedRound(f.mature("h7", events.SchemePROP, 0))
	if got := tallyOf(r); got[uid("a")] != 10 || got[uid("b")] != 10 || r.FromHeight != 0 || late != nil {
		t.Fatalf("round 7 %v from %d late %v", got, r.FromHeight, late)
	}
}

// Rounds are credited in height order: a block waits while a lower pool
// block is pending.
func TestRoundsByHeightCreditedInHeightOrder(t *testing.T) {
	f := newFeed(t, 100)
	f.discoverByHeight("h5", 5, 1000, uid("a"))
	f.discoverByHeight("h6", 6, 1000, uid("a"))
	if _, err := f.l.MaturingOf("main", "h6", events.SchemePROP, t0); !errors.Is(err, aggregates.ErrConflict) {
		t.Fatalf("h6 before h5: %v", err)
	}
}

// An empty round: the pool takes exactly its fee; the rest goes to the
// finder, or waits in the carry account for the next round with shares.
func TestRoundsByHeightEmptyRounds(t *testing.T) {
	f := newFeed(t, 100)
	f.discoverByHeight("h1", 1, 1_000_000, uid("finder"))
	_, _, empty, credits, fee := closedRound(f.mature("h1", events.SchemePROP, 100))
	if empty == nil || empty.Outcome != events.EmptyRoundToFinder || empty.AmountSat != 990_000 || credits[uid("finder")] != 990_000 || fee != 10_000 {
		t.Fatalf("empty with finder: %+v credits %v fee %d", empty, credits, fee)
	}

	f.discoverByHeight("h2", 2, 2_000_000, uuid.Nil) // the coinbase names no known miner
	_, _, empty, credits, fee = closedRound(f.mature("h2", events.SchemePROP, 100))
	if empty == nil || empty.Outcome != events.EmptyRoundCarried || empty.AmountSat != 1_980_000 || len(credits) != 0 || fee != 20_000 {
		t.Fatalf("empty without finder: %+v credits %v fee %d", empty, credits, fee)
	}
	n := f.l.Network("main")
	carry := events.CarryAccountID("main")
	if n.Balances[carry] != 1_980_000 || n.Balances[events.FeeAccountID("main")] != 30_000 {
		t.Fatalf("balances %v", n.Balances)
	}
	for _, c := range n.PayoutCandidates() {
		if c.MinerID == carry {
			t.Fatal("the carry account is a payout candidate")
		}
	}

	f.add(minedOn("s1", "a", 3, 1, ""), minedOn("s2", "b", 3, 3, ""))
	f.discoverByHeight("h3", 3, 3_000_000, uid("a"))
	r, _, empty, credits, fee := closedRound(f.mature("h3", events.SchemePROP, 100))
	if empty != nil || r.CarriedInSat != 1_980_000 || fee != 30_000 {
		t.Fatalf("round with carry: %+v empty %v fee %d", r, empty, fee)
	}
	if sumOf(credits)+fee != 3_000_000+1_980_000 || credits[uid("a")] != 1_237_500 || credits[uid("b")] != 3_712_500 {
		t.Fatalf("credits %v", credits)
	}
	if n.Balances[carry] != 0 {
		t.Fatalf("carry left %d", n.Balances[carry])
	}
	// Over the three blocks the pool took exactly 1 %.
	if got := n.Balances[events.FeeAccountID("main")]; got != 60_000 {
		t.Fatalf("fee account %d, want 1 %% of 6,000,000", got)
	}
}

// PPLNS counts the last N shares by mined height up to the block, whatever
// their validation order; shares of later heights wait.
func TestRoundsByHeightPPLNS(t *testing.T) {
	f := newFeed(t, 3)
	f.add(minedOn("s1", "a", 8, 1, ""), minedOn("s2", "b", 10, 2, ""), minedOn("s3", "c", 11, 4, ""),
		minedOn("s4", "a", 9, 8, ""), minedOn("s5", "b", 10, 16, ""))
	f.discoverByHeight("h10", 10, 1000, uid("a"))
	r, _, _, _, _ := closedRound(f.mature("h10", events.SchemePPLNS, 0))
	// by mined height: s1(8) s4(9) s2(10) s5(10) — the last three: s4, s2, s5.
	if got := tallyOf(r); r.TotalShares != 3 || got[uid("a")] != 8 || got[uid("b")] != 18 || got[uid("c")] != 0 {
		t.Fatalf("pplns %v (%d shares)", got, r.TotalShares)
	}
}

// A block discovered under the rule by position (by an earlier release)
// keeps its round; the first round by height counts only what it did not.
func TestRoundsByHeightAfterRoundsByPosition(t *testing.T) {
	f := newFeed(t, 100)
	f.add(minedOn("s1", "a", 10, 10, ""))
	f.discover("old", 10, 1000, events.SchemePROP) // rule by position: closed at discovery
	f.add(minedOn("s2", "b", 10, 30, ""))          // stored after the old close: not in the old round
	f.discoverByHeight("new", 11, 1000, uid("b"))
	evs := f.mature("old", events.SchemePROP, 0)
	if r, _, _, credits, _ := closedRound(evs); r.BlockHash != "" || credits[uid("a")] != 1000 {
		t.Fatalf("old block credited %v (a new round %+v was written)", credits, r)
	}
	r, _, _, _, _ := closedRound(f.mature("new", events.SchemePROP, 0))
	if got := tallyOf(r); len(got) != 1 || got[uid("b")] != 30 {
		t.Fatalf("first round by height %v", got)
	}
}

func TestDecideDiscoverRules(t *testing.T) {
	d := events.BlockDiscovered{Network: "main", Height: 1, Hash: hash64("b"), RoundRule: events.RoundRuleHeight}
	r := events.RoundClosed{Network: "main", BlockHash: d.Hash, Height: 1, Scheme: events.SchemePROP}
	if _, err := aggregates.DecideDiscover(aggregates.PoolBlock{}, d, &r); !errors.Is(err, aggregates.ErrInvalid) {
		t.Fatalf("a round by height at discovery: %v", err)
	}
	d.RoundRule = events.RoundRulePosition
	if _, err := aggregates.DecideDiscover(aggregates.PoolBlock{}, d, nil); !errors.Is(err, aggregates.ErrInvalid) {
		t.Fatalf("a round by position without its round: %v", err)
	}
	d.RoundRule = "shares-by-mood"
	if _, err := aggregates.DecideDiscover(aggregates.PoolBlock{}, d, nil); !errors.Is(err, aggregates.ErrInvalid) {
		t.Fatalf("unknown rule: %v", err)
	}
}

// A matured block that leaves the chain takes back what its own reward
// credited; what its round took from the carry account came from a block
// still on the chain and stays with the miners. A carried empty round
// takes back its amount from the carry account.
func TestOrphanAfterMaturityWithCarry(t *testing.T) {
	f := newFeed(t, 100)
	f.discoverByHeight("h2", 2, 2_000_000, uuid.Nil)
	f.mature("h2", events.SchemePROP, 100) // 1,980,000 carried
	f.add(minedOn("s1", "a", 3, 1, ""), minedOn("s2", "b", 3, 3, ""))
	f.discoverByHeight("h3", 3, 3_000_000, uid("a"))
	f.mature("h3", events.SchemePROP, 100) // a 1,237,500, b 3,712,500, fee 30,000
	evs, err := aggregates.DecideOrphan(f.l.Network("main").Block("h3"), "x3", t0)
	mustNoErr(t, err)
	f.add(evs...)
	n := f.l.Network("main")
	if n.Balances[uid("a")] != 495_000 || n.Balances[uid("b")] != 1_485_000 || n.Balances[events.FeeAccountID("main")] != 20_000 {
		t.Fatalf("after h3 left the chain: a %d b %d fee %d", n.Balances[uid("a")], n.Balances[uid("b")], n.Balances[events.FeeAccountID("main")])
	}
	carry := events.CarryAccountID("main")
	f.add(minedOn("s3", "c", 4, 1, ""))
	f.discoverByHeight("h4", 4, 1_000_000, uuid.Nil)
	f.mature("h4", events.SchemePROP, 0)
	f.discoverByHeight("h5", 5, 1_000_000, uuid.Nil)
	f.mature("h5", events.SchemePROP, 0) // empty: 1,000,000 carried
	if n.Balances[carry] != 1_000_000 {
		t.Fatalf("carry %d", n.Balances[carry])
	}
	evs, err = aggregates.DecideOrphan(f.l.Network("main").Block("h5"), "x5", t0)
	mustNoErr(t, err)
	f.add(evs...)
	if n.Balances[carry] != 0 || len(evs) != 2 {
		t.Fatalf("carry %d after the carried block left the chain (%v)", n.Balances[carry], typesOf(evs))
	}
}

// PPLNS by height is decided ~100 blocks after a block: the shares of
// later heights stored meanwhile must not push the block's own window out.
func TestRoundsByHeightPPLNSWindowSurvivesMaturity(t *testing.T) {
	f := newFeed(t, 2)
	f.add(minedOn("s1", "a", 10, 1, ""), minedOn("s2", "b", 10, 2, ""))
	f.discoverByHeight("h10", 10, 1000, uid("a"))
	for i := range 20 { // later heights, stored before h10 matures
		f.add(minedOn(fmt.Sprint("later", i), "c", 11+int64(i), 4, ""))
	}
	r, _, _, _, _ := closedRound(f.mature("h10", events.SchemePPLNS, 0))
	if got := tallyOf(r); r.TotalShares != 2 || got[uid("a")] != 1 || got[uid("b")] != 2 {
		t.Fatalf("pplns window of h10 %v (%d shares)", got, r.TotalShares)
	}
	for i := range 60 { // nothing pending: the window is trimmed back to its size, amortised
		f.add(minedOn(fmt.Sprint("after", i), "c", 40, 4, ""))
	}
	if w := len(f.l.Network("main").Window); w > 45 {
		t.Fatalf("window of %d shares kept with nothing pending", w)
	}
}
