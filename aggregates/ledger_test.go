package aggregates_test

import (
	"testing"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
)

// feed stores events as envelopes at increasing positions, with stream
// versions, and folds them.
type feed struct {
	t        *testing.T
	l        *aggregates.Ledger
	versions map[string]int64
}

func (f *feed) add(evs ...events.Event) {
	f.t.Helper()
	for _, e := range evs {
		ne, err := events.New(uid(f.t.Name()), e, events.Metadata{})
		mustNoErr(f.t, err)
		stream := aggregates.StreamFor(e)
		v, ok := f.versions[stream]
		if !ok {
			v = -1
		}
		v++
		f.versions[stream] = v
		env := events.Envelope{Stream: stream, Version: v, Position: f.l.Position + 1, Type: ne.Type, SchemaVersion: ne.SchemaVersion, Data: ne.Data}
		mustNoErr(f.t, f.l.Apply(env))
	}
}

func accepted(miner string, diff int64) events.SolutionAccepted {
	return events.SolutionAccepted{Network: "main", SolutionID: uid(miner + "s"), MinerID: uid(miner), Address: "addr-" + miner, Difficulty: diff}
}

func (f *feed) discover(hash string, height int64, reward int64, scheme string) events.RoundClosed {
	f.t.Helper()
	d := events.BlockDiscovered{Network: "main", Hash: hash, Height: height, RewardSat: reward, FinderMinerID: uid("a")}
	r, err := f.l.CloseRound(scheme, d, t0)
	mustNoErr(f.t, err)
	evs, err := aggregates.DecideDiscover(f.l.Network("main").Block(hash), d, &r)
	mustNoErr(f.t, err)
	f.add(evs...)
	return r
}

