package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
	pphttp "github.com/purepool/purepool/http"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simminer"
)

// tally is what one miner saw.
type tally struct {
	rounds     int
	work, sol  Latencies // readytomine2 and solution round trips
	non200     map[string]int
	protoErrs  map[string]int
	transport  map[string]int
	mineErrs   int
	acked      []string // work ids whose solution was answered ok
	blocks     int
	blockErrs  int
	lastAnswer time.Time
}

func newTally() *tally {
	return &tally{non200: map[string]int{}, protoErrs: map[string]int{}, transport: map[string]int{}}
}

func (t *tally) merge(o *tally) {
	t.rounds += o.rounds
	t.work = append(t.work, o.work...)
	t.sol = append(t.sol, o.sol...)
	for k, v := range o.non200 {
		t.non200[k] += v
	}
	for k, v := range o.protoErrs {
		t.protoErrs[k] += v
	}
	for k, v := range o.transport {
		t.transport[k] += v
	}
	t.mineErrs += o.mineErrs
	t.acked = append(t.acked, o.acked...)
	t.blocks += o.blocks
	t.blockErrs += o.blockErrs
	if o.lastAnswer.After(t.lastAnswer) {
		t.lastAnswer = o.lastAnswer
	}
}

func (t *tally) requests() int { return len(t.work) + len(t.sol) }

// statusOK checks the status line of a raw reply (the wallet's reader keeps
// it) and counts anything but 200.
func (t *tally) statusOK(raw string) bool {
	line, _, _ := strings.Cut(raw, "\n")
	if strings.HasPrefix(line, "HTTP/1.1 200 ") {
		return true
	}
	t.non200[line]++
	return false
}

// minerAddress is the address of the i-th simulated miner.
func minerAddress(i int) string {
	return biblepay.Networks[network].Address([20]byte{0x5a, byte(i >> 8), byte(i)})
}

// mineRounds runs wallet rounds until the deadline or maxRounds; ctx
// bounds requests in flight.
func mineRounds(ctx context.Context, m *simminer.Miner, node *rpcclient.Client, deadline time.Time, maxRounds int) *tally {
	t := newTally()
	for round := 0; round < maxRounds && time.Now().Before(deadline) && ctx.Err() == nil; round++ {
		oneRound(ctx, m, node, round, t)
	}
	return t
}

// oneRound is what an unpaced wallet thread does: ask for work, mine a
// share on a fresh template, submit it. The requests are the wallet's
// exact bytes, read as the wallet reads.
func oneRound(ctx context.Context, m *simminer.Miner, node *rpcclient.Client, round int, t *tally) {
	t.rounds++
	// The thread id varies the share's extra nonce, so that two rounds in
	// the same second never mine the same block.
	thread := round % (biblepay.MaxThreadID + 1)
	began := time.Now()
	raw, err := m.Do(ctx, m.Request("readytomine2", thread, "").Bytes())
	if err != nil {
		t.transport[errorKind(err)]++
		return
	}
	t.work = append(t.work, time.Since(began))
	if !t.statusOK(raw) {
		return
	}
	w, err := simminer.ParseWork(raw, biblepay.Networks[network])
	if err != nil {
		t.protoErrs["readytomine2: "+err.Error()]++
		return
	}
	s, err := m.Mine(ctx, w, thread)
	if err != nil {
		if ctx.Err() == nil {
			t.mineErrs++
		}
		return
	}
	began = time.Now()
	raw, err = m.Do(ctx, m.Request("solution", thread, s.Solution).Bytes())
	if err != nil {
		t.transport[errorKind(err)]++
		return
	}
	t.sol = append(t.sol, time.Since(began))
	t.lastAnswer = time.Now()
	if !t.statusOK(raw) {
		return
	}
	r := simminer.ParseSubmitReply(raw)
	switch {
	case r.Error != "":
		t.protoErrs["solution: "+r.Error]++
	case r.Status != "ok" || r.WorkID != w.WorkID:
		t.protoErrs[fmt.Sprintf("solution: status %q for work %q", r.Status, r.WorkID)]++
	default:
		// A copy: the parsed fields are substrings of the whole reply,
		// which would otherwise stay in memory with them.
		t.acked = append(t.acked, strings.Clone(w.WorkID))
	}
	if s.IsBlock {
		if err := node.SubmitBlock(ctx, s.BlockHex); err != nil {
			t.blockErrs++
		} else {
			t.blocks++
		}
	}
}

