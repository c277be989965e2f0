package http_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/inproc"
	pphttp "github.com/purepool/purepool/http"
)

// BenchmarkReadyToMine measures readytomine2 with 64 concurrent wallet
// connections (one request per connection, as the wallet does) against a
// bare net/http handler that writes the same bytes, in interleaved rounds of
// the same run. The frontend runs with everything on: request ids, panic
// recovery, the per-IP limiter (with a limit never reached), JSON access
// logs at Info (to io.Discard), base58check, UUIDs, and an IssueWork
// published to the in-process bus, which a consumer drains.
//
//	go test -run '^$' -bench ReadyToMine -benchtime 1x ./http/
//
// PUREPOOL_BENCH_ROUND sets the length of a round (default 1s).
func BenchmarkReadyToMine(b *testing.B) {
	const conns = 64
	round := time.Second
	if d, err := time.ParseDuration(envOr("PUREPOOL_BENCH_ROUND", "1s")); err == nil {
		round = d
	}

	// The frontend.
	bus := inproc.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = bus.Consume(ctx, func(context.Context, commands.Message) error { return nil })
	}()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	cfg := testConfig()
	cfg.RateLimit = 1 << 30
	action, err := pphttp.NewActionHandler(cfg, newMemDirectory(), &switchHealth{}, bus, log)
	if err != nil {
		b.Fatal(err)
	}
	srv := &pphttp.Server{Action: action, Logger: log}
	pool, err := srv.Listen("127.0.0.1:0", nil)
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Run(ctx) }()

	// The baseline: the same answer's bytes from a bare handler.
	sample, err := tryPost(pool.String(), readyToMine(mainMiner+"/bench", "main"))
	if err != nil || sample.Error != "" {
		b.Fatalf("sample: %v %q", err, sample.Raw)
	}
	body := []byte(sample.Full[bytes.Index([]byte(sample.Full), []byte("\r\n\r\n"))+4:])
	bareLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	bare := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h := w.Header()
		h["Connection"] = []string{"close"}
		h["Content-Type"] = []string{"text/html; charset=utf-8"}
		h["X-Request-Id"] = []string{"01234567-1"}
		_, _ = w.Write(body)
	}), MaxHeaderBytes: pphttp.ServerMaxHeaderBytes(pphttp.DefaultMaxHeaderBytes)}
	go func() { _ = bare.Serve(bareLn) }()
	defer bare.Close()

	targets := []struct {
		name string
		addr string
	}{{"bare", bareLn.Addr().String()}, {"purepool", pool.String()}}
	type result struct {
		n   int64
		lat []time.Duration
		d   time.Duration
		cpu time.Duration // this process's CPU: the server's, the client runs apart
	}
	results := map[string]*result{}
	for _, t := range targets {
		results[t.name] = &result{}
	}
	b.ResetTimer()
	for i := range 4 { // interleaved rounds, alternating who goes first
		order := targets
		if i%2 == 1 {
			order = []struct {
				name string
				addr string
			}{targets[1], targets[0]}
		}
		for _, t := range order {
			cpu0 := processCPU()
			n, lat, d, errs, err := loadInChild(t.addr, conns, round)
			if err != nil {
				b.Fatal(err)
			}
			cpu := processCPU() - cpu0
			if errs > 0 {
				b.Errorf("%s: %d failed requests", t.name, errs)
			}
			r := results[t.name]
			r.n += n
			r.lat = append(r.lat, lat...)
			r.d += d
			r.cpu += cpu
		}
	}
	b.StopTimer()
	rps := map[string]float64{}
	cpuPer := map[string]float64{}
	for _, t := range targets {
		r := results[t.name]
		slices.Sort(r.lat)
		p99 := r.lat[len(r.lat)*99/100]
		rps[t.name] = float64(r.n) / r.d.Seconds()
		cpuPer[t.name] = float64(r.cpu.Microseconds()) / float64(r.n)
		b.ReportMetric(rps[t.name], t.name+"-req/s")
		b.ReportMetric(float64(p99.Microseconds())/1000, t.name+"-p99-ms")
		b.ReportMetric(cpuPer[t.name], t.name+"-server-cpu-us/req")
		b.Logf("%-8s %8.0f req/s  p50 %v  p99 %v  server CPU %.1f µs/req  (%d requests, GOMAXPROCS %d)", t.name, rps[t.name],
			r.lat[len(r.lat)/2], p99, cpuPer[t.name], r.n, runtime.GOMAXPROCS(0))
	}
	b.ReportMetric(rps["purepool"]/rps["bare"], "ratio")
	b.ReportMetric(cpuPer["bare"]/cpuPer["purepool"], "cpu-ratio")
	b.Logf("throughput purepool/bare = %.2f; server CPU per request bare/purepool = %.2f",
		rps["purepool"]/rps["bare"], cpuPer["bare"]/cpuPer["purepool"])
}

