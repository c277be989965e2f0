package app_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/purepool/purepool/app"
	"github.com/purepool/purepool/config"
	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/simnode"
)

// The projector role serves its metrics on projector.metrics_listen: they
// follow the events of the store.
func TestProjectorMetricsListen(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, err := config.Parse(`data_dir = "` + filepath.ToSlash(t.TempDir()) + `"
[projector]
metrics_listen = "127.0.0.1:0"
[[network]]
name = "test"
pool_address = "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci"
`)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := app.Open(ctx, cfg, app.Options{Roles: app.Roles{Projector: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if pool.MetricsAddr() == nil {
		t.Fatal("no metrics listener")
	}
	// A taken port fails Open, naming the key.
	cfg2 := cfg
	cfg2.DataDir = t.TempDir()
	cfg2.Projector.MetricsListen = pool.MetricsAddr().String()
	var ke *config.KeyError
	if p2, err := app.Open(ctx, cfg2, app.Options{Roles: app.Roles{Projector: true}}); !errors.As(err, &ke) || ke.Key != "projector.metrics_listen" {
		if p2 != nil {
			p2.Close()
		}
		t.Errorf("second Open on the same port: %v, want a projector.metrics_listen error", err)
	}

	h := ledgergen.Generate(ledgergen.Config{Seed: 3, Miners: 3, ChainBlocks: 30, SharesPerBlock: 3})
	for _, w := range h.Writes(200) {
		if _, err := pool.Store().Append(ctx, w...); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()
	n := float64(len(h.Envelopes))
	url := "http://" + pool.MetricsAddr().String() + "/metrics"
	var got map[string]float64
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err = testenv.ScrapeMetrics(url)
		if err == nil && got["purepool_projector_events_total"] == n && got["purepool_projector_position"] == n &&
			got["purepool_projector_store_head"] == n && got["purepool_projector_lag_events"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed %v events projected: %v (%v)", n, got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got["purepool_projector_batches_total"] < 1 || got["purepool_projector_errors_total"] != 0 {
		t.Errorf("metrics %v", got)
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Error("the runtime's metrics are missing")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := testenv.ScrapeMetrics(url); err == nil {
		t.Error("metrics still served after Run returned")
	}
}

// The backend role serves its gauges on backend.metrics_listen: what the
// pool owes and what its wallet holds, per network.
func TestBackendMetricsListen(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	node, _, pool := openWithNode(ctx, t, `[backend]
metrics_listen = "127.0.0.1:0"
funding_check = "50ms"`)
	if _, err := node.Node.MinePoolBlock(ctx, node.Node.WalletAddress(), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Node.Generate(int(node.Node.Maturity())); err != nil {
		t.Fatal(err)
	}
	if pool.BackendMetricsAddr() == nil {
		t.Fatal("no backend metrics listener")
	}
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()
	const sample = `purepool_backend_wallet_balance_sat{network="test"} `
	// On backend.metrics_listen, and (every role in one process) on the
	// website's /metrics too.
	for _, url := range []string{"http://" + pool.BackendMetricsAddr().String() + "/metrics", "http://" + pool.Addrs()[0].String() + "/metrics"} {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			page, err := scrapeText(url)
			var balance float64
			for _, line := range strings.Split(page, "\n") {
				if v, ok := strings.CutPrefix(line, sample); ok {
					balance, _ = strconv.ParseFloat(v, 64)
				}
			}
			// The wallet holds the one matured coinbase.
			if err == nil && balance == float64(simnode.DefaultBlockReward) && strings.Contains(page, "go_goroutines") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never showed the wallet's %d: %v\n%s", url, simnode.DefaultBlockReward, err, page)
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func scrapeText(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