// errorKind shortens a transport error for counting.
func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no local port (EADDRNOTAVAIL)"
	}
	return err.Error()
}

// runMiners runs n miners against poolURL with mineRounds and merges what
// they saw.
func runMiners(tb testing.TB, n int, poolURL string, node *rpcclient.Client, d time.Duration, maxRounds int,
	round func(context.Context, *simminer.Miner, time.Time) *tally) (*tally, time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(d)
	// Requests in flight at the deadline may take their time to finish.
	ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(2*time.Minute))
	defer cancel()
	total := newTally()
	var mu sync.Mutex
	var wg sync.WaitGroup
	began := time.Now()
	for i := range n {
		m, err := simminer.New(simminer.Config{Pool: poolURL, Worker: minerAddress(i) + "/rig", Network: biblepay.Networks[network],
			Node: node, Timeout: 60 * time.Second})
		if err != nil {
			tb.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := round(ctx, m, deadline)
			mu.Lock()
			total.merge(t)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total, time.Since(began)
}

// outcome is what the ledger says about one work's solutions.
type outcome struct {
	accepted, rejected int
	reasons            []string
}

// waitOutcomes reads the event log until every acknowledged work id has a
// stored outcome (or the timeout), and returns the outcomes of every work
// id seen and when the last acknowledged one was found.
func waitOutcomes(ctx context.Context, store events.Store, acked []string, timeout time.Duration) (map[string]*outcome, time.Time, error) {
	want := map[string]bool{}
	for _, id := range acked {
		want[id] = true
	}
	out := map[string]*outcome{}
	found := 0
	var after uint64
	var last time.Time
	give := time.Now().Add(timeout)
	for found < len(want) {
		page, err := store.ReadAll(ctx, after, 5000)
		if err != nil {
			return out, last, err
		}
		for _, env := range page {
			after = env.Position
			if env.Type != events.TypeSolutionAccepted && env.Type != events.TypeSolutionRejected {
				continue
			}
			e, err := events.Decode(env)
			if err != nil {
				return out, last, err
			}
			var work, reason string
			switch e := e.(type) {
			case events.SolutionAccepted:
				work = e.WorkID.String()
			case events.SolutionRejected:
				work, reason = e.WorkID.String(), e.Reason
			}
			o := out[work]
			if o == nil {
				o = &outcome{}
				out[work] = o
				if want[work] {
					found++
					last = time.Now()
				}
			}
			if reason == "" {
				o.accepted++
			} else {
				o.rejected++
				o.reasons = append(o.reasons, reason)
			}
		}
		if len(page) == 0 {
			if time.Now().After(give) {
				return out, last, fmt.Errorf("%d of %d acknowledged solutions have no stored outcome after %s", len(want)-found, len(want), timeout)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return out, last, nil
}

// countOutcomes counts the work handouts and solution outcomes stored so far.
func countOutcomes(ctx context.Context, store events.Store) (works, outcomes int, err error) {
	var after uint64
	for {
		page, err := store.ReadAll(ctx, after, 5000)
		if err != nil || len(page) == 0 {
			return works, outcomes, err
		}
		for _, env := range page {
			after = env.Position
			switch env.Type {
			case events.TypeWorkIssued:
				works++
			case events.TypeSolutionAccepted, events.TypeSolutionRejected:
				outcomes++
			}
		}
	}
}

// bareServer answers every request with a fixed work answer, as a bare
// net/http handler: the ceiling the same miners reach on this machine.
func bareServer(tb testing.TB, answer []byte) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header()["Connection"] = []string{"close"}
		_, _ = w.Write(answer)
	}), ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// workOnly is the baseline round: readytomine2 and the wallet's checks.
func workOnly(ctx context.Context, m *simminer.Miner, deadline time.Time) *tally {
	t := newTally()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		t.rounds++
		began := time.Now()
		raw, err := m.Do(ctx, m.Request("readytomine2", 0, "").Bytes())
		if err != nil {
			t.transport[errorKind(err)]++
			continue
		}
		t.work = append(t.work, time.Since(began))
		if !t.statusOK(raw) {
			continue
		}
		if _, err := simminer.ParseWork(raw, biblepay.Networks[network]); err != nil {
			t.protoErrs[err.Error()]++
		}
	}
	return t
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func sortedCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(m))
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%q×%d ", k, m[k])
	}
	return b.String()
}

