package web_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/http/web"
	"github.com/purepool/purepool/projections"
)

// heightRounds is a small history under the rounds by height on main: a
// policy of 1.5 % PROP (the configuration says 1 %: the recorded policy
// is the one in force), a credited round, an empty round carried, a round
// that takes the carry with a late share, an empty round for its finder, a
// block of the earlier rule, a pending block (round open) and a last empty
// round carried (the carry account holds it).
type heightRounds struct {
	evs                                 []events.Event
	credited, emptyCarried, finder, old string
	open, lateIn, carriedNow            string
	alice, bob                          string
	carried                             int64
}

func newHeightRounds() *heightRounds {
	const net, reward, fee = "main", 1_000_000_000, 15_000_000
	nw, _ := biblepay.LookupNetwork(net)
	h := &heightRounds{
		credited: strings.Repeat("a1", 32), emptyCarried: strings.Repeat("b2", 32), lateIn: strings.Repeat("c3", 32),
		finder: strings.Repeat("d4", 32), old: strings.Repeat("e5", 32), open: strings.Repeat("f6", 32), carriedNow: strings.Repeat("a7", 32),
		alice: nw.Address([20]byte{1}), bob: nw.Address([20]byte{2}),
	}
	alice, bob := uuid.New(), uuid.New()
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	at := t0.Add(2 * time.Hour)
	add := func(e ...events.Event) { h.evs = append(h.evs, e...) }
	disc := func(hash string, height int64, finder uuid.UUID, rule string) {
		add(events.BlockDiscovered{Network: net, Height: height, Hash: hash, FinderMinerID: finder, Recipient: "pool",
			RewardSat: reward, BlockTime: t0, RoundRule: rule, At: t0.Add(time.Duration(height) * time.Minute)})
	}
	round := func(hash string, height, from, carriedIn int64, shares ...events.ShareTally) events.Event {
		var n, d int64
		for _, s := range shares {
			n, d = n+s.Shares, d+s.Difficulty
		}
		return events.RoundClosed{Network: net, RoundID: uuid.New(), BlockHash: hash, Height: height, Scheme: events.SchemePROP,
			Shares: shares, TotalShares: n, TotalDifficulty: d, Rule: events.RoundRuleHeight, FromHeight: from, CarriedInSat: carriedIn, At: at}
	}
	matured := func(hash string, height int64) events.Event {
		return events.BlockMatured{Network: net, Hash: hash, Height: height, RewardSat: reward, Confirmations: 101, At: at}
	}
	feeOf := func(hash string, height int64) events.Event {
		return events.FeeCredited{Network: net, AccountID: events.FeeAccountID(net), BlockHash: hash, Height: height, FeeBps: 150, AmountSat: fee, At: at}
	}
	credit := func(hash string, height int64, id uuid.UUID, addr string, n, amount int64) events.Event {
		return events.MinerCredited{Network: net, MinerID: id, Address: addr, BlockHash: hash, Height: height, RewardSat: reward, FeeSat: fee,
			RoundShares: n, RoundDifficulty: n, MinerShares: n, MinerDifficulty: n, AmountSat: amount, At: at}
	}
	h.carried = reward - fee

	add(events.PoolPolicySet{Network: net, FeeBps: 150, Scheme: events.SchemePROP, At: t0},
		events.MinerRegistered{Network: net, MinerID: alice, Address: h.alice, At: t0},
		events.MinerRegistered{Network: net, MinerID: bob, Address: h.bob, At: t0})
	disc(h.old, 5, alice, events.RoundRulePosition)
	add(events.RoundClosed{Network: net, RoundID: uuid.New(), BlockHash: h.old, Height: 5, Scheme: events.SchemePROP,
		Shares: []events.ShareTally{{MinerID: alice, Address: h.alice, Shares: 3, Difficulty: 3}}, TotalShares: 3, TotalDifficulty: 3, ToPosition: 4, At: t0})
	disc(h.credited, 10, alice, events.RoundRuleHeight)
	disc(h.emptyCarried, 12, uuid.Nil, events.RoundRuleHeight)
	disc(h.lateIn, 15, bob, events.RoundRuleHeight)
	disc(h.finder, 20, bob, events.RoundRuleHeight)
	disc(h.carriedNow, 25, uuid.Nil, events.RoundRuleHeight)
	disc(h.open, 30, alice, events.RoundRuleHeight)
	add(round(h.credited, 10, 0, 0, events.ShareTally{MinerID: alice, Address: h.alice, Shares: 4, Difficulty: 4}),
		matured(h.credited, 10), credit(h.credited, 10, alice, h.alice, 4, reward-fee), feeOf(h.credited, 10))
	add(round(h.emptyCarried, 12, 10, 0), matured(h.emptyCarried, 12),
		events.RoundEmpty{Network: net, BlockHash: h.emptyCarried, Height: 12, Outcome: events.EmptyRoundCarried, AmountSat: h.carried, At: at},
		feeOf(h.emptyCarried, 12))
	add(round(h.lateIn, 15, 12, h.carried, events.ShareTally{MinerID: bob, Address: h.bob, Shares: 2, Difficulty: 2}),
		events.LateSharesCounted{Network: net, BlockHash: h.lateIn, Height: 15, At: at,
			Shares: []events.LateShare{{SolutionID: uuid.New(), MinerID: bob, MinedHeight: 12, Difficulty: 1, MissedBlock: h.emptyCarried}}},
		matured(h.lateIn, 15), credit(h.lateIn, 15, bob, h.bob, 2, reward-fee+h.carried), feeOf(h.lateIn, 15))
	add(round(h.finder, 20, 15, 0), matured(h.finder, 20),
		events.RoundEmpty{Network: net, BlockHash: h.finder, Height: 20, Outcome: events.EmptyRoundToFinder, FinderMinerID: bob, Address: h.bob, AmountSat: reward - fee, At: at},
		credit(h.finder, 20, bob, h.bob, 0, reward-fee), feeOf(h.finder, 20))
	add(round(h.carriedNow, 25, 20, 0), matured(h.carriedNow, 25),
		events.RoundEmpty{Network: net, BlockHash: h.carriedNow, Height: 25, Outcome: events.EmptyRoundCarried, AmountSat: h.carried, At: at},
		feeOf(h.carriedNow, 25))
	return h
}

