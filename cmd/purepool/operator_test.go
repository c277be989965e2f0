package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/internal/testenv"
)

func TestFrontend_TrustedProxiesFlag(t *testing.T) {
	pool := "main=" + biblepay.Networks["main"].Address([20]byte{1})
	for _, tc := range []struct {
		value, want string
	}{
		{"10.0.0.0/33", `"10.0.0.0/33" is not a CIDR or an address`},
		{"127.0.0.1,nginx", `"nginx" is not a CIDR or an address`},
	} {
		var out, errOut bytes.Buffer
		args := []string{"frontend", "-pool-address", pool, "--trusted-proxies", tc.value}
		if code := Main(context.Background(), args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", args, code, errOut.String(), tc.want)
		}
	}
	// Valid ones get as far as the next missing flag.
	var out, errOut bytes.Buffer
	args := []string{"frontend", "-pool-address", pool, "--trusted-proxies", "127.0.0.1, 10.0.0.0/8", "--trusted-proxies", "2001:db8::/32"}
	if code := Main(context.Background(), args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "-amqp-url is required") {
		t.Errorf("%v: exit %d, stderr %q", args, code, errOut.String())
	}
}

var metricsAddrRE = regexp.MustCompile(`projector metrics listening".* addr=(\S+)`)

// `purepool projector --metrics-listen` serves the projector's progress.
func TestProjector_MetricsListen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, h := sqliteLog(t, ledgergen.Config{Seed: 9, Miners: 3, ChainBlocks: 30, SharesPerBlock: 3})
	n := float64(len(h.Envelopes))

	var out bytes.Buffer
	if code := Main(ctx, []string{"projector", "--config", "x.toml", "--metrics-listen", ":0"}, &out, &out); code != 2 || !strings.Contains(out.String(), "--metrics-listen cannot be combined with --config") {
		t.Errorf("--metrics-listen with --config: exit %d, %q", code, out.String())
	}

	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	logs := &syncWriter{}
	done := make(chan int, 1)
	go func() {
		var stdout bytes.Buffer
		done <- Main(pctx, []string{"projector", "--store", store, "--readmodel-url", "sqlite:" + filepath.Join(dir, "rm.db"),
			"--metrics-listen", "127.0.0.1:0", "--log-format", "text"}, &stdout, logs)
	}()
	var got map[string]float64
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := metricsAddrRE.FindStringSubmatch(logs.String()); m != nil {
			got, err = testenv.ScrapeMetrics("http://" + m[1] + "/metrics")
			if err == nil && got["purepool_projector_events_total"] == n && got["purepool_projector_position"] == n &&
				got["purepool_projector_lag_events"] == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed %v events projected: %v (%v)\n%s", n, got, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("projector exit %d after cancel\n%s", code, logs.String())
	}
}
