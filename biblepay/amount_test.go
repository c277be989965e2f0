package biblepay_test

import (
	"math"
	"testing"

	"github.com/purepool/purepool/biblepay"
)

func TestFormatBBP(t *testing.T) {
	for _, tc := range []struct {
		sat  int64
		want string
	}{
		{0, "0.00000000"},
		{1, "0.00000001"},
		{123456789, "1.23456789"},
		{100_000_000, "1.00000000"},
		{-5, "-0.00000005"},
		{-250_000_000, "-2.50000000"},
		{math.MaxInt64, "92233720368.54775807"},
		{math.MinInt64, "-92233720368.54775808"},
	} {
		if got := biblepay.FormatBBP(tc.sat); got != tc.want {
			t.Errorf("FormatBBP(%d) = %q, want %q", tc.sat, got, tc.want)
		}
	}
}