func newRoundsFixture(t *testing.T, i int) (*fixture, *heightRounds) {
	t.Helper()
	writer, ro := readModels[i].open(t)
	h := newHeightRounds()
	var envs []events.Envelope
	for i, e := range h.evs {
		ne, err := events.New(uuid.New(), e, events.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, events.Envelope{ID: ne.ID, Position: uint64(i + 1), Stream: "s", Type: ne.Type,
			SchemaVersion: ne.SchemaVersion, Data: ne.Data, RecordedAt: time.Now().UTC()})
	}
	if cp, err := writer.ApplyBatch(context.Background(), 0, envs); err != nil || cp != uint64(len(envs)) {
		t.Fatalf("project: %d, %v", cp, err)
	}
	now := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	wh, err := web.NewHandler(web.Config{
		Networks: map[string]web.Network{"main": {PoolURL: "https://pool.example.org", MinPayoutSat: 100_000_000, FeeBps: 100}},
		Now:      func() time.Time { return now },
	}, projections.NewReader(ro, writer.Dialect))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(wh)
	t.Cleanup(srv.Close)
	return &fixture{now: now, srv: srv, web: wh}, h
}

// The website shows how each round was made, an open round, empty rounds,
// late shares, the carry and the fee in force, and explains the rules.
func TestPages_RoundsByHeight(t *testing.T) {
	for i, rm := range readModels {
		t.Run(rm.name, func(t *testing.T) {
			t.Parallel()
			f, h := newRoundsFixture(t, i)
			tests := []struct {
				path string
				want []string
				not  []string
			}{
				{"/main/blocks", []string{"/main/block/" + h.open, "open</span>", "decided at maturity", "by position", "3 shares",
					"no share</span> · to the finder", "no share</span> · carried to the next round", "1 late", "1 counted later",
					"+" + bbpText(h.carried) + " carried in"}, nil},
				{"/main/block/" + h.open, []string{"The round is <strong>open</strong>", "decided when the block matures"}, []string{`id="fee"`}},
				{"/main/block/" + h.lateIn, []string{"shares mined on heights 13 to 15", `<td id="late">1 `, bbpText(h.carried) + " <span",
					`(1.50% of the reward)`}, nil},
				{"/main/block/" + h.emptyCarried, []string{`<td id="late-out">1 `, "is carried to the next round with shares", "None of it went to the pool"}, nil},
				{"/main/block/" + h.finder, []string{"went to the finder", "None of it went to the pool"}, nil},
				{"/main/block/" + h.old, []string{"made by position", "an earlier release"}, nil},
				{"/main/howtojoin", []string{"counts for the height it was mined on", "judged as of its arrival", "keep their verdict",
					"decided when the block matures", "found the block always counts in its round", "counts in the next round",
					"exactly 1.50% of every block", "(PROP)", "carried into the next round with shares", "None of it goes to the pool",
					"The pool fee is 1.50% of each block."}, []string{"1.00%"}},
				{"/main/statistics", []string{`id="scheme">PROP<`, `id="fee">1.50%<`, `id="empty-rounds">3<`,
					`id="carried">` + bbpText(h.carried) + "<", "owed to miners, not the pool", `id="payment-scheme"`}, nil},
				{"/main/miner/" + h.bob, []string{"had no share"}, nil},
			}
			for _, tt := range tests {
				status, body, _ := f.get(t, tt.path)
				if status != 200 {
					t.Fatalf("%s: status %d: %.300s", tt.path, status, body)
				}
				for _, w := range tt.want {
					if !strings.Contains(body, w) {
						t.Errorf("%s lacks %q", tt.path, w)
					}
				}
				for _, w := range tt.not {
					if strings.Contains(body, w) {
						t.Errorf("%s shows %q", tt.path, w)
					}
				}
			}
			if status, body, _ := f.get(t, "/main/block/nosuchblock"); status != 404 || !strings.Contains(body, "no pool block") {
				t.Errorf("unknown block: %d %.200s", status, body)
			}
			// The carry account is no miner: it has no page and is not counted.
			carry := events.CarryAccountID("main").String()
			if _, body, _ := f.get(t, "/main/"); !strings.Contains(body, `id="miners-total">2<`) || strings.Contains(body, carry) {
				t.Errorf("home: the pool has 2 miners: %.2000s", body)
			}
		})
	}
}

