package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/rpcclient"
)

// lockedBuffer lets the test read what a running subcommand writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestSimnodeSubcommandServesRPC(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut lockedBuffer
	done := make(chan int)
	go func() {
		done <- Main(ctx, []string{"simnode", "-listen", "127.0.0.1:0", "-manual", "-rpcuser", "u", "-rpcpassword", "p", "-network", "main"}, &out, &errOut)
	}()
	re := regexp.MustCompile(`RPC at (http://\S+),`)
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatalf("no URL printed: %q %q", out.String(), errOut.String())
	}
	c, _ := rpcclient.New(rpcclient.Config{URL: url, User: "u", Password: "p", Network: biblepay.Networks["main"]})
	var hashes []string
	if err := c.Call(ctx, "sim_generate", []any{3}, &hashes); err != nil || len(hashes) != 3 {
		t.Fatalf("sim_generate: %v", err)
	}
	if n, err := c.GetBlockCount(ctx); err != nil || n != 3 {
		t.Fatalf("height %d, %v", n, err)
	}
	if !strings.Contains(out.String(), "wallet (pool) address B") {
		t.Errorf("main wallet address not printed: %q", out.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d: %s", code, errOut.String())
	}
}

func TestSimminerSubcommandFlags(t *testing.T) {
	for _, args := range [][]string{
		{"simminer"}, // no -worker
		{"simminer", "-worker", "x", "-misbehave", "rude"},
		{"simminer", "-worker", "x", "-network", "moon"},
		{"simminer", "-worker", "x", "-pool", "ftp://pool"},
	} {
		var out, errOut bytes.Buffer
		if code := Main(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut.String())
		}
	}
}
