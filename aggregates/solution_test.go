package aggregates_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
)

func TestDecideSolution(t *testing.T) {
	poolAddr := addr("main", 90)
	a := addr("main", 10)
	minerID := events.MinerID("main", a)
	work := events.WorkIssued{Network: "main", WorkID: uid("w1"), MinerID: minerID, Address: a, Worker: "rig", Target: biblepay.DefaultTarget, At: t0}
	good := share{blockHash: hash64("ab"), bibleHash: hash64("00000000ff"), prevHeight: 1000, nonce: 300, minerID: minerID, workID: work.WorkID}
	miner := fold(aggregates.Miner{}, []events.Event{
		events.MinerRegistered{Network: "main", MinerID: minerID, Address: a},
		events.WorkerRegistered{Network: "main", MinerID: minerID, Worker: "rig"},
	})
	facts := aggregates.SolutionFacts{NodeBibleHash: good.bibleHash, Recipient: poolAddr, TipHeight: 1000, MaxNonce: 512}
	base := func() aggregates.SolutionCheck {
		f := facts
		w := work
		return aggregates.SolutionCheck{
			Command: commands.SubmitSolution{ID: uid("s1"), Network: "main", MinerID: minerID, Address: a, Worker: "rig", Solution: good.String(), ReceivedAt: t0},
			Work:    &w, Miner: miner, Facts: &f,
			Policy: aggregates.SolutionPolicy{PoolAddress: poolAddr, StaleTolerance: 1},
		}
	}
	with := func(f func(*aggregates.SolutionCheck)) aggregates.SolutionCheck { c := base(); f(&c); return c }
	withShare := func(f func(*share)) aggregates.SolutionCheck {
		s := good
		f(&s)
		return with(func(c *aggregates.SolutionCheck) {
			c.Command.Solution = s.String()
			c.Facts.NodeBibleHash = s.bibleHash
		})
	}
	tests := []struct {
		name   string
		check  aggregates.SolutionCheck
		reason string // "" = accepted
		err    error
		none   bool
	}{
		{"accepted", base(), "", nil, false},
		{"malformed", with(func(c *aggregates.SolutionCheck) { c.Command.Solution = "1,2,3" }), events.RejectMalformed, nil, false},
		{"duplicate bible hash", with(func(c *aggregates.SolutionCheck) { c.BibleHashTakenBy = uid("other") }), events.RejectDuplicate, nil, false},
		{"hash reserved by this very solution", with(func(c *aggregates.SolutionCheck) { c.BibleHashTakenBy = uid("s1") }), "", nil, true},
		{"work not yet recorded", with(func(c *aggregates.SolutionCheck) { c.Work = nil }), "", aggregates.ErrWorkNotYetKnown, false},
		{"work never recorded", with(func(c *aggregates.SolutionCheck) { c.Work = nil; c.WorkWaitOver = true }), events.RejectUnknownWork, nil, false},
		{"work of another network", with(func(c *aggregates.SolutionCheck) { c.Work.Network = "test" }), events.RejectWrongNetwork, nil, false},
		{"work of another miner", with(func(c *aggregates.SolutionCheck) { c.Work.MinerID = uid("m2") }), events.RejectWrongMiner, nil, false},
		{"share names another miner", withShare(func(s *share) { s.minerID = uid("m3") }), events.RejectWrongMiner, nil, false},
		{"miner disabled", with(func(c *aggregates.SolutionCheck) { c.Miner.Disabled = true }), events.RejectMinerDisabled, nil, false},
		{"hash above target", withShare(func(s *share) { s.bibleHash = hash64("0000020") }), events.RejectHighHash, nil, false},
		{"hash equal to target", withShare(func(s *share) { s.bibleHash = biblepay.DefaultTarget }), events.RejectHighHash, nil, false},
		{"facts needed", with(func(c *aggregates.SolutionCheck) { c.Facts = nil }), "", aggregates.ErrNeedFacts, false},
		{"node computes another bible hash", with(func(c *aggregates.SolutionCheck) { c.Facts.NodeBibleHash = hash64("01") }), events.RejectBibleHashWrong, nil, false},
		{"node omits the bible hash", with(func(c *aggregates.SolutionCheck) { c.Facts.NodeBibleHash = "" }), events.RejectBibleHashWrong, nil, false},
		{"block does not decode", with(func(c *aggregates.SolutionCheck) { c.Facts.BlockDecodeError = "Block decode failed" }), events.RejectBlockInvalid, nil, false},
		{"coinbase pays someone else", with(func(c *aggregates.SolutionCheck) { c.Facts.Recipient = a }), events.RejectInvalidRecipient, nil, false},
		{"no pool address configured", with(func(c *aggregates.SolutionCheck) { c.Policy.PoolAddress = ""; c.Facts.Recipient = "" }), events.RejectInvalidRecipient, nil, false},
		{"nonce above pinfo", with(func(c *aggregates.SolutionCheck) { c.Facts.MaxNonce = 299 }), events.RejectNonceTooHigh, nil, false},
		{"nonce equal to pinfo", with(func(c *aggregates.SolutionCheck) { c.Facts.MaxNonce = 300 }), "", nil, false},
		{"previous height within tolerance", with(func(c *aggregates.SolutionCheck) { c.Facts.TipHeight = 1001 }), "", nil, false},
		{"stale: tip moved on", with(func(c *aggregates.SolutionCheck) { c.Facts.TipHeight = 1002 }), events.RejectStale, nil, false},
		{"stale: ahead of the tip", with(func(c *aggregates.SolutionCheck) { c.Facts.TipHeight = 998 }), events.RejectStale, nil, false},
		{"stale with zero tolerance", with(func(c *aggregates.SolutionCheck) { c.Policy.StaleTolerance = 0; c.Facts.TipHeight = 1001 }), events.RejectStale, nil, false},
		{"command miner id not of its address", with(func(c *aggregates.SolutionCheck) { c.Command.MinerID = uid("zz") }), "", aggregates.ErrInvalid, false},
		{"command without id", with(func(c *aggregates.SolutionCheck) { c.Command.ID = uuid.Nil }), "", aggregates.ErrInvalid, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := aggregates.DecideSolution(tt.check)
			// The same decision from a solution the caller parsed already.
			if sol, perr := biblepay.ParseSolution(tt.check.Command.Solution, tt.check.Policy.MaxBlockHex); perr == nil {
				pre := tt.check
				pre.Parsed = &sol
				evs2, err2 := aggregates.DecideSolution(pre)
				if !reflect.DeepEqual(evs, evs2) || (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
					t.Fatalf("pre-parsed: %v %v, parsed here: %v %v", typesOf(evs2), err2, typesOf(evs), err)
				}
			}
			if tt.err != nil || err != nil {
				if !errors.Is(err, tt.err) || tt.err == nil {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				if len(evs) != 0 {
					t.Fatalf("events with an error: %v", typesOf(evs))
				}
				return
			}
			if tt.none {
				if len(evs) != 0 {
					t.Fatalf("want no event, got %v", typesOf(evs))
				}
				return
			}
			if tt.reason != "" {
				if len(evs) != 1 {
					t.Fatalf("want one rejection, got %v", typesOf(evs))
				}
				r, ok := evs[0].(events.SolutionRejected)
				if !ok || r.Reason != tt.reason || r.SolutionID != tt.check.Command.ID || r.Detail == "" {
					t.Fatalf("got %+v, want reason %s", evs[0], tt.reason)
				}
				return
			}
			if got := typesOf(evs); !equal(got, []string{events.TypeSolutionAccepted, events.TypeBibleHashReserved}) {
				t.Fatalf("events %v", got)
			}
			acc := evs[0].(events.SolutionAccepted)
			d, _ := biblepay.Difficulty(biblepay.DefaultTarget)
			if acc.Difficulty != d || acc.BibleHash != good.bibleHash || acc.WorkID != work.WorkID || acc.HashrateHPS != 1000 {
				t.Fatalf("accepted %+v", acc)
			}
			res := evs[1].(events.BibleHashReserved)
			if res.SolutionID != acc.SolutionID || aggregates.StreamFor(res) != events.StreamBibleHash("main", good.bibleHash) {
				t.Fatalf("reservation %+v", res)
			}
		})
	}
}

