package backend_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/anchor"
	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/backend/crashpoint"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/rpcclient"
)

// credited brings two miners to positive, matured balances.
func (h *harness) credited() (a, b string) {
	h.t.Helper()
	a, b = addrOf(20), addrOf(21)
	h.accept(a, 1)
	h.accept(b, 3)
	h.sync()
	h.minePoolBlock(a)
	h.srv.Node.Generate(5)
	h.sync()
	if h.balance(a) <= 0 || h.balance(b) <= 0 {
		h.t.Fatalf("balances %d %d", h.balance(a), h.balance(b))
	}
	return a, b
}

// walletSends groups the wallet's send entries by the payout they carry:
// the payout id of the transaction's data output (a signed payout), else
// the comment (a sendmany of an earlier release, or a test's own send):
// payout id or comment → txid → amount sent.
func (h *harness) walletSends() map[string]map[string]int64 {
	h.t.Helper()
	ctx := context.Background()
	entries, err := h.node.ListTransactions(ctx, "*", 10000, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]map[string]int64{}
	for _, e := range entries {
		if e.Category != "send" {
			continue
		}
		key := e.Comment
		if d, ok := h.markerOf(e.TxID); ok {
			key = d.PayoutID.String()
		}
		if out[key] == nil {
			out[key] = map[string]int64{}
		}
		out[key][e.TxID] += -int64(e.Amount)
	}
	return out
}

// markerOf reads a wallet transaction's payout marker.
func (h *harness) markerOf(txid string) (anchor.Data, bool) {
	h.t.Helper()
	ctx := context.Background()
	tx, err := h.node.GetTransaction(ctx, txid)
	if err != nil {
		h.t.Fatal(err)
	}
	dec, err := h.node.DecodeRawTransaction(ctx, tx.Hex)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, v := range dec.Vout {
		if raw, ok := v.Data(); ok {
			if d, err := anchor.Decode(raw); err == nil {
				return d, true
			}
		}
	}
	return anchor.Data{}, false
}

func (h *harness) payouts() []aggregates.Payout {
	var out []aggregates.Payout
	h.b.View().Read(func(l *aggregates.Ledger) {
		n := l.Network(network)
		for i := range n.PayoutCount {
			p, ok := n.Payouts[aggregates.PayoutIDFor(l.PoolID, network, i)]
			if !ok {
				p = n.Payouts[aggregates.PayoutID(network, i)]
			}
			out = append(out, *p)
		}
	})
	return out
}

func (h *harness) cycle() error {
	return h.b.PayoutCycle(context.Background(), network)
}

// notAPayout is the comment of a wallet send a test makes itself.
const notAPayout = "not a payout"

// checkNeverTwice asserts that every payout the wallet sent is recorded as
// sent in exactly one transaction, and every recorded send is in the wallet.
func (h *harness) checkNeverTwice() {
	h.t.Helper()
	sends := h.walletSends()
	recorded := map[string]bool{}
	for _, p := range h.payouts() {
		recorded[p.ID.String()] = true
		txs := sends[p.ID.String()]
		switch p.Status {
		case aggregates.PayoutSent, aggregates.PayoutConfirmed:
			live := map[string]int64{}
			for tx, v := range txs {
				if !slices.Contains(p.Dead, tx) {
					live[tx] = v
				}
			}
			if len(live) != 1 || live[p.TxID] == 0 {
				h.t.Fatalf("payout %s recorded sent in %s; the wallet has %v", p.ID, p.TxID, txs)
			}
		case aggregates.PayoutFailed:
			if len(txs) != 0 {
				h.t.Fatalf("payout %s recorded failed; the wallet sent %v", p.ID, txs)
			}
		case aggregates.PayoutConflicted:
			// Repaid by a later payout: its transaction must never confirm.
			tx, err := h.node.GetTransaction(context.Background(), p.TxID)
			if len(txs) != 1 || txs[p.TxID] == 0 || err != nil || tx.Confirmations >= 0 {
				h.t.Fatalf("payout %s recorded conflicted in %s; the wallet has %v (%+v, %v)", p.ID, p.TxID, txs, tx, err)
			}
		}
	}
	for comment := range sends {
		if comment == notAPayout || comment == "" {
			continue // a test's own send, or a raw one without a marker
		}
		if !recorded[comment] {
			h.t.Fatalf("the wallet sent %q, which no payout records", comment)
		}
	}
	var neg []string
	h.b.View().Read(func(l *aggregates.Ledger) {
		for id, v := range l.Network(network).Balances {
			if v < 0 {
				neg = append(neg, id.String())
			}
		}
	})
	if len(neg) > 0 {
		h.t.Fatalf("negative balances: %v", neg)
	}
}

