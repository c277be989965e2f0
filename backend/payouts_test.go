package backend_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
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

// walletSends groups the wallet's send entries by comment: comment → txids.
func (h *harness) walletSends() map[string]map[string]int64 {
	h.t.Helper()
	entries, err := h.node.ListTransactions(context.Background(), "*", 10000, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]map[string]int64{}
	for _, e := range entries {
		if e.Category != "send" {
			continue
		}
		if out[e.Comment] == nil {
			out[e.Comment] = map[string]int64{}
		}
		out[e.Comment][e.TxID] += -int64(e.Amount)
	}
	return out
}

func (h *harness) payouts() []aggregates.Payout {
	var out []aggregates.Payout
	h.b.View().Read(func(l *aggregates.Ledger) {
		n := l.Network(network)
		for i := range n.PayoutCount {
			out = append(out, *n.Payouts[aggregates.PayoutID(network, i)])
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
			if len(txs) != 1 || txs[p.TxID] == 0 {
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
		if comment == notAPayout {
			continue
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

func TestPayoutFailureModes(t *testing.T) {
	modes := []struct {
		name   string
		arm    func(h *harness)
		status string
	}{
		{"wallet refuses", func(h *harness) { h.srv.Node.FailNextSend(rpcclient.CodeInsufficientFunds, "Insufficient funds") }, aggregates.PayoutFailed},
		{"sent, then an RPC error", func(h *harness) { h.srv.Node.SendThenError(false) }, aggregates.PayoutSent},
		{"sent, then the connection drops", func(h *harness) { h.srv.Node.SendThenError(true) }, aggregates.PayoutSent},
		{"sent, then no answer", func(h *harness) { h.srv.Node.SendThenTimeout() }, aggregates.PayoutSent},
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
			ps := h.payouts()
			if len(ps) != 1 || ps[0].Status != m.status {
				t.Fatalf("payouts %+v, want one %s", ps, m.status)
			}
			if m.status == aggregates.PayoutSent {
				evs := h.decoded(events.StreamPayout(ps[0].ID))
				if sent, ok := evs[len(evs)-1].(events.PayoutSent); !ok || !sent.Reconciled {
					t.Fatalf("want a reconciled PayoutSent, got %+v", evs[len(evs)-1])
				}
			}
			h.checkNeverTwice()
			// The next cycle pays what is still owed, once.
			if err := h.cycle(); err != nil {
				t.Fatal(err)
			}
			ps = h.payouts()
			var paid int64
			for _, p := range ps {
				if p.Status == aggregates.PayoutSent {
					paid += p.TotalSat
				}
			}
			if paid != owed || h.balance(a) != 0 || h.balance(b) != 0 {
				t.Fatalf("paid %d of %d owed; payouts %+v", paid, owed, ps)
			}
			h.checkNeverTwice()
		})
	}
}

// lostSend drops the first sendmany before it reaches the node and reports
// a transport error: its outcome looks unknown.
type lostSend struct {
	*rpcclient.Client
	armed atomic.Bool
}

func (l *lostSend) SendMany(ctx context.Context, amounts map[string]int64, minConf int, comment string, subtract []string) (string, error) {
	if l.armed.Swap(false) {
		return "", errors.New("read tcp: connection reset by peer (injected)")
	}
	return l.Client.SendMany(ctx, amounts, minConf, comment, subtract)
}

func TestHaltedPayoutBlocksUntilReconciled(t *testing.T) {
	var lost *lostSend
	h := newHarness(t, newSQLiteStore(t), func(n *backendNetworkConfig, _ *backendConfig) {
		lost = &lostSend{Client: n.Node.(*rpcclient.Client)}
		n.Node = lost
	})
	h.startView()
	h.credited()
	lost.armed.Store(true)
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	ps := h.payouts()
	if len(ps) != 1 || ps[0].Status != aggregates.PayoutHalted {
		t.Fatalf("payouts %+v", ps)
	}
	// Nothing more goes out while it is halted.
	for range 2 {
		if err := h.cycle(); err != nil {
			t.Fatal(err)
		}
	}
	if ps := h.payouts(); len(ps) != 1 || ps[0].Status != aggregates.PayoutHalted || len(h.walletSends()) != 0 {
		t.Fatalf("while halted: %+v, wallet %v", ps, h.walletSends())
	}
	rc := commands.ReconcilePayout{ID: uuid.New(), Network: network, PayoutID: ps[0].ID, At: time.Now().UTC()}
	h.mustHandle(rc)
	h.mustHandle(rc) // twice: no change
	if ps := h.payouts(); ps[0].Status != aggregates.PayoutFailed {
		t.Fatalf("reconciled %+v", ps)
	}
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	if ps := h.payouts(); len(ps) != 2 || ps[1].Status != aggregates.PayoutSent {
		t.Fatalf("after reconciliation %+v", ps)
	}
	h.checkNeverTwice()
}

type crash struct{ at string }

// TestPayoutCrashAtEveryStep kills the payer (a panic from the crash hook)
// at each crash point, restarts a fresh backend over the same store and
// node, and checks the payout goes out exactly once.
func TestPayoutCrashAtEveryStep(t *testing.T) {
	for _, point := range []string{crashpoint.PayoutBeforeSend, crashpoint.PayoutAfterSend, crashpoint.PayoutAfterRecord} {
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
			b2, err := backend.New(store, backend.Config{Networks: []backend.NetworkConfig{nc}, Logger: quietLogger(), ResendGrace: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			h.b = b2
			h.startView()
			for range 2 {
				if err := h.cycle(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Millisecond) // past ResendGrace
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

// TestResendWaitsForAnInFlightSend: a payer dies with its sendmany still
// being executed by the node. The restarted payer must not send again at
// once: it waits ResendGrace, finds the late transaction in the wallet and
// records it, so the miners are paid once.
func TestResendWaitsForAnInFlightSend(t *testing.T) {
	store := newSQLiteStore(t)
	h := newHarness(t, store, nil)
	h.startView()
	h.credited()
	crashpoint.SetHook(func(name string) {
		if name == crashpoint.PayoutBeforeSend {
			panic(crash{name})
		}
	})
	func() {
		defer func() { recover() }()
		h.cycle()
	}()
	crashpoint.SetHook(nil)
	h.stop()
	planned := h.payouts()
	if len(planned) != 1 || planned[0].Status != aggregates.PayoutPlanned {
		t.Fatalf("after the crash: %+v", planned)
	}

	nc := backend.NetworkConfig{Name: network, PoolAddress: h.pool, Node: h.node, Maturity: 5, FollowFrom: 1,
		MinPayoutSat: 1, PayoutConfirmations: 1, FeeBps: 100}
	b2, err := backend.New(store, backend.Config{Networks: []backend.NetworkConfig{nc}, Logger: quietLogger(), ResendGrace: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h.b = b2
	h.startView()
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.walletSends()); n != 0 {
		t.Fatalf("the restarted payer sent at once (%d sends) although the dead one's send may be in flight", n)
	}
	// The dead process's request is executed by the node only now.
	p := planned[0]
	amounts := map[string]int64{}
	var subtract []string
	for _, it := range p.Items {
		amounts[it.Address] += it.AmountSat
		subtract = append(subtract, it.Address)
	}
	if _, err := h.node.SendMany(context.Background(), amounts, 1, p.ID.String(), subtract); err != nil {
		t.Fatal(err)
	}
	time.Sleep(350 * time.Millisecond)
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	if got := h.payouts(); got[0].Status != aggregates.PayoutSent {
		t.Fatalf("late send not recorded: %+v", got[0])
	}
	h.checkNeverTwice()
	if n := len(h.walletSends()); n != 1 {
		t.Fatalf("%d wallet sends, want 1", n)
	}
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
	*lostSend
	deep atomic.Bool
}

func (d *deepWallet) ListTransactions(ctx context.Context, account string, count, from int) ([]rpcclient.TransactionEntry, error) {
	if !d.deep.Load() {
		return d.lostSend.ListTransactions(ctx, account, count, from)
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
		w = &deepWallet{lostSend: &lostSend{Client: n.Node.(*rpcclient.Client)}}
		n.Node = w
	})
	h.startView()
	h.credited()
	w.armed.Store(true)
	w.deep.Store(true)
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
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
