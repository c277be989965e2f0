package demo

import "testing"

func TestFeeRate(t *testing.T) {
	for _, tt := range []struct {
		fee, reward int64
		want        string
	}{
		{1_136_510_022_625, 113_651_002_266_170, "100.00 bps"}, // 1 % of 70 blocks, each rounded down by < 1 sat
		{0, 1000, "0.00 bps"},
		{1, 3, "3333.33 bps"},
		{2, 3, "6666.67 bps"},
		{1, 0, "-"},
		{9_000_000_000_000_000, 9_000_000_000_000_000, "10000.00 bps"}, // no overflow
	} {
		if got := feeRate(tt.fee, tt.reward); got != tt.want {
			t.Errorf("feeRate(%d, %d) = %s, want %s", tt.fee, tt.reward, got, tt.want)
		}
	}
}
