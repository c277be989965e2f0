package biblepay

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// DefaultTarget is Purepool's fixed share target: five zeros, 1111, then
// zeros, 64 hex digits in all (spec §1.8).
const DefaultTarget = "0000011110000000000000000000000000000000000000000000000000000000"

// ErrBadHash is returned for a hash or target that is not 64 hex digits.
var ErrBadHash = errors.New("not 64 hex digits")

// ParseHash reads a 256-bit hash or target written as 64 hex digits in
// display order (most significant first).
func ParseHash(s string) (*big.Int, error) {
	if len(s) != 64 {
		return nil, fmt.Errorf("%w: %d characters", ErrBadHash, len(s))
	}
	if _, err := hex.DecodeString(s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadHash, err)
	}
	v, _ := new(big.Int).SetString(s, 16)
	return v, nil
}

// FormatHash writes a 256-bit value as exactly 64 lowercase hex digits, as
// the wallet needs (a shorter string would be read as a far harder target).
func FormatHash(v *big.Int) string {
	s := v.Text(16)
	if len(s) >= 64 {
		return s[len(s)-64:]
	}
	return strings.Repeat("0", 64-len(s)) + s
}

// HashBelow reports whether hash is strictly below target; anything that is
// not 64 hex digits is never below.
func HashBelow(hash, target string) bool {
	h, err := ParseHash(hash)
	if err != nil {
		return false
	}
	t, err := ParseHash(target)
	if err != nil {
		return false
	}
	return h.Cmp(t) < 0
}

var two256 = new(big.Int).Lsh(big.NewInt(1), 256)

// Difficulty is a share's weight at a target: the expected number of hashes
// to find a hash below it, 2^256/(target+1), at least 1 and capped at
// MaxInt64. Round shares are weighted by it, and hash rates estimated from it.
func Difficulty(target string) (int64, error) {
	t, err := ParseHash(target)
	if err != nil {
		return 0, err
	}
	d := new(big.Int).Quo(two256, new(big.Int).Add(t, big.NewInt(1)))
	if !d.IsInt64() {
		return math.MaxInt64, nil
	}
	if d.Sign() == 0 {
		return 1, nil
	}
	return d.Int64(), nil
}

// TargetForDifficulty is the inverse of Difficulty: the target at which a
// share is expected to take d hashes.
func TargetForDifficulty(d int64) string {
	if d < 1 {
		d = 1
	}
	t := new(big.Int).Quo(two256, big.NewInt(d))
	t.Sub(t, big.NewInt(1))
	return FormatHash(t)
}
