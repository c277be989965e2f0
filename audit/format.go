package audit

import (
	"math/big"
	"strings"

	"github.com/purepool/purepool/biblepay"
)

// FormatBBP writes satoshis as BBP with eight decimals by integer arithmetic
// only: 123456789 -> "1.23456789", -5 -> "-0.00000005".
func FormatBBP(sat int64) string { return biblepay.FormatBBP(sat) }

// PercentDecimals is how many decimals statements give share percentages.
const PercentDecimals = 4

// FormatPercent writes num/den as a percentage with the given number of
// decimals, rounded half up, by integer arithmetic (big integers, because a
// difficulty sum times 10^6 overflows int64). "n/a" when den is not positive.
func FormatPercent(num, den int64, decimals int) string {
	if den <= 0 || num < 0 {
		return "n/a"
	}
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)+2), nil) // 100 × 10^decimals
	n := new(big.Int).Mul(big.NewInt(num), scale)
	n.Mul(n, big.NewInt(2))
	n.Add(n, big.NewInt(den))
	n.Quo(n, new(big.Int).Mul(big.NewInt(den), big.NewInt(2))) // round half up
	s := n.String()
	if decimals == 0 {
		return s + "%"
	}
	if len(s) <= decimals {
		s = strings.Repeat("0", decimals-len(s)+1) + s
	}
	return s[:len(s)-decimals] + "." + s[len(s)-decimals:] + "%"
}
