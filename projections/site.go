package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The website's reads of shape 4: shares per hour (hash rates and their
// charts), shares per height mined (a block's effort, the estimate of what
// a pending block will credit a miner), the network difficulty.

// HourCount is one UTC hour of accepted and rejected shares.
type HourCount struct {
	Hour       time.Time
	Shares     int64
	Difficulty int64 // the accepted shares' difficulty: expected hashes
	Rejected   int64
}

// PoolHours lists the pool's shares per hour for the hours starting in
// [from, to], oldest first (hours without a share are absent).
func (r *Reader) PoolHours(ctx context.Context, network string, from, to time.Time) ([]HourCount, error) {
	h := r.d.ident("hour")
	rows, err := r.query(ctx, "SELECT "+h+", shares, difficulty, rejected FROM "+r.t(TPoolHours)+
		" WHERE network = ? AND "+h+" >= ? AND "+h+" <= ? ORDER BY "+h, network, Hour(from), Hour(to))
	if err != nil {
		return nil, err
	}
	return collect(rows, scanHour)
}

// MinerHours lists a miner's shares per hour for the hours starting in
// [from, to], oldest first (hours without a share are absent).
func (r *Reader) MinerHours(ctx context.Context, network string, minerID uuid.UUID, from, to time.Time) ([]HourCount, error) {
	h := r.d.ident("hour")
	rows, err := r.query(ctx, "SELECT "+h+", shares, difficulty, rejected FROM "+r.t(TMinerHours)+
		" WHERE network = ? AND miner_id = ? AND "+h+" >= ? AND "+h+" <= ? ORDER BY "+h, network, r.d.Arg(minerID), Hour(from), Hour(to))
	if err != nil {
		return nil, err
	}
	return collect(rows, scanHour)
}

func scanHour(s *sql.Rows) (HourCount, error) {
	var h HourCount
	var hour int64
	err := s.Scan(&hour, &h.Shares, &h.Difficulty, &h.Rejected)
	h.Hour = HourTime(hour)
	return h, err
}

// Active counts the miners and the workers with an accepted share since t.
func (r *Reader) Active(ctx context.Context, network string, since time.Time) (miners, workers int64, err error) {
	if err = r.db.QueryRowContext(ctx, r.d.q("SELECT count(*) FROM "+r.t(TMiners)+" WHERE network = ? AND last_share_at >= ?"),
		network, r.d.Arg(since)).Scan(&miners); err != nil {
		return 0, 0, fmt.Errorf("projections: active miners: %w", err)
	}
	if err = r.db.QueryRowContext(ctx, r.d.q("SELECT count(*) FROM "+r.t(TWorkers)+" WHERE network = ? AND last_share_at >= ?"),
		network, r.d.Arg(since)).Scan(&workers); err != nil {
		return 0, 0, fmt.Errorf("projections: active workers: %w", err)
	}
	return miners, workers, nil
}

// NetworkDifficulty is the network difficulty (expected hashes per block)
// of the highest chain block whose difficulty is known, and its height;
// found is false when no recorded block carries one.
func (r *Reader) NetworkDifficulty(ctx context.Context, network string) (height, difficulty int64, found bool, err error) {
	err = r.db.QueryRowContext(ctx, r.d.q("SELECT height, difficulty FROM "+r.t(TChain)+" WHERE network = ? AND difficulty > 0 ORDER BY height DESC LIMIT 1"),
		network).Scan(&height, &difficulty)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("projections: network difficulty: %w", err)
	}
	return height, difficulty, true, nil
}

// Work is what the pool did for one pool block: the accepted shares mined
// on the heights after the previous pool block still on the chain
// (FromHeight; 0 when there is none), up to and including the block's own.
// Effort is Difficulty / NetworkDifficulty: 1 is the work one block takes
// on average, less is luck.
type Work struct {
	FromHeight int64
	Shares     int64
	Difficulty int64
	// NetworkDifficulty is the network difficulty at the block's height
	// (0: not recorded).
	NetworkDifficulty int64
}

// Effort is the work against the network difficulty, in hundredths of a
// percent (10000 = 100 %); ok is false when the difficulty is unknown.
func (w Work) Effort() (bp int64, ok bool) {
	if w.NetworkDifficulty <= 0 {
		return 0, false
	}
	return mulDiv(w.Difficulty, 10_000, w.NetworkDifficulty), true
}