func TestAPI_RoundsByHeight(t *testing.T) {
	f, h := newRoundsFixture(t, 0)
	var open, late, empty, old web.APIBlock
	getJSON(t, f, "/main/api/blocks/"+h.open, &open)
	getJSON(t, f, "/main/api/blocks/"+h.lateIn, &late)
	getJSON(t, f, "/main/api/blocks/"+h.emptyCarried, &empty)
	getJSON(t, f, "/main/api/blocks/"+h.old, &old)
	if open.RoundRule != "height" || !open.RoundOpen || open.FeeBps != nil {
		t.Errorf("open block: %+v", open)
	}
	if late.RoundOpen || late.LateShares != 1 || late.CarriedInSat != h.carried || late.RoundFromHeight != 12 || late.FeeBps == nil || *late.FeeBps != 150 {
		t.Errorf("block with a late share and the carry: %+v", late)
	}
	if empty.EmptyOutcome != "carried" || empty.EmptySat != h.carried || empty.LateCountedLater != 1 || empty.CreditedSat != 0 {
		t.Errorf("empty block: %+v", empty)
	}
	if old.RoundRule != "position" || old.RoundOpen || old.RoundShares != 3 {
		t.Errorf("block of the earlier rule: %+v", old)
	}
	var pool web.APIPool
	getJSON(t, f, "/main/api/pool", &pool)
	if pool.Scheme != "PROP" || pool.FeeBps == nil || *pool.FeeBps != 150 || pool.EmptyRounds != 3 || pool.CarriedSat != h.carried ||
		pool.LateShares != 1 || pool.Miners != 2 {
		t.Errorf("pool: %+v", pool)
	}
}
