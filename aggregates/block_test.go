package aggregates_test

import (
	"errors"
	"testing"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
)

func foldBlock(b aggregates.PoolBlock, evs []events.Event) aggregates.PoolBlock {
	for _, e := range evs {
		b = b.Apply(e)
	}
	return b
}

func discovered(t *testing.T, reward int64, tallies ...events.ShareTally) aggregates.PoolBlock {
	t.Helper()
	d := events.BlockDiscovered{Network: "main", Height: 100, Hash: hash64("b1"), RewardSat: reward, At: t0}
	r := events.RoundClosed{Network: "main", RoundID: aggregates.RoundID("main", d.Hash), BlockHash: d.Hash, Height: 100, Scheme: events.SchemePROP, Shares: tallies}
	evs, err := aggregates.DecideDiscover(aggregates.PoolBlock{}, d, &r)
	mustNoErr(t, err)
	return foldBlock(aggregates.PoolBlock{}, evs)
}

func TestDecideDiscover(t *testing.T) {
	b := discovered(t, 1000, tally("a", 2), tally("a", 3), tally("b", 5))
	if !b.Pending() || b.Round == nil || b.Round.TotalDifficulty != 10 || b.Round.TotalShares != 3 || len(b.Round.Shares) != 2 {
		t.Fatalf("state %+v round %+v", b, b.Round)
	}
	d := events.BlockDiscovered{Network: "main", Height: 100, Hash: hash64("b1")}
	if evs, _ := aggregates.DecideDiscover(b, d, b.Round); len(evs) != 0 {
		t.Fatal("discovering twice must give nothing")
	}
	bad := []struct {
		name string
		d    events.BlockDiscovered
		r    events.RoundClosed
	}{
		{"round of another block", d, events.RoundClosed{Network: "main", BlockHash: hash64("b2"), Height: 100, Scheme: events.SchemePROP}},
		{"negative reward", events.BlockDiscovered{Network: "main", Height: 100, Hash: hash64("b1"), RewardSat: -1}, events.RoundClosed{Network: "main", BlockHash: hash64("b1"), Height: 100, Scheme: events.SchemePROP}},
		{"unknown scheme", d, events.RoundClosed{Network: "main", BlockHash: hash64("b1"), Height: 100, Scheme: "PPS"}},
	}
	for _, tt := range bad {
		if _, err := aggregates.DecideDiscover(aggregates.PoolBlock{}, tt.d, &tt.r); !errors.Is(err, aggregates.ErrInvalid) {
			t.Errorf("%s: err %v", tt.name, err)
		}
	}
}

func TestBlockLifecycle(t *testing.T) {
	b := discovered(t, 1_000_003, tally("a", 1), tally("b", 2))
	steps := []struct {
		conf  int64
		types []string
	}{
		{1, []string{events.TypeBlockConfirmed}},
		{5, nil}, // below the step of 10
		{11, []string{events.TypeBlockConfirmed}},
		{11, nil},
	}
	for _, s := range steps {
		evs, err := aggregates.DecideConfirm(b, s.conf, 10, t0)
		mustNoErr(t, err)
		if !equal(typesOf(evs), s.types) {
			t.Fatalf("confirm %d: %v, want %v", s.conf, typesOf(evs), s.types)
		}
		b = foldBlock(b, evs)
	}
	p := aggregates.MaturityPolicy{Maturity: 101, FeeBps: 100}
	if evs, _ := aggregates.DecideMature(b, 100, p, aggregates.Maturing{}, t0); len(evs) != 0 {
		t.Fatal("matured too early")
	}
	evs, err := aggregates.DecideMature(b, 101, p, aggregates.Maturing{}, t0)
	mustNoErr(t, err)
	if !equal(typesOf(evs), []string{events.TypeBlockMatured, events.TypeMinerCredited, events.TypeMinerCredited, events.TypeFeeCredited}) {
		t.Fatalf("matured: %v", typesOf(evs))
	}
	var sum int64
	for _, e := range evs {
		switch e := e.(type) {
		case events.MinerCredited:
			sum += e.AmountSat
			if e.FeeSat != 10_000 || e.RoundDifficulty != 3 || e.RewardSat != 1_000_003 {
				t.Errorf("credit proof %+v", e)
			}
		case events.FeeCredited:
			sum += e.AmountSat
			if e.AccountID != events.FeeAccountID("main") || e.FeeBps != 100 {
				t.Errorf("fee %+v", e)
			}
		}
	}
	if sum != 1_000_003 {
		t.Fatalf("credits + fee = %d", sum)
	}
	b = foldBlock(b, evs)
	if evs, _ := aggregates.DecideMature(b, 150, p, aggregates.Maturing{}, t0); len(evs) != 0 {
		t.Fatal("matured twice")
	}
	if evs, _ := aggregates.DecideConfirm(b, 150, 10, t0); len(evs) != 0 {
		t.Fatal("confirmation after maturity")
	}
	// A late reorganisation reverses every credit and the fee.
	evs, err = aggregates.DecideOrphan(b, hash64("c1"), t0)
	mustNoErr(t, err)
	if !equal(typesOf(evs), []string{events.TypeBlockOrphaned, events.TypeCreditReversed, events.TypeCreditReversed, events.TypeCreditReversed}) {
		t.Fatalf("late orphan: %v", typesOf(evs))
	}
	var reversed int64
	for _, e := range evs[1:] {
		reversed += e.(events.CreditReversed).AmountSat
	}
	if reversed != 1_000_003 || !evs[0].(events.BlockOrphaned).AfterMaturity {
		t.Fatalf("reversed %d of 1000003", reversed)
	}
	b = foldBlock(b, evs)
	if evs, _ := aggregates.DecideOrphan(b, hash64("c2"), t0); len(evs) != 0 {
		t.Fatal("orphaned twice")
	}
}

func TestOrphanBeforeMaturity(t *testing.T) {
	b := discovered(t, 500, tally("a", 1))
	evs, err := aggregates.DecideOrphan(b, hash64("c1"), t0)
	mustNoErr(t, err)
	if !equal(typesOf(evs), []string{events.TypeBlockOrphaned}) || evs[0].(events.BlockOrphaned).AfterMaturity {
		t.Fatalf("early orphan: %+v", evs)
	}
	b = foldBlock(b, evs)
	if evs, _ := aggregates.DecideMature(b, 200, aggregates.MaturityPolicy{Maturity: 101}, aggregates.Maturing{}, t0); len(evs) != 0 {
		t.Fatal("an orphaned block matured")
	}
}
