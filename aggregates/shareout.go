package aggregates

import (
	"bytes"
	"fmt"
	"math"
	"math/bits"
	"sort"

	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
)

// MaxFeeBps is a fee of 100 %.
const MaxFeeBps = 10_000

// Credit is one miner's part of a block reward.
type Credit struct {
	MinerID    uuid.UUID
	Address    string
	Shares     int64
	Difficulty int64
	AmountSat  int64
}

// FeeOf is the pool fee of a reward: floor(reward × bps / 10,000).
func FeeOf(rewardSat, feeBps int64) (int64, error) {
	if rewardSat < 0 {
		return 0, fmt.Errorf("%w: negative reward %d", ErrInvalid, rewardSat)
	}
	if feeBps < 0 || feeBps > MaxFeeBps {
		return 0, fmt.Errorf("%w: fee of %d basis points", ErrInvalid, feeBps)
	}
	hi, lo := bits.Mul64(uint64(rewardSat), uint64(feeBps))
	q, _ := bits.Div64(hi, lo, MaxFeeBps) // hi < 10,000 since rewardSat < 2^63
	return int64(q), nil
}

// MergeTallies sums tallies of the same miner and returns them ordered by
// miner id. Negative values are invalid; sums that overflow are ErrOverflow.
func MergeTallies(tallies []events.ShareTally) ([]events.ShareTally, error) {
	idx := make(map[uuid.UUID]int, len(tallies))
	out := make([]events.ShareTally, 0, len(tallies))
	for _, t := range tallies {
		if t.Shares < 0 || t.Difficulty < 0 {
			return nil, fmt.Errorf("%w: negative tally for miner %s", ErrInvalid, t.MinerID)
		}
		i, ok := idx[t.MinerID]
		if !ok {
			idx[t.MinerID] = len(out)
			out = append(out, t)
			continue
		}
		o := &out[i]
		if o.Shares > math.MaxInt64-t.Shares || o.Difficulty > math.MaxInt64-t.Difficulty {
			return nil, fmt.Errorf("%w: tally of miner %s", ErrOverflow, t.MinerID)
		}
		o.Shares += t.Shares
		o.Difficulty += t.Difficulty
		if o.Address == "" {
			o.Address = t.Address
		}
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].MinerID[:], out[j].MinerID[:]) < 0 })
	return out, nil
}

// Split shares a block reward out: the fee (FeeOf) to the pool, the rest
// to the miners by Distribute, so that
//
//	sum(credits) + fee == reward
//
// always holds. A round with no difficulty at all gives no credit (the
// caller decides where the rest goes: see DecideMature and RoundEmpty).
func Split(rewardSat, feeBps int64, tallies []events.ShareTally) ([]Credit, int64, error) {
	fee, err := FeeOf(rewardSat, feeBps)
	if err != nil {
		return nil, 0, err
	}
	credits, err := Distribute(rewardSat-fee, tallies)
	return credits, fee, err
}

// Distribute shares an amount out among the tallies in proportion to their
// difficulty, exactly, in satoshis. Each miner first gets
// floor(amount × d / D); the few satoshis left go one each to the miners with
// the largest remainders, ties broken by ascending miner id, so the result
// depends on the inputs only (not their order) and the credits sum to the
// amount exactly. Miners whose part is 0 are left out; tallies without
// difficulty give no credit at all. Credits are ordered by miner id.
func Distribute(amountSat int64, tallies []events.ShareTally) ([]Credit, error) {
	if amountSat < 0 {
		return nil, fmt.Errorf("%w: negative amount %d", ErrInvalid, amountSat)
	}
	merged, err := MergeTallies(tallies)
	if err != nil {
		return nil, err
	}
	var total uint64
	for _, t := range merged {
		if total > math.MaxInt64-uint64(t.Difficulty) {
			return nil, fmt.Errorf("%w: round difficulty", ErrOverflow)
		}
		total += uint64(t.Difficulty)
	}
	if total == 0 {
		return nil, nil
	}
	rest := uint64(amountSat)
	type part struct {
		amount, rem uint64
	}
	parts := make([]part, len(merged))
	var given uint64
	for i, t := range merged {
		hi, lo := bits.Mul64(rest, uint64(t.Difficulty))
		q, r := bits.Div64(hi, lo, total) // hi < total because d ≤ total and rest < 2^63
		parts[i] = part{q, r}
		given += q
	}
	left := rest - given // < len(merged): each floor lost less than 1
	if left > 0 {
		order := make([]int, len(merged))
		for i := range order {
			order[i] = i
		}
		sort.Slice(order, func(a, b int) bool {
			pa, pb := parts[order[a]], parts[order[b]]
			if pa.rem != pb.rem {
				return pa.rem > pb.rem
			}
			return bytes.Compare(merged[order[a]].MinerID[:], merged[order[b]].MinerID[:]) < 0
		})
		for _, i := range order[:left] {
			parts[i].amount++
		}
	}
	credits := make([]Credit, 0, len(merged))
	for i, t := range merged {
		if parts[i].amount == 0 {
			continue
		}
		credits = append(credits, Credit{
			MinerID: t.MinerID, Address: t.Address, Shares: t.Shares, Difficulty: t.Difficulty,
			AmountSat: int64(parts[i].amount),
		})
	}
	return credits, nil
}

// RoundTotals sums a round's shares and difficulty.
func RoundTotals(tallies []events.ShareTally) (shares, difficulty int64, err error) {
	for _, t := range tallies {
		if shares > math.MaxInt64-t.Shares || difficulty > math.MaxInt64-t.Difficulty {
			return 0, 0, fmt.Errorf("%w: round totals", ErrOverflow)
		}
		shares += t.Shares
		difficulty += t.Difficulty
	}
	return shares, difficulty, nil
}
