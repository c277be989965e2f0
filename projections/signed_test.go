package projections_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/projections"
)

// signedHistory is a log of signed payouts on network "test":
//
//	A  planned with an anchor (size 3); signed (tx1), tx1 dead, signed
//	   again (tx2, attempt 2), sent, confirmed: the latest public anchor
//	B  planned (an earlier release: no anchor), sent by sendmany in txB,
//	   corrected: txB does not pay it, the amounts come back
//	C  planned with a larger anchor (size 9), signed (tx3) only: not
//	   public yet, so not the latest public anchor
type signedHistory struct {
	evs                     []events.Event
	pool, a, b, c           uuid.UUID
	alice, bob              uuid.UUID
	aliceAddr, bobAddr      string
	tx1, tx2, tx3, txB      string
	items                   []events.PayoutItem
	sends1, sends2, sends3  []events.PayoutItem
	credited                int64
	afterDead, afterSigned2 int // events up to and including them
	t0                      time.Time
}

const signedNet = "test"

func hex64(c string) string { return strings.Repeat(c, 64) }

func newSignedHistory(t *testing.T) *signedHistory {
	t.Helper()
	h := &signedHistory{pool: uuid.New(), a: uuid.New(), b: uuid.New(), c: uuid.New(), alice: uuid.New(), bob: uuid.New(),
		aliceAddr: "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci", bobAddr: "yLKSrCjLQFsfVgX8RjdctZ797d54atPjnV",
		tx1: hex64("1"), tx2: hex64("2"), tx3: hex64("3"), txB: hex64("b"), t0: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	at := func(m int) time.Time { return h.t0.Add(time.Duration(m) * time.Minute) }
	add := func(e ...events.Event) { h.evs = append(h.evs, e...) }
	split := func(fee int64) []events.PayoutItem {
		s, err := aggregates.SplitFee(h.items, fee)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	anchor := func(size uint64, c string) *events.LogAnchor {
		return &events.LogAnchor{Size: size, Root: hex64(c), Hash: hex64(string(rune(c[0] + 1)))}
	}
	add(events.PoolInstalled{PoolID: h.pool, At: at(0)})
	for i, m := range []struct {
		id   uuid.UUID
		addr string
	}{{h.alice, h.aliceAddr}, {h.bob, h.bobAddr}} {
		amount := int64(9_000_000_000 + i*1_000_000_000)
		h.credited += amount
		add(events.MinerCredited{Network: signedNet, MinerID: m.id, Address: m.addr, BlockHash: hex64("e"), Height: 10, RewardSat: amount,
			RoundShares: 2, RoundDifficulty: 2, MinerShares: 1, MinerDifficulty: 1, AmountSat: amount, At: at(1)})
	}
	h.items = []events.PayoutItem{{MinerID: h.alice, Address: h.aliceAddr, AmountSat: 3_000_000_001}, {MinerID: h.bob, Address: h.bobAddr, AmountSat: 1_000_000_000}}
	total := int64(4_000_000_001)
	h.sends1, h.sends2, h.sends3 = split(2260), split(4519), split(3001)
	in := []events.OutPoint{{TxID: hex64("f"), Vout: 1}}
	add(
		events.PayoutPlanned{Network: signedNet, PayoutID: h.a, Items: h.items, TotalSat: total, PoolID: h.pool, Anchor: anchor(3, "a"), At: at(2)},
		events.PayoutSigned{Network: signedNet, PayoutID: h.a, TxID: h.tx1, Hex: "0100", Inputs: in, FeeSat: 2260, Sends: h.sends1, Attempt: 1, At: at(3)},
		events.PayoutTxDead{Network: signedNet, PayoutID: h.a, TxID: h.tx1, SpentInput: hex64("f") + ":1", Reason: "input spent by another transaction", At: at(4)},
	)
	h.afterDead = len(h.evs)
	add(events.PayoutSigned{Network: signedNet, PayoutID: h.a, TxID: h.tx2, Hex: "0100", Inputs: append(in, events.OutPoint{TxID: hex64("9")}), FeeSat: 4519,
		Sends: h.sends2, Attempt: 2, At: at(5)})
	h.afterSigned2 = len(h.evs)
	add(
		events.PayoutSent{Network: signedNet, PayoutID: h.a, TxID: h.tx2, FeeSat: 4519, At: at(6)},
		events.PayoutConfirmed{Network: signedNet, PayoutID: h.a, TxID: h.tx2, Confirmations: 6, At: at(7)},

		events.PayoutPlanned{Network: signedNet, PayoutID: h.b, Items: h.items, TotalSat: total, At: at(8)},
		events.PayoutSent{Network: signedNet, PayoutID: h.b, TxID: h.txB, FeeSat: 2260, Reconciled: true, At: at(9)},
		events.PayoutCorrected{Network: signedNet, PayoutID: h.b, TxID: h.txB, Reason: "reconciled with another payout's transaction", At: at(10)},

		events.PayoutPlanned{Network: signedNet, PayoutID: h.c, Items: h.items, TotalSat: total, PoolID: h.pool, Anchor: anchor(9, "c"), At: at(11)},
		events.PayoutSigned{Network: signedNet, PayoutID: h.c, TxID: h.tx3, Hex: "0100", Inputs: in, FeeSat: 3001, Sends: h.sends3, Attempt: 1, At: at(12)},
	)
	return h
}

func readPayout(t *testing.T, r *projections.Reader, id uuid.UUID) projections.Payout {
	t.Helper()
	p, err := r.Payout(context.Background(), signedNet, id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func checkSends(t *testing.T, what string, p projections.Payout, want []events.PayoutItem) {
	t.Helper()
	by := map[uuid.UUID]int64{}
	for _, s := range want {
		by[s.MinerID] = s.AmountSat
	}
	sum := p.FeeSat
	for _, it := range p.Items {
		if it.SentSat != by[it.MinerID] {
			t.Errorf("%s: %s gets %d on the chain, want %d", what, it.Address, it.SentSat, by[it.MinerID])
		}
		sum += it.SentSat
	}
	if len(want) > 0 && sum != p.TotalSat {
		t.Errorf("%s: sends + fee = %d, total %d", what, sum, p.TotalSat)
	}
}

// checkFinal is the read model after the whole signedHistory.
func (h *signedHistory) checkFinal(t *testing.T, r *projections.Reader) {
	t.Helper()
	ctx := context.Background()
	a := readPayout(t, r, h.a)
	if a.Status != "confirmed" || a.TxID != h.tx2 || a.FeeSat != 4519 || a.Attempts != 2 || a.PoolID != h.pool || !a.Settled() || a.Returned() ||
		a.Anchor == nil || a.Anchor.Size != 3 || a.Anchor.Root != hex64("a") || a.Anchor.Hash != hex64("b") {
		t.Errorf("payout A: %+v (anchor %+v)", a, a.Anchor)
	}
	if len(a.Transactions) != 2 || a.Transactions[0].TxID != h.tx1 || !a.Transactions[0].Dead() || a.Transactions[0].Attempt != 1 ||
		a.Transactions[0].SpentInput != hex64("f")+":1" || a.Transactions[0].DeadReason != "input spent by another transaction" || a.Transactions[0].FeeSat != 2260 ||
		a.Transactions[1].TxID != h.tx2 || a.Transactions[1].Dead() || a.Transactions[1].Attempt != 2 || a.Transactions[1].Inputs != 2 || a.Transactions[1].SignedAt.IsZero() {
		t.Errorf("payout A's transactions: %+v", a.Transactions)
	}
	if d := a.DeadTransactions(); len(d) != 1 || d[0].TxID != h.tx1 {
		t.Errorf("payout A's dead transactions: %+v", d)
	}
	checkSends(t, "payout A", a, h.sends2)

	b := readPayout(t, r, h.b)
	if b.Status != "corrected" || b.TxID != h.txB || !b.Settled() || !b.Returned() || b.FailedAt.IsZero() || b.Anchor != nil || b.PoolID != uuid.Nil ||
		b.Attempts != 0 || len(b.Transactions) != 0 || !strings.Contains(b.Reason, "reconciled with another payout's transaction") || !strings.Contains(b.Reason, h.txB) {
		t.Errorf("payout B: %+v", b)
	}
	checkSends(t, "payout B", b, nil)

	c := readPayout(t, r, h.c)
	if c.Status != "signed" || c.TxID != h.tx3 || c.FeeSat != 3001 || c.Attempts != 1 || c.Settled() || c.Anchor == nil || c.Anchor.Size != 9 {
		t.Errorf("payout C: %+v", c)
	}
	checkSends(t, "payout C", c, h.sends3)

	// The correction gave B's amounts back, with the reason, in each
	// recipient's ledger; A and C stay paid.
	paid := int64(0)
	for _, it := range h.items {
		paid += it.AmountSat
		entries, err := r.Ledger(ctx, signedNet, it.MinerID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		var corrected []projections.LedgerEntry
		for _, e := range entries {
			sum += e.AmountSat
			if e.Kind == "payout_corrected" {
				corrected = append(corrected, e)
			}
		}
		if len(corrected) != 1 || corrected[0].AmountSat != it.AmountSat || corrected[0].PayoutID != h.b ||
			!strings.Contains(corrected[0].Note, "reconciled with another payout's transaction") || !strings.Contains(corrected[0].Note, "corrected") {
			t.Errorf("%s: correction entries %+v", it.Address, corrected)
		}
		m, err := r.Miner(ctx, signedNet, it.Address)
		if err != nil {
			t.Fatal(err)
		}
		if m.PaidSat != 2*it.AmountSat || m.BalanceSat != m.CreditedSat-2*it.AmountSat || sum != m.BalanceSat {
			t.Errorf("%s: %+v, ledger sums to %d", it.Address, m, sum)
		}
	}
	pool, err := r.Pool(ctx, signedNet)
	if err != nil {
		t.Fatal(err)
	}
	if pool.PoolID != h.pool || pool.InstalledAt.IsZero() || pool.PaidSat != 2*paid || pool.Payouts != 3 || pool.CreditedSat != h.credited {
		t.Errorf("pool %+v, want pool id %s, paid %d", pool, h.pool, 2*paid)
	}
	// The latest public anchor is A's: C's larger head is only signed.
	an, found, err := r.LatestAnchor(ctx, signedNet)
	if err != nil || !found || an.Size != 3 || an.Root != hex64("a") || an.Hash != hex64("b") || an.TxID != h.tx2 || an.PayoutID != h.a ||
		an.Status != "confirmed" || an.Confirmations != 6 {
		t.Errorf("latest anchor %+v, %v, %v", an, found, err)
	}
	if _, found, err := r.LatestAnchor(ctx, "main"); found || err != nil {
		t.Errorf("another network has no anchor: %v, %v", found, err)
	}
	// A signature is a change the live stream sees.
	ps, err := r.PayoutsSince(ctx, signedNet, h.t0.Add(11*time.Minute), 10)
	if err != nil || len(ps) != 1 || ps[0].PayoutID != h.c || ps[0].Status != "signed" || ps[0].TxID != h.tx3 {
		t.Errorf("payouts changed after C was planned: %+v, %v", ps, err)
	}
}

// Signed payouts, dead transactions, a correction and the anchors fold
// the same event by event, in one batch, and by a rebuild from the log.
func TestProjection_SignedPayouts(t *testing.T) {
	h := newSignedHistory(t)
	for _, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			envs := envelopes(t, 1, h.evs...)

			// Event by event, each its own batch: the SQL merges.
			db := tt.open(t)
			r := projections.NewReader(db.SQL, db.Dialect)
			cp := applyAll(t, db, envs[:h.afterDead], 1)
			a := readPayout(t, r, h.a)
			if a.Status != "planned" || a.TxID != "" || a.FeeSat != 0 || a.Attempts != 1 || len(a.DeadTransactions()) != 1 || a.Settled() {
				t.Errorf("after its transaction died, payout A: %+v", a)
			}
			checkSends(t, "payout A, dead", a, nil)
			if _, found, err := r.LatestAnchor(ctx, signedNet); found || err != nil {
				t.Errorf("nothing sent yet, yet an anchor: %v %v", found, err)
			}
			for i := h.afterDead; i < h.afterSigned2; i++ {
				if cp, _ = db.ApplyBatch(ctx, cp, envs[i:i+1]); cp != uint64(i+1) {
					t.Fatalf("checkpoint %d", cp)
				}
			}
			a = readPayout(t, r, h.a)
			if a.Status != "signed" || a.TxID != h.tx2 || a.FeeSat != 4519 || a.Attempts != 2 {
				t.Errorf("signed again, payout A: %+v", a)
			}
			checkSends(t, "payout A, signed again", a, h.sends2)
			for i := h.afterSigned2; i < len(envs); i++ {
				if cp, _ = db.ApplyBatch(ctx, cp, envs[i:i+1]); cp != uint64(i+1) {
					t.Fatalf("checkpoint %d", cp)
				}
			}
			h.checkFinal(t, r)

			// One batch: the fold merges in memory.
			db = tt.open(t)
			applyAll(t, db, envs, len(envs))
			h.checkFinal(t, projections.NewReader(db.SQL, db.Dialect))

			// A rebuild from the log reproduces it (bulk load, new generation).
			store := newEventStore(t)
			load(t, store, &ledgergen.History{Envelopes: envs}, 0, len(envs))
			if _, err := db.Rebuild(ctx, store, projections.RebuildOptions{Progress: io.Discard}); err != nil {
				t.Fatal(err)
			}
			h.checkFinal(t, projections.NewReader(db.SQL, db.Dialect))
		})
	}
}
