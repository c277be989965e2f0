package projections_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/projections"
)

// roundsHistory is a pool history under the rounds by height: a block whose
// round is credited at maturity, an empty round carried, a round that takes
// the carry and a late share, an empty round that goes to its finder, a
// block still pending (round open), a block of the earlier rule (round
// closed at discovery), and two policy changes.
type roundsHistory struct {
	evs                                []events.Event
	a, b, c, d, open, old              string
	alice, bob                         uuid.UUID
	aliceAddr, bobAddr                 string
	carried, rewards, credited, feeSum int64
}

func newRoundsHistory() *roundsHistory {
	const net = "test"
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	h := &roundsHistory{
		a: strings.Repeat("a", 64), b: strings.Repeat("b", 64), c: strings.Repeat("c", 64), d: strings.Repeat("d", 64),
		open: strings.Repeat("e", 64), old: strings.Repeat("f", 64),
		alice: uuid.New(), bob: uuid.New(), aliceAddr: "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci", bobAddr: "yLKSrCjLQFsfVgX8RjdctZ797d54atPjnV",
	}
	const reward, fee = 1_000_000_000, 10_000_000 // 1 % of 10 BBP
	add := func(e ...events.Event) { h.evs = append(h.evs, e...) }
	disc := func(hash string, height int64, finder uuid.UUID, rule string) {
		add(events.BlockDiscovered{Network: net, Height: height, Hash: hash, FinderMinerID: finder, Recipient: "pool",
			RewardSat: reward, BlockTime: t0, RoundRule: rule, At: t0.Add(time.Duration(height) * time.Minute)})
	}
	matured := func(hash string, height int64) events.Event {
		h.rewards += reward
		return events.BlockMatured{Network: net, Hash: hash, Height: height, RewardSat: reward, Confirmations: 101, At: t0.Add(time.Hour)}
	}
	feeOf := func(hash string, height int64) events.Event {
		h.feeSum += fee
		return events.FeeCredited{Network: net, AccountID: events.FeeAccountID(net), BlockHash: hash, Height: height, FeeBps: 100, AmountSat: fee, At: t0.Add(time.Hour)}
	}
	credit := func(hash string, height int64, miner uuid.UUID, addr string, roundShares, minerShares, amount int64) events.Event {
		h.credited += amount
		return events.MinerCredited{Network: net, MinerID: miner, Address: addr, BlockHash: hash, Height: height, RewardSat: reward, FeeSat: fee,
			RoundShares: roundShares, RoundDifficulty: roundShares * 10, MinerShares: minerShares, MinerDifficulty: minerShares * 10, AmountSat: amount, At: t0.Add(time.Hour)}
	}
	round := func(hash string, height, from int64, carriedIn int64, shares ...events.ShareTally) events.RoundClosed {
		var n, d int64
		for _, s := range shares {
			n += s.Shares
			d += s.Difficulty
		}
		return events.RoundClosed{Network: net, RoundID: uuid.NewSHA1(events.Namespace, []byte(hash)), BlockHash: hash, Height: height,
			Scheme: events.SchemePROP, Shares: shares, TotalShares: n, TotalDifficulty: d, ToPosition: 99, Rule: events.RoundRuleHeight,
			FromHeight: from, CarriedInSat: carriedIn, At: t0.Add(time.Hour)}
	}

	add(events.PoolPolicySet{Network: net, FeeBps: 250, Scheme: events.SchemePPLNS, PPLNSWindow: 500, At: t0},
		events.MinerRegistered{Network: net, MinerID: h.alice, Address: h.aliceAddr, At: t0},
		events.MinerRegistered{Network: net, MinerID: h.bob, Address: h.bobAddr, At: t0},
		events.PoolPolicySet{Network: net, FeeBps: 100, Scheme: events.SchemePROP, At: t0.Add(time.Minute)})
	// The earlier rule: the round is closed with the discovery.
	disc(h.old, 5, h.alice, events.RoundRulePosition)
	add(events.RoundClosed{Network: net, RoundID: uuid.New(), BlockHash: h.old, Height: 5, Scheme: events.SchemePROP,
		Shares: []events.ShareTally{{MinerID: h.alice, Address: h.aliceAddr, Shares: 3, Difficulty: 30}}, TotalShares: 3, TotalDifficulty: 30,
		ToPosition: 7, At: t0})
	disc(h.a, 10, h.alice, events.RoundRuleHeight)
	disc(h.b, 12, uuid.Nil, events.RoundRuleHeight)
	disc(h.c, 15, h.bob, events.RoundRuleHeight)
	disc(h.d, 20, h.bob, events.RoundRuleHeight)
	disc(h.open, 30, h.alice, events.RoundRuleHeight)

	// A: two miners, credited at maturity.
	add(round(h.a, 10, 0, 0, events.ShareTally{MinerID: h.alice, Address: h.aliceAddr, Shares: 3, Difficulty: 30},
		events.ShareTally{MinerID: h.bob, Address: h.bobAddr, Shares: 1, Difficulty: 10}),
		matured(h.a, 10),
		credit(h.a, 10, h.alice, h.aliceAddr, 4, 3, 742_500_000), credit(h.a, 10, h.bob, h.bobAddr, 4, 1, 247_500_000),
		feeOf(h.a, 10))
	// B: no share, no known finder: the miners' part is carried.
	h.carried = reward - fee
	add(round(h.b, 12, 10, 0), matured(h.b, 12),
		events.RoundEmpty{Network: net, BlockHash: h.b, Height: 12, Outcome: events.EmptyRoundCarried, AmountSat: h.carried, At: t0.Add(time.Hour)},
		feeOf(h.b, 12))
	// C: takes the carry; a share mined on height 12 stored after B was
	// credited counts here.
	add(round(h.c, 15, 12, h.carried, events.ShareTally{MinerID: h.bob, Address: h.bobAddr, Shares: 2, Difficulty: 20}),
		events.LateSharesCounted{Network: net, BlockHash: h.c, Height: 15, At: t0.Add(time.Hour),
			Shares: []events.LateShare{{SolutionID: uuid.New(), MinerID: h.bob, MinedHeight: 12, Difficulty: 10, MissedBlock: h.b}}},
		matured(h.c, 15),
		credit(h.c, 15, h.bob, h.bobAddr, 2, 2, reward-fee+h.carried),
		feeOf(h.c, 15))
	// D: no share, the finder is known: the miners' part is the finder's.
	add(round(h.d, 20, 15, 0), matured(h.d, 20),
		events.RoundEmpty{Network: net, BlockHash: h.d, Height: 20, Outcome: events.EmptyRoundToFinder, FinderMinerID: h.bob, Address: h.bobAddr,
			AmountSat: reward - fee, At: t0.Add(time.Hour)},
		credit(h.d, 20, h.bob, h.bobAddr, 0, 0, reward-fee),
		feeOf(h.d, 20))
	return h
}

