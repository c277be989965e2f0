package benchfrontend

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/purepool/purepool/internal/testenv"
)

// TestRun runs the benchmark briefly on the real services: both actions
// are answered by the frontend (work, then ok) and by the bare handler
// with the same bytes, without a failed request, and the table prints
// the ratios. The figures themselves are not asserted: `purepool bench
// frontend` measures them.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the frontend on PostgreSQL and RabbitMQ")
	}
	testenv.RequireAMQP(t)
	testenv.NewPostgresDB(t) // skips (or fails under PUREPOOL_REQUIRE_SERVICES) without PostgreSQL
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := Config{PostgresURL: testenv.PostgresAdminURL(), AMQPURL: testenv.AMQPURL(), Conns: 4, Round: 200 * time.Millisecond, Rounds: 2}
	results, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 {
		t.Fatalf("%d results, want readytomine2 and solution", len(results))
	}
	for _, r := range results {
		for name, f := range map[string]Figures{"bare": r.Bare, "frontend": r.Frontend} {
			if f.Requests == 0 || f.Errors != 0 {
				t.Errorf("%s %s: %d requests, %d failed (%s)", r.Action, name, f.Requests, f.Errors, f.FirstError)
			}
		}
	}
	var out strings.Builder
	Print(&out, cfg, results)
	if !strings.Contains(out.String(), "frontend/bare") {
		t.Errorf("no ratios printed:\n%s", out.String())
	}
	t.Log("\n" + out.String())
}

// TestWalletRequest: the load client's request is the wallet's, with
// Connection: close, and the solution carries the bench miner's id.
func TestWalletRequest(t *testing.T) {
	for _, action := range []string{"readytomine2", "solution"} {
		q := string(walletRequest(action))
		for _, want := range []string{"POST /Action.aspx HTTP/1.1\r\n", "\r\nConnection: close\r\n", "\r\nAction: " + action + "\r\n",
			"\r\nMiner: " + minerAddress + "/bench\r\n", "\r\nNetworkID: main\r\n", "\r\n\r\n" + action} {
			if !strings.Contains(q, want) {
				t.Errorf("%s request lacks %q:\n%s", action, want, q)
			}
		}
	}
}
