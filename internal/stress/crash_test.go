package stress_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/backend/crashpoint"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/simnode"
)

// Failure modes of the simulated wallet, armed for the backend's next send.
const (
	modeNone    = "none"
	modeFail    = "send-fails"             // the node refuses the broadcast; nothing is sent
	modeError   = "sent-then-rpc-error"    // sent, the caller sees an RPC error
	modeDrop    = "sent-then-dropped-conn" // sent, the connection closes without a reply
	modeTimeout = "sent-then-timeout"      // sent, the call never answers
	modeDelay   = "send-delayed-30s"       // the node holds the broadcast 30 s before taking it
	modeRestart = "node-restarts"          // sent, no answer, then the node restarts: mempool and locks lost
)

var failureModes = []string{modeFail, modeError, modeDrop, modeTimeout, modeDelay, modeRestart}

// The crash points a backend without a command consumer passes through
// (solution.before_append needs the command bus: see the restart suite).
var crashPoints = []string{crashpoint.ChainAfterRPC, crashpoint.PayoutAfterPlan, crashpoint.PayoutAfterSign,
	crashpoint.PayoutBeforeSend, crashpoint.PayoutAfterSend, crashpoint.PayoutAfterRecord}

const (
	killRandom = "sigkill-random"  // SIGKILL at a random point of the backend's writes
	killOnHang = "sigkill-in-send" // SIGKILL while the wallet holds a send without answering
)

// crashRun is one run of the matrix.
type crashRun struct {
	Crash string // a crash point, killRandom or killOnHang ("" for the reference run)
	Mode  string
	// KillAt places killRandom: the fraction of the reference run's writes
	// (events after the seeded history) stored when the process is killed.
	KillAt float64
	// SecondKill, if set, SIGKILLs the first restart at this fraction of
	// the writes.
	SecondKill float64
	// Store is the event store the run's world is on (storePostgres when
	// empty).
	Store string
}

func (r crashRun) String() string {
	s := r.Crash + "+" + r.Mode
	if r.Crash == killRandom {
		s += fmt.Sprintf("@%.0f%%", 100*r.KillAt)
	}
	if r.SecondKill > 0 {
		s += fmt.Sprintf("+kill@%.0f%%", 100*r.SecondKill)
	}
	return s
}

// matrixStats collects what the matrix exercised, for the log.
type matrixStats struct {
	mu        sync.Mutex
	runs      int
	hits      map[string]int // crash point or kill → runs where it fired
	modes     map[string]int
	payouts   map[string]int // payout outcome → count
	processes int
}

func (s *matrixStats) add(f func(s *matrixStats)) { s.mu.Lock(); f(s); s.mu.Unlock() }

func (s *matrixStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("runs %d, backend processes %d, crashes fired %v, wallet failure modes %v, payout outcomes %v",
		s.runs, s.processes, sortedMap(s.hits), sortedMap(s.modes), sortedMap(s.payouts))
}