// The three new events fold on every dialect, whether a batch holds one
// event (every column merged by SQL) or all of them (merged in Go).
func TestFold_RoundsByHeight(t *testing.T) {
	h := newRoundsHistory()
	for _, tt := range targets {
		for _, batch := range []int{1, 1000} {
			t.Run(tt.name+"/"+map[int]string{1: "one-by-one", 1000: "one-batch"}[batch], func(t *testing.T) {
				t.Parallel()
				db := tt.open(t)
				cp := applyAll(t, db, envelopes(t, 1, h.evs...), batch)
				if cp != uint64(len(h.evs)) {
					t.Fatalf("checkpoint %d, want %d: an event was not folded", cp, len(h.evs))
				}
				checkRounds(t, db, h)
			})
		}
	}
}

func checkRounds(t *testing.T, db *projections.DB, h *roundsHistory) {
	t.Helper()
	ctx := context.Background()
	r := projections.NewReader(db.SQL, db.Dialect)
	block := func(hash string) projections.Block {
		t.Helper()
		b, err := r.Block(ctx, "test", hash)
		if err != nil {
			t.Fatalf("block %s: %v", hash[:4], err)
		}
		return b
	}

	old := block(h.old)
	if old.RoundByHeight() || old.RoundOpen() || old.RoundShares != 3 || old.Status != "pending" {
		t.Errorf("block of the earlier rule: %+v", old)
	}
	open := block(h.open)
	if !open.RoundByHeight() || !open.RoundOpen() || open.RoundShares != 0 || open.Status != "pending" || open.FeeKnown {
		t.Errorf("pending block by height: want its round open: %+v", open)
	}
	a := block(h.a)
	if a.RoundOpen() || !a.RoundByHeight() || a.Status != "matured" || a.RoundShares != 4 || a.RoundMiners != 2 ||
		a.RoundClosedAt.IsZero() || a.RoundFromHeight != 0 || a.CreditedSat+a.FeeSat != a.RewardSat || !a.FeeKnown || a.FeeBps != 100 ||
		a.EmptyOutcome != "" {
		t.Errorf("block A: %+v", a)
	}
	b := block(h.b)
	if b.EmptyOutcome != events.EmptyRoundCarried || b.EmptySat != h.carried || b.CreditedSat != 0 || b.FeeSat != b.RewardSat/100 ||
		b.LateCountedLater != 1 || b.RoundFromHeight != 10 || b.RoundOpen() {
		t.Errorf("block B (empty, carried): %+v", b)
	}
	c := block(h.c)
	if c.CarriedInSat != h.carried || c.LateShares != 1 || c.RoundFromHeight != 12 || c.EmptyOutcome != "" ||
		c.CreditedSat+c.FeeSat != c.RewardSat+h.carried {
		t.Errorf("block C (carry in, a late share): %+v", c)
	}
	d := block(h.d)
	if d.EmptyOutcome != events.EmptyRoundToFinder || d.EmptySat != d.RewardSat-d.FeeSat || d.CreditedSat != d.EmptySat || d.FeeBps != 100 {
		t.Errorf("block D (empty, to the finder): %+v", d)
	}

	p, err := r.Pool(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !p.PolicyKnown() || p.PolicyScheme != events.SchemePROP || p.FeeBps != 100 || p.PPLNSWindow != 0 || p.PolicyAt.IsZero() {
		t.Errorf("pool policy: the last PoolPolicySet is in force: %+v", p)
	}
	if p.EmptyRounds != 2 || p.EmptyFinderSat != d.EmptySat || p.CarriedSat != 0 || p.LateShares != 1 {
		t.Errorf("pool empty rounds, carry, late shares: %+v", p)
	}
	if p.CreditedSat != h.credited || p.FeeSat != h.feeSum || p.CreditedSat+p.FeeSat+p.CarriedSat != h.rewards {
		t.Errorf("pool: credited %d + fee %d + carried %d != matured rewards %d", p.CreditedSat, p.FeeSat, p.CarriedSat, h.rewards)
	}
	if p.Miners != 2 {
		t.Errorf("pool miners %d, want 2 (the carry account is not a miner)", p.Miners)
	}

	// The carry account never shows as a miner: no miners row, its ledger
	// sums to its balance (in, then out).
	carry := events.CarryAccountID("test")
	miners := "miners"
	if db.Dialect == projections.Postgres {
		miners = projections.PostgresSchema + ".miners"
	}
	var n int
	q := "SELECT count(*) FROM " + miners + " WHERE miner_id = ?"
	if db.Dialect == projections.Postgres {
		q = strings.Replace(q, "?", "$1", 1)
	}
	if err := db.SQL.QueryRowContext(ctx, q, db.Dialect.Arg(carry)).Scan(&n); err != nil || n != 0 {
		t.Errorf("the carry account has %d miners rows (%v)", n, err)
	}
	entries, err := r.Ledger(ctx, "test", carry, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	kinds := map[string]int64{}
	for _, e := range entries {
		sum += e.AmountSat
		kinds[e.Kind] += e.AmountSat
	}
	if len(entries) != 2 || sum != 0 || kinds["carry_in"] != h.carried || kinds["carry_out"] != -h.carried {
		t.Errorf("carry account ledger: %+v", entries)
	}
	// The finder of an empty round is told why the whole part is theirs.
	bob, err := r.Ledger(ctx, "test", h.bob, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range bob {
		found = found || (e.BlockHash == h.d && strings.Contains(e.Note, "had no share"))
	}
	if !found {
		t.Errorf("finder's ledger lacks the empty round's note: %+v", bob)
	}
	if m, err := r.Miner(ctx, "test", h.bobAddr); err != nil || m.BalanceSat != m.CreditedSat || m.CreditedSat != 247_500_000+2*(1_000_000_000-10_000_000)+h.carried {
		t.Errorf("bob: %+v, %v", m, err)
	}
}

// A fee of 0 recorded after a fee is in force: the fee in force is 0.
func TestFold_PoolPolicyZeroFee(t *testing.T) {
	for _, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := tt.open(t)
			t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			applyAll(t, db, envelopes(t, 1,
				events.PoolPolicySet{Network: "main", FeeBps: 100, Scheme: events.SchemePPLNS, PPLNSWindow: 10_000, At: t0},
				events.PoolPolicySet{Network: "main", FeeBps: 0, Scheme: events.SchemePPLNS, PPLNSWindow: 10_000, At: t0.Add(time.Hour)},
				events.MinerRegistered{Network: "main", MinerID: uuid.New(), Address: "B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH", At: t0.Add(2 * time.Hour)},
			), 1)
			p, err := projections.NewReader(db.SQL, db.Dialect).Pool(context.Background(), "main")
			if err != nil || p.FeeBps != 0 || p.PolicyScheme != events.SchemePPLNS || p.PPLNSWindow != 10_000 || !p.PolicyAt.Equal(t0.Add(time.Hour)) {
				t.Fatalf("pool %+v, %v: want the fee of 0 in force", p, err)
			}
		})
	}
}

// The new types are handled, not skipped as unknown: a fold counts them
// and changes rows for each.
func TestFold_NewTypesAreHandled(t *testing.T) {
	for _, e := range []events.Event{
		events.PoolPolicySet{Network: "main", FeeBps: 100, Scheme: events.SchemePROP},
		events.LateSharesCounted{Network: "main", BlockHash: "x", Height: 2, Shares: []events.LateShare{{MinerID: uuid.New(), MinedHeight: 1}}},
		events.RoundEmpty{Network: "main", BlockHash: "x", Height: 2, Outcome: events.EmptyRoundCarried, AmountSat: 5},
	} {
		ch := projections.NewChanges(nil)
		if err := ch.Fold(context.Background(), envelopes(t, 1, e)); err != nil {
			t.Fatalf("%s: %v", e.EventType(), err)
		}
		if ch.Events != 1 || ch.Rows() == 0 {
			t.Errorf("%s: folded %d events into %d rows: the type is skipped", e.EventType(), ch.Events, ch.Rows())
		}
	}
}
