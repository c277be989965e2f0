package loadtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/events/postgres"
	pphttp "github.com/purepool/purepool/http"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/projections"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simnode"
)

const network = "test"

// shareTarget makes a share cost a few stand-in hashes: the load is on
// the pool, not on the simulated miners' CPU.
var shareTarget = biblepay.TargetForDifficulty(4)

// stack is the pool running on the real services.
type stack struct {
	store   *postgres.Store
	node    *simnode.Server
	rpc     *rpcclient.Client // the miners' client of the node
	poolURL string
	backend *backend.Backend // nil when the backend runs as a process
	proc    *childProcess    // the backend process, if it is one
	// nodeProc is the node's process, if it is one (node is then nil).
	nodeProc *childProcess
	pool     string // the pool's address (the node's wallet)
	net      biblepay.Network
	logs     *levelCounter
	stop     func()
}

// backendCPU is the backend process's CPU time so far (0 in process).
func (s *stack) backendCPU() time.Duration {
	if s.proc == nil {
		return 0
	}
	return s.proc.CPU()
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// startStack starts node, backend, projector and frontend; stop (also a
// cleanup) ends them in reverse order.
func startStack(t testing.TB, workers int) *stack {
	t.Helper()
	ctx := context.Background()
	logs := &levelCounter{counts: map[string]int{}}
	log := slog.New(logs)

	// The node and the backend run as processes of their own, as deployed
	// (PUREPOOL_LOAD_BACKEND=inproc: in this process). In this process the
	// Go scheduler shares the CPU among goroutines, and the thousands of
	// the miners and the frontend starve the backend's 64 handlers and the
	// node's RPC while the load lasts: it would measure the load
	// generator, not the pool.
	inproc := os.Getenv("PUREPOOL_LOAD_BACKEND") == "inproc"
	var node *simnode.Server
	var nodeProc *childProcess
	var end nodeEnd
	if inproc {
		n, err := simnode.Start(simnode.Config{Network: biblepay.Networks[network], Seed: 11, Logger: log}, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		node, end = n, nodeEnd{url: n.URL}
	} else {
		nodeProc, end = startNodeProcess(t, logs)
	}
	rpcFor := func(conns int) *rpcclient.Client {
		c, err := rpcclient.New(rpcclient.Config{URL: end.url, User: end.user, Password: end.password, Network: biblepay.Networks[network], Timeout: 30 * time.Second,
			HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute}}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var info struct {
		WalletAddress string `json:"walletaddress"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := rpcFor(1).Call(ctx, "sim_info", nil, &info)
		if err == nil {
			break
		}
		if time.Now().After(deadline) || (nodeProc != nil && nodeProc.Exited()) {
			t.Fatalf("the node does not answer: %v", err)
		}
	}
	pool := info.WalletAddress

	// Events and the read model in one fresh PostgreSQL database.
	url := testenv.NewPostgresDB(t)
	storeURL := url
	// pgxpool's default is max(4, cores) connections, as `purepool
	// backend` opens the store; PUREPOOL_LOAD_PG_CONNS raises it.
	if n := envInt("PUREPOOL_LOAD_PG_CONNS", 0); n > 0 {
		sep := "?"
		if strings.Contains(storeURL, "?") {
			sep = "&"
		}
		storeURL += sep + "pool_max_conns=" + strconv.Itoa(n)
	}
	store, err := postgres.Open(ctx, storeURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	store.PollInterval = 50 * time.Millisecond
	rm, err := projections.OpenURL(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rm.Close() })
	if err := rm.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// database/sql opens a connection per concurrent query, without
	// bound: 1,000 miners asking for work at once exceed PostgreSQL's
	// max_connections (100), and every lookup that fails is answered
	// HEALTH_DOWN. The frontend's wiring does not bound the pool yet; the
	// load test does, as the deployment must (PUREPOOL_LOAD_RM_CONNS=0
	// leaves it unbounded to show the failure).
	if n := envInt("PUREPOOL_LOAD_RM_CONNS", 16); os.Getenv("PUREPOOL_LOAD_RM_CONNS") != "0" {
		rm.SQL.SetMaxOpenConns(n)
		rm.SQL.SetMaxIdleConns(n)
	}

	// Commands over RabbitMQ, on a topology of this run's own.
	amqpURL := testenv.RequireAMQP(t)
	p := testenv.UniqueName("pp_load")
	top := rabbitmq.Topology{Exchange: p + ".x", Queue: p + ".q", DeadLetterExchange: p + ".dlx", DeadLetterQueue: p + ".dead", DeliveryLimit: 20}
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		testenv.Unavailable(t, "RabbitMQ", err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := rabbitmq.DeclareTopology(ch, top); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rabbitmq.DeleteTopology(ch, top) })
	pub, err := rabbitmq.NewPublisher(rabbitmq.Config{URL: amqpURL, Topology: top, Name: "purepool-frontend-load", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := pub.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	cons, err := rabbitmq.NewConsumer(rabbitmq.Config{URL: amqpURL, Topology: top, Name: "purepool-backend-load",
		Workers: workers, Prefetch: 2 * workers, Logger: log})
	if err != nil {
		t.Fatal(err)
	}

	// The backend (see the node above for where it runs).
	var b *backend.Backend
	var proc *childProcess
	if inproc {
		b, err = backend.New(store, backend.Config{
			Networks: []backend.NetworkConfig{{Name: network, PoolAddress: pool, Node: rpcFor(4 * max(workers, 16)),
				FollowFrom: 1, StaleTolerance: 1, PinfoTTL: time.Second}},
			Logger: log,
		})
		if err != nil {
			t.Fatal(err)
		}
	} else {
		proc = startBackendProcess(t, storeURL, amqpURL, top.Queue, pool, end, workers, logs)
	}

	// The frontend as app wires it: the miner directory and the chain tip
	// held in memory and polled from the read model, the broker's health,
	// publishes to RabbitMQ. The rate limit is off: every miner comes from
	// 127.0.0.1.
	dir := pphttp.NewDirectory(projections.NewReader(rm.SQL, rm.Dialect), pphttp.DirectoryConfig{Networks: []string{network}, Logger: log})
	action, err := pphttp.NewActionHandler(pphttp.Config{
		Networks:  map[string]pphttp.NetworkConfig{network: {PoolAddress: pool, DefaultTarget: shareTarget}},
		RateLimit: -1,
	}, dir, pphttp.AllHealthy(dir, pphttp.HealthFunc(func(context.Context, string) error { return pub.Ready() })), pub, log)
	if err != nil {
		t.Fatal(err)
	}
	front := &pphttp.Server{Action: action, Logger: log, ShutdownTimeout: 30 * time.Second}
	addr, err := front.Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	roles := map[string]func(context.Context) error{
		"projector": (&projections.Runner{Store: store, DB: rm, Logger: log}).Run,
		"frontend":  front.Run,
	}
	if inproc {
		roles["backend"] = func(ctx context.Context) error { return b.Run(ctx, backend.RunOptions{Consumer: cons, Consumers: 1}) }
	}
	for name, run := range roles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	var once sync.Once
	s := &stack{store: store, node: node, rpc: rpcFor(2048), poolURL: "http://" + addr.String(), backend: b, proc: proc, nodeProc: nodeProc,
		pool: pool, net: biblepay.Networks[network], logs: logs}
	s.stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("stopped with %v", err)
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

// levelCounter is a slog handler that counts warnings and errors by
// message (the figures say whether the pool struggled) and drops the rest.
type levelCounter struct {
	mu     sync.Mutex
	counts map[string]int
	first  map[string]string
}

// Info is enabled because the frontend decides a refusal's level (Warn
// for HEALTH_DOWN) only after asking whether Info is enabled.
func (l *levelCounter) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }

func (l *levelCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.Level < slog.LevelWarn {
		return nil
	}
	key := r.Level.String() + " " + r.Message
	l.counts[key]++
	if l.first == nil {
		l.first = map[string]string{}
	}
	if _, ok := l.first[key]; !ok {
		var b strings.Builder
		r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return b.Len() < 400 })
		l.first[key] = b.String()
	}
	return nil
}

// count adds one occurrence of key, keeping the first example.
func (l *levelCounter) count(key, example string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[key]++
	if l.first == nil {
		l.first = map[string]string{}
	}
	if _, ok := l.first[key]; !ok {
		if len(example) > 400 {
			example = example[:400]
		}
		l.first[key] = " " + example
	}
}

func (l *levelCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *levelCounter) WithGroup(string) slog.Handler      { return l }

// String lists the counts, most frequent first, with the first example.
func (l *levelCounter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make([]string, 0, len(l.counts))
	for k := range l.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return l.counts[keys[i]] > l.counts[keys[j]] })
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %6d × %s (first:%s)", l.counts[k], k, l.first[k])
	}
	if b.Len() == 0 {
		return " none"
	}
	return b.String()
}