func TestPayoutSentAndConfirmed(t *testing.T) {
	h := newHarness(t, newSQLiteStore(t), nil)
	h.startView()
	a, b := h.credited()
	owedBefore := h.balance(a) + h.balance(b)
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	ps := h.payouts()
	if len(ps) != 1 || ps[0].Status != aggregates.PayoutSent || ps[0].TotalSat != owedBefore || ps[0].FeeSat <= 0 {
		t.Fatalf("payouts %+v", ps)
	}
	if h.balance(a) != 0 || h.balance(b) != 0 {
		t.Fatalf("balances after payout %d %d", h.balance(a), h.balance(b))
	}
	sent := h.walletSends()[ps[0].ID.String()][ps[0].TxID]
	if sent != owedBefore-ps[0].FeeSat {
		t.Fatalf("the wallet sent %d, owed %d minus fee %d", sent, owedBefore, ps[0].FeeSat)
	}
	if err := h.cycle(); err != nil { // nothing due, not confirmed yet
		t.Fatal(err)
	}
	h.srv.Node.Generate(1)
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	if ps := h.payouts(); len(ps) != 1 || ps[0].Status != aggregates.PayoutConfirmed {
		t.Fatalf("after a block %+v", ps)
	}
	h.checkNeverTwice()
	owed, bal, err := h.b.CheckFunding(context.Background(), network)
	if err != nil || owed != 0 || bal <= 0 {
		t.Fatalf("funding owed %d balance %d err %v", owed, bal, err)
	}
}

// settleAll runs payout passes until nothing is unsettled (at most n) and
// returns how many it took.
func (h *harness) settleAll(n int) int {
	h.t.Helper()
	for i := 1; i <= n; i++ {
		if err := h.cycle(); err != nil {
			h.t.Fatal(err)
		}
		var unsettled int
		h.b.View().Read(func(l *aggregates.Ledger) { unsettled = len(l.Network(network).UnsettledPayouts()) })
		if unsettled == 0 {
			return i
		}
	}
	h.t.Fatalf("payouts still unsettled after %d passes: %+v", n, h.payouts())
	return n
}

// Every failure mode of the broadcast settles by itself: the signed
// transaction is broadcast again next pass, and the node's "already in
// the mempool / in block chain" is success. Nothing halts, nothing is
// paid twice, nothing waits for a person.
func TestPayoutFailureModes(t *testing.T) {
	modes := []struct {
		name string
		arm  func(h *harness)
		// after is run after the first pass (e.g. the node restarts).
		after func(h *harness)
	}{
		{"the node refuses the broadcast", func(h *harness) { h.srv.Node.FailNextSend(rpcclient.CodeInsufficientFunds, "Insufficient funds") }, nil},
		{"accepted, then an RPC error", func(h *harness) { h.srv.Node.SendThenError(false) }, nil},
		{"accepted, then the connection drops", func(h *harness) { h.srv.Node.SendThenError(true) }, nil},
		{"accepted, then no answer", func(h *harness) { h.srv.Node.SendThenTimeout() }, nil},
		{"accepted, then the node restarts and loses its mempool and locks", func(h *harness) { h.srv.Node.SendThenTimeout() },
			func(h *harness) {
				if err := h.srv.Node.Restart(false); err != nil {
					h.t.Fatal(err)
				}
			}},
		{"the broadcast is dropped by a node restart", func(h *harness) {
			h.srv.Node.DelayNextSend(30 * time.Second)
			go func() { time.Sleep(50 * time.Millisecond); h.srv.Node.Restart(false) }()
		}, nil},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newHarness(t, newSQLiteStore(t), nil)
			h.startView()
			a, b := h.credited()
			owed := h.balance(a) + h.balance(b)
			m.arm(h)
			if err := h.cycle(); err != nil {
				t.Fatal(err)
			}
			if m.after != nil {
				m.after(h)
			}
			h.settleAll(3)
			ps := h.payouts()
			if len(ps) != 1 || ps[0].Status != aggregates.PayoutSent || ps[0].Attempts() != 1 {
				t.Fatalf("payouts %+v, want one sent in its first transaction", ps)
			}
			evs := h.decoded(events.StreamPayout(ps[0].ID))
			for _, e := range evs {
				if _, ok := e.(events.PayoutHalted); ok {
					t.Fatalf("a payout halted: %+v", evs)
				}
			}
			h.srv.Node.Generate(1)
			h.settleAll(2)
			if h.balance(a) != 0 || h.balance(b) != 0 {
				t.Fatalf("balances %d %d after paying %d", h.balance(a), h.balance(b), owed)
			}
			if tx, err := h.node.GetTransaction(context.Background(), ps[0].TxID); err != nil || tx.Confirmations < 1 {
				t.Fatalf("the payout transaction is not mined: %+v %v", tx, err)
			}
			h.checkNeverTwice()
		})
	}
}

