package audit_test

import (
	"math"
	"testing"

	"github.com/purepool/purepool/audit"
)

func TestFormatBBP(t *testing.T) {
	for _, c := range []struct {
		sat  int64
		want string
	}{
		{0, "0.00000000"}, {1, "0.00000001"}, {123456789, "1.23456789"}, {100_000_000, "1.00000000"},
		{-5, "-0.00000005"}, {-250_000_000, "-2.50000000"},
		{math.MaxInt64, "92233720368.54775807"}, {math.MinInt64, "-92233720368.54775808"},
	} {
		if got := audit.FormatBBP(c.sat); got != c.want {
			t.Errorf("FormatBBP(%d) = %q, want %q", c.sat, got, c.want)
		}
	}
}

func TestFormatPercent(t *testing.T) {
	for _, c := range []struct {
		num, den int64
		dec      int
		want     string
	}{
		{1, 3, 4, "33.3333%"},
		{2, 3, 4, "66.6667%"}, // half up
		{1, 8, 4, "12.5000%"},
		{1, 16, 2, "6.25%"},
		{1, 32, 2, "3.13%"}, // 3.125 rounds up
		{0, 5, 4, "0.0000%"},
		{5, 5, 4, "100.0000%"},
		{1, 3, 0, "33%"},
		{1, 1_000_000_000, 4, "0.0000%"},
		{1, 2_000_001, 4, "0.0000%"},
		{1, 2_000_000, 4, "0.0001%"},                       // 0.00005 rounds half up
		{math.MaxInt64 - 1, math.MaxInt64, 4, "100.0000%"}, // no overflow
		{1, 0, 4, "n/a"},
		{-1, 5, 4, "n/a"},
	} {
		if got := audit.FormatPercent(c.num, c.den, c.dec); got != c.want {
			t.Errorf("FormatPercent(%d, %d, %d) = %q, want %q", c.num, c.den, c.dec, got, c.want)
		}
	}
}