// BlockWork is the pool's work for each of the given pool blocks, by hash.
func (r *Reader) BlockWork(ctx context.Context, network string, blocks []Block) (map[string]Work, error) {
	out := make(map[string]Work, len(blocks))
	if len(blocks) == 0 {
		return out, nil
	}
	minH, maxH := blocks[0].Height, blocks[0].Height
	for _, b := range blocks {
		minH, maxH = min(minH, b.Height), max(maxH, b.Height)
	}
	// The pool blocks still on the chain from the one before the lowest
	// listed up to the highest: each listed block's FromHeight is among
	// them.
	var floor int64
	if err := r.db.QueryRowContext(ctx, r.d.q("SELECT COALESCE(MAX(height), 0) FROM "+r.t(TBlocks)+" WHERE network = ? AND height < ? AND "+
		r.d.ident("status")+" <> 'orphaned' AND discovered_at IS NOT NULL"), network, minH).Scan(&floor); err != nil {
		return nil, fmt.Errorf("projections: block work: %w", err)
	}
	heights, err := r.int64s(ctx, "SELECT height FROM "+r.t(TBlocks)+" WHERE network = ? AND height >= ? AND height < ? AND "+
		r.d.ident("status")+" <> 'orphaned' AND discovered_at IS NOT NULL ORDER BY height", network, floor, maxH)
	if err != nil {
		return nil, err
	}
	from := func(h int64) int64 {
		i := sort.Search(len(heights), func(i int) bool { return heights[i] >= h })
		if i == 0 {
			return 0
		}
		return heights[i-1]
	}
	lo := maxH
	for _, b := range blocks {
		lo = min(lo, from(b.Height))
	}
	sums, err := r.heightSums(ctx, TPoolHeights, network, uuid.Nil, lo, maxH)
	if err != nil {
		return nil, err
	}
	diffs, err := r.chainDifficulties(ctx, network, blocks)
	if err != nil {
		return nil, err
	}
	for _, b := range blocks {
		f := from(b.Height)
		shares, diff := sums.between(f, b.Height)
		out[b.Hash] = Work{FromHeight: f, Shares: shares, Difficulty: diff, NetworkDifficulty: diffs[b.Height]}
	}
	return out, nil
}

// RoundWork is the pool's work since its last pool block still on the
// chain (the current round), with the latest known network difficulty.
func (r *Reader) RoundWork(ctx context.Context, network string) (Work, error) {
	var w Work
	if err := r.db.QueryRowContext(ctx, r.d.q("SELECT COALESCE(MAX(height), 0) FROM "+r.t(TBlocks)+" WHERE network = ? AND "+
		r.d.ident("status")+" <> 'orphaned' AND discovered_at IS NOT NULL"), network).Scan(&w.FromHeight); err != nil {
		return w, fmt.Errorf("projections: round work: %w", err)
	}
	if err := r.db.QueryRowContext(ctx, r.d.q("SELECT COALESCE(SUM(shares), 0), COALESCE(SUM(difficulty), 0) FROM "+r.t(TPoolHeights)+
		" WHERE network = ? AND height > ?"), network, w.FromHeight).Scan(&w.Shares, &w.Difficulty); err != nil {
		return w, fmt.Errorf("projections: round work: %w", err)
	}
	_, d, _, err := r.NetworkDifficulty(ctx, network)
	w.NetworkDifficulty = d
	return w, err
}

// PendingCredit is the estimate of what a pending pool block will credit
// one miner when it matures, if its round is made as the backend makes a
// round by height (PROP): the miner's part of the difficulty of the shares
// mined on the block's heights (Work.FromHeight+1 up to its own).
type PendingCredit struct {
	Block Block
	// Work is the pool's; MinerShares and MinerDifficulty the miner's part.
	Work            Work
	MinerShares     int64
	MinerDifficulty int64
}

// PendingCredits lists the pool's pending blocks, lowest first, with the
// miner's part of each one's work (blocks where the miner has none
// included, with zeros).
func (r *Reader) PendingCredits(ctx context.Context, network string, minerID uuid.UUID) ([]PendingCredit, error) {
	rows, err := r.query(ctx, "SELECT "+blockCols+r.blockFrom()+" WHERE b.network = ? AND b."+r.d.ident("status")+
		" = 'pending' AND b.discovered_at IS NOT NULL ORDER BY b.height, b.hash LIMIT 1000", network)
	if err != nil {
		return nil, err
	}
	blocks, err := collect(rows, func(s *sql.Rows) (Block, error) { return scanBlock(s) })
	if err != nil || len(blocks) == 0 {
		return nil, err
	}
	work, err := r.BlockWork(ctx, network, blocks)
	if err != nil {
		return nil, err
	}
	lo, hi := blocks[len(blocks)-1].Height, blocks[len(blocks)-1].Height
	for _, b := range blocks {
		lo = min(lo, work[b.Hash].FromHeight)
	}
	sums, err := r.heightSums(ctx, TMinerHeights, network, minerID, lo, hi)
	if err != nil {
		return nil, err
	}
	out := make([]PendingCredit, 0, len(blocks))
	for _, b := range blocks {
		w := work[b.Hash]
		shares, diff := sums.between(w.FromHeight, b.Height)
		out = append(out, PendingCredit{Block: b, Work: w, MinerShares: shares, MinerDifficulty: diff})
	}
	return out, nil
}

