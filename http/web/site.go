package web

import (
	"context"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/projections"
)

// What the home, statistics and miner pages compute from the read model:
// hash rates from the accepted shares' difficulty, effort, the estimate of
// immature credits and of the next payout.

// siteReader is what these pages read beyond Reader (projections.Reader
// implements it).
type siteReader interface {
	PoolHours(ctx context.Context, network string, from, to time.Time) ([]projections.HourCount, error)
	MinerHours(ctx context.Context, network string, minerID uuid.UUID, from, to time.Time) ([]projections.HourCount, error)
	Active(ctx context.Context, network string, since time.Time) (miners, workers int64, err error)
	NetworkDifficulty(ctx context.Context, network string) (height, difficulty int64, found bool, err error)
	BlockWork(ctx context.Context, network string, blocks []projections.Block) (map[string]projections.Work, error)
	RoundWork(ctx context.Context, network string) (projections.Work, error)
	PendingCredits(ctx context.Context, network string, minerID uuid.UUID) ([]projections.PendingCredit, error)
	LastPayoutAt(ctx context.Context, network string) (time.Time, error)
	BlockSpacing(ctx context.Context, network string, n int) (time.Duration, error)
}

var _ siteReader = (*projections.Reader)(nil)

// activeWindow: a miner or worker with an accepted share this recent is
// active; the headline hash rates are over the same hour.
const activeWindow = time.Hour

// maturityOf is the confirmations a pool block of the network needs.
func (n Network) maturityOf(network string) int64 {
	if n.Maturity > 0 {
		return n.Maturity
	}
	p, _ := biblepay.LookupNetwork(network)
	return p.Maturity
}

// scheduleText says when payouts run.
func (n Network) scheduleText() string {
	if n.PayoutInterval > 0 {
		return "every " + formatDuration(n.PayoutInterval)
	}
	return n.PayoutSchedule
}

// rateOver is the hash rate of the shares of the last full hour and of the
// hour so far (expected hashes per second).
func rateOver(hours []projections.HourCount, now time.Time) int64 {
	cur := projections.HourTime(projections.Hour(now))
	prev := cur.Add(-time.Hour)
	var diff int64
	for _, h := range hours {
		if !h.Hour.Before(prev) && !h.Hour.After(cur) {
			diff += h.Difficulty
		}
	}
	secs := int64(time.Hour/time.Second) + int64(now.Sub(cur)/time.Second)
	return diff / max(secs, 1)
}

// rateChart is a bar chart of hash rates per bucket, as inline SVG.
type rateChart struct {
	Width, Height int
	Bars          []rateBar
	Top           string // the hash rate of the top line
	TopY, BaseY   int
	Empty         bool
	Label         string
}

type rateBar struct {
	X, Y, W, H int
	LX         int    // x of the label
	Label      string // "" for no label under this bar
	Tip        string
}

// newRateChart buckets hourly counts from `from` in n buckets of `size`:
// each bar is the bucket's difficulty per second (the bucket holding now
// over the part that has passed). Every labelEvery-th bar is labelled.
func newRateChart(hours []projections.HourCount, from time.Time, n int, size time.Duration, now time.Time, labelEvery int, layout, label string) rateChart {
	const w, ht, top, bottom, left = 700, 200, 18, 26, 4
	c := rateChart{Width: w, Height: ht, TopY: top, BaseY: ht - bottom, Label: label}
	sums := make([]int64, n)
	for _, h := range hours {
		i := int(h.Hour.Sub(from) / size)
		if i >= 0 && i < n {
			sums[i] += h.Difficulty
		}
	}
	rates := make([]int64, n)
	var peak int64
	for i := range sums {
		start := from.Add(time.Duration(i) * size)
		secs := int64(size / time.Second)
		if now.Before(start.Add(size)) {
			secs = int64(now.Sub(start) / time.Second)
		}
		if secs > 0 {
			rates[i] = sums[i] / secs
		}
		peak = max(peak, rates[i])
	}
	c.Empty = peak == 0
	plot := int64(ht - top - bottom)
	slot := (w - left) / max(n, 1)
	for i, r := range rates {
		start := from.Add(time.Duration(i) * size)
		h := 0
		if peak > 0 {
			h = int(r * plot / peak)
		}
		b := rateBar{X: left + i*slot + 1, W: max(slot-2, 1), H: h, Y: ht - bottom - h, LX: left + i*slot + slot/2,
			Tip: start.UTC().Format("2006-01-02 15:04") + " UTC: " + formatHashrate(r)}
		if labelEvery > 0 && i%labelEvery == 0 {
			b.Label = start.UTC().Format(layout)
		}
		c.Bars = append(c.Bars, b)
	}
	c.Top = formatHashrate(peak)
	return c
}

