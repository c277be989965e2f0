package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/projections"
)

func TestProjectionsCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, h := sqliteLog(t, ledgergen.Config{Seed: 5, Miners: 4, ChainBlocks: 60, SharesPerBlock: 4})
	n := len(h.Envelopes)
	rm := "sqlite:" + filepath.Join(dir, "rm.db")

	run := func(ctx context.Context, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(ctx, args, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"projections"}, 2, "usage: purepool projections"},
		{[]string{"projections", "status"}, 2, "--store is required"},
		{[]string{"projections", "rebuild", "--store", store, "--readmodel-url", rm, "nosuch"}, 2, `unknown projection "nosuch"`},
		{[]string{"projections", "status", "--store", store, "--readmodel-url", "oracle://x"}, 1, "unsupported read-model URL"},
		{[]string{"projector", "--store", store}, 2, "--readmodel-url is required"},
	} {
		code, _, stderr := run(ctx, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr, c.code, c.msg)
		}
	}

	code, out, stderr := run(ctx, "projections", "status", "--store", store, "--readmodel-url", rm)
	if code != 0 || statusLine(out) != fmt.Sprintf("ledger 0 %d %d", n, n) {
		t.Fatalf("status before: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = run(ctx, "projections", "rebuild", "--store", store, "--readmodel-url", rm, "ledger")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("rebuilt ledger: %d events", n)) || !strings.Contains(stderr, "events/s") {
		t.Fatalf("rebuild: exit %d\n%s%s", code, out, stderr)
	}
	code, out, _ = run(ctx, "projections", "status", "--store", store, "--readmodel-url", rm)
	if code != 0 || statusLine(out) != fmt.Sprintf("ledger %d %d 0", n, n) {
		t.Fatalf("status after: exit %d\n%s", code, out)
	}

	// The projector follows the store into a fresh read model.
	rm2 := "sqlite:" + filepath.Join(dir, "rm2.db")
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		code, _, _ := run(pctx, "projector", "--store", store, "--readmodel-url", rm2, "--log-format", "text")
		done <- code
	}()
	db, err := projections.OpenURL(ctx, rm2)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		cp, err := db.Checkpoint(ctx)
		if err == nil && cp == uint64(n) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("projector reached %d of %d (%v)", cp, n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("projector exit %d after cancel", code)
	}
}

// statusLine is the projection's name, position, head and lag from `status`.
func statusLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		return ""
	}
	f := strings.Fields(lines[1])
	if len(f) < 4 {
		return ""
	}
	return strings.Join(f[:4], " ")
}
