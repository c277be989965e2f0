package rpcclient

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseAmount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"16235.85745354", 1623585745354, true},
		{"0.00000001", 1, true},
		{"-0.1", -10_000_000, true},
		{"5492", 549_200_000_000, true},
		{"1e-8", 1, true},
		{"0.1", 10_000_000, true}, // a float64 would give 0.1000000000000000055...
		{"2.675", 267_500_000, true},
		{"15010010010", MaxMoney, true},
		{"15010010010.00000001", 0, false},
		{"0.000000001", 0, false},
		{"abc", 0, false},
		{"", 0, false},
	} {
		got, err := ParseAmount(json.Number(tc.in))
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		if !tc.ok && !errors.Is(err, ErrBadAmount) {
			t.Errorf("ParseAmount(%q) = %d, %v; want ErrBadAmount", tc.in, got, err)
		}
	}
}

func TestFormatAmountRoundTrips(t *testing.T) {
	for _, sat := range []int64{0, 1, 99_999_999, 100_000_000, 1623585745354, -1, -123456789, MaxMoney} {
		s := FormatAmount(sat)
		back, err := ParseAmount(s)
		if err != nil || back != sat {
			t.Errorf("FormatAmount(%d) = %s, parses back to %d, %v", sat, s, back, err)
		}
	}
	if got := FormatAmount(1623585745354); got != "16235.85745354" {
		t.Errorf("FormatAmount = %s", got)
	}
	if got := FormatAmount(-5); got != "-0.00000005" {
		t.Errorf("FormatAmount(-5) = %s", got)
	}
	var a Amount
	if err := json.Unmarshal([]byte("0.30000000"), &a); err != nil || a != 30_000_000 {
		t.Errorf("Amount decode = %d, %v", a, err)
	}
}