// blockRow is a pool block with its effort and the confirmations it
// still needs.
type blockRow struct {
	projections.Block
	Work projections.Work
	// EffortBP is the effort in hundredths of a percent; EffortKnown
	// whether the network difficulty was recorded.
	EffortBP    int64
	EffortKnown bool
	// ConfLeft: confirmations until maturity (pending blocks).
	ConfLeft int64
}

func (h *Handler) blockRows(ctx context.Context, network string, blocks []projections.Block, tip int64) ([]blockRow, error) {
	sr, ok := h.reader.(siteReader)
	rows := make([]blockRow, len(blocks))
	var work map[string]projections.Work
	if ok {
		var err error
		if work, err = sr.BlockWork(ctx, network, blocks); err != nil {
			return nil, err
		}
	}
	maturity := h.cfg.Networks[network].maturityOf(network)
	for i, b := range blocks {
		rows[i] = blockRow{Block: b, Work: work[b.Hash]}
		rows[i].EffortBP, rows[i].EffortKnown = rows[i].Work.Effort()
		if b.Status == "pending" {
			conf := max(b.Confirmations, tip-b.Height+1)
			rows[i].ConfLeft = max(maturity-conf, 0)
		}
	}
	return rows, nil
}

// luck is the pool's effort over blocks whose network difficulty is known:
// their work over their difficulties (pooled), and how many.
type luck struct {
	Blocks   int
	EffortBP int64
}

func luckOf(rows []blockRow) luck {
	var l luck
	var work, diff int64
	for _, r := range rows {
		if r.EffortKnown && r.Status != "orphaned" {
			l.Blocks++
			work += r.Work.Difficulty
			diff += r.Work.NetworkDifficulty
		}
	}
	if diff > 0 {
		l.EffortBP = projections.MulDiv(work, 10_000, diff)
	}
	return l
}

// overview is what the home page shows of the pool.
type overview struct {
	Pool        projections.Pool
	Policy      Policy
	Net         Network
	Schedule    string
	HashrateHPS int64 // from the shares of the last hour
	ReportedHPS int64 // what the wallets of active workers report
	Miners      int64 // with a share in the last hour
	Workers     int64
	NetHeight   int64
	NetDiff     int64 // 0: not recorded
	Round       projections.Work
	RoundBP     int64
	RoundKnown  bool
	Blocks      []blockRow
	Chart       rateChart
	Payouts     []projections.Payout
	Window      projections.WindowStats
}

func (h *Handler) overview(ctx context.Context, network string) (overview, error) {
	now := h.cfg.Now().UTC()
	n := h.cfg.Networks[network]
	o := overview{Net: n, Schedule: n.scheduleText()}
	var err error
	if o.Pool, err = h.reader.Pool(ctx, network); err != nil {
		return o, err
	}
	o.Policy = policyOf(n, o.Pool)
	o.NetHeight = o.Pool.Height
	if o.Window, err = h.reader.Window(ctx, network, now.Add(-24*time.Hour)); err != nil {
		return o, err
	}
	if o.ReportedHPS, _, err = h.reader.Hashrate(ctx, network, now.Add(-15*time.Minute)); err != nil {
		return o, err
	}
	blocks, err := h.reader.Blocks(ctx, network, 0, 10)
	if err != nil {
		return o, err
	}
	if o.Blocks, err = h.blockRows(ctx, network, blocks, o.Pool.Height); err != nil {
		return o, err
	}
	if o.Payouts, err = h.reader.Payouts(ctx, network, 0, 5); err != nil {
		return o, err
	}
	sr, ok := h.reader.(siteReader)
	if !ok {
		return o, nil
	}
	from := projections.HourTime(projections.Hour(now)).Add(-23 * time.Hour)
	hours, err := sr.PoolHours(ctx, network, from, now)
	if err != nil {
		return o, err
	}
	o.HashrateHPS = rateOver(hours, now)
	o.Chart = newRateChart(hours, from, 24, time.Hour, now, 3, "15:04", "pool hash rate per hour, last 24 hours")
	if o.Miners, o.Workers, err = sr.Active(ctx, network, now.Add(-activeWindow)); err != nil {
		return o, err
	}
	if _, o.NetDiff, _, err = sr.NetworkDifficulty(ctx, network); err != nil {
		return o, err
	}
	if o.Round, err = sr.RoundWork(ctx, network); err != nil {
		return o, err
	}
	o.RoundBP, o.RoundKnown = o.Round.Effort()
	return o, nil
}