// processCPU is the CPU time (user + system) this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Environment of the load client child process.
const (
	envLoadAddr  = "PUREPOOL_LOAD_ADDR"
	envLoadConns = "PUREPOOL_LOAD_CONNS"
	envLoadFor   = "PUREPOOL_LOAD_FOR"
)

// loadInChild runs the load client in a child process (this test binary,
// running TestLoadClient), so that this process's CPU time is the server's.
func loadInChild(addr string, conns int, d time.Duration) (n int64, lat []time.Duration, took time.Duration, errs int64, err error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadClient$", "-test.count=1")
	cmd.Env = append(os.Environ(), envLoadAddr+"="+addr, envLoadConns+"="+strconv.Itoa(conns), envLoadFor+"="+d.String())
	out, err := cmd.Output()
	if err != nil {
		return 0, nil, 0, 0, fmt.Errorf("load client: %w: %s", err, out)
	}
	var res loadResult
	for _, line := range strings.Split(string(out), "\n") {
		if j, ok := strings.CutPrefix(line, "LOADRESULT "); ok {
			if err := json.Unmarshal([]byte(j), &res); err != nil {
				return 0, nil, 0, 0, err
			}
			return res.N, res.Latencies, res.Took, res.Errors, nil
		}
	}
	return 0, nil, 0, 0, fmt.Errorf("load client printed no result: %s", out)
}

type loadResult struct {
	N         int64
	Latencies []time.Duration
	Took      time.Duration
	Errors    int64
}

// TestLoadClient is the load client of BenchmarkReadyToMine; it only runs
// in the child process the benchmark starts.
func TestLoadClient(t *testing.T) {
	addr := os.Getenv(envLoadAddr)
	if addr == "" {
		t.Skip("the load client of BenchmarkReadyToMine")
	}
	conns, _ := strconv.Atoi(os.Getenv(envLoadConns))
	d, _ := time.ParseDuration(os.Getenv(envLoadFor))
	q := readyToMine(mainMiner+"/bench", "main").Bytes("pool.example.org")
	n, lat, took, errs := load(addr, q, conns, d)
	j, err := json.Marshal(loadResult{N: n, Latencies: lat, Took: took, Errors: errs})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("LOADRESULT %s\n", j)
}

// load runs conns wallet-like clients against addr for d: each request is
// a new connection, written whole and read until the server closes.
func load(addr string, req []byte, conns int, d time.Duration) (n int64, lat []time.Duration, took time.Duration, errs int64) {
	var count, failed atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			local := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := oneRequest(addr, req, buf); err != nil {
					failed.Add(1)
					continue
				}
				local = append(local, time.Since(t0))
				count.Add(1)
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return count.Load(), lat, time.Since(start), failed.Load()
}

func oneRequest(addr string, req, buf []byte) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	// Reset instead of FIN after the server's close, so that neither side
	// keeps a TIME_WAIT socket: tens of thousands of them would slow down
	// connect() for whichever server is measured later.
	_ = c.(*net.TCPConn).SetLinger(0)
	if _, err := c.Write(req); err != nil {
		return err
	}
	total := 0
	for {
		n, err := c.Read(buf)
		total += n
		if err == io.EOF {
			if total < 100 {
				return io.ErrUnexpectedEOF
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// BenchmarkHandlerOnly is the handler chain's own cost per readytomine2
// (router, request id, recovery, limiter, parsing, base58check, ids, the
// in-process publish, the access log), without sockets.
func BenchmarkHandlerOnly(b *testing.B) {
	bus := inproc.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = bus.Consume(ctx, func(context.Context, commands.Message) error { return nil }) }()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	cfg := testConfig()
	cfg.RateLimit = 1 << 30
	action, err := pphttp.NewActionHandler(cfg, newMemDirectory(), &switchHealth{}, bus, log)
	if err != nil {
		b.Fatal(err)
	}
	h := (&pphttp.Server{Action: action, Logger: log}).Handler()
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(readyToMine(mainMiner+"/bench", "main").Bytes("pool"))))
	if err != nil {
		b.Fatal(err)
	}
	req.RemoteAddr = "127.0.0.1:5000"
	b.ReportAllocs()
	for b.Loop() {
		r := req.Clone(context.Background())
		r.Body = io.NopCloser(strings.NewReader("readytomine2"))
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, r)
		if w.code != 200 {
			b.Fatal(w.code)
		}
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
