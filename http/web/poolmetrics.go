package web

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/projections"
)

// PoolMetricsReader is the read the pool counters of /metrics need
// (projections.Reader implements it). A Reader without it serves /metrics
// without the pool counters.
type PoolMetricsReader interface {
	PoolMetrics(ctx context.Context, network string, since time.Time) (projections.PoolMetrics, error)
}

var _ PoolMetricsReader = (*projections.Reader)(nil)

const (
	// poolMetricsTTL: scrapes closer together than this share one read
	// of the read model (several Prometheus servers, a dashboard's
	// refresh), so a scrape costs at most one read per network and TTL.
	poolMetricsTTL = 5 * time.Second
	// poolMetricsTimeout bounds one read: a slow read model answers the
	// scrape without the pool counters rather than holding it.
	poolMetricsTimeout = 5 * time.Second
	// hashrateWindow: the pool hashrate sums the rates last reported by
	// the workers with an accepted share this recent (as the pages).
	hashrateWindow = 15 * time.Minute
)

// Every known label value is reported, with 0 before it first happens, so
// that rate() and increase() see the first one.
var (
	rejectReasons = []string{events.RejectUnknownWork, events.RejectWrongMiner, events.RejectWrongNetwork, events.RejectHighHash,
		events.RejectBibleHashWrong, events.RejectBlockHashWrong, events.RejectInvalidRecipient, events.RejectBlockInvalid,
		events.RejectNonceTooHigh, events.RejectStale, events.RejectDuplicate, events.RejectMalformed, events.RejectMinerDisabled}
	blockStatuses  = []string{"pending", "matured", "orphaned"}
	payoutStatuses = []string{"planned", "signed", "sent", "confirmed", "halted", "failed", "conflicted", "corrected"}
)

// poolCollector reports the pool's counters per network, read from the
// projected read model (projections.PoolMetrics): the events folded into
// it are the only source, so every frontend reports the same values and a
// restart loses nothing.
type poolCollector struct {
	reader   PoolMetricsReader
	networks []string
	now      func() time.Time
	log      func(network string, err error)
	errors   prometheus.Counter

	shares, rejected, difficulty                       *prometheus.Desc
	found, matured, orphaned, reward, credited, feeSat *prometheus.Desc
	blocks, payouts, payoutsSat, balance, paused       *prometheus.Desc
	height, hashrate, workers                          *prometheus.Desc

	mu     sync.Mutex
	readAt time.Time
	cached []prometheus.Metric
}

// The pool metrics' names (the Grafana dashboard in deploy/grafana queries
// them; a test checks it against this registry).
const (
	MetricPoolShares          = "purepool_pool_shares_total"
	MetricPoolSharesRejected  = "purepool_pool_shares_rejected_total"
	MetricPoolShareDifficulty = "purepool_pool_share_difficulty_total"
	MetricPoolBlocksFound     = "purepool_pool_blocks_found_total"
	MetricPoolBlocksMatured   = "purepool_pool_blocks_matured_total"
	MetricPoolBlocksOrphaned  = "purepool_pool_blocks_orphaned_total"
	MetricPoolBlockReward     = "purepool_pool_block_reward_sat_total"
	MetricPoolCredited        = "purepool_pool_credited_sat_total"
	MetricPoolFee             = "purepool_pool_fee_sat_total"
	MetricPoolBlocks          = "purepool_pool_blocks"
	MetricPoolPayouts         = "purepool_pool_payouts"
	MetricPoolPayoutsSat      = "purepool_pool_payouts_sat"
	MetricPoolMinersBalance   = "purepool_pool_miners_balance_sat"
	MetricPoolPayoutsPaused   = "purepool_pool_payouts_paused"
	MetricPoolChainHeight     = "purepool_pool_chain_height"
	MetricPoolHashrate        = "purepool_pool_hashrate_hps"
	MetricPoolWorkers         = "purepool_pool_workers_active"
	MetricPoolReadErrors      = "purepool_pool_metrics_read_errors_total"
)