// immature is one pending pool block's estimated credit to a miner.
type immature struct {
	Block       projections.Block
	ConfLeft    int64
	ETA         time.Duration // until maturity, at the recent block spacing (0 unknown)
	Shares      int64
	RoundShares int64
	Percent     string
	AmountSat   int64
}

// payoutEstimate says when a miner's next payout should come.
type payoutEstimate struct {
	MinPayoutSat int64
	// ProgressPct is the balance (confirmed + immature) against the
	// minimum payout, 0..100, for the progress bar.
	ProgressPct int
	ToGoSat     int64 // what the confirmed and immature balances lack
	// When is the estimated time of the payout run that should pay
	// (zero: no estimate); Text says how it was estimated.
	When   time.Time
	Text   string
	Paused bool
}

// minerExtras are the miner page's estimates and charts.
type minerExtras struct {
	Immature    []immature
	ImmatureSat int64
	Next        payoutEstimate
	HashrateHPS int64 // from the shares of the last hour
	ReportedHPS int64 // the workers' reported rates
	Day, Week   rateChart
	Reasons     map[string]string // worker → "2 STALE_HEIGHT · 1 DUPLICATE…"
	FeeBps      int64
	Scheme      string
}

func (h *Handler) minerExtras(ctx context.Context, network string, d *minerData) error {
	sr, ok := h.reader.(siteReader)
	if !ok {
		return nil
	}
	now := h.cfg.Now().UTC()
	n := h.cfg.Networks[network]
	m := d.Miner
	x := &d.Extras
	pool, err := h.reader.Pool(ctx, network)
	if err != nil {
		return err
	}
	policy := policyOf(n, pool)
	x.FeeBps, x.Scheme = policy.FeeBps, policy.Scheme

	// Hash rates and charts.
	weekFrom := projections.HourTime(projections.Hour(now)).Add(-167 * time.Hour)
	weekFrom = weekFrom.Add(-time.Duration(weekFrom.Unix()/3600%4) * time.Hour) // 4-hour buckets on UTC 00, 04, …
	hours, err := sr.MinerHours(ctx, network, m.MinerID, weekFrom, now)
	if err != nil {
		return err
	}
	x.HashrateHPS = rateOver(hours, now)
	dayFrom := projections.HourTime(projections.Hour(now)).Add(-23 * time.Hour)
	x.Day = newRateChart(hours, dayFrom, 24, time.Hour, now, 3, "15:04", "your hash rate per hour, last 24 hours")
	x.Week = newRateChart(hours, weekFrom, 43, 4*time.Hour, now, 6, "Mon", "your hash rate per 4 hours, last 7 days")
	for _, w := range d.Workers {
		if !w.LastShareAt.Before(now.Add(-15 * time.Minute)) {
			x.ReportedHPS += w.HashrateHPS
		}
	}
	x.Reasons = map[string]string{}
	for _, rj := range d.Rejections {
		if s := x.Reasons[rj.Worker]; s != "" {
			x.Reasons[rj.Worker] = s + " · "
		}
		x.Reasons[rj.Worker] += formatNum(rj.Count) + " " + rj.Reason
	}

	// Immature: pending pool blocks, estimated as the backend credits a
	// round by height (PROP): the miner's part of the shares mined on the
	// block's heights, of the reward less the fee.
	pcs, err := sr.PendingCredits(ctx, network, m.MinerID)
	if err != nil {
		return err
	}
	spacing, err := sr.BlockSpacing(ctx, network, 100)
	if err != nil {
		return err
	}
	if spacing <= 0 {
		p, _ := biblepay.LookupNetwork(network)
		spacing = p.BlockSpacing
	}
	maturity := n.maturityOf(network)
	for _, pc := range pcs {
		b := pc.Block
		fee, err := aggregates.FeeOf(b.RewardSat, policy.FeeBps)
		if err != nil {
			fee = 0
		}
		part := b.RewardSat - fee
		var amount int64
		switch {
		case policy.Scheme == "SOLO":
			if b.FinderMinerID == m.MinerID {
				amount = part
			}
		case pc.Work.Difficulty > 0:
			amount = projections.MulDiv(part, pc.MinerDifficulty, pc.Work.Difficulty)
		case b.FinderMinerID == m.MinerID:
			amount = part // a round without a share goes to its finder
		}
		if amount == 0 && pc.MinerShares == 0 {
			continue
		}
		conf := max(b.Confirmations, pool.Height-b.Height+1)
		left := max(maturity-conf, 0)
		x.Immature = append(x.Immature, immature{Block: b, ConfLeft: left, ETA: time.Duration(left) * spacing, Shares: pc.MinerShares,
			RoundShares: pc.Work.Shares, Percent: projections.SharePercent(pc.MinerDifficulty, pc.Work.Difficulty, pc.MinerShares, pc.Work.Shares),
			AmountSat: amount})
		x.ImmatureSat += amount
	}

	// The next payout.
	last, err := sr.LastPayoutAt(ctx, network)
	if err != nil {
		return err
	}
	x.Next = estimatePayout(m, x.Immature, d.Week, n.MinPayoutSat, n.PayoutInterval, last, now, pool.PayoutsPaused)
	return nil
}

