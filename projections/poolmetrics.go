package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// PoolMetrics is what the website's /metrics says about one network of the
// pool. The counters were folded from the events as they were projected
// (the pool row, the pool_counters table), so reading them is a handful of
// key lookups and small aggregates, never a scan of shares: the blocks and
// payouts tables hold one row per pool block and per payout run, and the
// workers table one row per worker.
type PoolMetrics struct {
	Network string
	// Counters (they only grow).
	SharesAccepted   int64            // accepted solutions
	SharesRejected   int64            // rejected solutions, = the sum of RejectedByReason on a read model built from the log
	ShareDifficulty  int64            // the accepted solutions' difficulty
	RejectedByReason map[string]int64 // events.Reject… → count
	BlocksFound      int64
	BlocksMatured    int64 // matured ever, later orphaned ones included
	BlocksOrphaned   int64
	RewardSat        int64 // rewards of every pool block found
	CreditedSat      int64 // to miners, by matured blocks
	FeeSat           int64 // to the pool-fee account, by matured blocks
	// Gauges (the state now).
	BlocksByStatus   map[string]int64 // pending, matured, orphaned → blocks
	Payouts          map[string]PayoutTotal
	MinersBalanceSat int64 // credited − reversed − paid
	PayoutsPaused    bool
	Height           int64 // highest chain block recorded
	HashrateHPS      int64 // the rates last reported by the workers with a share since the given time
	ActiveWorkers    int64
}

// PayoutTotal counts the payouts in one status and their amounts.
type PayoutTotal struct {
	Count    int64
	TotalSat int64
}

// PoolMetrics reads the metrics of one network; hashrate and active workers
// count the workers with an accepted share since since.
func (r *Reader) PoolMetrics(ctx context.Context, network string, since time.Time) (PoolMetrics, error) {
	m := PoolMetrics{Network: network, RejectedByReason: map[string]int64{}, BlocksByStatus: map[string]int64{}, Payouts: map[string]PayoutTotal{}}
	var state string
	var reversed, paid int64
	err := r.db.QueryRowContext(ctx, r.d.q("SELECT shares, rejected, difficulty, blocks_found, blocks_matured, blocks_orphaned, reward_sat, "+
		"credited_sat, reversed_sat, fee_sat, paid_sat, payouts_state FROM "+r.t(TPool)+" WHERE network = ?"), network).
		Scan(&m.SharesAccepted, &m.SharesRejected, &m.ShareDifficulty, &m.BlocksFound, &m.BlocksMatured, &m.BlocksOrphaned, &m.RewardSat,
			&m.CreditedSat, &reversed, &m.FeeSat, &paid, &state)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return PoolMetrics{}, fmt.Errorf("projections: pool metrics: %w", err)
	}
	m.MinersBalanceSat = m.CreditedSat - reversed - paid
	m.PayoutsPaused = state == "paused"

	rows, err := r.query(ctx, "SELECT label, total FROM "+r.t(TPoolCounters)+" WHERE network = ? AND counter = ?", network, "rejected")
	if err != nil {
		return PoolMetrics{}, err
	}
	if err := eachRow(rows, func(rows *sql.Rows) error {
		var reason string
		var n int64
		if err := rows.Scan(&reason, &n); err != nil {
			return err
		}
		m.RejectedByReason[reason] += n
		return nil
	}); err != nil {
		return PoolMetrics{}, err
	}

	rows, err = r.query(ctx, "SELECT "+r.d.ident("status")+", count(*) FROM "+r.t(TBlocks)+" WHERE network = ? GROUP BY "+r.d.ident("status"), network)
	if err != nil {
		return PoolMetrics{}, err
	}
	if err := eachRow(rows, func(rows *sql.Rows) error {
		var status string
		var n int64
		if err := rows.Scan(&status, &n); err != nil {
			return err
		}
		m.BlocksByStatus[status] += n
		return nil
	}); err != nil {
		return PoolMetrics{}, err
	}

	rows, err = r.query(ctx, "SELECT "+r.d.ident("status")+", count(*), COALESCE(SUM(total_sat), 0) FROM "+r.t(TPayouts)+
		" WHERE network = ? GROUP BY "+r.d.ident("status"), network)
	if err != nil {
		return PoolMetrics{}, err
	}
	if err := eachRow(rows, func(rows *sql.Rows) error {
		var status string
		var t PayoutTotal
		if err := rows.Scan(&status, &t.Count, &t.TotalSat); err != nil {
			return err
		}
		m.Payouts[status] = t
		return nil
	}); err != nil {
		return PoolMetrics{}, err
	}

	if err := r.db.QueryRowContext(ctx, r.d.q("SELECT COALESCE(MAX(height), 0) FROM "+r.t(TChain)+" WHERE network = ?"), network).Scan(&m.Height); err != nil {
		return PoolMetrics{}, fmt.Errorf("projections: pool metrics: height: %w", err)
	}
	if m.HashrateHPS, m.ActiveWorkers, err = r.Hashrate(ctx, network, since); err != nil {
		return PoolMetrics{}, err
	}
	return m, nil
}

func eachRow(rows *sql.Rows, f func(*sql.Rows) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := f(rows); err != nil {
			return fmt.Errorf("projections: pool metrics: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("projections: pool metrics: %w", err)
	}
	return nil
}
