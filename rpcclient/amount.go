package rpcclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/purepool/purepool/biblepay"
)

// MaxMoney is BiblePay's MAX_MONEY in satoshis (15,010,010,010 BBP, spec §5).
const MaxMoney int64 = 15_010_010_010 * biblepay.Coin

// ErrBadAmount is wrapped by every amount conversion failure.
var ErrBadAmount = errors.New("bad amount")

var coinRat = new(big.Rat).SetInt64(biblepay.Coin)

// ParseAmount converts a JSON number of BBP, as the node writes it (e.g.
// 16235.85745354), to satoshis exactly: no float is involved, more than 8
// decimals of precision or a magnitude above MAX_MONEY is an error.
func ParseAmount(n json.Number) (int64, error) {
	r, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return 0, fmt.Errorf("%w: %q is not a number", ErrBadAmount, string(n))
	}
	r.Mul(r, coinRat)
	if !r.IsInt() {
		return 0, fmt.Errorf("%w: %s has more than 8 decimals", ErrBadAmount, string(n))
	}
	v := r.Num()
	if !v.IsInt64() || v.Int64() > MaxMoney || v.Int64() < -MaxMoney {
		return 0, fmt.Errorf("%w: %s is out of range", ErrBadAmount, string(n))
	}
	return v.Int64(), nil
}

// FormatAmount writes satoshis as an exact JSON number of BBP with 8
// decimals, as the node expects in sendmany and sendtoaddress.
func FormatAmount(sat int64) json.Number { return json.Number(biblepay.FormatBBP(sat)) }

// Amount is a money value in satoshis that decodes from the node's JSON
// numbers exactly (through ParseAmount) and encodes back as one.
type Amount int64

// UnmarshalJSON implements json.Unmarshaler.
func (a *Amount) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	v, err := ParseAmount(json.Number(b))
	if err != nil {
		return err
	}
	*a = Amount(v)
	return nil
}

// MarshalJSON implements json.Marshaler.
func (a Amount) MarshalJSON() ([]byte, error) { return []byte(FormatAmount(int64(a))), nil }