// estimatePayout estimates when the payout run that pays the miner comes:
// the confirmed balance is paid at the next run once it reaches the
// minimum payout; the immature credits count from the time their blocks
// should mature; beyond them, the miner's credits of the last 7 days
// continue at the same pace.
func estimatePayout(m projections.Miner, imm []immature, week []projections.DayCount, minSat int64, interval time.Duration, lastRun, now time.Time, paused bool) payoutEstimate {
	e := payoutEstimate{MinPayoutSat: minSat, Paused: paused}
	var immSat int64
	for _, i := range imm {
		immSat += i.AmountSat
	}
	have := m.BalanceSat + immSat
	e.ToGoSat = max(minSat-have, 0)
	if minSat > 0 {
		e.ProgressPct = int(min(max(projections.MulDiv(max(have, 0), 100, minSat), 0), 100))
	} else {
		e.ProgressPct = 100
	}
	run := func(t time.Time) time.Time { // the first run at or after t
		if interval <= 0 || lastRun.IsZero() {
			return time.Time{}
		}
		if !t.After(lastRun) {
			return lastRun.Add(interval)
		}
		k := (t.Sub(lastRun) + interval - 1) / interval
		return lastRun.Add(k * interval)
	}
	nextRun := func(t time.Time) string {
		if r := run(t); !r.IsZero() {
			e.When = r
			return ""
		}
		return " (the time of the next payout run is not known yet)"
	}
	switch {
	case m.BalanceSat >= minSat && m.BalanceSat > 0:
		e.Text = "Your confirmed balance has reached the minimum payout: it is paid at the next payout run" + nextRun(now) + "."
	case have >= minSat && have > 0:
		sorted := append([]immature(nil), imm...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].ConfLeft < sorted[j].ConfLeft })
		sum := m.BalanceSat
		for _, i := range sorted {
			sum += i.AmountSat
			if sum >= minSat {
				e.Text = "With the credit of block " + formatNum(i.Block.Height) + ", expected in about " + formatDuration(i.ETA) +
					" (" + formatNum(i.ConfLeft) + " confirmations), your balance reaches the minimum payout; it is then paid at the next payout run" + nextRun(now.Add(i.ETA)) + "."
				break
			}
		}
	default:
		var earned int64
		for _, d := range week {
			earned += d.CreditedSat
		}
		span := 7 * 24 * time.Hour
		if !m.RegisteredAt.IsZero() && now.Sub(m.RegisteredAt) < span {
			span = max(now.Sub(m.RegisteredAt), time.Hour)
		}
		if earned <= 0 {
			e.Text = "No estimate: you were credited nothing in the last 7 days. " + formatAmount(e.ToGoSat) + " to go."
			break
		}
		need := time.Duration(projections.MulDiv(e.ToGoSat, int64(span), earned))
		e.Text = "At your pace of the last " + formatDuration(span) + " (" + formatAmount(earned) + " credited), the minimum payout is reached in about " +
			formatDuration(need) + "; it is then paid at the next payout run" + nextRun(now.Add(need)) + "."
	}
	if paused {
		e.Text += " Payouts are paused right now."
	}
	return e
}
