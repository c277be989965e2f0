// How the JSON-RPC interface reads its parameters: amounts (exact BBP with 8
// decimals), and the count, string, integer and boolean helpers with
// bitcoind's error messages.

package simnode

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"

	"github.com/purepool/purepool/biblepay"
)

const maxMoney int64 = 15_010_010_010 * biblepay.Coin

// amount encodes satoshis as an exact JSON number of BBP with 8 decimals,
// as bitcoind's ValueFromAmount.
type amount int64

func (a amount) MarshalJSON() ([]byte, error) { return []byte(biblepay.FormatBBP(int64(a))), nil }

// parseAmount reads a JSON amount exactly (AmountFromValue).
func parseAmount(raw json.RawMessage) (int64, error) {
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return 0, &rpcError{CodeType, "Invalid amount"}
		}
		s = str
	} else if s == "" || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) {
		return 0, &rpcError{CodeType, "Amount is not a number or string"}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, &rpcError{CodeType, "Invalid amount"}
	}
	r.Mul(r, new(big.Rat).SetInt64(biblepay.Coin))
	if !r.IsInt() || !r.Num().IsInt64() {
		return 0, &rpcError{CodeType, "Invalid amount"}
	}
	v := r.Num().Int64()
	if v < 0 || v > maxMoney {
		return 0, &rpcError{CodeType, "Amount out of range"}
	}
	return v, nil
}

// Parameter helpers: bitcoind reports a JSON type mismatch as a runtime
// error (-1) with univalue's message, and a wrong count with the help text.

func (c *call) count(min, max int, usage string) error {
	if len(c.params) < min || len(c.params) > max {
		return &rpcError{CodeMisc, c.method + " " + usage}
	}
	return nil
}

func (c *call) has(i int) bool { return i < len(c.params) && string(c.params[i]) != "null" }

func (c *call) str(i int) (string, error) {
	if i < len(c.params) {
		if s, ok := plainString(c.params[i]); ok {
			return s, nil
		}
	}
	var s string
	if i >= len(c.params) || json.Unmarshal(c.params[i], &s) != nil {
		return "", &rpcError{CodeMisc, "JSON value is not a string as expected"}
	}
	return s, nil
}

// plainString reads a JSON string without escapes (hex, numbers as
// strings: every exec argument a pool sends) directly; raw comes from a
// document already validated, so the quotes delimit it exactly.
func plainString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	for _, b := range in {
		if b == '\\' || b == '"' || b < 0x20 || b >= 0x80 {
			return "", false // escapes, or non-ASCII that may need repair: the decoder's job
		}
	}
	return string(in), true
}

func (c *call) optStr(i int, def string) (string, error) {
	if !c.has(i) {
		return def, nil
	}
	return c.str(i)
}

func (c *call) integer(i int) (int64, error) {
	var v int64
	if i >= len(c.params) || json.Unmarshal(c.params[i], &v) != nil {
		return 0, &rpcError{CodeMisc, "JSON value is not an integer as expected"}
	}
	return v, nil
}

func (c *call) optInt(i int, def int64) (int64, error) {
	if !c.has(i) {
		return def, nil
	}
	return c.integer(i)
}

func (c *call) optBool(i int, def bool) (bool, error) {
	if !c.has(i) {
		return def, nil
	}
	var b bool
	if json.Unmarshal(c.params[i], &b) != nil {
		return false, &rpcError{CodeMisc, "JSON value is not a boolean as expected"}
	}
	return b, nil
}

// optMode reads an optional mode word: def when absent, otherwise def or
// other (sim_sendthenerror, sim_restart).
func (c *call) optMode(i int, def, other string) (string, error) {
	mode, err := c.optStr(i, def)
	if err != nil {
		return "", err
	}
	if mode != def && mode != other {
		return "", &rpcError{CodeInvalidParameter, fmt.Sprintf("mode must be %q or %q", def, other)}
	}
	return mode, nil
}

// txHex reads a hex-encoded transaction parameter.
func (c *call) txHex(i int) (biblepay.Tx, error) {
	s, err := c.str(i)
	if err != nil {
		return biblepay.Tx{}, err
	}
	return decodeTx(s)
}

// decodeTx parses a hex-encoded transaction, failing as bitcoind's DecodeHexTx.
func decodeTx(s string) (biblepay.Tx, error) {
	tx, err := biblepay.ParseTxHex(s)
	if err != nil {
		return biblepay.Tx{}, &rpcError{CodeDeserialization, "TX decode failed"}
	}
	return tx, nil
}
