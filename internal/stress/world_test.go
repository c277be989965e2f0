package stress_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/anchor"
	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/backend/crashpoint"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/esdb"
	"github.com/purepool/purepool/events/esdb/esdbfake"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simminer"
	"github.com/purepool/purepool/simnode"
)

// stressEnv enables the long variants.
const stressEnv = "PUREPOOL_STRESS"

func long() bool { return os.Getenv(stressEnv) == "1" }

const network = "test"

// shareTarget is easy enough for the stand-in hash to meet in a few tries.
var shareTarget = biblepay.TargetForDifficulty(4)

// maturity of coinbases on the simulated node and of pool blocks in the backend.
const maturity = 5

func quietLogger() *slog.Logger {
	if os.Getenv("PUREPOOL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// addrOf is a deterministic test address: the same miners in every run, so
// that the ledgers of different runs can be compared account by account.
func addrOf(seed byte) string {
	var pkh [20]byte
	for i := range pkh {
		pkh[i] = seed ^ byte(i*7)
	}
	return biblepay.Networks[network].Address(pkh)
}

// world is one run's universe: a fresh PostgreSQL event store, a simulated
// node served over HTTP by the test process (it outlives every backend
// process), and an in-process backend used to seed history and as an admin.
type world struct {
	t        testing.TB
	storeURL string
	store    events.Store
	kind     string // storePostgres or storeESDB
	srv      *simnode.Server
	node     *rpcclient.Client
	pool     string
	extra    string // a wallet address that is not the pool's: funds payouts
	seed     *backend.Backend
	miner    *simminer.Miner
	thread   int
}

func newWorld(t testing.TB) *world { return newWorldOn(t, storePostgres) }

// The event stores a world can run on.
const (
	storePostgres = "postgres"
	// storeESDB is the project's EventStoreDB server (events/esdb/esdbfake)
	// listening on loopback in the test process: the backend processes
	// reach it over gRPC as they would a real server.
	storeESDB = "esdbfake"
)

func newWorldOn(t testing.TB, kind string) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{t: t, extra: addrOf(200), kind: kind}
	switch kind {
	case storePostgres:
		w.storeURL = testenv.NewPostgresDB(t)
		s, err := postgres.Open(ctx, w.storeURL)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		s.PollInterval = 20 * time.Millisecond
		t.Cleanup(func() { s.Close() })
		w.store = s
	case storeESDB:
		srv, err := esdbfake.Listen()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Stop)
		w.storeURL = srv.URL()
		s, err := esdb.Open(w.storeURL, quietLogger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		w.store = s
	default:
		t.Fatalf("unknown store %q", kind)
	}
	var err error
	w.srv, err = simnode.Start(simnode.Config{Network: biblepay.Networks[network], Maturity: maturity, NetworkHashRate: 0.5, Seed: 7,
		WalletAddresses: []string{w.extra}, Logger: quietLogger()}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.srv.Close() })
	w.node, err = rpcclient.New(rpcclient.Config{URL: w.srv.URL, Network: biblepay.Networks[network], Timeout: 5 * time.Second,
		HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: time.Minute}}})
	if err != nil {
		t.Fatal(err)
	}
	w.pool = w.srv.Node.WalletAddress()
	w.seed, err = backend.New(w.store, backend.Config{Networks: []backend.NetworkConfig{{Name: network, PoolAddress: w.pool, Node: w.node,
		Maturity: maturity, FollowFrom: 1, StaleTolerance: 1, FeeBps: 100, MinPayoutSat: biblepay.Coin, MaxRecipients: 2}},
		WorkWait: 2 * time.Second, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	w.miner, err = simminer.New(simminer.Config{Pool: "http://127.0.0.1:1", Worker: "x", Network: biblepay.Networks[network], Node: w.node})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func issueCmd(address string) commands.IssueWork {
	return commands.IssueWork{ID: uuid.New(), Network: network, MinerID: events.MinerID(network, address), Address: address,
		Worker: "rig", WorkID: uuid.New(), Target: shareTarget, ThreadID: 1, Agent: "1.1.4.1", OS: "LIN", IssuedAt: time.Now().UTC()}
}

func submitCmd(address, solution string) commands.SubmitSolution {
	return commands.SubmitSolution{ID: uuid.New(), Network: network, MinerID: events.MinerID(network, address), Address: address,
		Worker: "rig", Solution: solution, ThreadID: 1, Agent: "1.1.4.1", OS: "LIN", ReceivedAt: time.Now().UTC()}
}

// share mines a valid share of a work issued to address.
func (w *world) share(address string, workID uuid.UUID) string {
	w.t.Helper()
	w.thread = w.thread%1000 + 1
	t, _ := new(big.Int).SetString(shareTarget, 16)
	s, err := w.miner.Mine(context.Background(), simminer.Work{Address: w.pool, TargetHex: shareTarget, Target: t,
		MinerGUID: events.MinerID(network, address).String(), WorkID: workID.String()}, w.thread)
	if err != nil {
		w.t.Fatal(err)
	}
	return s.Solution
}

func (w *world) handle(c commands.Command) error {
	msg, err := commands.Encode(c)
	if err != nil {
		w.t.Fatal(err)
	}
	return w.seed.Handle(context.Background(), msg)
}

func (w *world) mustHandle(c commands.Command) {
	w.t.Helper()
	if err := w.handle(c); err != nil {
		w.t.Fatalf("%s: %v", c.CommandName(), err)
	}
}

// seedShares stores counts[i] accepted shares of miner i through the
// backend's handlers.
func (w *world) seedShares(miners []string, counts []int) {
	w.t.Helper()
	for i, a := range miners {
		if counts[i] == 0 {
			continue
		}
		iw := issueCmd(a)
		w.mustHandle(iw)
		for range counts[i] {
			w.mustHandle(submitCmd(a, w.share(a, iw.WorkID)))
		}
	}
}

// crashMiners are the accounts of the crash matrix.
var crashMiners = []string{addrOf(11), addrOf(12), addrOf(13), addrOf(14), addrOf(15)}

// seedHistory builds the same chain history in every run: round 1 (shares
// of four miners, pool block A, recorded by the in-process backend but not
// matured), round 2 (other shares, pool block B, not recorded), three blocks
// paying another wallet address (funds for payouts whatever change is
// unconfirmed), and enough network blocks to mature everything. The
// backend process then records B, matures and credits both rounds, and
// pays every miner (minimum payout 1 BBP, two recipients per payout).
func (w *world) seedHistory() {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	viewDone := make(chan error, 1)
	go func() { viewDone <- w.seed.View().Run(ctx, w.store) }()
	w.seedShares(crashMiners, []int{3, 2, 1, 2, 0})
	w.minePool(w.pool, crashMiners[0])
	if err := w.seed.SyncChain(ctx, network); err != nil {
		w.t.Fatal(err)
	}
	w.seedShares(crashMiners, []int{1, 0, 3, 1, 2})
	w.minePool(w.pool, crashMiners[2])
	for range 3 {
		w.minePool(w.extra, crashMiners[4])
	}
	if _, err := w.srv.Node.Generate(maturity + 3); err != nil {
		w.t.Fatal(err)
	}
	cancel()
	<-viewDone
}

func (w *world) minePool(payTo, finder string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := w.srv.Node.MinePoolBlock(ctx, payTo, events.MinerID(network, finder).String()); err != nil {
		w.t.Fatal(err)
	}
}

// ledger folds the whole log with the backend's own fold.
func (w *world) ledger(ctx context.Context) *aggregates.Ledger {
	w.t.Helper()
	return foldLog(ctx, w.t, w.store)
}

// foldLog folds a store's whole log with the backend's own fold.
func foldLog(ctx context.Context, t testing.TB, store events.Store) *aggregates.Ledger {
	t.Helper()
	l := aggregates.NewLedger(aggregates.LedgerConfig{})
	var after uint64
	for {
		page, err := store.ReadAll(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, env := range page {
			if err := l.Apply(env); err != nil {
				t.Fatal(err)
			}
		}
		if len(page) < 1000 {
			return l
		}
		after = page[len(page)-1].Position
	}
}

// ---------------------------------------------------------------------------
// The purepool binary as a child process.

func purepoolBinary(t testing.TB) string { return testenv.PurepoolBinary(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinaries()
	os.Exit(code)
}

// proc is a running backend process.
type proc struct{ *testenv.Process }

// startBackend starts `purepool backend` against the world's store and node
// (jobs only: the chain follower and the payer). crash arms a crash point.
func (w *world) startBackend(crash string, n int) *proc {
	w.t.Helper()
	args := []string{"backend"}
	if w.kind == storeESDB {
		// The shortest lease: a restart takes over from a killed backend
		// after about 5 s instead of the default 30 s.
		args = append(args, "--lease-ttl", "5s")
	}
	return &proc{testenv.StartProcess(w.t, fmt.Sprintf("backend-%d", n), []string{crashpoint.Env + "=" + crash}, purepoolBinary(w.t),
		append(args, "--store", w.storeURL, "--network", network, "--pool-address", w.pool, "--node-url", w.srv.URL,
			"--maturity", fmt.Sprint(maturity), "--follow-from", "1", "--fee-bps", "100", "--stale-tolerance", "1",
			"--min-payout", "1", "--max-recipients", "2", "--payout-interval", "150ms", "--payout-confirmations", "1",
			"--poll-interval", "100ms", "--log-format", "text",
			// The seeded pool blocks have no winning share in the ledger: do
			// not hold them back waiting for one.
			"--finder-share-wait", "0", "--payout-resend-grace", "1s")...)}
}

func (p *proc) exited() bool      { return p.Exited() }
func (p *proc) kill()             { p.Kill() }
func (p *proc) tail(n int) string { return p.Tail(n) }

// stop asks the process to shut down cleanly.
func (p *proc) stop(t testing.TB) {
	if p.exited() {
		t.Fatalf("backend exited early (%v):\n%s", p.Err(), p.tail(3000))
	}
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatalf("%v:\n%s", err, p.tail(3000))
	}
}

// crashed reports an exit through a crash point (status 137 by os.Exit).
func (p *proc) crashed() bool { return p.ExitCode() == 137 }

// ---------------------------------------------------------------------------
// Outcomes.

// figures are a run's money figures per account (miners and the fee
// account): what a crash must never change.
type figures map[string]string

func moneyFigures(rep *audit.Report) figures {
	f := figures{}
	for _, a := range rep.Accounts {
		name := a.Address
		if a.Fee {
			name = "fee"
		}
		f[name] = fmt.Sprintf("credited %d reversed %d paid %d balance %d", a.CreditedSat, a.ReversedSat, a.PaidSat, a.BalanceSat)
	}
	for _, n := range rep.Networks {
		f["network "+n.Network] = fmt.Sprintf("reward %d credited %d fee %d paid %d balance %d matured %d",
			n.RewardSat, n.CreditedSat, n.FeeSat, n.PaidSat, n.BalanceSat, n.BlocksMatured)
	}
	return f
}

func (f figures) diff(o figures) []string {
	keys := map[string]bool{}
	for k := range f {
		keys[k] = true
	}
	for k := range o {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		if f[k] != o[k] {
			out = append(out, fmt.Sprintf("%s: %q, without crashes %q", k, f[k], o[k]))
		}
	}
	sort.Strings(out)
	return out
}

// quiescent reports a ledger where both pool blocks matured, no payout is
// planned or halted, and every miner was paid all it was credited.
func quiescent(l *aggregates.Ledger) bool {
	n, ok := l.Networks[network]
	if !ok {
		return false
	}
	matured := 0
	for _, b := range n.Blocks {
		if b.Matured {
			matured++
		}
	}
	if matured < 2 || len(n.Unsettled) > 0 || n.PayoutCount == 0 {
		return false
	}
	fee := events.FeeAccountID(network)
	for id, bal := range n.Balances {
		if id != fee && bal != 0 {
			return false
		}
	}
	return true
}

// walletSends groups the wallet's sends by comment: comment → distinct txids.
func (w *world) walletSends(ctx context.Context) map[string][]string {
	w.t.Helper()
	entries, err := w.node.ListTransactions(ctx, "*", 100000, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	// A signed payout carries its payout id in its data output; a sendmany
	// (an earlier release, or a test's own send) in its comment.
	seen := map[string]map[string]bool{}
	for _, e := range entries {
		if e.Category != "send" {
			continue
		}
		key := e.Comment
		if d, ok := w.markerOf(ctx, e.TxID); ok {
			key = d.PayoutID.String()
		}
		if seen[key] == nil {
			seen[key] = map[string]bool{}
		}
		seen[key][e.TxID] = true
	}
	out := map[string][]string{}
	for c, ids := range seen {
		for id := range ids {
			out[c] = append(out[c], id)
		}
		sort.Strings(out[c])
	}
	return out
}

// markerOf reads a wallet transaction's payout marker (its data output).
func (w *world) markerOf(ctx context.Context, txid string) (anchor.Data, bool) {
	w.t.Helper()
	tx, err := w.node.GetTransaction(ctx, txid)
	if err != nil {
		w.t.Fatal(err)
	}
	dec, err := w.node.DecodeRawTransaction(ctx, tx.Hex)
	if err != nil {
		w.t.Fatal(err)
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

// allEvents reads the whole log.
func (w *world) allEvents(ctx context.Context) []events.Envelope {
	w.t.Helper()
	var all []events.Envelope
	var after uint64
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