// legacyPayout plans a payout as a release before signed payouts did
// (sendmany; no pool id; id aggregates.PayoutID), and halts it if asked.
func (h *harness) legacyPayout(halted bool) aggregates.Payout {
	h.t.Helper()
	ctx := context.Background()
	var evs []events.Event
	var err error
	h.b.View().Read(func(l *aggregates.Ledger) {
		n := l.Network(network)
		evs, err = aggregates.DecidePlanPayout(n.Schedule, n.UnsettledPayouts(), n.PayoutCandidates(),
			aggregates.PayoutPolicy{MinPayoutSat: 1, MaxRecipients: 50}, aggregates.PayoutID(network, n.PayoutCount), time.Now().UTC())
	})
	if err != nil {
		h.t.Fatal(err)
	}
	p := aggregates.Payout{}.Apply(evs[0])
	if halted {
		evs = append(evs, events.PayoutHalted{Network: network, PayoutID: p.ID, Reason: "outcome unknown (earlier release)", At: time.Now().UTC()})
	}
	var news []events.NewEvent
	for _, e := range evs {
		ne, err := events.New(uuid.New(), e, events.Metadata{})
		if err != nil {
			h.t.Fatal(err)
		}
		news = append(news, ne)
	}
	res, err := events.Append(ctx, h.store, events.StreamPayout(p.ID), events.NoStream, news...)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.b.View().WaitForAppend(ctx, res); err != nil {
		h.t.Fatal(err)
	}
	p, _ = h.payoutByID(p.ID)
	return p
}

func (h *harness) payoutByID(id uuid.UUID) (aggregates.Payout, bool) {
	var p *aggregates.Payout
	h.b.View().Read(func(l *aggregates.Ledger) { p = l.Network(network).Payouts[id] })
	if p == nil {
		return aggregates.Payout{}, false
	}
	return *p, true
}

// sendLegacy is the sendmany an earlier release made for a payout.
func (h *harness) sendLegacy(p aggregates.Payout) string {
	h.t.Helper()
	amounts := map[string]int64{}
	var subtract []string
	for _, it := range p.Items {
		amounts[it.Address] += it.AmountSat
		subtract = append(subtract, it.Address)
	}
	txid, err := h.node.SendMany(context.Background(), amounts, 1, p.ID.String(), subtract)
	if err != nil {
		h.t.Fatal(err)
	}
	return txid
}

// A halted payout of an earlier release stops the network's payouts until
// an operator reconciles it; then the next pass pays (signed).
func TestHaltedPayoutBlocksUntilReconciled(t *testing.T) {
	h := newHarness(t, newSQLiteStore(t), nil)
	h.startView()
	h.credited()
	halted := h.legacyPayout(true)
	// Nothing more goes out while it is halted.
	for range 2 {
		if err := h.cycle(); err != nil {
			t.Fatal(err)
		}
	}
	if ps := h.payouts(); len(ps) != 1 || ps[0].Status != aggregates.PayoutHalted || len(h.walletSends()) != 0 {
		t.Fatalf("while halted: %+v, wallet %v", ps, h.walletSends())
	}
	rc := commands.ReconcilePayout{ID: uuid.New(), Network: network, PayoutID: halted.ID, At: time.Now().UTC()}
	h.mustHandle(rc)
	h.mustHandle(rc) // twice: no change
	if ps := h.payouts(); ps[0].Status != aggregates.PayoutFailed {
		t.Fatalf("reconciled %+v", ps)
	}
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	if ps := h.payouts(); len(ps) != 2 || ps[1].Status != aggregates.PayoutSent || ps[1].Signed == nil {
		t.Fatalf("after reconciliation %+v", ps)
	}
	h.checkNeverTwice()
}