// registerPoolMetrics adds the pool counters to the registry when the
// reader can read them.
func (h *Handler) registerPoolMetrics() error {
	pr, ok := h.reader.(PoolMetricsReader)
	if !ok {
		return nil
	}
	net := []string{"network"}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(net, labels...), nil)
	}
	c := &poolCollector{reader: pr, networks: networkNames(h.cfg.Networks), now: h.cfg.Now,
		log: func(network string, err error) {
			h.log.Error("web: pool metrics", "network", network, "err", err)
		},
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricPoolReadErrors,
			Help: "Reads of the pool metrics from the read model that failed (that network's pool metrics were left out of the scrape)."}),
		shares:     d(MetricPoolShares, "Solutions (shares) the pool judged, by result: accepted or rejected.", "result"),
		rejected:   d(MetricPoolSharesRejected, "Rejected solutions by reason (events.Reject…: STALE_HEIGHT, HIGH_HASH, DUPLICATE_SOLUTION, …).", "reason"),
		difficulty: d(MetricPoolShareDifficulty, "Sum of the difficulty of the accepted solutions (its rate is the pool's accepted work)."),
		found:      d(MetricPoolBlocksFound, "Pool blocks found (BlockDiscovered)."),
		matured:    d(MetricPoolBlocksMatured, "Pool blocks that matured and were credited (BlockMatured), later orphaned ones included."),
		orphaned:   d(MetricPoolBlocksOrphaned, "Pool blocks that left the chain (BlockOrphaned), before or after maturity."),
		reward:     d(MetricPoolBlockReward, "Rewards of the pool blocks found, in satoshis (1 BBP = 100000000)."),
		credited:   d(MetricPoolCredited, "Satoshis credited to miners by matured blocks (reversals not deducted)."),
		feeSat:     d(MetricPoolFee, "Satoshis credited to the pool-fee account by matured blocks (reversals not deducted)."),
		blocks:     d(MetricPoolBlocks, "Pool blocks by where they stand now: pending (not yet matured), matured, orphaned.", "status"),
		payouts:    d(MetricPoolPayouts, "Payouts by status now: planned, signed, sent, confirmed, halted; failed, conflicted, corrected (amounts returned).", "status"),
		payoutsSat: d(MetricPoolPayoutsSat, "Satoshis of the payouts in each status now (their totals before the transaction fee).", "status"),
		balance:    d(MetricPoolMinersBalance, "Satoshis the miners are owed: credited − reversed − paid (payouts not returned)."),
		paused:     d(MetricPoolPayoutsPaused, "1 while payouts are paused (PayoutsPaused), else 0."),
		height:     d(MetricPoolChainHeight, "Highest chain block the backend recorded."),
		hashrate:   d(MetricPoolHashrate, "Pool hashrate in hashes per second: the rates last reported by the workers with an accepted share in the last 15 minutes."),
		workers:    d(MetricPoolWorkers, "Workers with an accepted share in the last 15 minutes."),
	}
	for _, col := range []prometheus.Collector{c, c.errors} {
		if err := h.cfg.Registry.Register(col); err != nil {
			return err
		}
	}
	return nil
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.shares, c.rejected, c.difficulty, c.found, c.matured, c.orphaned, c.reward, c.credited,
		c.feeSat, c.blocks, c.payouts, c.payoutsSat, c.balance, c.paused, c.height, c.hashrate, c.workers} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.read() {
		ch <- m
	}
}

func (c *poolCollector) read() []prometheus.Metric {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cached != nil && time.Since(c.readAt) < poolMetricsTTL {
		return c.cached
	}
	ctx, cancel := context.WithTimeout(context.Background(), poolMetricsTimeout)
	defer cancel()
	out := []prometheus.Metric{}
	failed := false
	for _, network := range c.networks {
		pm, err := c.reader.PoolMetrics(ctx, network, c.now().Add(-hashrateWindow))
		if err != nil {
			c.errors.Inc()
			c.log(network, err)
			failed = true
			continue
		}
		out = append(out, c.metrics(pm)...)
	}
	if failed {
		c.cached = nil // read again at the next scrape
		return out
	}
	c.cached, c.readAt = out, time.Now()
	return out
}

func (c *poolCollector) metrics(pm projections.PoolMetrics) []prometheus.Metric {
	n := pm.Network
	var out []prometheus.Metric
	add := func(d *prometheus.Desc, t prometheus.ValueType, v int64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, t, float64(v), append([]string{n}, labels...)...))
	}
	counter := prometheus.CounterValue
	gauge := prometheus.GaugeValue
	add(c.shares, counter, pm.SharesAccepted, "accepted")
	add(c.shares, counter, pm.SharesRejected, "rejected")
	for _, r := range withKnown(rejectReasons, pm.RejectedByReason) {
		add(c.rejected, counter, pm.RejectedByReason[r], r)
	}
	add(c.difficulty, counter, pm.ShareDifficulty)
	add(c.found, counter, pm.BlocksFound)
	add(c.matured, counter, pm.BlocksMatured)
	add(c.orphaned, counter, pm.BlocksOrphaned)
	add(c.reward, counter, pm.RewardSat)
	add(c.credited, counter, pm.CreditedSat)
	add(c.feeSat, counter, pm.FeeSat)
	for _, s := range withKnown(blockStatuses, pm.BlocksByStatus) {
		add(c.blocks, gauge, pm.BlocksByStatus[s], s)
	}
	counts := map[string]int64{}
	for s, t := range pm.Payouts {
		counts[s] = t.Count
	}
	for _, s := range withKnown(payoutStatuses, counts) {
		add(c.payouts, gauge, pm.Payouts[s].Count, s)
		add(c.payoutsSat, gauge, pm.Payouts[s].TotalSat, s)
	}
	add(c.balance, gauge, pm.MinersBalanceSat)
	paused := int64(0)
	if pm.PayoutsPaused {
		paused = 1
	}
	add(c.paused, gauge, paused)
	add(c.height, gauge, pm.Height)
	add(c.hashrate, gauge, pm.HashrateHPS)
	add(c.workers, gauge, pm.ActiveWorkers)
	return out
}

// withKnown is known followed by the other keys of m (a value this build
// does not know still shows), each once.
func withKnown(known []string, m map[string]int64) []string {
	out := append([]string(nil), known...)
	seen := map[string]bool{}
	for _, k := range known {
		seen[k] = true
	}
	var extra []string
	for k := range m {
		if !seen[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	return append(out, extra...)
}
