package stress_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/projections"
	"github.com/purepool/purepool/simminer"
)

// TestTwoOfEach runs the pool as it runs when it has outgrown one server:
// two `purepool frontend`, two `purepool backend` and two `purepool
// projector` processes against one data layer (the PostgreSQL event store,
// the PostgreSQL read model, a RabbitMQ vhost of its own), with the
// simulated node and simulated miners submitting shares through both
// frontends. Under that load it
//
//   - SIGKILLs the backend that holds the payout lock while its payout's
//     send is in flight (the wallet took the transaction and holds the
//     answer), and measures how long the other backend takes to settle that
//     payout (it finds the send in the wallet: nothing is sent twice);
//   - SIGKILLs a live projector while `purepool projections rebuild` runs
//     in a process of its own, and measures how long until the views reach
//     the log as it stood at the kill (the other projector never stopped
//     applying), and until the rebuilt generation is switched in and
//     caught up (both projectors carry on from it).
//
// Then it stops the miners, matures every pool block, waits until every
// balance is paid, and checks: no payout twice and none lost (the crash
// matrix's wallet-versus-ledger checks), every solution a frontend answered
// ok is in the ledger exactly once, the views converge on the log, and
// `purepool audit --readmodel … --verify-chain` exits 0.
//
// Only with PUREPOOL_STRESS=1 (seven processes on two cores): CI runs it as
// `PUREPOOL_STRESS=1 go test -run TwoOfEach ./internal/stress`.
func TestTwoOfEach(t *testing.T) {
	if !long() {
		t.Skip("PUREPOOL_STRESS=1 runs two frontends, two backends and two projectors")
	}
	bin := purepoolBinary(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	overall := time.Now()

	w := newWorld(t)
	w.seedHistory() // two pool blocks owed to five miners: payouts from the start
	rm, err := projections.OpenURL(ctx, w.storeURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rm.Close() })
	if err := rm.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	amqpURL := newVhost(t)
	declare(t, amqpURL, rabbitmq.DefaultTopology())

	// Each process names its PostgreSQL sessions, so that the holder of
	// an advisory lock can be told from pg_stat_activity.
	named := func(name string) string { return withAppName(t, w.storeURL, name) }

	// The projectors.
	projector := func(name string) *proc {
		return &proc{testenv.StartProcess(t, name, nil, bin, "projector", "--store", named(name),
			"--readmodel-url", named(name), "--batch", "500", "--log-format", "text")}
	}
	projs := []*proc{projector("projector-1"), projector("projector-2")}
	waitUntil(t, 60*time.Second, "the projectors' first batch", projs, func() bool {
		cp, err := rm.Checkpoint(ctx)
		return err == nil && cp > 0
	})

	// The frontends.
	var fronts []*proc
	var frontAddrs []string
	for i := range 2 {
		addr := freeAddr(t)
		name := fmt.Sprintf("frontend-%d", i+1)
		fronts = append(fronts, &proc{testenv.StartProcess(t, name, nil, bin, "frontend", "--listen", addr,
			"--pool-address", network+"="+w.pool, "--default-target", network+"="+shareTarget,
			"--amqp-url", amqpURL, "--readmodel-url", named(name), "--rate-limit", "-1",
			// The simulated chain's newest block may be minutes old; the
			// chain's freshness is not what this test is about.
			"--stale-after", "24h", "--log-format", "text")})
		frontAddrs = append(frontAddrs, addr)
	}
	waitUntil(t, 60*time.Second, "the frontends listening", fronts, func() bool {
		for _, a := range frontAddrs {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err != nil {
				return false
			}
			c.Close()
		}
		return true
	})

	// The first send of a payout is taken by the wallet and never answered:
	// whichever backend makes it is killed while it waits.
	w.srv.Node.SendThenTimeout()
	backendN := 0
	startBackend := func() (*proc, string) {
		backendN++
		name := fmt.Sprintf("backend-%d", backendN)
		return &proc{testenv.StartProcess(t, name, nil, bin, "backend",
			"--store", named(name), "--amqp-url", amqpURL, "--consumers", "8",
			"--network", network, "--pool-address", w.pool, "--node-url", w.srv.URL, "--default-target", shareTarget,
			"--maturity", fmt.Sprint(maturity), "--follow-from", "1", "--fee-bps", "100", "--stale-tolerance", "1",
			"--min-payout", "1", "--max-recipients", "2", "--payout-interval", "150ms", "--payout-confirmations", "1",
			"--poll-interval", "100ms", "--payout-resend-grace", "1s", "--log-format", "text")}, name
	}
	backends := map[string]*proc{}
	for range 2 {
		p, name := startBackend()
		backends[name] = p
	}
	// all is every process that should be running (not the ones killed).
	killed := map[*proc]bool{}
	all := func() []*proc {
		var out []*proc
		for _, p := range append(append([]*proc{}, projs...), fronts...) {
			if !killed[p] {
				out = append(out, p)
			}
		}
		for _, p := range backends {
			out = append(out, p)
		}
		return out
	}

	// The miners, two per frontend.
	load := startTwoOfEachLoad(t, ctx, w, frontAddrs, 4)
	marks := map[string]time.Time{"load started": time.Now()}
	load.waitOK(t, 10, "the load's start", all)

	// ---- Kill 1: the backend whose payout send is in flight.
	waitUntil(t, 90*time.Second, "a payout send held by the wallet", all(), func() bool { return len(w.walletSends(ctx)) > 0 })
	var heldPayout string
	for id := range w.walletSends(ctx) {
		heldPayout = id
	}
	holder := lockHolder(ctx, t, rm.SQL, "payouts-"+network)
	victim, ok := backends[holder]
	if !ok {
		t.Fatalf("the payout lock is held by %q, not by a backend (%v)", holder, keys(backends))
	}
	okAtKill := load.ok.Load()
	headAtKill, err := w.store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	victim.kill()
	killedAt := time.Now()
	marks["backend killed"] = killedAt
	delete(backends, holder)
	var survivor string
	for name := range backends {
		survivor = name
	}
	t.Logf("SIGKILLed %s (holding the payout lock, payout %s sent, its answer held); %s survives", holder, heldPayout, survivor)
	// The survivor takes the payout lock at its next pass, asks the wallet
	// for the payout id, finds the held send and records it as sent (the
	// resend grace only delays a send the wallet does not have).
	var tookLock, settled time.Duration
	waitUntil(t, 120*time.Second, "the surviving backend settling payout "+heldPayout, all(), func() bool {
		if tookLock == 0 && lockHolder(ctx, t, rm.SQL, "payouts-"+network) == survivor {
			tookLock = time.Since(killedAt)
		}
		for _, env := range w.eventsAfter(ctx, headAtKill) {
			if env.Type != events.TypePayoutSent {
				continue
			}
			if e, err := events.Decode(env); err == nil && e.(events.PayoutSent).PayoutID.String() == heldPayout {
				settled = time.Since(killedAt)
				return true
			}
		}
		return false
	})
	// The first chain record or payout event stored after the kill (so by
	// the survivor): the jobs running again.
	firstJob := time.Duration(0)
	for _, env := range w.eventsAfter(ctx, headAtKill) {
		if env.RecordedAt.Before(killedAt) {
			continue
		}
		if env.Type == events.TypeChainBlockRecorded || strings.HasPrefix(env.Type, "Payout") {
			firstJob = env.RecordedAt.Sub(killedAt)
			break
		}
	}
	load.waitOK(t, 10, "after the backend's kill", all)
	t.Logf("FIGURE backend kill: payout lock taken by %s after %s (first seen; polled), first job event after %s, held payout recorded sent after %s; %d solutions answered ok before the kill",
		survivor, tookLock.Round(time.Millisecond), firstJob.Round(time.Millisecond), settled.Round(time.Millisecond), okAtKill)
	// systemd would start the killed backend again: two of each again.
	p, name := startBackend()
	backends[name] = p
	marks["backend restarted"] = time.Now()
	// A pool block found now closes a round of the load's shares: its
	// credits are paid at the end, by backends that took over.
	marks["pool block mining"] = time.Now()
	w.minePool(w.pool, addrOf(60))
	marks["pool block mined"] = time.Now()

	// ---- Kill 2: a projector, while a rebuild runs in its own process.
	genBefore := activeGeneration(ctx, t, rm.SQL)
	marks["rebuild started"] = time.Now()
	rebuild := &proc{testenv.StartProcess(t, "rebuild", nil, bin, "projections", "rebuild", "--store", named("rebuild"),
		"--readmodel-url", named("rebuild"), "--quiet")}
	waitUntil(t, 60*time.Second, "the rebuild's connection", []*proc{rebuild}, func() bool { return sessionOf(ctx, t, rm.SQL, "rebuild") })
	marks["rebuild connected"] = time.Now()
	headAtProjKill, err := w.store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	projs[0].kill()
	killed[projs[0]] = true
	projKilledAt := time.Now()
	marks["projector killed"] = projKilledAt
	if rebuild.exited() {
		t.Fatalf("the rebuild ended before the projector was killed: not in its middle (%v):\n%s", rebuild.Err(), rebuild.tail(2000))
	}
	newGenAtKill := schemaExists(ctx, t, rm.SQL, fmt.Sprintf("readmodel_v%d", genBefore+1))
	// The other projector keeps the live generation current meanwhile; the
	// rebuild then switches its generation in, and the projectors carry on
	// from the new generation's checkpoint.
	var liveCaughtUp, switched, newCaughtUp time.Duration
	var headAtSwitch uint64
	waitUntil(t, 180*time.Second, "the rebuilt views switched in and caught up", all(), func() bool {
		if rebuild.exited() && rebuild.Err() != nil {
			t.Fatalf("the rebuild failed (%v):\n%s", rebuild.Err(), rebuild.tail(3000))
		}
		cp, err := rm.Checkpoint(ctx)
		if err != nil {
			return false
		}
		if liveCaughtUp == 0 && cp >= headAtProjKill {
			liveCaughtUp = time.Since(projKilledAt)
		}
		if switched == 0 {
			if activeGeneration(ctx, t, rm.SQL) <= genBefore {
				return false
			}
			switched = time.Since(projKilledAt)
			marks["generation switched"] = time.Now()
			if headAtSwitch, err = w.store.Head(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if cp < headAtSwitch {
			return false
		}
		newCaughtUp = time.Since(projKilledAt)
		return true
	})
	<-rebuild.Done()
	if rebuild.Err() != nil {
		t.Fatalf("the rebuild failed (%v):\n%s", rebuild.Err(), rebuild.tail(3000))
	}
	load.waitOK(t, 10, "after the projector's kill", all)
	t.Logf("FIGURE projector kill: during the rebuild (its new generation committed at the kill: %v); live views at the log's head of the kill (position %d) after %s; generation %d switched in after %s and at the log's head of the switch (position %d) after %s; rebuild said: %s",
		newGenAtKill, headAtProjKill, liveCaughtUp.Round(time.Millisecond), genBefore+1, switched.Round(time.Millisecond), headAtSwitch,
		newCaughtUp.Round(time.Millisecond), lastLine(rebuild.tail(600)))
	projs[0] = projector("projector-1b")

	// ---- Quiescence: no more shares; every solution answered ok is
	// handled (the queue drains), then every pool block matures and is paid.
	load.stop()
	stopped := time.Now()
	marks["load stopped"] = stopped
	var outcomes map[string][]string
	missing := func() int {
		outcomes = solutionOutcomes(ctx, t, w)
		n := 0
		for bh := range load.okByBH {
			if len(outcomes[bh]) == 0 {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(2 * time.Minute)
	for missing() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	drained := time.Since(stopped)
	if _, err := w.srv.Node.Generate(maturity + 3); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	tip := w.srv.Node.Height()
	waitUntil(t, 180*time.Second, "a quiescent ledger", all(), func() bool { return settledAt(w.ledger(ctx), tip) })
	quiet := time.Since(start)

	// Every solution answered ok is in the ledger exactly once.
	lost, twice, accepted := 0, 0, 0
	for bh := range load.okByBH {
		switch n := len(outcomes[bh]); {
		case n == 0:
			lost++
			t.Errorf("LOST: solution %s was answered ok by a frontend and is not in the ledger", bh)
		case n > 1:
			twice++
			t.Errorf("TWICE: solution %s is in the ledger %d times: %v", bh, n, outcomes[bh])
		case outcomes[bh][0] == "accepted":
			accepted++
		}
	}
	if accepted == 0 {
		t.Error("no solution was accepted")
	}
	blocks := 0
	for _, b := range w.ledger(ctx).Networks[network].Blocks {
		if b.Matured {
			blocks++
		}
	}

	// No payout twice, none lost.
	_, problems := verifyNothingTwiceNothingLost(t, w)
	for _, pr := range problems {
		t.Error(pr)
	}
	payouts := len(w.ledger(ctx).Networks[network].Payouts)

	// The views converge on the log, and the auditor agrees.
	head, err := w.store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 60*time.Second, "the views at the log's head", all(), func() bool {
		cp, err := rm.Checkpoint(ctx)
		return err == nil && cp >= head
	})
	out, err := exec.CommandContext(ctx, bin, "audit", "--store", w.storeURL, "--readmodel", w.storeURL,
		"--verify-chain", "--node", w.srv.URL, "--quiet").CombinedOutput()
	if err != nil {
		t.Errorf("purepool audit --readmodel --verify-chain: %v\n%s", err, out)
	}

	for _, p := range all() {
		if p.exited() {
			t.Errorf("a process exited during the run (%v):\n%s", p.Err(), p.tail(2000))
		}
	}
	for _, p := range all() {
		p.stop(t)
	}
	t.Logf("requests answered without ok, by the event before they were sent: %v", load.timeline(marks))
	load.mu.Lock()
	defer load.mu.Unlock()
	t.Logf("FIGURE run: %d solutions answered ok (%d accepted), %d lost, %d twice (queue drained %s after the miners stopped); %d pool blocks matured, %d payouts, %d problems of payouts; paid out %s after the last blocks; answers without ok: %d; total %s",
		len(load.okByBH), accepted, lost, twice, drained.Round(time.Millisecond), blocks, payouts, len(problems), quiet.Round(time.Millisecond),
		len(load.notes), time.Since(overall).Round(time.Second))
}

// settledAt is quiescent (every balance paid, nothing unsettled) with the
// chain recorded up to tip and every pool block matured or orphaned, so that
// the blocks found under load are paid too, not only the seeded ones.
func settledAt(l *aggregates.Ledger, tip int64) bool {
	n, ok := l.Networks[network]
	if !ok || n.TipHeight < tip || !quiescent(l) {
		return false
	}
	for _, b := range n.Blocks {
		if !b.Matured && !b.Orphaned {
			return false
		}
	}
	return true
}

// twoOfEachLoad is simulated miners spread over several frontends.
type twoOfEachLoad struct {
	mu     sync.Mutex
	okByBH map[string]int  // bible hash → times answered ok
	notOK  map[string]int  // why a request got no ok
	notes  []twoOfEachNote // when, for the figures
	ok     atomic.Int64
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type twoOfEachNote struct {
	at   time.Time // the request's start
	took time.Duration
	why  string
}

// timeline places the requests answered without ok by when they were sent,
// relative to the named instants.
func (l *twoOfEachLoad) timeline(marks map[string]time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, n := range l.notes {
		best, bestD := "", time.Duration(0)
		for name, at := range marks {
			if d := n.at.Sub(at); d >= 0 && (best == "" || d < bestD) {
				best, bestD = name, d
			}
		}
		out = append(out, fmt.Sprintf("sent %s+%s, failed after %s: %s", best, bestD.Round(time.Millisecond), n.took.Round(time.Millisecond), n.why))
	}
	return out
}

func startTwoOfEachLoad(t *testing.T, ctx context.Context, w *world, frontends []string, miners int) *twoOfEachLoad {
	t.Helper()
	l := &twoOfEachLoad{okByBH: map[string]int{}, notOK: map[string]int{}}
	ctx, l.cancel = context.WithCancel(ctx)
	for i := range miners {
		m, err := simminer.New(simminer.Config{Pool: "http://" + frontends[i%len(frontends)], Worker: addrOf(byte(60+i)) + "/rig",
			Network: biblepay.Networks[network], Node: w.node, Timeout: 10 * time.Second, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			var began time.Time // of the request that got no ok
			note := func(why string) {
				l.mu.Lock()
				l.notOK[why]++
				l.notes = append(l.notes, twoOfEachNote{began, time.Since(began), why})
				l.mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
			for th := 1; ctx.Err() == nil; th = th%100 + 1 {
				began = time.Now()
				wk, err := m.RequestWork(ctx, th)
				if ctx.Err() != nil {
					return // the test stopped the miners: a cut request is no answer
				}
				if err != nil {
					note("work: " + err.Error())
					continue
				}
				s, err := m.Mine(ctx, wk, th)
				if err != nil {
					continue
				}
				began = time.Now()
				r, err := m.SubmitSolution(ctx, th, s.Solution)
				switch {
				case ctx.Err() != nil:
				case err != nil:
					note("solution: " + err.Error())
				case strings.EqualFold(r.Status, "ok"):
					l.mu.Lock()
					l.okByBH[s.BibleHash]++
					l.mu.Unlock()
					l.ok.Add(1)
				default:
					note("solution: " + r.Error)
				}
			}
		}()
	}
	t.Cleanup(l.stop)
	return l
}

// waitOK waits until n more solutions are answered ok.
func (l *twoOfEachLoad) waitOK(t *testing.T, n int64, what string, procs func() []*proc) {
	t.Helper()
	target := l.ok.Load() + n
	waitUntil(t, 120*time.Second, fmt.Sprintf("%d solutions answered ok %s", n, what), procs(), func() bool { return l.ok.Load() >= target })
}

func (l *twoOfEachLoad) stop() { l.cancel(); l.wg.Wait() }

// waitUntil polls cond until it holds; it fails the test after timeout, or
// when one of procs exits, with that process's log.
func waitUntil(t *testing.T, timeout time.Duration, what string, procs []*proc, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		for _, p := range procs {
			if p.exited() {
				t.Fatalf("a process exited (%v) before %s:\n%s", p.Err(), what, p.tail(4000))
			}
		}
		if time.Now().After(deadline) {
			var tails []string
			for _, p := range procs {
				tails = append(tails, p.tail(1500))
			}
			t.Fatalf("timed out after %s waiting for %s:\n%s", timeout, what, strings.Join(tails, "\n----\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eventsAfter reads the log after position after.
func (w *world) eventsAfter(ctx context.Context, after uint64) []events.Envelope {
	w.t.Helper()
	var all []events.Envelope
	for {
		page, err := w.store.ReadAll(ctx, after, 1000)
		if err != nil {
			w.t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 1000 {
			return all
		}
		after = page[len(page)-1].Position
	}
}

// solutionOutcomes maps each bible hash to what the ledger says of it.
func solutionOutcomes(ctx context.Context, t *testing.T, w *world) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, env := range w.eventsAfter(ctx, 0) {
		if env.Type != events.TypeSolutionAccepted && env.Type != events.TypeSolutionRejected {
			continue
		}
		e, err := events.Decode(env)
		if err != nil {
			t.Fatal(err)
		}
		switch e := e.(type) {
		case events.SolutionAccepted:
			out[e.BibleHash] = append(out[e.BibleHash], "accepted")
		case events.SolutionRejected:
			out[e.BibleHash] = append(out[e.BibleHash], "rejected "+e.Reason)
		}
	}
	return out
}

// withAppName adds application_name to a PostgreSQL URL.
func withAppName(t *testing.T, raw, name string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// lockHolder names the session (application_name) holding the backend's
// advisory lock name (backend/pglock keys it as hashtextextended of
// "purepool:"+name; PostgreSQL shows a bigint key as classid, objid).
func lockHolder(ctx context.Context, t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var app string
	err := db.QueryRowContext(ctx, `
		SELECT a.application_name
		  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid,
		       (SELECT hashtextextended($1, 0) AS k) key
		 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		   AND l.classid::text::bigint = (key.k >> 32) & 4294967295
		   AND l.objid::text::bigint = key.k & 4294967295
		   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
		"purepool:"+name).Scan(&app)
	if errors.Is(err, sql.ErrNoRows) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// sessionOf reports whether a session named app is connected.
func sessionOf(ctx context.Context, t *testing.T, db *sql.DB, app string) bool {
	t.Helper()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func activeGeneration(ctx context.Context, t *testing.T, db *sql.DB) int {
	t.Helper()
	var v int
	if err := db.QueryRowContext(ctx, "SELECT version FROM "+projections.PostgresSchema+".generation WHERE id = 1").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func schemaExists(ctx context.Context, t *testing.T, db *sql.DB, schema string) bool {
	t.Helper()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// newVhost creates a RabbitMQ vhost of the test's own on the local broker
// (guest may use it) and returns its URL; it is deleted when the test ends.
func newVhost(t *testing.T) string {
	t.Helper()
	admin := testenv.RequireAMQP(t)
	ctl, err := exec.LookPath("rabbitmqctl")
	if err != nil {
		testenv.Unavailable(t, "rabbitmqctl", err)
	}
	run := func(args ...string) error {
		// Not the test's context: the cleanup runs after it ended.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, ctl, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("rabbitmqctl %s: %w: %s", args[0], err, out)
		}
		return nil
	}
	vhost := testenv.UniqueName("pp_twoofeach")
	if err := run("add_vhost", vhost); err != nil {
		testenv.Unavailable(t, "rabbitmqctl (as root or rabbitmq)", err)
	}
	t.Cleanup(func() {
		if err := run("delete_vhost", vhost); err != nil {
			t.Log(err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	if err := run("set_permissions", "-p", vhost, u.User.Username(), ".*", ".*", ".*"); err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + vhost
	return u.String()
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
