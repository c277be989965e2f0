package backend_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simnode"
)

// copyLog appends a store's events up to its current head to a fresh
// store, as restoring a backup taken now does.
func copyLog(t *testing.T, from events.Store) events.Store {
	t.Helper()
	ctx := context.Background()
	to := newSQLiteStore(t)
	var after uint64
	for {
		page, err := from.ReadAll(ctx, after, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, env := range page {
			exp := events.NoStream
			if env.Version > 0 {
				exp = events.Exact(env.Version - 1)
			}
			if _, err := to.Append(ctx, events.StreamWrite{Stream: env.Stream, Expected: exp, Events: []events.NewEvent{{
				ID: env.ID, Type: env.Type, SchemaVersion: env.SchemaVersion, Data: env.Data, Metadata: env.Metadata,
			}}}); err != nil {
				t.Fatal(err)
			}
		}
		if len(page) < 500 {
			return to
		}
		after = page[len(page)-1].Position
	}
}

// creditAgain brings address a a new matured credit.
func (h *harness) creditAgain(a string) {
	h.t.Helper()
	h.accept(a, 1)
	h.minePoolBlock(a)
	h.srv.Node.Generate(5)
	h.sync()
}

// sendsOf counts the wallet's sends per comment.
func (h *harness) sendsOf(comment string) int {
	return len(h.walletSends()[comment])
}

// The runbook's backup, then more payouts, then a restore: the restored
// ledger's next payout has the id of one the wallet already sent. Today's
// release sent it again; the wallet check pauses payouts instead, and
// nothing is paid twice.
// payoutID is the id of this installation's n-th payout.
func (h *harness) payoutID(n int64) uuid.UUID {
	var pool uuid.UUID
	h.b.View().Read(func(l *aggregates.Ledger) { pool = l.PoolID })
	return aggregates.PayoutIDFor(pool, network, n)
}

func TestRestoredBackupNeverPaysTwice(t *testing.T) {
	h := newHarness(t, newSQLiteStore(t), nil)
	h.startView()
	a, _ := h.credited()
	if err := h.cycle(); err != nil { // payout #0
		t.Fatal(err)
	}
	h.creditAgain(a)
	backup := copyLog(t, h.store)     // a credit not yet paid
	if err := h.cycle(); err != nil { // payout #1 goes out
		t.Fatal(err)
	}
	second := h.payoutID(1)
	if h.sendsOf(second.String()) != 1 {
		t.Fatalf("payout #1 not sent once: %v", h.walletSends())
	}
	h.stop()
	// The wallet holds enough to pay it again: nothing but the check stops it.
	h.srv.Node.Generate(6)
	for range 2 {
		if _, err := h.srv.Node.Fund(simnode.DefaultBlockReward - 10_000); err != nil {
			t.Fatal(err)
		}
	}

	r := h.twin(backup) // the restored installation, same wallet
	r.startView()
	for range 3 {
		if err := r.cycle(); err != nil && !strings.Contains(err.Error(), "disagree") {
			t.Fatal(err)
		}
	}
	if n := h.sendsOf(second.String()); n != 1 {
		t.Fatalf("PAID TWICE: the wallet sent payout #1 %d times after the restore", n)
	}
	var sched aggregates.PayoutSchedule
	r.b.View().Read(func(l *aggregates.Ledger) { sched = l.Network(network).Schedule })
	if !sched.Paused || !strings.Contains(sched.Reason, second.String()) {
		t.Fatalf("payouts not paused with the reason: %+v", sched)
	}
	// Resuming without resolving it pauses again, and still pays nothing.
	r.mustHandle(commands.ResumePayouts{ID: uuid.New(), Network: network, At: time.Now().UTC()})
	if err := r.cycle(); err == nil || h.sendsOf(second.String()) != 1 {
		t.Fatalf("after a resume: %v, wallet %v", err, h.walletSends())
	}

	// The only backup is this one: the operator adopts the wallet's payout
	// into the restored ledger, then resumes. What it paid comes off the
	// balances, and nothing is paid again.
	var txid string
	for tx := range h.walletSends()[second.String()] {
		txid = tx
	}
	owedBefore := r.balance(a)
	for _, bad := range []struct{ txid, why string }{
		{strings.Repeat("ab", 32), "does not know"},
		{h.payouts()[0].TxID, "in the ledger already"},
	} {
		err := r.handle(commands.AdoptWalletPayout{ID: uuid.New(), Network: network, TxID: bad.txid, At: time.Now().UTC()})
		if err == nil || !commands.IsPermanent(err) || !strings.Contains(err.Error(), bad.why) {
			t.Fatalf("adopt %s: %v", bad.txid, err)
		}
	}
	adopt := commands.AdoptWalletPayout{ID: uuid.New(), Network: network, TxID: txid, At: time.Now().UTC()}
	r.mustHandle(adopt)
	if err := r.handle(adopt); err == nil || !strings.Contains(err.Error(), "in the ledger already") {
		t.Fatalf("adopting twice: %v", err)
	}
	adopted, ok := r.payoutByID(second)
	if !ok || adopted.Status != aggregates.PayoutSent || adopted.TxID != txid || adopted.Signed == nil {
		t.Fatalf("adopted payout %+v", adopted)
	}
	if got := r.balance(a); got != owedBefore-adopted.TotalSat || got != 0 {
		t.Fatalf("balance %d after adopting %d (was %d)", got, adopted.TotalSat, owedBefore)
	}
	r.mustHandle(commands.ResumePayouts{ID: uuid.New(), Network: network, At: time.Now().UTC()})
	for range 2 {
		if err := r.cycle(); err != nil {
			t.Fatalf("after adopting: %v", err)
		}
	}
	r.b.View().Read(func(l *aggregates.Ledger) { sched = l.Network(network).Schedule })
	if sched.Paused || h.sendsOf(second.String()) != 1 {
		t.Fatalf("after adopting and resuming: %+v, wallet %v", sched, h.walletSends())
	}
	r.checkNeverTwice()
}

// Two installations on one wallet: each has its own pool id, so their
// payout ids differ; the second sees the first's payout transactions (by
// their marker, another pool's) and pauses before paying anything.
func TestSecondInstallationOnTheSameWalletPauses(t *testing.T) {
	h := newHarness(t, newSQLiteStore(t), nil)
	h.startView()
	h.credited()
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	first := h.payoutID(0)
	other := h.twin(newSQLiteStore(t))
	other.startView()
	other.sync()
	other.creditAgain(addrOf(70))
	if err := other.cycle(); err == nil {
		t.Fatal("the second installation paid with a wallet that already sent its payout ids")
	}
	if n := h.sendsOf(first.String()); n != 1 {
		t.Fatalf("payout id %s sent %d times", first, n)
	}
}

// reconcile-payout --txid checks the transaction: a halted payout cannot
// be settled with the previous payout's transaction, nor with a send that
// pays someone else; it stays halted.
func TestReconcileRefusesAWrongTxID(t *testing.T) {
	h := newHarness(t, newSQLiteStore(t), nil)
	h.startView()
	a, _ := h.credited()
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	paid := h.payouts()[0]
	h.creditAgain(a)
	halted := h.legacyPayout(true) // an earlier release's halted sendmany
	if halted.Status != aggregates.PayoutHalted {
		t.Fatalf("payout %+v, want halted", halted)
	}
	byHand, err := h.node.SendMany(context.Background(), map[string]int64{addrOf(99): 1_000_000}, 1, notAPayout, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, txid, why string }{
		{"the previous payout's transaction", paid.TxID, "is payout"},
		{"a send by hand to someone else", byHand, "does not pay"},
	} {
		err := h.handle(commands.ReconcilePayout{ID: uuid.New(), Network: network, PayoutID: halted.ID, TxID: tt.txid, At: time.Now().UTC()})
		if err == nil || !commands.IsPermanent(err) || !strings.Contains(err.Error(), tt.why) {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if p := h.payouts()[1]; p.Status != aggregates.PayoutHalted {
			t.Fatalf("%s: the payout became %s", tt.name, p.Status)
		}
	}
	// Without a txid, the search finds nothing (the send never left): failed,
	// and the amounts return.
	h.mustHandle(commands.ReconcilePayout{ID: uuid.New(), Network: network, PayoutID: halted.ID, At: time.Now().UTC()})
	if p := h.payouts()[1]; p.Status != aggregates.PayoutFailed {
		t.Fatalf("reconciled %+v", p)
	}
}

// A row edited behind the backend's back: the signed payout's hex replaced
// by the previous payout's (signed by the same wallet, so the node takes
// it as "already known"). Broadcasting it would record this payout as
// sent in its own txid while its miners are never paid. The backend
// refuses to broadcast a hex that is not the recorded transaction of the
// payout, and nothing is recorded.
func TestTamperedSignedHexIsNotBroadcast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	ctx := context.Background()
	store, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, store, nil)
	h.startView()
	a, _ := h.credited()
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	first := h.payouts()[0]
	h.creditAgain(a)
	h.srv.Node.FailNextSend(rpcclient.CodeTransactionRejected, "66: insufficient priority")
	if err := h.cycle(); err != nil {
		t.Fatal(err)
	}
	second := h.payouts()[1]
	if second.Status != aggregates.PayoutSignedStatus {
		t.Fatalf("payout %+v, want signed and not broadcast", second)
	}
	db, err := sql.Open("sqlite", sqlite.DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(`UPDATE events SET data = replace(data, ?, ?) WHERE type = 'PayoutSigned' AND stream = ?`,
		second.Signed.Hex, first.Signed.Hex, events.StreamPayout(second.ID))
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("tamper: %v, %d rows", err, n)
	}
	if err := h.cycle(); err == nil || !strings.Contains(err.Error(), "recorded hex is not transaction") {
		t.Fatalf("a tampered signed payout: %v", err)
	}
	for _, e := range h.decoded(events.StreamPayout(second.ID)) {
		if sent, ok := e.(events.PayoutSent); ok {
			t.Fatalf("the tampered payout was recorded as sent in %s: its miners would never be paid", sent.TxID)
		}
	}
}
