package stress_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/events"
	pphttp "github.com/purepool/purepool/http"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/simminer"
	"github.com/purepool/purepool/simnode"
)

// TestBackendStoppedUnderLoad stops the `purepool backend` process while
// simulated miners keep mining against the real frontend (publishing to
// RabbitMQ): the chain moves on past the pool blocks' maturity while their
// shares wait in the queue. When the backend comes back, every share the
// frontend answered ok during the outage must be judged as of its receipt:
// accepted (none of them is stale or above the nonce rule when it arrived),
// counted in the round of the height it was mined on, credited; each
// winning share in its own block's round; the pool's fee exactly its
// configured 1 % of every block; and the fairness audit clean.
//
// The default run stops the backend for 8 s (past a maturity of 5 blocks of
// 1 s); PUREPOOL_STRESS=1 stops it for 60 s.
func TestBackendStoppedUnderLoad(t *testing.T) {
	outage := 8 * time.Second
	if long() {
		outage = 60 * time.Second
	}
	bin := purepoolBinary(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	storeURL := testenv.NewPostgresDB(t)
	store, rm := openPostgres(ctx, t, storeURL)
	amqpURL := testenv.RequireAMQP(t)
	prefix := testenv.UniqueName("pp_outage")
	topo := rabbitmq.Topology{Exchange: prefix + ".x", Queue: prefix + ".q", DeadLetterExchange: prefix + ".dlx",
		DeadLetterQueue: prefix + ".dead", DeliveryLimit: 20}
	declare(t, amqpURL, topo)

	// Network difficulty 150 against shares of 4: about one share in 40
	// is a pool block, found and submitted by the miners as a
	// wallet does, during the outage too.
	srv, err := simnode.Start(simnode.Config{Network: biblepay.Networks[network], Maturity: maturity, NetworkHashRate: 150, Seed: 21,
		BlockTime: time.Second, Logger: quietLogger()}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	node := nodeClient(t, srv.URL)
	pool := srv.Node.WalletAddress()
	nproc := 0
	startBackend := func() *proc {
		nproc++
		return &proc{testenv.StartProcess(t, fmt.Sprintf("backend-%d", nproc), nil, bin,
			"backend", "--store", storeURL, "--amqp-url", amqpURL, "--amqp-queue", topo.Queue,
			"--network", network, "--pool-address", pool, "--node-url", srv.URL, "--maturity", fmt.Sprint(maturity),
			"--follow-from", "1", "--fee-bps", "100", "--stale-tolerance", "1", "--payout-interval", "0",
			"--poll-interval", "200ms", "--consumers", "4", "--log-format", "text")}
	}
	be := startBackend()

	pub, err := rabbitmq.NewPublisher(rabbitmq.Config{URL: amqpURL, Topology: topo, Name: "outage-frontend",
		ReconnectMax: 500 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	addr, frontDone := startFrontend(ctx, t, pool, rm, pphttp.HealthFunc(func(context.Context, string) error { return nil }), pub)

	// Four miners; every share answered ok is remembered with whether the
	// backend was down when it was answered.
	var (
		mu         sync.Mutex
		okDown     = map[string]bool{} // bible hash → answered ok while the backend was down
		okCount    atomic.Int64
		down       atomic.Bool
		notOK      = map[string]int{}
		minersDone sync.WaitGroup
	)
	minersCtx, stopMiners := context.WithCancel(ctx)
	defer stopMiners()
	for i := range 4 {
		m, err := simminer.New(simminer.Config{Pool: "http://" + addr.String(), Worker: addrOf(byte(80+i)) + "/rig",
			Network: biblepay.Networks[network], Node: node, Timeout: 10 * time.Second, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		minersDone.Add(1)
		go func() {
			defer minersDone.Done()
			for th := 1; minersCtx.Err() == nil; th = th%100 + 1 {
				w, err := m.RequestWork(minersCtx, th)
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				s, err := m.Mine(minersCtx, w, th)
				if err != nil {
					continue
				}
				if s.IsBlock { // the wallet's own node takes the block
					_ = node.SubmitBlock(minersCtx, s.BlockHex)
				}
				wasDown := down.Load()
				r, err := m.SubmitSolution(minersCtx, th, s.Solution)
				time.Sleep(100 * time.Millisecond) // about 10 shares/s a miner
				mu.Lock()
				switch {
				case err != nil:
					notOK[firstWords(err.Error())]++
				case strings.EqualFold(r.Status, "ok"):
					okDown[s.BibleHash] = wasDown && down.Load()
					okCount.Add(1)
				default:
					notOK[r.Error]++
				}
				mu.Unlock()
			}
		}()
	}
	waitFor := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s; backend:\n%s", what, limit, be.tail(3000))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("shares before the outage", 60*time.Second, func() bool { return okCount.Load() >= 10 })

	// The outage: the frontend keeps answering ok and queueing.
	be.stop(t)
	down.Store(true)
	stoppedAt := srv.Node.Height()
	time.Sleep(outage)
	down.Store(false)
	if moved := srv.Node.Height() - stoppedAt; moved <= maturity {
		t.Fatalf("the chain moved %d blocks during the outage: not past maturity %d", moved, maturity)
	}
	be = startBackend()
	waitFor("shares after the outage", 60*time.Second, func() bool { return okCount.Load() >= 10 })
	stopMiners()
	minersDone.Wait()

	mu.Lock()
	outageShares := map[string]bool{}
	for bh, d := range okDown {
		if d {
			outageShares[bh] = true
		}
	}
	mu.Unlock()
	if len(outageShares) < 4 {
		t.Fatalf("only %d shares answered ok during the outage (failures %v)", len(outageShares), notOK)
	}

	// Every ok'd share reaches the ledger; the outage's accepted ones count
	// in a round once a pool block above their heights has matured.
	ledger := func() *aggregates.Ledger { return foldLog(ctx, t, store) }
	type verdict struct {
		reason      string // "" accepted
		minedHeight int64
		id          string
	}
	verdicts := func() map[string]verdict {
		out := map[string]verdict{}
		var after uint64
		for {
			page, err := store.ReadAll(ctx, after, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, env := range page {
				if env.Type != events.TypeSolutionAccepted && env.Type != events.TypeSolutionRejected {
					continue
				}
				e, err := events.Decode(env)
				if err != nil {
					t.Fatal(err)
				}
				switch e := e.(type) {
				case events.SolutionAccepted:
					out[e.BibleHash] = verdict{minedHeight: e.PrevHeight + 1, id: e.SolutionID.String()}
				case events.SolutionRejected:
					// A wallet that sends the same share twice gets the
					// second rejected as a duplicate: true on arrival.
					if _, acc := out[e.BibleHash]; !acc || e.Reason != events.RejectDuplicate {
						out[e.BibleHash] = verdict{reason: e.Reason + ": " + e.Detail}
					}
				}
			}
			if len(page) < 1000 {
				return out
			}
			after = page[len(page)-1].Position
		}
	}
	var got map[string]verdict
	waitFor("every outage share in the ledger", 90*time.Second, func() bool {
		got = verdicts()
		for bh := range outageShares {
			if _, ok := got[bh]; !ok {
				return false
			}
		}
		return true
	})
	var top int64
	accepted := 0
	for bh := range outageShares {
		v := got[bh]
		if v.reason != "" {
			t.Errorf("a share answered ok during the outage was rejected later: %s", v.reason)
			continue
		}
		accepted++
		top = max(top, v.minedHeight)
	}
	// Mine on until a pool block above every outage share's height is
	// credited, so that each of them is in a credited round.
	counted := func(l *aggregates.Ledger) bool {
		n := l.Network(network)
		for _, b := range n.Blocks {
			if b.Matured && b.Height >= top {
				return true
			}
		}
		return false
	}
	if !counted(ledger()) {
		if _, err := srv.Node.MinePoolBlock(ctx, pool, events.MinerID(network, addrOf(80)).String()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor("a credited pool block above the outage's shares", 90*time.Second, func() bool { return counted(ledger()) })
	outageIDs := map[string]bool{}
	for bh := range outageShares {
		if v := got[bh]; v.reason == "" {
			outageIDs[v.id] = true
		}
	}
	l := ledger()
	n := l.Network(network)
	for _, s := range n.Open {
		if outageIDs[s.SolutionID.String()] {
			t.Errorf("share %s (mined at %d) answered ok during the outage is in no credited round", s.SolutionID, s.MinedHeight)
		}
	}
	var reward, fee int64
	empty, late, found := 0, 0, 0
	for _, b := range n.Blocks {
		if !b.Matured {
			continue
		}
		reward += b.RewardSat
		if b.Fee != nil {
			fee += b.Fee.AmountSat
			if want, _ := aggregates.FeeOf(b.RewardSat, 100); b.Fee.AmountSat != want {
				t.Errorf("block %d: fee %d, want exactly 1 %% = %d", b.Height, b.Fee.AmountSat, want)
			}
		}
		if b.Empty != nil {
			empty++
		}
		if b.Late != nil {
			late += len(b.Late.Shares)
		}
		if b.Height > stoppedAt && b.Height <= stoppedAt+int64(outage/time.Second) {
			found++
		}
	}
	if found == 0 {
		t.Errorf("no pool block was found during the outage: the run proves nothing about rounds")
	}
	if late > 0 || empty > 0 {
		t.Errorf("%d late shares, %d empty rounds: a round was credited before the queue reached its shares", late, empty)
	}
	be.stop(t)
	rep, err := audit.Run(ctx, store, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range rep.Violations {
		t.Errorf("audit: %s", v)
	}
	t.Logf("outage %s, chain moved %d blocks, %d pool blocks found during it; %d shares answered ok during it, %d accepted; %d pool blocks, %d empty rounds, %d late shares; fee %d of rewards %d; answers without ok: %v",
		outage, srv.Node.Height()-stoppedAt, found, len(outageShares), accepted, len(n.Blocks), empty, late, fee, reward, notOK)
	cancel()
	<-frontDone
}
