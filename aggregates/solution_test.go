package aggregates_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

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
	facts := aggregates.SolutionFacts{NodeBibleHash: good.bibleHash, Recipient: poolAddr, TipHeight: 1000}
	base := func() aggregates.SolutionCheck {
		f := facts
		w := work
		return aggregates.SolutionCheck{
			Command: commands.SubmitSolution{ID: uid("s1"), Network: "main", MinerID: minerID, Address: a, Worker: "rig", Solution: good.String(), ReceivedAt: t0},
			Work:    &w, Miner: miner, Facts: &f,
			Policy: aggregates.SolutionPolicy{PoolAddress: poolAddr, StaleTolerance: 1},
		}
	}
	with := func(f func(*aggregates.SolutionCheck)) solutionCase { c := base(); f(&c); return solutionCase(c) }
	withShare := func(f func(*share)) solutionCase {
		s := good
		f(&s)
		return with(func(c *aggregates.SolutionCheck) {
			c.Command.Solution = s.String()
			c.Facts.NodeBibleHash = s.bibleHash
		})
	}
	tests := []struct {
		name   string
		check  solutionCase
		reason string // "" = accepted
		err    error
		none   bool
	}{
		{"accepted", solutionCase(base()), "", nil, false},
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
		// The nonce rule is consensus's, for the share's header on the chain's previous block:
		// 1518041523 − 1518041437 = 86 s, so at most 86 × 256 = 22,016.
		{"nonce above the chain's rule", withShare(func(s *share) { s.nonce = 22_017 }), events.RejectNonceTooHigh, nil, false},
		{"nonce at the chain's rule", withShare(func(s *share) { s.nonce = 22_016 }), "", nil, false},
		{"nonce judged on the chain's time of the previous block, not the share's", withShare(func(s *share) { s.nonce = 2_000 }).
			withFacts(func(f *aggregates.SolutionFacts) {
				f.Prev = &aggregates.ChainPoint{Height: 1000, Time: time.Unix(1518041517, 0)}
			}),
			events.RejectNonceTooHigh, nil, false},
		{"header time counts no later than 2 h after receipt", withShare(func(s *share) { s.nonce = 5_000; s.blockTime = 1518041437 + 20_000 }).
			at(time.Unix(1518041437+5, 0).Add(-2 * time.Hour)), events.RejectNonceTooHigh, nil, false},
		{"a late check changes no nonce verdict", with(func(c *aggregates.SolutionCheck) { c.Facts.TipHeight = 5000 }).
			withFacts(func(f *aggregates.SolutionFacts) {
				f.Next = &aggregates.ChainPoint{Height: 1002, Time: t0.Add(time.Second)}
			}), "", nil, false},
		// Staleness as of receipt (t0), with a tolerance of 1: stale once height 1002 had appeared.
		{"previous height within tolerance", with(func(c *aggregates.SolutionCheck) { c.Facts.TipHeight = 1001 }), "", nil, false},
		{"stale: height p+2 appeared before the share arrived", with(func(c *aggregates.SolutionCheck) { c.Facts.TipHeight = 1002 }).
			withFacts(func(f *aggregates.SolutionFacts) {
				f.Next = &aggregates.ChainPoint{Height: 1002, Time: t0.Add(-time.Second)}
			}),
			events.RejectStale, nil, false},
		{"stale: appeared when the follower saw it, before its header time", with(func(c *aggregates.SolutionCheck) {}).
			withFacts(func(f *aggregates.SolutionFacts) {
				f.Next = &aggregates.ChainPoint{Height: 1002, Time: t0.Add(time.Hour), SeenAt: t0.Add(-time.Second)}
			}), events.RejectStale, nil, false},
		{"backlog: the tip moved on after the share arrived", with(func(c *aggregates.SolutionCheck) { c.Facts.TipHeight = 1100 }).
			withFacts(func(f *aggregates.SolutionFacts) {
				f.Next = &aggregates.ChainPoint{Height: 1002, Time: t0.Add(time.Second)}
			}),
			"", nil, false},
		{"appeared in the second the share arrived: not known to be earlier", with(func(c *aggregates.SolutionCheck) {}).
			withFacts(func(f *aggregates.SolutionFacts) { f.Next = &aggregates.ChainPoint{Height: 1002, Time: t0} }).
			at(t0.Add(900 * time.Millisecond)), "", nil, false},
		{"appeared the second before the share arrived: stale", with(func(c *aggregates.SolutionCheck) {}).
			withFacts(func(f *aggregates.SolutionFacts) {
				f.Next = &aggregates.ChainPoint{Height: 1002, Time: t0.Add(-time.Second)}
			}).
			at(t0.Add(10 * time.Millisecond)), events.RejectStale, nil, false},
		{"stale: ahead of the tip", with(func(c *aggregates.SolutionCheck) { c.Facts.TipHeight = 998 }), events.RejectStale, nil, false},
		{"zero tolerance: the winning share is the block at p+1", with(func(c *aggregates.SolutionCheck) { c.Policy.StaleTolerance = 0 }).
			withFacts(func(f *aggregates.SolutionFacts) {
				f.Next = &aggregates.ChainPoint{Height: 1001, Hash: hash64("ab"), Time: t0.Add(-time.Minute)}
			}), "", nil, false},
		{"zero tolerance: another block at p+1 before receipt", with(func(c *aggregates.SolutionCheck) { c.Policy.StaleTolerance = 0 }).
			withFacts(func(f *aggregates.SolutionFacts) {
				f.Next = &aggregates.ChainPoint{Height: 1001, Hash: hash64("cd"), Time: t0.Add(-time.Second)}
			}), events.RejectStale, nil, false},
		{"command miner id not of its address", with(func(c *aggregates.SolutionCheck) { c.Command.MinerID = uid("zz") }), "", aggregates.ErrInvalid, false},
		{"command without id", with(func(c *aggregates.SolutionCheck) { c.Command.ID = uuid.Nil }), "", aggregates.ErrInvalid, false},
	}
	for _, tc := range tests {
		tt := struct {
			name   string
			check  aggregates.SolutionCheck
			reason string
			err    error
			none   bool
		}{tc.name, aggregates.SolutionCheck(tc.check), tc.reason, tc.err, tc.none}
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

// solutionCase is a SolutionCheck under construction in a table.
type solutionCase aggregates.SolutionCheck

func (c solutionCase) withFacts(f func(*aggregates.SolutionFacts)) solutionCase {
	facts := *c.Facts
	f(&facts)
	c.Facts = &facts
	return c
}

func (c solutionCase) at(received time.Time) solutionCase {
	c.Command.ReceivedAt = received
	return c
}

func TestDecideSolutionRegistersNewWorker(t *testing.T) {
	a := addr("main", 11)
	minerID := events.MinerID("main", a)
	work := events.WorkIssued{Network: "main", WorkID: uid("w2"), MinerID: minerID, Address: a, Target: biblepay.DefaultTarget}
	s := share{blockHash: hash64("ab"), bibleHash: hash64("0000000001"), prevHeight: 5, nonce: 1, minerID: minerID, workID: work.WorkID}
	evs, err := aggregates.DecideSolution(aggregates.SolutionCheck{
		Command: commands.SubmitSolution{ID: uid("s2"), Network: "main", MinerID: minerID, Address: a, Worker: "new", Solution: s.String(), ReceivedAt: t0},
		Work:    &work, Miner: aggregates.Miner{}.Apply(events.MinerRegistered{Network: "main", MinerID: minerID, Address: a}),
		Facts:  &aggregates.SolutionFacts{NodeBibleHash: s.bibleHash, Recipient: addr("main", 90), TipHeight: 5},
		Policy: aggregates.SolutionPolicy{PoolAddress: addr("main", 90)},
	})
	mustNoErr(t, err)
	if got := typesOf(evs); !equal(got, []string{events.TypeSolutionAccepted, events.TypeBibleHashReserved, events.TypeWorkerRegistered}) {
		t.Fatalf("events %v", got)
	}
}
