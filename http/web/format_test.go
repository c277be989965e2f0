package web_test

import (
	"strings"

	"github.com/purepool/purepool/projections"
)

// commas groups the integer part of a decimal by thousands, as the pages
// write numbers: "1234567.5" → "1,234,567.5".
func commas(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i := range ip {
		if i > 0 && (len(ip)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(ip[i])
	}
	if hasFrac {
		b.WriteString("." + frac)
	}
	return b.String()
}

// bbpText is an amount as the pages write it in full: "1,234.56789012 BBP".
func bbpText(sat int64) string { return commas(projections.FormatBBP(sat)) + " BBP" }
