package backend_test

import (
	"context"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/esdb"
	"github.com/purepool/purepool/events/esdb/esdbfake"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simminer"
	"github.com/purepool/purepool/simnode"
)

const network = "test"

// shareTarget is easy enough for the stand-in hash to meet in a few tries.
var shareTarget = biblepay.TargetForDifficulty(4)

func newSQLiteStore(t testing.TB) events.Store {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newPostgresStore(t testing.TB) events.Store {
	t.Helper()
	s, _ := newPostgresStoreURL(t)
	return s
}

func newPostgresStoreURL(t testing.TB) (events.Store, string) {
	t.Helper()
	ctx := context.Background()
	url := testenv.NewPostgresDB(t)
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s.PollInterval = 20 * time.Millisecond
	t.Cleanup(func() { s.Close() })
	return s, url
}

// newESDBFakeStore is the EventStoreDB adapter, through the real v4
// client, on the in-process fake of the server's gRPC protocol.
func newESDBFakeStore(t testing.TB) events.Store {
	t.Helper()
	fake, err := esdbfake.Listen()
	if err != nil {
		t.Fatal(err)
	}
	s, err := esdb.Open(fake.URL(), quietLogger())
	if err != nil {
		fake.Stop()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); fake.Stop() })
	return s
}

// newESDBLiveStore is the EventStoreDB adapter on the server named by
// PUREPOOL_TEST_ESDB_URL; the test is skipped without one. Stream names are
// unique per test (command and solution ids are random; chain and block
// streams are per network and hash), but the chain streams of network
// "test" are shared by every run: give each run a fresh server.
func newESDBLiveStore(t testing.TB) events.Store {
	t.Helper()
	url := os.Getenv("PUREPOOL_TEST_ESDB_URL")
	if url == "" {
		t.Skip("PUREPOOL_TEST_ESDB_URL is not set: no live EventStoreDB server to run the backend against")
	}
	s, err := esdb.Open(url, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// harness is a backend over a real store and a simulated node served over
// HTTP and reached through the real RPC client.
type harness struct {
	t      testing.TB
	store  events.Store
	srv    *simnode.Server
	node   *rpcclient.Client
	b      *backend.Backend
	pool   string
	cancel context.CancelFunc
	done   chan error
	miner  *simminer.Miner
	thread int
	dials  atomic.Int64 // connections the node client opened
	cfg    backend.Config
}

// twin is a second installation of the pool on another store, with the
// same node and wallet (a restored backup, or a second install).
func (h *harness) twin(store events.Store) *harness {
	h.t.Helper()
	b, err := backend.New(store, h.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	return &harness{t: h.t, store: store, srv: h.srv, node: h.node, b: b, pool: h.pool, miner: h.miner, cfg: h.cfg}
}

// nextThread varies the thread id so that every mined share differs (the
// simulated miner derives its extra nonce from it).
func (h *harness) nextThread() int {
	h.thread = h.thread%1000 + 1
	return h.thread
}

func quietLogger() *slog.Logger {
	if os.Getenv("PUREPOOL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newHarness(t testing.TB, store events.Store, tweak func(*backend.NetworkConfig, *backend.Config)) *harness {
	t.Helper()
	srv, err := simnode.Start(simnode.Config{Network: biblepay.Networks[network], Maturity: 5, NetworkHashRate: 0.5, Seed: 7,
		Logger: quietLogger()}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	h := &harness{t: t, store: store, srv: srv, pool: srv.Node.WalletAddress()}
	// Dials are counted: a client that re-dials under load measures TCP
	// set-up, not the node.
	dialer := &net.Dialer{}
	transport := &http.Transport{MaxIdleConnsPerHost: 128, IdleConnTimeout: time.Minute,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			h.dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		}}
	node, err := rpcclient.New(rpcclient.Config{URL: srv.URL, Network: biblepay.Networks[network], Timeout: 2 * time.Second,
		HTTPClient: &http.Client{Transport: transport}})
	if err != nil {
		t.Fatal(err)
	}
	h.node = node
	nc := backend.NetworkConfig{Name: network, PoolAddress: h.pool, Node: node, Maturity: 5, ConfirmStep: 2, FollowFrom: 1,
		StaleTolerance: 1, FeeBps: 100, MinPayoutSat: biblepay.Coin, MaxRecipients: 2, PayoutConfirmations: 1}
	cfg := backend.Config{PollInterval: 20 * time.Millisecond, WorkWait: 2 * time.Second, Logger: quietLogger()}
	if tweak != nil {
		tweak(&nc, &cfg)
	}
	cfg.Networks = []backend.NetworkConfig{nc}
	h.cfg = cfg
	h.b, err = backend.New(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.miner, err = simminer.New(simminer.Config{Pool: "http://127.0.0.1:1", Worker: "x", Network: biblepay.Networks[network], Node: node})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// startView runs only the view (tests drive the jobs by hand).
func (h *harness) startView() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.b.View().Run(ctx, h.store) }()
	h.t.Cleanup(h.stop)
}

// startAll runs the whole backend with a consumer.
func (h *harness) startAll(c commands.Consumer) {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.b.Run(ctx, backend.RunOptions{Consumer: c, Consumers: 2}) }()
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.cancel != nil {
		h.cancel()
		<-h.done
		h.cancel = nil
	}
}

// addrOf is a test address of the network.
func addrOf(seed byte) string {
	var pkh [20]byte
	for i := range pkh {
		pkh[i] = seed ^ byte(i*7)
	}
	return biblepay.Networks[network].Address(pkh)
}

func issueCmd(address, worker string, workID uuid.UUID) commands.IssueWork {
	return commands.IssueWork{ID: uuid.New(), Network: network, MinerID: events.MinerID(network, address), Address: address,
		Worker: worker, WorkID: workID, Target: shareTarget, ThreadID: 1, Agent: "1.1.4.1", OS: "LIN", IssuedAt: time.Now().UTC()}
}

// share mines a valid share for a work of address.
func (h *harness) share(address string, workID uuid.UUID) simminer.Share {
	h.t.Helper()
	t, _ := new(big.Int).SetString(shareTarget, 16)
	s, err := h.miner.Mine(context.Background(), simminer.Work{Address: h.pool, TargetHex: shareTarget, Target: t,
		MinerGUID: events.MinerID(network, address).String(), WorkID: workID.String()}, h.nextThread())
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func submitCmd(address, worker, solution string) commands.SubmitSolution {
	return commands.SubmitSolution{ID: uuid.New(), Network: network, MinerID: events.MinerID(network, address), Address: address,
		Worker: worker, Solution: solution, ThreadID: 1, Agent: "1.1.4.1", OS: "LIN", ReceivedAt: time.Now().UTC()}
}

func (h *harness) handle(c commands.Command) error {
	h.t.Helper()
	msg, err := commands.Encode(c)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.b.Handle(context.Background(), msg)
}

func (h *harness) mustHandle(c commands.Command) {
	h.t.Helper()
	if err := h.handle(c); err != nil {
		h.t.Fatalf("%s: %v", c.CommandName(), err)
	}
}

// streamTypes lists the event types of a stream.
func (h *harness) streamTypes(stream string) []string {
	h.t.Helper()
	envs, err := events.ReadWholeStream(context.Background(), h.store, stream)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, e := range envs {
		out = append(out, e.Type)
	}
	return out
}

func (h *harness) decoded(stream string) []events.Event {
	h.t.Helper()
	envs, err := events.ReadWholeStream(context.Background(), h.store, stream)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []events.Event
	for _, env := range envs {
		e, err := events.Decode(env)
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// allEvents reads the whole log.
func (h *harness) allEvents() []events.Envelope {
	h.t.Helper()
	var all []events.Envelope
	var after uint64
	for {
		page, err := h.store.ReadAll(context.Background(), after, 1000)
		if err != nil {
			h.t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 1000 {
			return all
		}
		after = page[len(page)-1].Position
	}
}

// threeCalls is a node without batch support: it hides the client's
// CheckShare, so share validation makes its three single calls.
type threeCalls struct{ backend.Node }

type (
	backendNetworkConfig = backend.NetworkConfig
	backendConfig        = backend.Config
)

// shareTo mines a share whose coinbase pays payTo instead of the pool.
func (h *harness) shareTo(address string, workID uuid.UUID, payTo string) simminer.Share {
	h.t.Helper()
	t, _ := new(big.Int).SetString(shareTarget, 16)
	s, err := h.miner.Mine(context.Background(), simminer.Work{Address: payTo, TargetHex: shareTarget, Target: t,
		MinerGUID: events.MinerID(network, address).String(), WorkID: workID.String()}, h.nextThread())
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}
