package aggregates_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
)

func TestDecidePlanPayout(t *testing.T) {
	s := aggregates.PayoutSchedule{Network: "main"}
	cands := []aggregates.PayoutCandidate{
		{MinerID: uid("a"), Address: "A", BalanceSat: 500},
		{MinerID: uid("b"), Address: "B", BalanceSat: 1500},
		{MinerID: uid("c"), Address: "C", BalanceSat: 1000},
		{MinerID: uid("d"), Address: "D", BalanceSat: 1000},
		{MinerID: events.FeeAccountID("main"), Address: "F", BalanceSat: 9999},
		{MinerID: uid("e"), Address: "", BalanceSat: 5000},
	}
	pol := aggregates.PayoutPolicy{MinPayoutSat: 1000, MaxRecipients: 2}
	id := aggregates.PayoutID("main", 0)
	evs, err := aggregates.DecidePlanPayout(s, nil, cands, pol, id, t0)
	mustNoErr(t, err)
	p := evs[0].(events.PayoutPlanned)
	cd := uid("c")
	if uid("d").String() < cd.String() {
		cd = uid("d")
	}
	if len(p.Items) != 2 || p.Items[0].MinerID != uid("b") || p.Items[1].MinerID != cd || p.TotalSat != 2500 {
		t.Fatalf("planned %+v", p)
	}
	if _, err := aggregates.DecidePlanPayout(aggregates.PayoutSchedule{Network: "main", Paused: true}, nil, cands, pol, id, t0); !errors.Is(err, aggregates.ErrPayoutsBlocked) {
		t.Fatalf("paused: %v", err)
	}
	if _, err := aggregates.DecidePlanPayout(s, []uuid.UUID{uid("x")}, cands, pol, id, t0); !errors.Is(err, aggregates.ErrPayoutsBlocked) {
		t.Fatalf("unsettled: %v", err)
	}
	if _, err := aggregates.DecidePlanPayout(s, nil, cands[:1], pol, id, t0); !errors.Is(err, aggregates.ErrNothingToPay) {
		t.Fatalf("below minimum: %v", err)
	}
}

func TestPayoutTransitions(t *testing.T) {
	planned := aggregates.Payout{}.Apply(events.PayoutPlanned{Network: "main", PayoutID: uid("p"), TotalSat: 10})
	sent := planned.Apply(events.PayoutSent{TxID: "tx1"})
	failed := planned.Apply(events.PayoutFailed{})
	halted := planned.Apply(events.PayoutHalted{})
	confirmed := sent.Apply(events.PayoutConfirmed{})
	conflicted := sent.Apply(events.PayoutConflicted{TxID: "tx1"})
	none := aggregates.Payout{ID: uid("p")}
	type dec func(aggregates.Payout) ([]events.Event, error)
	send := func(tx string) dec {
		return func(p aggregates.Payout) ([]events.Event, error) {
			return aggregates.DecidePayoutSent(p, tx, 1, false, t0)
		}
	}
	fail := func(p aggregates.Payout) ([]events.Event, error) {
		return aggregates.DecidePayoutFailed(p, "x", false, t0)
	}
	halt := func(p aggregates.Payout) ([]events.Event, error) { return aggregates.DecidePayoutHalted(p, "x", t0) }
	confirm := func(p aggregates.Payout) ([]events.Event, error) { return aggregates.DecidePayoutConfirmed(p, 3, t0) }
	conflict := func(tx string) dec {
		return func(p aggregates.Payout) ([]events.Event, error) {
			return aggregates.DecidePayoutConflicted(p, tx, []string{"c"}, "double spent", t0)
		}
	}
	tests := []struct {
		name  string
		state aggregates.Payout
		d     dec
		typ   string // "" = no event
		err   error
	}{
		{"planned → sent", planned, send("tx1"), events.TypePayoutSent, nil},
		{"planned → failed", planned, fail, events.TypePayoutFailed, nil},
		{"planned → halted", planned, halt, events.TypePayoutHalted, nil},
		{"halted → sent (reconciled)", halted, send("tx1"), events.TypePayoutSent, nil},
		{"halted → failed (reconciled)", halted, fail, events.TypePayoutFailed, nil},
		{"halted again", halted, halt, "", nil},
		{"sent → confirmed", sent, confirm, events.TypePayoutConfirmed, nil},
		{"sent again, same tx", sent, send("tx1"), "", nil},
		{"confirmed again", confirmed, confirm, "", nil},
		{"failed again", failed, fail, "", nil},
		{"sent in another tx", sent, send("tx2"), "", aggregates.ErrConflict},
		{"failed, then sent", failed, send("tx1"), "", aggregates.ErrConflict},
		{"sent, then failed", sent, fail, "", aggregates.ErrConflict},
		{"sent, then halted", sent, halt, "", aggregates.ErrConflict},
		{"planned confirmed", planned, confirm, "", aggregates.ErrConflict},
		{"never planned sent", none, send("tx1"), "", aggregates.ErrConflict},
		{"never planned failed", none, fail, "", aggregates.ErrConflict},
		{"never planned halted", none, halt, "", aggregates.ErrConflict},
		{"no txid", planned, send(""), "", aggregates.ErrInvalid},
		{"sent → conflicted", sent, conflict("tx1"), events.TypePayoutConflicted, nil},
		{"confirmed → conflicted (deep reorg)", confirmed, conflict("tx1"), events.TypePayoutConflicted, nil},
		{"conflicted again", conflicted, conflict("tx1"), "", nil},
		{"conflicted, another tx", sent, conflict("tx2"), "", aggregates.ErrConflict},
		{"planned conflicted", planned, conflict("tx1"), "", aggregates.ErrConflict},
		{"halted conflicted", halted, conflict("tx1"), "", aggregates.ErrConflict},
		{"failed conflicted", failed, conflict("tx1"), "", aggregates.ErrConflict},
		{"never planned conflicted", none, conflict("tx1"), "", aggregates.ErrConflict},
		{"conflicted, then sent", conflicted, send("tx1"), "", aggregates.ErrConflict},
		{"conflicted, then failed", conflicted, fail, "", aggregates.ErrConflict},
		{"conflicted, then confirmed", conflicted, confirm, "", aggregates.ErrConflict},
	}
	for _, tt := range tests {
		evs, err := tt.d(tt.state)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("%s: err %v, want %v", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		got := ""
		if len(evs) == 1 {
			got = evs[0].EventType()
		}
		if got != tt.typ || len(evs) > 1 {
			t.Errorf("%s: %v, want %q", tt.name, typesOf(evs), tt.typ)
		}
	}
}

func TestPauseResume(t *testing.T) {
	s := aggregates.PayoutSchedule{}
	evs, err := aggregates.DecidePausePayouts(s, commands.PausePayouts{Network: "main", Reason: "audit", At: t0})
	mustNoErr(t, err)
	s = s.Apply(evs[0])
	if !s.Paused || s.Reason != "audit" {
		t.Fatalf("%+v", s)
	}
	if evs, _ := aggregates.DecidePausePayouts(s, commands.PausePayouts{Network: "main"}); len(evs) != 0 {
		t.Fatal("paused twice")
	}
	evs, _ = aggregates.DecideResumePayouts(s, commands.ResumePayouts{Network: "main"})
	if len(evs) != 1 || s.Apply(evs[0]).Paused {
		t.Fatal("resume")
	}
	if evs, _ := aggregates.DecideResumePayouts(aggregates.PayoutSchedule{}, commands.ResumePayouts{Network: "main"}); len(evs) != 0 {
		t.Fatal("resumed a running schedule")
	}
}