type crash struct{ at string }

// TestPayoutCrashAtEveryStep kills the payer (a panic from the crash hook)
// at each crash point, restarts a fresh backend over the same store and
// node, and checks the payout goes out exactly once.
func TestPayoutCrashAtEveryStep(t *testing.T) {
	for _, point := range []string{crashpoint.PayoutAfterPlan, crashpoint.PayoutAfterSign, crashpoint.PayoutBeforeSend, crashpoint.PayoutAfterSend, crashpoint.PayoutAfterRecord} {
		t.Run(point, func(t *testing.T) {
			store := newSQLiteStore(t)
			h := newHarness(t, store, nil)
			h.startView()
			a, b := h.credited()
			owed := h.balance(a) + h.balance(b)
			crashpoint.SetHook(func(name string) {
				if name == point {
					panic(crash{name})
				}
			})
			func() {
				defer func() {
					if r := recover(); r == nil {
						t.Fatal("the crash point was not reached")
					}
				}()
				h.cycle()
			}()
			crashpoint.SetHook(nil)
			h.stop()

			// Restart: a new backend folds the log and runs the payer.
			nc := backend.NetworkConfig{Name: network, PoolAddress: h.pool, Node: h.node, Maturity: 5, FollowFrom: 1,
				MinPayoutSat: 1, PayoutConfirmations: 1, FeeBps: 100}
			b2, err := backend.New(store, backend.Config{Networks: []backend.NetworkConfig{nc}, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			h.b = b2
			h.startView()
			// The first pass after the restart settles it: no grace, no halt.
			if n := h.settleAll(1); n != 1 {
				t.Fatalf("settled after %d passes", n)
			}
			if locked := h.srv.Node.LockedCoins(); locked > 0 {
				// Only the sent transaction's inputs stay locked, until mined.
				if p := h.payouts()[0]; locked != len(p.Signed.Inputs) {
					t.Fatalf("%d coins locked, the payout spends %d", locked, len(p.Signed.Inputs))
				}
			}
			var paid int64
			for _, p := range h.payouts() {
				if p.Status == aggregates.PayoutSent || p.Status == aggregates.PayoutConfirmed {
					paid += p.TotalSat
				}
			}
			if paid != owed {
				t.Fatalf("paid %d of %d: %+v", paid, owed, h.payouts())
			}
			h.checkNeverTwice()
			if n := len(h.walletSends()); n != 1 {
				t.Fatalf("%d wallet sends", n)
			}
		})
	}
}

func TestPauseResumeAndTrigger(t *testing.T) {
	h := newHarness(t, newSQLiteStore(t), nil)
	h.startView()
	h.credited()
	pause := commands.PausePayouts{ID: uuid.New(), Network: network, Reason: "audit", At: time.Now().UTC()}
	h.mustHandle(pause)
	h.mustHandle(pause)
	if got := h.streamTypes(events.StreamPayoutSchedule(network)); !equalTypes(got, events.TypePayoutsPaused) {
		t.Fatalf("schedule %v", got)
	}
	h.mustHandle(commands.TriggerPayout{ID: uuid.New(), Network: network, At: time.Now().UTC()})
	if len(h.payouts()) != 0 {
		t.Fatal("paid while paused")
	}
	h.mustHandle(commands.ResumePayouts{ID: uuid.New(), Network: network, At: time.Now().UTC()})
	h.mustHandle(commands.TriggerPayout{ID: uuid.New(), Network: network, At: time.Now().UTC()})
	if ps := h.payouts(); len(ps) != 1 || ps[0].Status != aggregates.PayoutSent {
		t.Fatalf("after resume %+v", ps)
	}
	h.checkNeverTwice()
}

// TestResendWaitsForAnInFlightSend: a payer of an earlier release died
// with its sendmany still being executed by the node. The upgraded payer
// must not pay at once: it waits ResendGrace, finds the late transaction in
// the wallet and records it, so the miners are paid once.
func TestResendWaitsForAnInFlightSend(t *testing.T) {
	store := newSQLiteStore(t)
	h := newHarness(t, store, func(_ *backend.NetworkConfig, c *backend.Config) { c.ResendGrace = 300 * time.Millisecond })
	h.startView()
	h.credited()
	p := h.legacyPayout(false)
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.walletSends()); n != 0 {
		t.Fatalf("the upgraded payer sent at once (%d sends) although the dead one's send may be in flight", n)
	}
	// The dead process's request is executed by the node only now.
	h.sendLegacy(p)
	time.Sleep(350 * time.Millisecond)
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	if got := h.payouts(); got[0].Status != aggregates.PayoutSent || got[0].Signed != nil {
		t.Fatalf("late send not recorded: %+v", got[0])
	}
	h.checkNeverTwice()
	if n := len(h.walletSends()); n != 1 {
		t.Fatalf("%d wallet sends, want 1", n)
	}
	// A legacy payout never sent is signed after the grace, once.
	h.creditAgain(addrOf(20))
	q := h.legacyPayout(false)
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(350 * time.Millisecond)
	h.settleAll(2)
	if got, _ := h.payoutByID(q.ID); got.Status != aggregates.PayoutSent || got.Signed == nil {
		t.Fatalf("legacy payout not signed after the grace: %+v", got)
	}
	h.checkNeverTwice()
}

// A payout whose transaction the chain double spends was never received:
// once the conflict is as deep as a payout must be to count as confirmed
// (3 blocks here), PayoutConflicted gives the amounts back and a later
// payout pays them. The wallet tells the conflict's depth when a chain
// transaction spends the payout's own inputs; when the inputs vanished
// instead (here: the payout spent the change of a send that was double
// spent, and the wallet says -1), the backend counts the blocks since it
// first saw the conflict.
func TestConflictedPayoutIsPaidAgain(t *testing.T) {
	cases := []struct {
		name string
		// parentSend: a send of the wallet's own first leaves the payout
		// only its change, and it is that send which is double spent.
		parentSend bool
		// waits is the payout passes, each followed by a block, that still
		// leave the payout sent once the conflicting transaction is three
		// blocks deep.
		waits int
	}{
		{"the wallet tells the depth", false, 0},
		{"the backend counts the blocks", true, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, newSQLiteStore(t), func(nc *backend.NetworkConfig, _ *backend.Config) { nc.PayoutConfirmations = 3 })
			h.startView()
			ctx := context.Background()
			a, b := h.credited()
			owedA, owedB := h.balance(a), h.balance(b)
			var parent string
			if c.parentSend {
				var err error
				if parent, err = h.node.SendToAddress(ctx, addrOf(99), biblepay.Coin, notAPayout, "", false); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.cycle(); err != nil {
				t.Fatal(err)
			}
			p0 := h.payouts()[0]
			if p0.Status != aggregates.PayoutSent {
				t.Fatalf("first payout %+v", p0)
			}
			victim := p0.TxID
			if c.parentSend {
				victim = parent
			}
			if _, err := h.srv.Node.DoubleSpend(victim); err != nil {
				t.Fatal(err)
			}
			h.srv.Node.Generate(2)
			tx, err := h.node.GetTransaction(ctx, p0.TxID)
			if err != nil || tx.Confirmations >= 0 {
				t.Fatalf("the payout's transaction after the double spend: %+v, %v", tx, err)
			}
			// Until the conflict is buried, nothing changes: another
			// reorganisation might still undo it.
			for i := range c.waits {
				if err := h.cycle(); err != nil {
					t.Fatal(err)
				}
				if ps := h.payouts(); len(ps) != 1 || ps[0].Status != aggregates.PayoutSent || h.balance(a) != 0 {
					t.Fatalf("pass %d after the double spend: payouts %+v, balance %d", i+1, ps, h.balance(a))
				}
				h.srv.Node.Generate(1)
			}
			// Buried: the amounts come back. The same pass plans a new
			// payout, which the emptied wallet cannot fund.
			if err := h.cycle(); err != nil {
				t.Fatal(err)
			}
			ps := h.payouts()
			if len(ps) != 2 || ps[0].Status != aggregates.PayoutConflicted || ps[1].Status != aggregates.PayoutFailed {
				t.Fatalf("after the conflict was buried: %+v", ps)
			}
			if h.balance(a) != owedA || h.balance(b) != owedB {
				t.Fatalf("balances %d %d, want %d %d back", h.balance(a), h.balance(b), owedA, owedB)
			}
			evs := h.decoded(events.StreamPayout(p0.ID))
			if cf, ok := evs[len(evs)-1].(events.PayoutConflicted); !ok || cf.TxID != p0.TxID {
				t.Fatalf("last event of the payout: %+v", evs[len(evs)-1])
			}
			h.checkNeverTwice()

			// The operator tops the wallet up by what the double spend took
			// and a new pool block is found; the next payout pays the
			// returned amounts with the new credits, once.
			if _, err := h.srv.Node.Fund(owedA + owedB); err != nil {
				t.Fatal(err)
			}
			h.accept(a, 1)
			h.minePoolBlock(a)
			h.srv.Node.Generate(5)
			h.sync()
			dueA, dueB := h.balance(a), h.balance(b)
			if dueA <= owedA || dueB != owedB {
				t.Fatalf("due %d %d after the new block (owed %d %d)", dueA, dueB, owedA, owedB)
			}
			if err := h.cycle(); err != nil {
				t.Fatal(err)
			}
			ps = h.payouts()
			last := ps[len(ps)-1]
			if len(ps) != 3 || last.Status != aggregates.PayoutSent || last.TotalSat != dueA+dueB || h.balance(a) != 0 || h.balance(b) != 0 {
				t.Fatalf("repayment %+v; balances %d %d", ps, h.balance(a), h.balance(b))
			}
			if got := h.walletSends()[last.ID.String()][last.TxID]; got != dueA+dueB-last.FeeSat {
				t.Fatalf("the wallet sent %d, due %d less fee %d", got, dueA+dueB, last.FeeSat)
			}
			h.checkNeverTwice()
		})
	}
}

