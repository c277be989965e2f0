package backend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
)

var (
	metricOwed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "purepool_backend_owed_sat", Help: "Satoshis the pool owes miners (positive balances, the carry account of empty rounds, and payouts planned but not sent; a halted payout's money may already have left, so it is not counted).",
	}, []string{"network"})
	metricWallet = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "purepool_backend_wallet_balance_sat", Help: "The pool wallet's spendable balance.",
	}, []string{"network"})
	metricShortfall = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "purepool_backend_funding_shortfall_sat", Help: "What is owed beyond the wallet's spendable balance (0 when funded).",
	}, []string{"network"})
)

func init() { prometheus.MustRegister(Collectors()...) }

// Collectors are the backend's Prometheus metrics (the funding gauges), for
// a registry other than the default one to show them too (the website's,
// when every role runs in one process).
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{metricOwed, metricWallet, metricShortfall}
}

// RunOptions says how Run consumes commands.
type RunOptions struct {
	Consumer commands.Consumer // nil: run the jobs only
	// Consumers is how many Consume loops run at once (default 4).
	Consumers int
	// FundingInterval is the period of the funding check (default 1 min).
	FundingInterval time.Duration
}

// Run starts the view, the command consumers and the periodic jobs as one
// oklog/run group, and returns when ctx ends or any actor fails.
func (b *Backend) Run(ctx context.Context, opt RunOptions) error {
	if opt.Consumers <= 0 {
		opt.Consumers = 4
	}
	if opt.FundingInterval <= 0 {
		opt.FundingInterval = time.Minute
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var g run.Group
	actor := func(name string, f func(context.Context) error) {
		actx, acancel := context.WithCancel(ctx)
		g.Add(func() error {
			err := f(actx)
			if err != nil && actx.Err() == nil {
				return fmt.Errorf("backend: %s: %w", name, err)
			}
			return err
		}, func(error) { acancel() })
	}
	actor("view", func(ctx context.Context) error { return b.view.Run(ctx, b.store) })
	actor("group commit", func(ctx context.Context) error {
		b.groupRunning.Store(true)
		defer b.groupRunning.Store(false)
		return b.group.Run(ctx)
	})
	for name, g := range b.checks {
		actor("share checks "+name, g.Run)
	}
	// Jobs start once the view caught up with the log.
	ready := func(ctx context.Context) error { return b.syncView(ctx) }
	if opt.Consumer != nil {
		for i := range opt.Consumers {
			b.intake.expectConsumer()
			actor(fmt.Sprintf("consumer %d", i), func(ctx context.Context) error {
				defer b.intake.consumerStopped()
				if err := ready(ctx); err != nil {
					return err
				}
				b.intake.consumingSince(time.Now())
				return opt.Consumer.Consume(ctx, b.Handle)
			})
		}
	}
	for name, net := range b.nets {
		actor("chain follower "+name, func(ctx context.Context) error {
			return b.every(ctx, b.cfg.PollInterval, "chain follower "+name, func(ctx context.Context) error { return b.SyncChain(ctx, name) })
		})
		if net.PayoutInterval > 0 {
			actor("payouts "+name, func(ctx context.Context) error {
				return b.every(ctx, net.PayoutInterval, "payouts "+name, func(ctx context.Context) error { return b.PayoutCycle(ctx, name) })
			})
		}
		if net.VardiffWindow > 0 {
			ev := NewMinerEvaluator()
			actor("miner evaluation "+name, func(ctx context.Context) error {
				return b.every(ctx, net.VardiffWindow, "miner evaluation "+name, func(ctx context.Context) error { return b.EvaluateMiners(ctx, name, ev) })
			})
		}
		actor("funding check "+name, func(ctx context.Context) error {
			return b.every(ctx, opt.FundingInterval, "funding check "+name, func(ctx context.Context) error { _, _, err := b.CheckFunding(ctx, name); return err })
		})
	}
	g.Add(func() error { <-ctx.Done(); return ctx.Err() }, func(error) { cancel() })
	return g.Run()
}

// every runs f now and then every period until ctx ends. A failed pass is
// logged and retried at the next tick: jobs are idempotent.
func (b *Backend) every(ctx context.Context, period time.Duration, name string, f func(context.Context) error) error {
	if err := b.syncView(ctx); err != nil {
		return err
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if err := f(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("job pass failed; retrying next tick", "job", name, "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// CheckFunding compares the wallet's spendable balance with what the pool
// owes a network's miners, logs a shortfall and publishes both as metrics.
func (b *Backend) CheckFunding(ctx context.Context, network string) (owed, balance int64, err error) {
	net, ok := b.network(network)
	if !ok {
		return 0, 0, fmt.Errorf("backend: network %q is not served", network)
	}
	info, err := net.Node.GetWalletInfo(ctx)
	if err != nil {
		return 0, 0, err
	}
	b.view.Read(func(l *aggregates.Ledger) {
		n := l.Network(network)
		for _, c := range n.PayoutCandidates() {
			owed += c.BalanceSat
		}
		// The carry account is owed to the next round's miners.
		owed += max(n.Balances[events.CarryAccountID(network)], 0)
		// A planned payout's money is still in the wallet; a halted one's
		// may have left already (its outcome is unknown): not counted.
		for id := range n.Unsettled {
			if p := n.Payouts[id]; p != nil && p.Status == aggregates.PayoutPlanned {
				owed += p.TotalSat
			}
		}
	})
	balance = int64(info.Balance)
	metricOwed.WithLabelValues(network).Set(float64(owed))
	metricWallet.WithLabelValues(network).Set(float64(balance))
	short := max(owed-balance, 0)
	metricShortfall.WithLabelValues(network).Set(float64(short))
	if short > 0 {
		b.log.Warn("the pool wallet holds less than the pool owes", "network", network, "owed_sat", owed, "balance_sat", balance, "shortfall_sat", short)
	}
	return owed, balance, nil
}

// MinerEvaluator remembers each miner's accepted-share count at the last
// vardiff pass.
type MinerEvaluator struct {
	last map[uuid.UUID]int64
	seen bool
}

// NewMinerEvaluator starts vardiff with no baseline: the first pass only records one.
func NewMinerEvaluator() *MinerEvaluator { return &MinerEvaluator{last: map[uuid.UUID]int64{}} }

// EvaluateMiners is one vardiff pass: every miner active since the last
// pass gets the share target that aims at the configured shares per minute
// (aggregates.Retarget), published as MinerTargetChanged.
func (b *Backend) EvaluateMiners(ctx context.Context, network string, ev *MinerEvaluator) error {
	net, ok := b.network(network)
	if !ok {
		return fmt.Errorf("backend: network %q is not served", network)
	}
	type change struct {
		id     uuid.UUID
		target string
		reason string
	}
	var changes []change
	now := b.now()
	b.view.Read(func(l *aggregates.Ledger) {
		for id, m := range l.Network(network).Miners {
			prev, known := ev.last[id]
			ev.last[id] = m.Accepted
			if !ev.seen || !known || now.Sub(m.LastAt) > 10*net.VardiffWindow {
				continue // no baseline yet, or gone for good
			}
			shares := m.Accepted - prev
			cur, err := biblepay.Difficulty(aggregates.EffectiveTarget(m.Target, net.DefaultTarget))
			if err != nil {
				continue
			}
			next := aggregates.Retarget(cur, shares, net.VardiffWindow, net.Vardiff)
			if next != cur {
				changes = append(changes, change{id, biblepay.TargetForDifficulty(next),
					fmt.Sprintf("vardiff: %d shares in %s at difficulty %d → %d", shares, net.VardiffWindow, cur, next)})
			}
		}
	})
	ev.seen = true
	var errs error
	for _, c := range changes {
		key := uuid.NewSHA1(events.Namespace, []byte(fmt.Sprintf("vardiff:%s:%s:%d", network, c.id, now.UnixNano())))
		_, err := b.decideMiner(ctx, key, c.id, func(m aggregates.Miner) ([]events.Event, error) {
			return aggregates.DecideTarget(m, net.DefaultTarget, c.target, c.reason, now)
		}, events.Any)
		if err != nil && !errors.Is(err, aggregates.ErrConflict) {
			errs = errors.Join(errs, err)
		}
	}
	return errs
}
