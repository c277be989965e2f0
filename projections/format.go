package projections

import (
	"math/big"
	"strconv"

	"github.com/purepool/purepool/biblepay"
)

// satPerBBP is biblepay.Coin.
const satPerBBP = biblepay.Coin

// FormatBBP formats satoshis as BBP with eight decimals, by integer
// arithmetic only: 123456789 -> "1.23456789", -5 -> "-0.00000005".
func FormatBBP(sat int64) string { return biblepay.FormatBBP(sat) }

// WholeBBP is the integer part of an amount in BBP (truncated toward zero),
// the unit Purepool's API reported subsidies in.
func WholeBBP(sat int64) int64 { return sat / satPerBBP }

// SharePercent is a miner's part of a round as a percentage with two
// decimals, by integer arithmetic: weighted by difficulty when the round has
// one, else by share count. "0.00%" for an empty round.
func SharePercent(minerDiff, roundDiff, minerShares, roundShares int64) string {
	num, den := minerDiff, roundDiff
	if den <= 0 {
		num, den = minerShares, roundShares
	}
	return Percent(num, den)
}

// Percent formats num/den as a percentage with two decimals, rounded half
// up, by integer arithmetic.
func Percent(num, den int64) string {
	if den <= 0 || num < 0 {
		return "0.00%"
	}
	// hundredths of a percent, rounded half up; big integers because
	// difficulty sums times 20000 can exceed int64.
	n := new(big.Int).Mul(big.NewInt(num), big.NewInt(20000))
	n.Add(n, big.NewInt(den))
	n.Quo(n, new(big.Int).Mul(big.NewInt(den), big.NewInt(2)))
	bp := n.Int64()
	frac := strconv.FormatInt(bp%100, 10)
	if len(frac) == 1 {
		frac = "0" + frac
	}
	return strconv.FormatInt(bp/100, 10) + "." + frac + "%"
}
