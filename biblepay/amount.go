package biblepay

import (
	"strconv"
	"strings"
)

// FormatBBP writes satoshis as BBP with eight decimals, by integer
// arithmetic only: 123456789 → "1.23456789", -5 → "-0.00000005". It is
// the one amount format of the pool: the node's JSON numbers, the
// configuration, the website and the auditor's statements.
func FormatBBP(sat int64) string {
	neg := sat < 0
	u := uint64(sat)
	if neg {
		u = uint64(-(sat + 1)) + 1 // also right for math.MinInt64
	}
	c := uint64(Coin)
	frac := strconv.FormatUint(u%c, 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	b.WriteString(strconv.FormatUint(u/c, 10))
	b.WriteByte('.')
	b.WriteString(strings.Repeat("0", 8-len(frac)))
	b.WriteString(frac)
	return b.String()
}