func TestDecideSolutionRegistersNewWorker(t *testing.T) {
	a := addr("main", 11)
	minerID := events.MinerID("main", a)
	work := events.WorkIssued{Network: "main", WorkID: uid("w2"), MinerID: minerID, Address: a, Target: biblepay.DefaultTarget}
	s := share{blockHash: hash64("ab"), bibleHash: hash64("0000000001"), prevHeight: 5, nonce: 1, minerID: minerID, workID: work.WorkID}
	evs, err := aggregates.DecideSolution(aggregates.SolutionCheck{
		Command: commands.SubmitSolution{ID: uid("s2"), Network: "main", MinerID: minerID, Address: a, Worker: "new", Solution: s.String(), ReceivedAt: t0},
		Work:    &work, Miner: aggregates.Miner{}.Apply(events.MinerRegistered{Network: "main", MinerID: minerID, Address: a}),
		Facts:  &aggregates.SolutionFacts{NodeBibleHash: s.bibleHash, Recipient: addr("main", 90), TipHeight: 5, MaxNonce: 512},
		Policy: aggregates.SolutionPolicy{PoolAddress: addr("main", 90)},
	})
	mustNoErr(t, err)
	if got := typesOf(evs); !equal(got, []string{events.TypeSolutionAccepted, events.TypeBibleHashReserved, events.TypeWorkerRegistered}) {
		t.Fatalf("events %v", got)
	}
}
