package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/app"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/config"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/esdb"
	"github.com/purepool/purepool/events/esdb/esdbfake"
	"github.com/purepool/purepool/simnode"
)

// A pool on the in-process bus takes admin commands on its socket in
// data_dir, and only admin commands.
func TestAdminSocket(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, cfg, pool := openWithNode(ctx, t, "")
	socket := app.AdminSocketPath(cfg)
	if fi, err := os.Stat(socket); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("admin socket %s: %v %v", socket, fi, err)
	}
	// A second pool on the same data_dir is refused.
	var ke *config.KeyError
	if p2, err := app.Open(ctx, cfg, app.Options{Roles: app.AllRoles}); !errors.As(err, &ke) || ke.Key != "data_dir" {
		if p2 != nil {
			p2.Close()
		}
		t.Fatalf("second pool on the data_dir: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()

	id := uuid.New()
	if err := app.SendAdmin(ctx, socket, commands.PausePayouts{ID: id, Network: "test", Reason: "maintenance", At: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		envs, err := events.ReadWholeStream(ctx, pool.Store(), events.StreamPayoutSchedule("test"))
		if err == nil && len(envs) == 1 && envs[0].Type == events.TypePayoutsPaused && envs[0].Metadata.CommandID == id.String() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the paused schedule was never recorded: %v %v", envs, err)
		}
	}
	// A miner's command is not an admin command.
	work := commands.IssueWork{ID: uuid.New(), Network: "test", MinerID: uuid.New(), WorkID: uuid.New(), IssuedAt: time.Now().UTC()}
	if err := app.SendAdmin(ctx, socket, work); err == nil || !strings.Contains(err.Error(), "not an admin command") {
		t.Fatalf("IssueWork on the admin socket: %v", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	pool.Close()
	if _, err := os.Stat(socket); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the admin socket outlived the pool: %v", err)
	}
	if err := app.SendAdmin(context.Background(), socket, commands.ResumePayouts{ID: uuid.New(), Network: "test"}); err == nil {
		t.Fatal("an admin command reached a stopped pool")
	}
}

// openWithNode opens every role in one process (the in-process bus needs
// it) against a fresh simulated node, on a data_dir of the test's; extra
// is more configuration (tables before [[network]]).
func openWithNode(ctx context.Context, t *testing.T, extra string) (*simnode.Server, config.Config, *app.Pool) {
	t.Helper()
	node, err := simnode.Start(simnode.Config{Network: biblepay.Networks["test"], Seed: 5, NetworkHashRate: 0.5}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	cfg, err := config.Parse(`data_dir = "` + filepath.ToSlash(t.TempDir()) + `"
[frontend]
listen = "127.0.0.1:0"
` + extra + `
[[network]]
name = "test"
pool_address = "` + node.Node.WalletAddress() + `"
node_url = "` + node.URL + `"
`)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := app.Open(ctx, cfg, app.Options{Roles: app.AllRoles})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	return node, cfg, pool
}

// A data_dir too long for a socket address costs the admin socket, not the
// pool.
func TestAdminSocketPathTooLong(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 120))
	_, cfg, pool := openWithNode(ctx, t, "")
	cfg.DataDir = long
	p2, err := app.Open(ctx, cfg, app.Options{Roles: app.AllRoles})
	if err != nil {
		t.Fatalf("a long data_dir: %v", err)
	}
	defer p2.Close()
	if p2.AdminSocketAddr() != nil || pool.AdminSocketAddr() == nil {
		t.Fatalf("admin sockets: long data_dir %v, short %v", p2.AdminSocketAddr(), pool.AdminSocketAddr())
	}
}

// The backend's writes are atomic across two streams, which EventStoreDB
// cannot do: a backend on it is refused at start, not left to dead-letter
// every share.
// A backend on EventStoreDB (the project's faithful fake server) opens,
// runs its jobs under a lease stream, and writes its ledger there: the
// writes that took several streams at once are stepwise on that store.
func TestBackendOpensOnEventStoreDB(t *testing.T) {
	srv, err := esdbfake.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	node, err := simnode.Start(simnode.Config{Network: biblepay.Networks["test"], Seed: 5, NetworkHashRate: 0.5}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	cfg, err := config.Parse(`data_dir = "` + filepath.ToSlash(t.TempDir()) + `"
[store]
events = "` + srv.URL() + `"
[backend]
jobs_only = true
chain_poll = "50ms"
lease_ttl = "7s"
[[network]]
name = "test"
pool_address = "` + node.Node.WalletAddress() + `"
node_url = "` + node.URL + `"
`)
	if err != nil {
		t.Fatal(err)
	}
	p, err := app.Open(context.Background(), cfg, app.Options{Roles: app.Roles{Backend: true}})
	if err != nil {
		t.Fatalf("backend on EventStoreDB: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	// The chain follower records the node's tip, under the lease.
	deadline := time.Now().Add(time.Minute)
	for srv.Appends() < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("backend on EventStoreDB stopped: %v", err)
	}
	p.Close()
	if srv.Appends() < 2 {
		t.Fatalf("the backend wrote %d appends to EventStoreDB, want the lease and the chain", srv.Appends())
	}
	// The jobs ran under leases of backend.lease_ttl.
	st, err := esdb.Open(srv.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, err := st.ReadAll(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	leases := 0
	for _, e := range all {
		if e.Type != events.TypeLeaseTaken {
			continue
		}
		var l events.LeaseTaken
		if err := json.Unmarshal(e.Data, &l); err != nil {
			t.Fatal(err)
		}
		switch got := l.Until.Sub(l.At); got {
		case 0: // handed over at Close
		case 7 * time.Second:
			leases++
		default:
			t.Errorf("lease %s lasts %s, want backend.lease_ttl 7s", l.Name, got)
		}
	}
	if leases == 0 {
		t.Error("no lease taken: the jobs ran without a lock")
	}
}