// A payout already confirmed can still be double spent by a
// reorganisation deeper than its confirmations: it is watched for
// ConflictWatch after its confirmation, and only then.
func TestConfirmedPayoutConflictedByADeepReorg(t *testing.T) {
	for _, tc := range []struct {
		name       string
		watch      time.Duration
		conflicted bool
	}{
		{"within the watch", 24 * time.Hour, true},
		{"after the watch", time.Nanosecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, newSQLiteStore(t), func(_ *backend.NetworkConfig, c *backend.Config) { c.ConflictWatch = tc.watch })
			h.startView()
			a, b := h.credited()
			owedA, owedB := h.balance(a), h.balance(b)
			if err := h.cycle(); err != nil {
				t.Fatal(err)
			}
			h.srv.Node.Generate(1)
			if err := h.cycle(); err != nil {
				t.Fatal(err)
			}
			p0 := h.payouts()[0]
			if p0.Status != aggregates.PayoutConfirmed {
				t.Fatalf("payout %+v, want confirmed", p0)
			}
			if _, err := h.srv.Node.DoubleSpend(p0.TxID); err != nil {
				t.Fatal(err)
			}
			if err := h.cycle(); err != nil {
				t.Fatal(err)
			}
			ps := h.payouts()
			if !tc.conflicted {
				if len(ps) != 1 || ps[0].Status != aggregates.PayoutConfirmed || h.balance(a) != 0 {
					t.Fatalf("a payout past its watch: %+v, balance %d", ps, h.balance(a))
				}
				return
			}
			// Conflicted; the new payout the same pass planned finds the
			// wallet emptied by the double spend.
			if len(ps) != 2 || ps[0].Status != aggregates.PayoutConflicted || ps[1].Status != aggregates.PayoutFailed ||
				h.balance(a) != owedA || h.balance(b) != owedB {
				t.Fatalf("after a deep reorganisation: %+v, balances %d %d (owed %d %d)", ps, h.balance(a), h.balance(b), owedA, owedB)
			}
			h.checkNeverTwice()
		})
	}
}

