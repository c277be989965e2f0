package aggregates_test

import (
	"errors"
	"testing"
	"testing/quick"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
)

func TestSplitFee(t *testing.T) {
	items := func(amounts ...int64) []events.PayoutItem {
		out := make([]events.PayoutItem, len(amounts))
		for i, a := range amounts {
			out[i] = events.PayoutItem{MinerID: uid(string(rune('a' + i))), Address: string(rune('A' + i)), AmountSat: a}
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		items []events.PayoutItem
		fee   int64
		want  []int64
	}{
		{"no fee", items(100, 200), 0, []int64{100, 200}},
		{"proportional", items(100, 300), 40, []int64{90, 270}},
		// 10 × 1/3 each = 3.33…: 3 each, the satoshi left over goes to the
		// first of the equal remainders.
		{"largest remainder, ties to the earlier item", items(1, 1, 1), 2, []int64{0, 0, 0}},
		{"one sat left", items(1000, 1000, 1000), 10, []int64{996, 997, 997}},
		{"remainder to the larger fraction", items(5, 7), 3, []int64{4, 5}},
		{"huge amounts do not overflow", items(9_000_000_000_000_000, 100_000_000), 1_000_000, []int64{9_000_000_000_000_000 - 1_000_000, 100_000_000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := aggregates.SplitFee(tc.items, tc.fee)
			if tc.want[0] == 0 {
				if !errors.Is(err, aggregates.ErrInvalid) {
					t.Fatalf("SplitFee = %v, %v; want an error (an item left with nothing)", got, err)
				}
				return
			}
			mustNoErr(t, err)
			for i := range got {
				if got[i].AmountSat != tc.want[i] || got[i].MinerID != tc.items[i].MinerID {
					t.Fatalf("SplitFee = %+v, want amounts %v", got, tc.want)
				}
			}
		})
	}
	// Property: sends + fee == total, each send within [amount − fee, amount].
	prop := func(a, b, c uint32, fee uint16) bool {
		its := items(int64(a)+100_000, int64(b)+100_000, int64(c)+100_000)
		got, err := aggregates.SplitFee(its, int64(fee))
		if err != nil {
			return false
		}
		var sum, total int64
		for i := range got {
			sum += got[i].AmountSat
			total += its[i].AmountSat
			if got[i].AmountSat > its[i].AmountSat || got[i].AmountSat < its[i].AmountSat-int64(fee) {
				return false
			}
		}
		return sum+int64(fee) == total
	}
	if err := quick.Check(prop, nil); err != nil {
		t.Fatal(err)
	}
}

func TestSignedPayoutLifecycle(t *testing.T) {
	planned := events.PayoutPlanned{Network: "main", PayoutID: uid("p"), TotalSat: 3000, At: t0, Items: []events.PayoutItem{
		{MinerID: uid("a"), Address: "A", AmountSat: 1000}, {MinerID: uid("b"), Address: "B", AmountSat: 2000}}}
	p := aggregates.Payout{}.Apply(planned)
	sends, err := aggregates.SplitFee(planned.Items, 30)
	mustNoErr(t, err)
	signed := events.PayoutSigned{TxID: "tx1", Hex: "00", Inputs: []events.OutPoint{{TxID: "in", Vout: 0}}, FeeSat: 30, Sends: sends, At: t0}

	// Sends that are not the fee split are refused.
	bad := signed
	bad.Sends = []events.PayoutItem{sends[1], sends[0]}
	if _, err := aggregates.DecidePayoutSigned(p, bad); !errors.Is(err, aggregates.ErrInvalid) {
		t.Fatalf("sends out of order: %v", err)
	}
	evs, err := aggregates.DecidePayoutSigned(p, signed)
	mustNoErr(t, err)
	if s := evs[0].(events.PayoutSigned); s.Attempt != 1 || s.PayoutID != planned.PayoutID {
		t.Fatalf("signed %+v", s)
	}
	p = p.Apply(evs[0])
	if p.Settled() || p.Status != aggregates.PayoutSignedStatus {
		t.Fatalf("status %q", p.Status)
	}
	// Signing again: the same transaction is nothing new, another is refused.
	if evs, err := aggregates.DecidePayoutSigned(p, signed); err != nil || len(evs) != 0 {
		t.Fatalf("same signature again: %v %v", evs, err)
	}
	other := signed
	other.TxID = "tx2"
	if _, err := aggregates.DecidePayoutSigned(p, other); !errors.Is(err, aggregates.ErrConflict) {
		t.Fatalf("second signature: %v", err)
	}
	// A signed payout never fails or halts, and is sent only in its own tx.
	if _, err := aggregates.DecidePayoutFailed(p, "x", false, t0); !errors.Is(err, aggregates.ErrConflict) {
		t.Fatalf("failed: %v", err)
	}
	if _, err := aggregates.DecidePayoutHalted(p, "x", t0); !errors.Is(err, aggregates.ErrConflict) {
		t.Fatalf("halted: %v", err)
	}
	if _, err := aggregates.DecidePayoutSent(p, "tx2", 30, false, t0); !errors.Is(err, aggregates.ErrConflict) {
		t.Fatalf("sent in another tx: %v", err)
	}
	// Dead: planned again, attempt 2 signs a new transaction.
	evs, err = aggregates.DecidePayoutTxDead(p, "tx1", "in:0", "spent", t0)
	mustNoErr(t, err)
	p = p.Apply(evs[0])
	if p.Status != aggregates.PayoutPlanned || p.Attempts() != 1 {
		t.Fatalf("after dead: %q attempts %d", p.Status, p.Attempts())
	}
	if evs, err := aggregates.DecidePayoutTxDead(p, "tx1", "in:0", "spent", t0); err != nil || len(evs) != 0 {
		t.Fatalf("dead again: %v %v", evs, err)
	}
	evs, err = aggregates.DecidePayoutSigned(p, other)
	mustNoErr(t, err)
	if evs[0].(events.PayoutSigned).Attempt != 2 {
		t.Fatalf("attempt %d", evs[0].(events.PayoutSigned).Attempt)
	}
	p = p.Apply(evs[0])
	evs, err = aggregates.DecidePayoutSent(p, "tx2", 999, false, t0)
	mustNoErr(t, err)
	if evs[0].(events.PayoutSent).FeeSat != 30 {
		t.Fatalf("fee of the sent payout %d, want the signed 30", evs[0].(events.PayoutSent).FeeSat)
	}
	p = p.Apply(evs[0])
	// Correction: only of the recorded tx, with a reason.
	if _, err := aggregates.DecidePayoutCorrected(p, "tx1", "wrong", t0); !errors.Is(err, aggregates.ErrConflict) {
		t.Fatalf("correct another tx: %v", err)
	}
	if _, err := aggregates.DecidePayoutCorrected(p, "tx2", " ", t0); !errors.Is(err, aggregates.ErrInvalid) {
		t.Fatalf("correct without a reason: %v", err)
	}
	evs, err = aggregates.DecidePayoutCorrected(p, "tx2", "pays another payout", t0)
	mustNoErr(t, err)
	if !p.Apply(evs[0]).Settled() {
		t.Fatal("a corrected payout is settled")
	}
}

func TestLedgerCorrectionReturnsTheAmounts(t *testing.T) {
	l := aggregates.NewLedger(aggregates.LedgerConfig{})
	planned := events.PayoutPlanned{Network: "main", PayoutID: uid("p"), TotalSat: 1000, At: t0,
		Items: []events.PayoutItem{{MinerID: uid("a"), Address: "A", AmountSat: 1000}}}
	for i, e := range []events.Event{events.MinerCredited{Network: "main", BlockHash: "b", MinerID: uid("a"), Address: "A", AmountSat: 1000},
		planned,
		events.PayoutSent{Network: "main", PayoutID: uid("p"), TxID: "tx", At: t0},
		events.PayoutCorrected{Network: "main", PayoutID: uid("p"), TxID: "tx", Reason: "pays another payout", At: t0}} {
		l.ApplyEvent(uint64(i+1), e)
	}
	n := l.Network("main")
	if n.Balances[uid("a")] != 1000 || n.Paid[uid("a")] != 0 {
		t.Fatalf("balance %d paid %d, want 1000 and 0", n.Balances[uid("a")], n.Paid[uid("a")])
	}
}