func TestLedgerRoundsCarryAndBalances(t *testing.T) {
	f := &feed{t: t, l: aggregates.NewLedger(aggregates.LedgerConfig{PPLNSWindow: map[string]int{"main": 3}}), versions: map[string]int64{}}
	f.add(events.MinerRegistered{Network: "main", MinerID: uid("a"), Address: "addr-a"})
	f.add(accepted("a", 10), accepted("b", 30)) // positions 2, 3
	r1 := f.discover("h1", 10, 1000, events.SchemePROP)
	if r1.FromPosition != 0 || r1.ToPosition != 3 || r1.TotalDifficulty != 40 || len(r1.Shares) != 2 {
		t.Fatalf("round 1 %+v", r1)
	}
	if v := f.l.Version(events.StreamBlock("main", "h1")); v != 1 {
		t.Fatalf("block stream version %d", v)
	}
	f.add(accepted("a", 5)) // position 6
	r2 := f.discover("h2", 11, 2000, events.SchemePROP)
	if r2.FromPosition != 3 || r2.TotalDifficulty != 5 {
		t.Fatalf("round 2 %+v", r2)
	}
	// h2 leaves the chain before maturity: its round rolls into the next one.
	evs, _ := aggregates.DecideOrphan(f.l.Network("main").Block("h2"), "x", t0)
	f.add(evs...)
	f.add(accepted("b", 7))
	r3 := f.discover("h3", 12, 3000, events.SchemePROP)
	if r3.TotalDifficulty != 12 || len(r3.CarriedOver) != 1 || r3.CarriedOver[0] != "h2" {
		t.Fatalf("round 3 %+v", r3)
	}
	if n := f.l.Network("main"); len(n.Carry) != 0 || len(n.Open) != 0 {
		t.Fatalf("carry %v open %v after round 3", n.Carry, n.Open)
	}
	// PPLNS counts the last 3 shares whatever their round.
	f.add(accepted("c", 1))
	r4, err := f.l.CloseRound(events.SchemePPLNS, events.BlockDiscovered{Network: "main", Hash: "h4"}, t0)
	mustNoErr(t, err)
	if r4.TotalShares != 3 || r4.TotalDifficulty != 5+7+1 {
		t.Fatalf("pplns %+v", r4)
	}
	// SOLO pays the finder; an unknown finder falls back to PROP.
	r5, _ := f.l.CloseRound(events.SchemeSOLO, events.BlockDiscovered{Network: "main", Hash: "h5", FinderMinerID: uid("a")}, t0)
	if r5.Scheme != events.SchemeSOLO || len(r5.Shares) != 1 || r5.Shares[0].MinerID != uid("a") {
		t.Fatalf("solo %+v", r5)
	}
	r6, _ := f.l.CloseRound(events.SchemeSOLO, events.BlockDiscovered{Network: "main", Hash: "h6", FinderMinerID: uid("nobody")}, t0)
	if r6.Scheme != events.SchemePROP || r6.TotalDifficulty != 1 {
		t.Fatalf("solo fallback %+v", r6)
	}

	// Maturity credits h1: 1 % fee of 1000 = 10; 990 split 10:30.
	pol := aggregates.MaturityPolicy{Maturity: 2, FeeBps: 100}
	evs, err = aggregates.DecideMature(f.l.Network("main").Block("h1"), 2, pol, aggregates.Maturing{}, t0)
	mustNoErr(t, err)
	f.add(evs...)
	n := f.l.Network("main")
	if n.Balances[uid("a")] != 248 || n.Balances[uid("b")] != 742 || n.Balances[events.FeeAccountID("main")] != 10 {
		t.Fatalf("balances %v", n.Balances)
	}
	// Plan, fail (money back), plan again, send.
	plan := func(seq int64) events.PayoutPlanned {
		evs, err := aggregates.DecidePlanPayout(n.Schedule, n.UnsettledPayouts(), n.PayoutCandidates(), aggregates.PayoutPolicy{MinPayoutSat: 100, MaxRecipients: 10}, aggregates.PayoutID("main", seq), t0)
		mustNoErr(t, err)
		f.add(evs...)
		return evs[0].(events.PayoutPlanned)
	}
	p0 := plan(n.PayoutCount)
	if p0.TotalSat != 990 || n.Balances[uid("a")] != 0 || len(n.UnsettledPayouts()) != 1 {
		t.Fatalf("planned %+v balances %v", p0, n.Balances)
	}
	if _, err := aggregates.DecidePlanPayout(n.Schedule, n.UnsettledPayouts(), n.PayoutCandidates(), aggregates.PayoutPolicy{MinPayoutSat: 1}, aggregates.PayoutID("main", 1), t0); err == nil {
		t.Fatal("planned a second payout while the first is unsettled")
	}
	f.add(events.PayoutHalted{Network: "main", PayoutID: p0.PayoutID})
	if len(n.UnsettledPayouts()) != 1 {
		t.Fatal("a halted payout must stay unsettled")
	}
	f.add(events.PayoutFailed{Network: "main", PayoutID: p0.PayoutID, Reconciled: true})
	if n.Balances[uid("b")] != 742 || len(n.UnsettledPayouts()) != 0 {
		t.Fatalf("failed payout did not give the money back: %v", n.Balances)
	}
	p1 := plan(n.PayoutCount)
	if p1.PayoutID != aggregates.PayoutID("main", 1) {
		t.Fatal("payout ids are sequential")
	}
	f.add(events.PayoutSent{Network: "main", PayoutID: p1.PayoutID, TxID: "tx"})
	if n.Paid[uid("b")] != 742 || n.Balances[uid("b")] != 0 {
		t.Fatalf("paid %v balances %v", n.Paid, n.Balances)
	}
	// Its transaction is double spent: nothing was paid, the money is owed
	// again and a new payout may be planned.
	f.add(events.PayoutConflicted{Network: "main", PayoutID: p1.PayoutID, TxID: "tx"})
	if n.Paid[uid("b")] != 0 || n.Balances[uid("b")] != 742 || len(n.UnsettledPayouts()) != 0 {
		t.Fatalf("after the conflict: paid %v balances %v", n.Paid, n.Balances)
	}
	p2 := plan(n.PayoutCount)
	f.add(events.PayoutSent{Network: "main", PayoutID: p2.PayoutID, TxID: "tx2"})
	if p2.TotalSat != 990 || n.Paid[uid("b")] != 742 || n.Balances[uid("b")] != 0 {
		t.Fatalf("repaid %+v: paid %v balances %v", p2, n.Paid, n.Balances)
	}
	// A late reorganisation after payout leaves a debt the backend must flag.
	evs, _ = aggregates.DecideOrphan(n.Block("h1"), "x", t0)
	f.add(evs...)
	if n.Balances[uid("b")] != -742 || n.Balances[events.FeeAccountID("main")] != 0 {
		t.Fatalf("reversal balances %v", n.Balances)
	}
	// Replaying an envelope at or below the position is ignored.
	before := f.l.Position
	mustNoErr(t, f.l.Apply(events.Envelope{Position: 1, Type: "garbage"}))
	if f.l.Position != before {
		t.Fatal("position moved back")
	}
}
