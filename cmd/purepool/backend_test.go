package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/simnode"
)

func TestBackendFlags(t *testing.T) {
	if code, _, _ := runMain(t, "backend"); code != 2 {
		t.Fatalf("no flags: exit %d, want 2", code)
	}
	if code, _, _ := runMain(t, "backend", "-store", "sqlite:"+filepath.Join(t.TempDir(), "y.db"), "-node-url", "http://127.0.0.1:1", "-pool-address", "nope", "-network", "test"); code != 2 {
		t.Fatalf("bad pool address: exit %d, want 2", code)
	}
	store := filepath.Join(t.TempDir(), "x.db")
	pool := biblepay.Networks["main"].Address([20]byte{1})
	// Sub-satoshi, negative, zero, fractions and hex are refused, not
	// replaced by a default.
	for _, bad := range []string{"0.123456789", "-5", "0", "1/2", "0x10", "1e1"} {
		code, _, stderr := runMain(t, "backend", "-min-payout", bad, "-store", "sqlite:"+store, "-node-url", "x", "-pool-address", pool)
		if code != 2 || !bytes.Contains([]byte(stderr), []byte("min-payout")) {
			t.Errorf("minimum payout %q: exit %d, want 2 naming --min-payout (%s)", bad, code, stderr)
		}
	}
}

// TestBackendRuns starts the subcommand against a simulated node and a
// SQLite store and checks that it follows the chain.
func TestBackendRuns(t *testing.T) {
	srv, err := simnode.Start(simnode.Config{Network: biblepay.Networks["test"], Seed: 3}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.Node.Generate(3); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "events.db")
	if code, _, errOut := runMain(t, "migrate", "-store", "sqlite://"+path); code != 0 {
		t.Fatalf("migrate: %s", errOut)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(1500*time.Millisecond, cancel) // as a signal would
	var out, errOut bytes.Buffer
	code := Main(ctx, []string{"backend", "-store", "sqlite://" + path, "-network", "test", "-node-url", srv.URL,
		"-pool-address", srv.Node.WalletAddress(), "-follow-from", "1", "-poll-interval", "50ms", "-log-format", "text"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs, err := events.ReadWholeStream(context.Background(), s, events.StreamChain("test"))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(recs)) != srv.Node.Height() {
		t.Fatalf("%d heights recorded, the node is at %d", len(recs), srv.Node.Height())
	}
}