// deepWallet is a wallet whose history never ends within the backend's
// search: every page of listtransactions is full of others' entries.
type deepWallet struct {
	*rpcclient.Client
	deep atomic.Bool
}

func (d *deepWallet) ListTransactions(ctx context.Context, account string, count, from int) ([]rpcclient.TransactionEntry, error) {
	if !d.deep.Load() {
		return d.Client.ListTransactions(ctx, account, count, from)
	}
	out := make([]rpcclient.TransactionEntry, count)
	for i := range out {
		out[i] = rpcclient.TransactionEntry{Category: "generate", TxID: fmt.Sprintf("%064x", from+i)}
	}
	return out, nil
}

// A payout not found among the wallet entries searched, while the wallet
// has more, is not "not sent": reconciling it without a txid must not
// fail it (its amounts would be paid a second time); it stays halted.
func TestReconcileDoesNotFailWhatTheSearchCouldNotReach(t *testing.T) {
	var w *deepWallet
	h := newHarness(t, newSQLiteStore(t), func(n *backendNetworkConfig, _ *backendConfig) {
		w = &deepWallet{Client: n.Node.(*rpcclient.Client)}
		n.Node = w
	})
	h.startView()
	h.credited()
	h.legacyPayout(true)
	w.deep.Store(true)
	ps := h.payouts()
	if len(ps) != 1 || ps[0].Status != aggregates.PayoutHalted {
		t.Fatalf("payouts %+v, want one halted", ps)
	}
	rc := commands.ReconcilePayout{ID: uuid.New(), Network: network, PayoutID: ps[0].ID, At: time.Now().UTC()}
	if err := h.handle(rc); err == nil {
		t.Fatal("reconciled a payout the wallet search could not reach")
	}
	if ps := h.payouts(); ps[0].Status != aggregates.PayoutHalted {
		t.Fatalf("after an incomplete search: %+v", ps)
	}
	// With the whole wallet readable, the same command settles it.
	w.deep.Store(false)
	h.mustHandle(rc)
	if ps := h.payouts(); ps[0].Status != aggregates.PayoutFailed {
		t.Fatalf("reconciled %+v", ps)
	}
}