// LastPayoutAt is when the network's latest payout was planned (zero
// before the first): the payout schedule's last run with a payout.
func (r *Reader) LastPayoutAt(ctx context.Context, network string) (time.Time, error) {
	var t time.Time
	err := r.db.QueryRowContext(ctx, r.d.q("SELECT MAX(planned_at) FROM "+r.t(TPayouts)+" WHERE network = ?"), network).Scan(nullTime{&t})
	if err != nil {
		return time.Time{}, fmt.Errorf("projections: last payout: %w", err)
	}
	return t, nil
}

// BlockSpacing is the mean time between the last n recorded chain blocks
// (0 when fewer than two are recorded).
func (r *Reader) BlockSpacing(ctx context.Context, network string, n int) (time.Duration, error) {
	rows, err := r.query(ctx, "SELECT height, block_time FROM "+r.t(TChain)+" WHERE network = ? ORDER BY height DESC LIMIT ?", network, n)
	if err != nil {
		return 0, err
	}
	type hb struct {
		h int64
		t time.Time
	}
	pts, err := collect(rows, func(s *sql.Rows) (hb, error) {
		var p hb
		err := s.Scan(&p.h, nullTime{&p.t})
		return p, err
	})
	if err != nil || len(pts) < 2 {
		return 0, err
	}
	first, last := pts[len(pts)-1], pts[0]
	if last.h <= first.h || !last.t.After(first.t) {
		return 0, nil
	}
	return last.t.Sub(first.t) / time.Duration(last.h-first.h), nil
}

// heightSums are per-height shares and difficulty with prefix sums.
type heightSums struct {
	heights      []int64
	shares, diff []int64 // prefix sums: [i] is the sum of rows 0..i-1
}

// between sums the heights in (from, to].
func (s heightSums) between(from, to int64) (shares, diff int64) {
	i := sort.Search(len(s.heights), func(i int) bool { return s.heights[i] > from })
	j := sort.Search(len(s.heights), func(i int) bool { return s.heights[i] > to })
	if j <= i {
		return 0, 0
	}
	return s.shares[j] - s.shares[i], s.diff[j] - s.diff[i]
}

// heightSums reads pool_heights (minerID Nil) or a miner's miner_heights
// for the heights in (from, to].
func (r *Reader) heightSums(ctx context.Context, table, network string, minerID uuid.UUID, from, to int64) (heightSums, error) {
	q := "SELECT height, shares, difficulty FROM " + r.t(table) + " WHERE network = ?"
	args := []any{network}
	if table == TMinerHeights {
		q += " AND miner_id = ?"
		args = append(args, r.d.Arg(minerID))
	}
	rows, err := r.query(ctx, q+" AND height > ? AND height <= ? ORDER BY height", append(args, from, to)...)
	if err != nil {
		return heightSums{}, err
	}
	s := heightSums{shares: []int64{0}, diff: []int64{0}}
	defer rows.Close()
	for rows.Next() {
		var h, n, d int64
		if err := rows.Scan(&h, &n, &d); err != nil {
			return heightSums{}, fmt.Errorf("projections: read: %w", err)
		}
		s.heights = append(s.heights, h)
		s.shares = append(s.shares, s.shares[len(s.shares)-1]+n)
		s.diff = append(s.diff, s.diff[len(s.diff)-1]+d)
	}
	return s, rows.Err()
}

// chainDifficulties reads the network difficulty at the blocks' heights.
func (r *Reader) chainDifficulties(ctx context.Context, network string, blocks []Block) (map[int64]int64, error) {
	out := map[int64]int64{}
	seen := map[int64]bool{}
	var ph []string
	args := []any{network}
	for _, b := range blocks {
		if !seen[b.Height] {
			seen[b.Height] = true
			ph = append(ph, "?")
			args = append(args, b.Height)
		}
	}
	rows, err := r.query(ctx, "SELECT height, difficulty FROM "+r.t(TChain)+" WHERE network = ? AND height IN ("+strings.Join(ph, ", ")+")", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var h, d int64
		if err := rows.Scan(&h, &d); err != nil {
			return nil, fmt.Errorf("projections: read: %w", err)
		}
		out[h] = d
	}
	return out, rows.Err()
}

func (r *Reader) int64s(ctx context.Context, q string, args ...any) ([]int64, error) {
	rows, err := r.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(s *sql.Rows) (int64, error) {
		var v int64
		err := s.Scan(&v)
		return v, err
	})
}

// mulDiv is a×b/c rounded down, without overflow for non-negative a, b
// and positive c (the result saturates at the largest int64).
func mulDiv(a, b, c int64) int64 {
	if a <= 0 || b <= 0 || c <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return 1<<63 - 1
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	if q > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(q)
}

// MulDiv is a×b/c rounded down without overflow (see mulDiv): amounts
// times difficulties.
func MulDiv(a, b, c int64) int64 { return mulDiv(a, b, c) }
