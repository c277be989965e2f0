package web_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/purepool/purepool/http/web"
	"github.com/purepool/purepool/projections"
)

// samples gathers the registry: metric name → labels ("k=v,k=v" in label
// order) → value.
func samples(t *testing.T, g prometheus.Gatherer) map[string]map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, mf := range mfs {
		byLabels := map[string]float64{}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			byLabels[strings.Join(ls, ",")] = value(mf.GetType(), m)
		}
		out[mf.GetName()] = byLabels
	}
	return out
}

func value(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	}
	return m.GetUntyped().GetValue()
}

// The pool counters of /metrics, on a real read model projected from a
// generated history, are the history's: shares by result and reason,
// blocks found, matured and orphaned, payouts and their amounts by status,
// balances, hashrate; a network without events reads as zeros.
func TestPoolMetrics(t *testing.T) {
	for i, rm := range readModels {
		t.Run(rm.name, func(t *testing.T) {
			t.Parallel()
			testPoolMetrics(t, newFixtureOn(t, i))
		})
	}
}

func testPoolMetrics(t *testing.T, f *fixture) {
	ex := f.h.Expected
	s := samples(t, f.web.Registry())
	want := func(name, labels string, v int64) {
		t.Helper()
		got, ok := s[name][labels]
		if !ok {
			t.Errorf("%s{%s} missing (have %v)", name, labels, s[name])
			return
		}
		if got != float64(v) {
			t.Errorf("%s{%s} = %v, want %d", name, labels, got, v)
		}
	}
	const main = "network=main"
	want(web.MetricPoolShares, main+",result=accepted", ex.Shares)
	want(web.MetricPoolShares, main+",result=rejected", ex.Rejected)
	want(web.MetricPoolShareDifficulty, main, ex.Difficulty)
	if len(ex.RejectedByReason) < 2 {
		t.Fatalf("the history rejects for too few reasons: %v", ex.RejectedByReason)
	}
	var reasons int64
	for labels, v := range s[web.MetricPoolSharesRejected] {
		if strings.HasPrefix(labels, main+",") {
			reason := strings.TrimPrefix(labels, main+",reason=")
			want(web.MetricPoolSharesRejected, labels, ex.RejectedByReason[reason])
			reasons += int64(v)
		}
	}
	if reasons != ex.Rejected {
		t.Errorf("rejections by reason sum to %d, want %d", reasons, ex.Rejected)
	}
	want(web.MetricPoolBlocksFound, main, ex.BlocksFound)
	want(web.MetricPoolBlocksMatured, main, ex.Matured)
	want(web.MetricPoolBlocksOrphaned, main, ex.Orphans)
	blocks := map[string]int64{}
	for _, b := range ex.Blocks {
		blocks[b.Status]++
	}
	for _, st := range []string{"pending", "matured", "orphaned"} {
		want(web.MetricPoolBlocks, main+",status="+st, blocks[st])
	}
	want(web.MetricPoolCredited, main, ex.CreditedSat)
	want(web.MetricPoolFee, main, ex.FeeSat)
	want(web.MetricPoolMinersBalance, main, ex.CreditedSat-ex.ReversedSat-ex.PaidSat)
	counts, sums := map[string]int64{}, map[string]int64{}
	for _, p := range f.h.Ledger.Network("main").Payouts {
		counts[p.Status]++
		sums[p.Status] += p.TotalSat
	}
	if len(counts) < 4 {
		t.Fatalf("the history's payouts have too few statuses: %v", counts)
	}
	for _, st := range []string{"planned", "signed", "sent", "confirmed", "halted", "failed", "conflicted", "corrected"} {
		want(web.MetricPoolPayouts, main+",status="+st, counts[st])
		want(web.MetricPoolPayoutsSat, main+",status="+st, sums[st])
	}
	paused := int64(0)
	if ex.PayoutsPaused {
		paused = 1
	}
	want(web.MetricPoolPayoutsPaused, main, paused)
	want(web.MetricPoolChainHeight, main, ex.ChainHeight)
	// The hashrate and the active workers are the API's.
	var pool web.APIPool
	getJSON(t, f, "/main/api/pool", &pool)
	if pool.ActiveWorkers == 0 {
		t.Fatal("no active worker: the fixture's clock is off")
	}
	want(web.MetricPoolHashrate, main, pool.HashrateHPS)
	want(web.MetricPoolWorkers, main, pool.ActiveWorkers)
	// A served network without events: every series, at zero.
	for _, name := range []string{web.MetricPoolBlocksFound, web.MetricPoolHashrate, web.MetricPoolMinersBalance} {
		want(name, "network=test", 0)
	}
	want(web.MetricPoolShares, "network=test,result=accepted", 0)
	want(web.MetricPoolSharesRejected, "network=test,reason=STALE_HEIGHT", 0)
	want(web.MetricPoolPayouts, "network=test,status=halted", 0)
	want(web.MetricPoolReadErrors, "", 0)

	// The same over HTTP, in the text format Prometheus scrapes.
	status, body, _ := f.get(t, "/metrics")
	for _, line := range []string{
		`purepool_pool_shares_total{network="main",result="accepted"} ` + itoa(ex.Shares),
		`purepool_pool_blocks_found_total{network="main"} ` + itoa(ex.BlocksFound),
		"# TYPE purepool_pool_shares_rejected_total counter",
		"# TYPE purepool_pool_payouts gauge",
	} {
		if status != 200 || !strings.Contains(body, line+"\n") {
			t.Errorf("/metrics (%d) lacks %q", status, line)
		}
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// failingReader reads everything but the pool metrics.
type failingReader struct{ *projections.Reader }

func (failingReader) PoolMetrics(context.Context, string, time.Time) (projections.PoolMetrics, error) {
	return projections.PoolMetrics{}, errors.New("read model unreachable")
}

// A failed read leaves the pool counters out of that scrape and counts
// it; /metrics still answers with everything else.
func TestPoolMetrics_ReadError(t *testing.T) {
	writer, ro := readModels[0].open(t)
	wh, err := web.NewHandler(web.Config{Networks: map[string]web.Network{"main": {PoolURL: "https://pool.example.org"}}},
		failingReader{projections.NewReader(ro, writer.Dialect)})
	if err != nil {
		t.Fatal(err)
	}
	samples(t, wh.Registry()) // the collectors run concurrently: the count shows from the next scrape
	s := samples(t, wh.Registry())
	if _, ok := s[web.MetricPoolShares]; ok {
		t.Error("pool counters served after a failed read")
	}
	if got := s[web.MetricPoolReadErrors][""]; got < 1 { // a failed read is not cached: each scrape tries again
		t.Errorf("read errors %v, want at least 1", got)
	}
	if _, ok := s["go_goroutines"]; !ok {
		t.Error("the rest of /metrics is gone")
	}
}