// spendInput has someone else spend one output of the wallet (a send by
// hand, another installation): a raw transaction of its whole value, less
// a fee, to a stranger.
func (h *harness) spendInput(in events.OutPoint) string {
	h.t.Helper()
	ctx := context.Background()
	out, err := h.node.GetTxOut(ctx, in.TxID, in.Vout, true)
	if err != nil || out == nil {
		h.t.Fatalf("gettxout %v: %+v %v", in, out, err)
	}
	tip, err := h.node.GetBlockCount(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	raw, err := h.node.CreateRawTransaction(ctx, []rpcclient.OutPoint{{TxID: in.TxID, Vout: in.Vout}},
		[]rpcclient.Output{{Address: addrOf(99), AmountSat: int64(out.Value) - 100_000}}, nil, uint32(tip))
	if err != nil {
		h.t.Fatal(err)
	}
	signed, err := h.node.SignRawTransaction(ctx, raw, nil, nil, "")
	if err != nil || !signed.Complete {
		h.t.Fatalf("sign: %+v %v", signed, err)
	}
	txid, err := h.node.SendRawTransaction(ctx, signed.Hex, false, false)
	if err != nil {
		h.t.Fatal(err)
	}
	return txid
}

// A signed payout whose input someone else spends can never confirm. Once
// that spend is as deep as a payout must be to count as confirmed, the
// transaction is recorded dead and a new one is signed for the same
// amounts; before that, nothing changes (a reorganisation could undo the
// spend, and the first transaction could still be mined).
func TestDeadPayoutTransactionIsReplacedOnce(t *testing.T) {
	h := newHarness(t, newSQLiteStore(t), func(nc *backend.NetworkConfig, _ *backend.Config) { nc.PayoutConfirmations = 2 })
	h.startView()
	a, b := h.credited()
	owed := h.balance(a) + h.balance(b)
	h.srv.Node.FailNextSend(rpcclient.CodeTransactionRejected, "66: insufficient priority")
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	first := h.payouts()[0]
	if first.Status != aggregates.PayoutSignedStatus {
		t.Fatalf("payout %+v, want signed and not broadcast", first)
	}
	h.spendInput(first.Signed.Inputs[0])
	// The operator tops the wallet up by what the stranger's spend took.
	if _, err := h.srv.Node.Fund(owed + biblepay.Coin); err != nil {
		t.Fatal(err)
	}
	h.srv.Node.Generate(1)
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	if p := h.payouts()[0]; p.Status != aggregates.PayoutSignedStatus || p.Signed.TxID != first.Signed.TxID {
		t.Fatalf("dead before the spend was buried: %+v", p)
	}
	h.srv.Node.Generate(1)
	h.settleAll(2)
	p := h.payouts()[0]
	if p.Status != aggregates.PayoutSent || !slices.Equal(p.Dead, []string{first.Signed.TxID}) || p.Signed.Attempt != 2 || p.TxID == first.Signed.TxID {
		t.Fatalf("after the spend was buried: %+v", p)
	}
	var paid int64
	for _, s := range p.Signed.Sends {
		paid += s.AmountSat
	}
	if paid+p.Signed.FeeSat != owed || p.TotalSat != owed {
		t.Fatalf("sends %d + fee %d, owed %d", paid, p.Signed.FeeSat, owed)
	}
	h.checkNeverTwice()
}

// A payout an earlier release recorded as sent in the wrong transaction
// (its reconcile-payout took any txid) is corrected by an event; the
// amounts return and the next pass pays them.
func TestCorrectPayout(t *testing.T) {
	h := newHarness(t, newSQLiteStore(t), nil)
	h.startView()
	a, _ := h.credited()
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	good := h.payouts()[0]
	h.creditAgain(a)
	owed := h.balance(a)
	wrong := h.legacyPayout(true)
	// What the earlier release recorded: the previous payout's transaction.
	ne, err := events.New(uuid.New(), events.PayoutSent{Network: network, PayoutID: wrong.ID, TxID: good.TxID, Reconciled: true, At: time.Now().UTC()}, events.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := events.Append(context.Background(), h.store, events.StreamPayout(wrong.ID), events.Exact(1), ne)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.b.View().WaitForAppend(context.Background(), res); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		c    commands.CorrectPayout
		why  string
	}{
		{"no reason", commands.CorrectPayout{PayoutID: wrong.ID, TxID: good.TxID}, "needs a reason"},
		{"another transaction than recorded", commands.CorrectPayout{PayoutID: wrong.ID, TxID: strings.Repeat("ab", 32), Reason: "x"}, "only a payout recorded as sent"},
		{"a payout its transaction pays exactly", commands.CorrectPayout{PayoutID: good.ID, TxID: good.TxID, Reason: "x"}, "nothing to correct"},
	} {
		tt.c.ID, tt.c.Network, tt.c.At = uuid.New(), network, time.Now().UTC()
		if err := h.handle(tt.c); err == nil || !commands.IsPermanent(err) || !strings.Contains(err.Error(), tt.why) {
			t.Fatalf("%s: %v", tt.name, err)
		}
	}
	c := commands.CorrectPayout{ID: uuid.New(), Network: network, PayoutID: wrong.ID, TxID: good.TxID, Reason: "reconciled with the previous payout's txid", At: time.Now().UTC()}
	h.mustHandle(c)
	h.mustHandle(c) // redelivered: no change
	if p, _ := h.payoutByID(wrong.ID); p.Status != aggregates.PayoutCorrectedStatus || !strings.Contains(p.Reason, "carries payout "+good.ID.String()+"'s marker") {
		t.Fatalf("corrected %+v", p)
	}
	if h.balance(a) != owed {
		t.Fatalf("balance %d after the correction, want %d back", h.balance(a), owed)
	}
	h.settleAll(2)
	if h.balance(a) != 0 {
		t.Fatalf("balance %d after the next payout", h.balance(a))
	}
	if got := h.decoded(events.StreamPayout(wrong.ID)); len(got) != 4 {
		t.Fatalf("the wrong record must stay in the log, corrected by an event: %+v", got)
	}
}
