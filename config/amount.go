package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/purepool/purepool/biblepay"
)

// Amount is a BBP amount written in the configuration as a decimal string
// ("10", "0.5", "12.34567890") and held as an exact count of satoshis. It is
// parsed digit by digit: no float ever holds money.
type Amount int64

// ParseAmount reads a non-negative decimal BBP amount with at most 8 decimals.
func ParseAmount(s string) (Amount, error) {
	s = strings.TrimSpace(s)
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || (hasFrac && frac == "") || len(frac) > 8 {
		return 0, fmt.Errorf("%q is not an amount in BBP with at most 8 decimals", s)
	}
	for _, part := range []string{whole, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("%q is not an amount in BBP with at most 8 decimals", s)
			}
		}
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > (1<<63-1)/biblepay.Coin-1 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	frac += strings.Repeat("0", 8-len(frac))
	f, _ := strconv.ParseInt(frac, 10, 64)
	return Amount(w*biblepay.Coin + f), nil
}

// UnmarshalText lets TOML strings decode into an Amount.
func (a *Amount) UnmarshalText(b []byte) error {
	v, err := ParseAmount(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Sat is the amount in satoshis.
func (a Amount) Sat() int64 { return int64(a) }

// String formats the amount in BBP with 8 decimals, by integer arithmetic.
func (a Amount) String() string { return biblepay.FormatBBP(int64(a)) }