func sortedMap(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// TestCrashMatrix kills a real `purepool backend` process (SIGKILL, or a
// crash point's exit) during share-out and payout while the simulated
// wallet fails its sends in each of its ways, restarts it without crashes
// until nothing is left to do, and checks with the auditor and the wallet
// that no payout went out twice, none was lost, and every money figure
// equals that of a run without crashes over the same history.
func TestCrashMatrix(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PUREPOOL_STRESS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	var runs []crashRun
	if long() {
		// Every crash point with every failure mode once, then random ones
		// up to 50 randomised runs.
		for _, cp := range crashPoints {
			for _, m := range failureModes {
				runs = append(runs, crashRun{Crash: cp, Mode: m})
			}
		}
		runs = append(runs, crashRun{Crash: killOnHang, Mode: modeTimeout})
		for len(runs) < 50 {
			r := crashRun{Mode: failureModes[rng.IntN(len(failureModes))]}
			if rng.IntN(2) == 0 {
				r.Crash = crashPoints[rng.IntN(len(crashPoints))]
			} else {
				r.Crash, r.KillAt = killRandom, rng.Float64()
			}
			if rng.IntN(3) == 0 {
				r.SecondKill = rng.Float64()
			}
			runs = append(runs, r)
		}
	} else {
		runs = []crashRun{
			{Crash: crashpoint.ChainAfterRPC, Mode: modeFail},
			{Crash: crashpoint.PayoutAfterSign, Mode: modeRestart},
			{Crash: crashpoint.PayoutBeforeSend, Mode: modeError},
			{Crash: crashpoint.PayoutAfterSend, Mode: modeDrop},
			{Crash: crashpoint.PayoutAfterRecord, Mode: modeFail},
			{Crash: killOnHang, Mode: modeTimeout},
			{Crash: killRandom, Mode: []string{modeFail, modeError, modeDrop}[rng.IntN(3)], // not the 30 s waits
				KillAt: rng.Float64()},
		}
	}
	runMatrix(t, seed, runs, storePostgres)
}

// TestCrashMatrixOnEventStoreDB is the matrix's fixed runs (every payout
// crash point, a SIGKILL in a held send, one at random) with the backend
// processes on EventStoreDB (the project's server over gRPC): stepwise
// writes and lease locks instead of atomic appends and advisory locks. A
// restarted backend waits for the killed one's lease to run out (--lease-ttl 5s here; 30 s by default),
// so it runs under PUREPOOL_STRESS only.
func TestCrashMatrixOnEventStoreDB(t *testing.T) {
	if !long() {
		t.Skip("PUREPOOL_STRESS=1 runs the crash matrix on EventStoreDB (each restart waits out a lease)")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PUREPOOL_STRESS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	runs := []crashRun{
		{Crash: crashpoint.ChainAfterRPC, Mode: modeFail},
		{Crash: crashpoint.PayoutAfterPlan, Mode: modeError},
		{Crash: crashpoint.PayoutAfterSign, Mode: modeRestart},
		{Crash: crashpoint.PayoutBeforeSend, Mode: modeError},
		{Crash: crashpoint.PayoutAfterSend, Mode: modeDrop},
		{Crash: crashpoint.PayoutAfterRecord, Mode: modeFail},
		{Crash: killOnHang, Mode: modeTimeout},
		{Crash: killRandom, Mode: []string{modeFail, modeError, modeDrop}[rng.IntN(3)], KillAt: rng.Float64()},
	}
	runMatrix(t, seed, runs, storeESDB)
}

// runMatrix runs the reference run, then each run, on worlds of one store.
func runMatrix(t *testing.T, seed uint64, runs []crashRun, store string) {
	for i := range runs {
		runs[i].Store = store
	}
	t.Logf("seed %d (PUREPOOL_STRESS_SEED reproduces), %d runs on %s", seed, len(runs), store)
	purepoolBinary(t)

	stats := &matrixStats{hits: map[string]int{}, modes: map[string]int{}, payouts: map[string]int{}}
	var reference *outcome
	t.Run("reference", func(t *testing.T) {
		reference = runOnce(t, crashRun{Mode: modeNone, Store: store}, nil, stats)
	})
	if reference == nil {
		t.Fatal("the run without crashes failed")
	}
	for i, r := range runs {
		t.Run(fmt.Sprintf("%02d/%s", i, r), func(t *testing.T) { runOnce(t, r, reference, stats) })
	}
	t.Log(stats)
}

// outcome is what a run ends with.
type outcome struct {
	figures figures
	writes  uint64 // events the backend processes stored
}

// runOnce runs one crash scenario on a fresh world and returns its outcome
// after the checks.
func runOnce(t *testing.T, r crashRun, reference *outcome, stats *matrixStats) *outcome {
	ctx := context.Background()
	w := newWorldOn(t, cmp.Or(r.Store, storePostgres))
	w.seedHistory()
	seeded, err := w.store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// killAt SIGKILLs p once the given fraction of the reference run's
	// writes is stored (or after 10 s); it reports whether p was running.
	killAt := func(p *proc, frac float64) bool {
		target := seeded + 1 + uint64(frac*float64(reference.writes))
		deadline := time.Now().Add(10 * time.Second)
		for !p.exited() && time.Now().Before(deadline) {
			if h, err := w.store.Head(ctx); err == nil && h >= target {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		if p.exited() {
			return false
		}
		p.kill()
		return true
	}
	switch r.Mode {
	case modeFail:
		w.srv.Node.FailNextSend(simnode.CodeWallet, "Error: The transaction was rejected!")
	case modeError:
		w.srv.Node.SendThenError(false)
	case modeDrop:
		w.srv.Node.SendThenError(true)
	case modeTimeout:
		w.srv.Node.SendThenTimeout()
	case modeDelay:
		w.srv.Node.DelayNextSend(30 * time.Second)
	case modeRestart:
		w.srv.Node.SendThenTimeout()
		go func() {
			// Once the held broadcast is in the mempool, the node restarts
			// without rebroadcasting: mempool and locks are gone.
			deadline := time.Now().Add(60 * time.Second)
			for len(w.walletSends(ctx)) == 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			w.srv.Node.Restart(false)
		}()
	}
	procs := 0
	start := func(crash string) *proc { procs++; return w.startBackend(crash, procs) }
	fired := ""
	switch r.Crash {
	case "":
	case killRandom:
		if killAt(start(""), r.KillAt) {
			fired = killRandom
		}
	case killOnHang:
		p := start("")
		// The held send has made its transaction: kill while the backend waits.
		w.waitFor(t, p, 60*time.Second, "a send held by the wallet", func() bool { return len(w.walletSends(ctx)) > 0 })
		time.Sleep(200 * time.Millisecond)
		p.kill()
		fired = killOnHang
	default:
		p := start(r.Crash)
		w.waitFor(t, p, 60*time.Second, "the crash at "+r.Crash, func() bool { return p.exited() })
		if !p.crashed() {
			t.Fatalf("backend exited with %v, not through the crash point:\n%s", p.Err(), p.tail(3000))
		}
		fired = r.Crash
	}
	if r.SecondKill > 0 {
		killAt(start(""), r.SecondKill)
	}
	p := start("")
	w.waitFor(t, p, 120*time.Second, "a quiescent ledger", func() bool { return quiescent(w.ledger(ctx)) })
	p.stop(t)

	got, problems := verifyNothingTwiceNothingLost(t, w)
	for _, pr := range problems {
		t.Error(pr)
	}
	if reference != nil {
		for _, d := range got.diff(reference.figures) {
			t.Errorf("money figure differs from the run without crashes: %s", d)
		}
	}
	stats.add(func(s *matrixStats) {
		s.runs++
		s.processes += procs
		if fired != "" {
			s.hits[fired]++
		}
		s.modes[r.Mode]++
		for _, pay := range w.ledger(ctx).Networks[network].Payouts {
			s.payouts[pay.Status]++
		}
	})
	head, err := w.store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &outcome{figures: got, writes: head - seeded}
}

// waitFor polls cond until it holds; it fails the test after timeout, or
// when p exits without cond holding, with p's log.
func (w *world) waitFor(t *testing.T, p *proc, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if p.exited() && !cond() {
			t.Fatalf("backend exited (%v) before %s:\n%s", p.Err(), what, p.tail(4000))
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s:\n%s", timeout, what, p.tail(4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// verifyNothingTwiceNothingLost checks a quiescent world: the auditor's
// replay with the wallet check finds nothing; every payout id has at most
// one wallet transaction; every planned payout is sent (in exactly the
// transaction the wallet holds under its id) or failed (and the wallet holds
// none); every wallet send is a payout the ledger knows; and every account's
// credits equal its balance plus what was paid.
func verifyNothingTwiceNothingLost(t *testing.T, w *world) (figures, []string) {
	t.Helper()
	var problems []string
	errorf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	ctx := context.Background()
	rep, err := audit.Run(ctx, w.store, audit.Options{Wallet: w.node})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range rep.Violations {
		errorf("audit: %s", v)
	}
	if rep.WalletChecked == 0 {
		errorf("the auditor checked no payout against the wallet")
	}
	n := w.ledger(ctx).Networks[network]
	sends := w.walletSends(ctx)
	for comment, txids := range sends {
		if len(txids) > 1 {
			errorf("PAID TWICE: the wallet holds %d transactions for payout %s: %v", len(txids), comment, txids)
		}
		known := false
		for id := range n.Payouts {
			known = known || id.String() == comment
		}
		if !known {
			errorf("the wallet sent %v with comment %q, which no payout of the ledger names", txids, comment)
		}
	}
	for id, p := range n.Payouts {
		txids := sends[id.String()]
		switch p.Status {
		case aggregates.PayoutSent, aggregates.PayoutConfirmed:
			if len(txids) != 1 || txids[0] != p.TxID {
				errorf("payout %s recorded as sent in %s; the wallet holds %v under its id", id, p.TxID, txids)
			}
		case aggregates.PayoutFailed:
			if len(txids) != 0 {
				errorf("LOST: payout %s recorded as failed (its money returned to the balances), yet the wallet sent %v", id, txids)
			}
		default:
			errorf("payout %s left %s", id, p.Status)
		}
		if p.Signed != nil && len(txids) == 1 && txids[0] != p.Signed.TxID {
			errorf("payout %s signed as %s; the wallet holds %v", id, p.Signed.TxID, txids)
		}
	}
	// No crash or failure of the broadcast needs a person: a halt would.
	for _, env := range w.allEvents(ctx) {
		if env.Type == events.TypePayoutHalted {
			errorf("NEEDED A PERSON: a payout halted (%s)", env.Data)
		}
	}
	if len(n.Payouts) == 0 {
		errorf("no payout was planned")
	}
	for _, a := range rep.Accounts {
		if a.CreditedSat-a.ReversedSat-a.TakenSat != a.BalanceSat+a.PaidSat {
			errorf("account %s: credited %d − reversed %d − taken %d ≠ balance %d + paid %d", a.Address, a.CreditedSat, a.ReversedSat, a.TakenSat, a.BalanceSat, a.PaidSat)
		}
		if a.Carry {
			if a.BalanceSat != 0 {
				errorf("the carry account holds %d after quiescence: an empty round's reward waits for a round with shares", a.BalanceSat)
			}
			continue
		}
		if !a.Fee && (a.BalanceSat != 0 || a.PaidSat == 0) {
			errorf("miner %s: balance %d, paid %d after quiescence", a.Address, a.BalanceSat, a.PaidSat)
		}
	}
	return moneyFigures(rep), problems
}

// TestCrashCheckerCatchesADoublePay proves the matrix's checks can fail: a
// world paid out without crashes passes them; one more wallet send under a
// payout's id (what a payer that forgot its send would do) must be reported
// as paid twice, although the ledger and its figures are unchanged.
func TestCrashCheckerCatchesADoublePay(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.seedHistory()
	p := w.startBackend("", 1)
	w.waitFor(t, p, 120*time.Second, "a quiescent ledger", func() bool { return quiescent(w.ledger(ctx)) })
	p.stop(t)
	before, problems := verifyNothingTwiceNothingLost(t, w)
	if len(problems) > 0 {
		t.Fatalf("a run without crashes fails the checks: %v", problems)
	}
	var paid *aggregates.Payout
	for _, pay := range w.ledger(ctx).Networks[network].Payouts {
		if pay.Status == aggregates.PayoutSent {
			paid = pay
			break
		}
	}
	if paid == nil {
		t.Fatal("no payout was sent")
	}
	it := paid.Items[0]
	if _, err := w.node.SendMany(ctx, map[string]int64{it.Address: it.AmountSat}, 1, paid.ID.String(), []string{it.Address}); err != nil {
		t.Fatal(err)
	}
	after, problems := verifyNothingTwiceNothingLost(t, w)
	twice := false
	for _, pr := range problems {
		twice = twice || strings.HasPrefix(pr, "PAID TWICE")
	}
	if !twice {
		t.Fatalf("a second send of payout %s went unnoticed: %v", paid.ID, problems)
	}
	if d := after.diff(before); len(d) != 0 {
		t.Fatalf("the ledger's figures changed though only the wallet did: %v", d)
	}
}
