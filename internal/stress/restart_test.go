package stress_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/backend/crashpoint"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/postgres"
	pphttp "github.com/purepool/purepool/http"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/projections"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simminer"
	"github.com/purepool/purepool/simnode"
)

// TestRestartsUnderLoad runs simulated miners against the real frontend
// (pphttp.Server, publishing to RabbitMQ) and a real `purepool backend`
// process (consuming from RabbitMQ, storing in PostgreSQL), on private
// servers of this test. The backend first dies at the crash point
// solution.before_append and is started again; then, under load, RabbitMQ
// is restarted, then PostgreSQL. Every solution the frontend answered
// STATUS ok must end in the ledger exactly once (accepted or rejected), the
// auditor must find nothing, and the frontend and the backend process must
// have reconnected by themselves (the backend is never restarted after the
// crash).
func TestRestartsUnderLoad(t *testing.T) {
	rounds, perPhase := 1, 15
	if long() {
		rounds, perPhase = 3, 60
	}
	bin := purepoolBinary(t)
	pg := testenv.NewPrivatePostgres(t)
	mq := testenv.NewPrivateRabbitMQ(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	store, rm := openPostgres(ctx, t, pg.URL())
	topo := rabbitmq.DefaultTopology()
	declare(t, mq.URL(), topo)

	srv, err := simnode.Start(simnode.Config{Network: biblepay.Networks[network], Maturity: maturity, NetworkHashRate: 0.5, Seed: 9,
		Logger: quietLogger()}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	node := nodeClient(t, srv.URL)
	pool := srv.Node.WalletAddress()

	// The backend process.
	nproc := 0
	startBackend := func(crash string) *proc {
		nproc++
		return &proc{testenv.StartProcess(t, fmt.Sprintf("backend-%d", nproc), []string{crashpoint.Env + "=" + crash}, bin,
			"backend", "--store", pg.URL(), "--amqp-url", mq.URL(), "--amqp-queue", topo.Queue,
			"--network", network, "--pool-address", pool, "--node-url", srv.URL, "--maturity", fmt.Sprint(maturity),
			"--stale-tolerance", "1", "--payout-interval", "0", "--poll-interval", "200ms", "--consumers", "8", "--log-format", "text")}
	}
	crashed := startBackend(crashpoint.SolutionBeforeAppend)

	// The frontend.
	pub, err := rabbitmq.NewPublisher(rabbitmq.Config{URL: mq.URL(), Topology: topo, Name: "stress-frontend",
		ReconnectMax: 500 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	health := pphttp.HealthFunc(func(ctx context.Context, _ string) error {
		now, cancel := context.WithCancel(ctx)
		cancel()
		return pub.WaitReady(now)
	})
	addr, frontDone := startFrontend(ctx, t, pool, rm, health, pub)

	// The miners: ask for work, mine a share, submit it; remember every
	// solution answered STATUS ok.
	var (
		mu      sync.Mutex
		okByBH  = map[string]int{} // bible hash → times answered ok
		notOK   = map[string]int{} // why a request got no ok
		okCount atomic.Int64
	)
	minersCtx, stopMiners := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range 4 {
		m, err := simminer.New(simminer.Config{Pool: "http://" + addr.String(), Worker: addrOf(byte(60+i)) + "/rig",
			Network: biblepay.Networks[network], Node: node, Timeout: 10 * time.Second, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			note := func(why string) {
				mu.Lock()
				notOK[why]++
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
			for th := 1; minersCtx.Err() == nil; th = th%100 + 1 {
				w, err := m.RequestWork(minersCtx, th)
				if err != nil {
					note("work: " + firstWords(err.Error()))
					continue
				}
				s, err := m.Mine(minersCtx, w, th)
				if err != nil {
					continue
				}
				r, err := m.SubmitSolution(minersCtx, th, s.Solution)
				switch {
				case err != nil:
					note("solution: " + firstWords(err.Error()))
				case strings.EqualFold(r.Status, "ok"):
					mu.Lock()
					okByBH[s.BibleHash]++
					mu.Unlock()
					okCount.Add(1)
				default:
					note("solution: " + r.Error)
				}
			}
		}()
	}
	waitOK := func(n int64, what string) {
		t.Helper()
		target := okCount.Load() + n
		deadline := time.Now().Add(90 * time.Second)
		for okCount.Load() < target {
			if time.Now().After(deadline) {
				mu.Lock()
				t.Fatalf("%s: only %d of %d solutions answered ok in 90 s; failures %v", what, okCount.Load(), target, notOK)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// The backend dies at its first solution; its successor handles it.
	select {
	case <-crashed.Done():
	case <-time.After(60 * time.Second):
		t.Fatalf("the backend did not reach %s:\n%s", crashpoint.SolutionBeforeAppend, crashed.tail(3000))
	}
	if !crashed.crashed() {
		t.Fatalf("backend exited with %v, not at the crash point:\n%s", crashed.Err(), crashed.tail(3000))
	}
	// The backend must survive both restarts by itself. Should it exit
	// anyway, it is started again, as systemd's Restart=always would, so
	// the rest of the run still checks that nothing is lost or doubled;
	// its exits are reported (and fail the long variant).
	var (
		beMu  sync.Mutex
		be    = startBackend("")
		exits []string
	)
	superviseCtx, stopSupervising := context.WithCancel(ctx)
	supervised := make(chan struct{})
	go func() {
		defer close(supervised)
		for {
			beMu.Lock()
			cur := be
			beMu.Unlock()
			select {
			case <-superviseCtx.Done():
				return
			case <-cur.Done():
			}
			time.Sleep(300 * time.Millisecond) // systemd's RestartSec
			beMu.Lock()
			exits = append(exits, fmt.Sprintf("%v: %s", cur.Err(), lastLine(cur.tail(600))))
			be = startBackend("")
			beMu.Unlock()
		}
	}()
	waitOK(int64(perPhase), "after the backend's crash")
	for round := range rounds {
		if err := mq.Restart(); err != nil {
			t.Fatalf("round %d: restart RabbitMQ: %v", round, err)
		}
		waitOK(int64(perPhase), "after RabbitMQ's restart")
		if err := pg.Restart(); err != nil {
			t.Fatalf("round %d: restart PostgreSQL: %v", round, err)
		}
		waitOK(int64(perPhase), "after PostgreSQL's restart")
	}
	stopMiners()
	wg.Wait()

	// Every ok'd solution ends in the ledger exactly once.
	outcomes := func() (map[string][]string, error) {
		out := map[string][]string{}
		var after uint64
		for {
			page, err := store.ReadAll(ctx, after, 1000)
			if err != nil {
				return nil, err
			}
			for _, env := range page {
				if env.Type != events.TypeSolutionAccepted && env.Type != events.TypeSolutionRejected {
					continue
				}
				e, err := events.Decode(env)
				if err != nil {
					return nil, err
				}
				switch e := e.(type) {
				case events.SolutionAccepted:
					out[e.BibleHash] = append(out[e.BibleHash], "accepted")
				case events.SolutionRejected:
					out[e.BibleHash] = append(out[e.BibleHash], "rejected "+e.Reason)
				}
			}
			if len(page) < 1000 {
				return out, nil
			}
			after = page[len(page)-1].Position
		}
	}
	var got map[string][]string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got, err = outcomes()
		if err == nil {
			missing := 0
			for bh := range okByBH {
				if len(got[bh]) == 0 {
					missing++
				}
			}
			if missing == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("LOST: %d of %d solutions answered ok never reached the ledger:\n%s", missing, len(okByBH), lastBackendTail(&beMu, &be))
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	accepted, rejected := 0, 0
	for bh, n := range okByBH {
		if n > 1 {
			t.Errorf("the frontend answered ok %d times for bible hash %s", n, bh)
		}
		o := got[bh]
		if len(o) != 1 {
			t.Errorf("TWICE: solution %s ends in the ledger %d times: %v", bh, len(o), o)
		}
		if o[0] == "accepted" {
			accepted++
		} else {
			rejected++
		}
	}
	rep, err := audit.Run(ctx, store, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range rep.Violations {
		t.Errorf("audit: %s", v)
	}
	stopSupervising()
	<-supervised
	if len(exits) > 0 {
		t.Errorf("the backend process exited %d times instead of reconnecting by itself: %v", len(exits), exits)
	}
	be.stop(t)
	if accepted == 0 {
		t.Errorf("no solution was accepted")
	}
	mu.Lock()
	t.Logf("%d solutions answered ok (%d accepted, %d rejected), %d backend processes (1 crashed at %s), %d RabbitMQ and %d PostgreSQL restarts; answers without ok during outages: %v",
		len(okByBH), accepted, rejected, nproc, crashpoint.SolutionBeforeAppend, rounds, rounds, notOK)
	mu.Unlock()
	cancel()
	<-frontDone
}

// declare declares the command topology on a broker.
func declare(t *testing.T, url string, topo rabbitmq.Topology) {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := rabbitmq.DeclareTopology(ch, topo); err != nil {
		t.Fatal(err)
	}
}

func firstWords(s string) string {
	if len(s) > 60 {
		return s[:60]
	}
	return s
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func lastBackendTail(mu *sync.Mutex, p **proc) string {
	mu.Lock()
	defer mu.Unlock()
	return (*p).tail(3000)
}

// startFrontend serves the wallet protocol (pphttp.Server) on a free port,
// publishing to pub and reading miners from the read model, until ctx ends.
func startFrontend(ctx context.Context, t *testing.T, pool string, rm *projections.DB, health pphttp.Health, pub *rabbitmq.Publisher) (net.Addr, <-chan error) {
	t.Helper()
	action, err := pphttp.NewActionHandler(pphttp.Config{
		Networks:  map[string]pphttp.NetworkConfig{network: {PoolAddress: pool, DefaultTarget: shareTarget}},
		RateLimit: -1, PublishTimeout: 3 * time.Second,
	}, pphttp.ReadModelMiners{Reader: projections.NewReader(rm.SQL, rm.Dialect)}, health, pub, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	front := &pphttp.Server{Action: action, Logger: quietLogger(), ShutdownTimeout: 5 * time.Second}
	addr, err := front.Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- front.Run(ctx) }()
	return addr, done
}

// openPostgres opens and migrates the event store and the read model on a
// PostgreSQL database; both close when the test ends.
func openPostgres(ctx context.Context, t *testing.T, url string) (*postgres.Store, *projections.DB) {
	t.Helper()
	store, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rm, err := projections.OpenURL(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rm.Close() })
	if err := rm.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return store, rm
}

// nodeClient is the RPC client of a simulated node.
func nodeClient(t *testing.T, url string) *rpcclient.Client {
	t.Helper()
	node, err := rpcclient.New(rpcclient.Config{URL: url, Network: biblepay.Networks[network], Timeout: 5 * time.Second,
		HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}})
	if err != nil {
		t.Fatal(err)
	}
	return node
}
