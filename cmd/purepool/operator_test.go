package main

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/purepool/purepool/biblepay"
	eventsqlite "github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/internal/ledgergen"
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
	storePath := filepath.Join(dir, "events.db")
	s, err := eventsqlite.Open(ctx, storePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	h := ledgergen.Generate(ledgergen.Config{Seed: 9, Miners: 3, ChainBlocks: 30, SharesPerBlock: 3})
	for _, w := range h.Writes(200) {
		if _, err := s.Append(ctx, w...); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
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
		done <- Main(pctx, []string{"projector", "--store", "sqlite://" + storePath, "--readmodel-url", "sqlite:" + filepath.Join(dir, "rm.db"),
			"--metrics-listen", "127.0.0.1:0", "--log-format", "text"}, &stdout, logs)
	}()
	var got map[string]float64
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := metricsAddrRE.FindStringSubmatch(logs.String()); m != nil {
			got, err = scrapeMetrics("http://" + m[1] + "/metrics")
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

// scrapeMetrics reads the unlabelled samples of a /metrics page.
func scrapeMetrics(url string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}