// TestPoolUnderLoad runs PUREPOOL_LOAD_MINERS wallet miners against the
// whole pool for PUREPOOL_LOAD_DURATION; see the package documentation.
func TestPoolUnderLoad(t *testing.T) {
	if os.Getenv("PUREPOOL_LOAD") != "1" {
		t.Skip("load test: set PUREPOOL_LOAD=1 (takes minutes, saturates the machine)")
	}
	miners := envInt("PUREPOOL_LOAD_MINERS", 1000)
	duration := envDuration("PUREPOOL_LOAD_DURATION", time.Minute)
	baseline := envDuration("PUREPOOL_LOAD_BASELINE", 10*time.Second)
	maxRounds := envInt("PUREPOOL_LOAD_ROUNDS", 100_000)
	workers := envInt("PUREPOOL_LOAD_WORKERS", 64)

	s := startStack(t, workers)
	pool := s.pool

	// Baseline: the same miners against a bare net/http handler that
	// answers a fixed work.
	bare := bareServer(t, pphttp.WorkAnswer(pool, shareTarget, "eef5cbcb-f673-4203-a791-f773b177f1df", "0b9f6e0a-3f1e-4c55-9d2f-4f0c1d2e3a4b"))
	base, baseTook := runMiners(t, miners, bare, s.rpc, baseline, 1<<30, workOnly)
	t.Logf("baseline (bare net/http, %d miners, readytomine2 only): %d requests in %s = %.0f req/s; p50 %s p99 %s; transport failures %s",
		miners, base.requests(), baseTook.Round(time.Millisecond), perSecond(base.requests(), baseTook),
		ms(base.work.Percentile(0.5)), ms(base.work.Percentile(0.99)), sortedCounts(base.transport))
	time.Sleep(2 * time.Second) // let the baseline's sockets close

	if path := os.Getenv("PUREPOOL_LOAD_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
		}
	}
	heap := StartHeapSampler(time.Second)
	cpu0, backendCPU0 := processCPU(), s.backendCPU()
	began := time.Now()
	got, took := runMiners(t, miners, s.poolURL, s.rpc, duration, maxRounds,
		func(ctx context.Context, m *simminer.Miner, deadline time.Time) *tally {
			return mineRounds(ctx, m, s.rpc, deadline, maxRounds)
		})
	cpuLoad, backendCPU := processCPU()-cpu0, s.backendCPU()-backendCPU0

	ctx := context.Background()
	// What the backend had stored when the load ended: it tells the rate
	// under load from the rate of the drain after it.
	worksAtEnd, storedAtEnd, err := countOutcomes(ctx, s.store)
	if err != nil {
		t.Fatal(err)
	}
	drainFrom := time.Now()
	outcomes, lastOutcome, werr := waitOutcomes(ctx, s.store, got.acked, 5*time.Minute)
	drained := time.Since(began)
	samples := heap.Stop()
	runtime.GC() // what stays live, garbage aside
	var live runtime.MemStats
	runtime.ReadMemStats(&live)
	if path := os.Getenv("PUREPOOL_LOAD_HEAPPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	all := append(append(Latencies{}, got.work...), got.sol...)

	var accepted, rejected, dupOutcomes int
	reasons := map[string]int{}
	for _, id := range got.acked {
		o := outcomes[id]
		if o == nil {
			continue
		}
		if o.accepted+o.rejected != 1 {
			dupOutcomes++
			if dupOutcomes <= 5 {
				t.Errorf("work %s has %d accepted and %d rejected outcomes, want exactly one", id, o.accepted, o.rejected)
			}
		}
		accepted += o.accepted
		rejected += o.rejected
		for _, r := range o.reasons {
			reasons[r]++
		}
	}
	var ackedDup int
	seen := map[string]bool{}
	for _, id := range got.acked {
		if seen[id] {
			ackedDup++
		}
		seen[id] = true
	}
	e2e := lastOutcome.Sub(began)

	t.Logf("pool (%d miners for %s, %d workers): %d rounds, %d requests in %s = %.0f req/s (readytomine2 %d, solution %d)",
		miners, duration, workers, got.rounds, got.requests(), took.Round(time.Millisecond), perSecond(got.requests(), took), len(got.work), len(got.sol))
	t.Logf("latency all p50 %s p99 %s max %s | readytomine2 p50 %s p99 %s | solution p50 %s p99 %s",
		ms(all.Percentile(0.5)), ms(all.Percentile(0.99)), ms(all.Percentile(1)),
		ms(got.work.Percentile(0.5)), ms(got.work.Percentile(0.99)), ms(got.sol.Percentile(0.5)), ms(got.sol.Percentile(0.99)))
	t.Logf("vs baseline: req/s %.2f×, readytomine2 p50 %.1f×, p99 %.1f×",
		perSecond(got.requests(), took)/perSecond(base.requests(), baseTook),
		float64(got.work.Percentile(0.5))/float64(base.work.Percentile(0.5)),
		float64(got.work.Percentile(0.99))/float64(base.work.Percentile(0.99)))
	t.Logf("solutions: %d acknowledged, %d accepted, %d rejected %v; end to end (start → last outcome stored, %s after the load ended): %.0f accepted/s",
		len(got.acked), accepted, rejected, reasons, lastOutcome.Sub(began.Add(took)).Round(time.Millisecond), perSecond(accepted, e2e))
	if n := len(got.acked); storedAtEnd < n && lastOutcome.After(drainFrom) {
		t.Logf("backend: %d work handouts and %d solution outcomes stored during the load (%.0f/s), the other %d outcomes in the drain after it (%.0f/s)",
			worksAtEnd, storedAtEnd, perSecond(storedAtEnd, took), n-storedAtEnd, perSecond(n-storedAtEnd, lastOutcome.Sub(drainFrom)))
	}
	t.Logf("this process's CPU during the load: %s over %s (%.2f cores; PostgreSQL and RabbitMQ are other processes)",
		cpuLoad.Round(time.Millisecond), took.Round(time.Millisecond), cpuLoad.Seconds()/took.Seconds())
	if s.proc != nil {
		t.Logf("the backend process's CPU during the load: %s (%.2f cores)", backendCPU.Round(time.Millisecond), backendCPU.Seconds()/took.Seconds())
	}
	t.Logf("memory: %s (load and drain took %s); after a GC at the end: HeapInuse %s, %d outcomes stored",
		Summarize(samples), drained.Round(time.Second), MiB(live.HeapInuse), len(outcomes))
	var timeline strings.Builder
	for i, x := range samples {
		if i%10 == 0 || i == len(samples)-1 {
			fmt.Fprintf(&timeline, " %s:%s", x.At.Round(time.Second), MiB(x.HeapInuse))
		}
	}
	t.Logf("HeapInuse every 10 s:%s", timeline.String())
	t.Logf("non-200: %s; protocol errors: %s; transport failures: %s; mining errors %d; blocks %d (%d refused)",
		sortedCounts(got.non200), sortedCounts(got.protoErrs), sortedCounts(got.transport), got.mineErrs, got.blocks, got.blockErrs)
	if s.proc != nil {
		s.proc.stop() // its log's warnings and errors join the count
	}
	t.Logf("pool warnings and errors logged:%s", s.logs)

	if werr != nil {
		t.Error(werr)
	}
	if len(got.non200) > 0 {
		t.Errorf("answers other than 200: %s", sortedCounts(got.non200))
	}
	if len(got.protoErrs) > 0 {
		t.Errorf("protocol errors answered to honest miners: %s", sortedCounts(got.protoErrs))
	}
	if len(got.transport) > 0 {
		t.Errorf("requests without an answer: %s", sortedCounts(got.transport))
	}
	if ackedDup > 0 {
		t.Errorf("%d work ids acknowledged twice", ackedDup)
	}
	if rejected > 0 {
		t.Errorf("%d honest shares rejected: %v", rejected, reasons)
	}
	if len(got.acked) == 0 {
		t.Error("no solution acknowledged")
	}
}
