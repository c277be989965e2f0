package simnode_test

import (
	"context"
	"errors"
	"testing"

	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simnode"
)

func TestRawAdminCalls(t *testing.T) {
	_, c := start(t, simnode.Config{})
	ctx := context.Background()
	for _, tc := range []struct {
		method string
		params []any
		code   int
	}{
		{"sim_restart", []any{"bogus"}, rpcclient.CodeInvalidParameter},
		{"sim_restart", []any{"norebroadcast"}, 0},
		{"sim_restart", nil, 0},
		{"sim_delaynextsend", []any{"x"}, rpcclient.CodeMisc},
		{"sim_delaynextsend", []any{-1}, rpcclient.CodeMisc},
		{"sim_delaynextsend", []any{0.01}, 0},
		{"listlockunspent", []any{1}, rpcclient.CodeMisc},
		{"lockunspent", nil, rpcclient.CodeMisc},
		{"lockunspent", []any{true}, 0},
		{"gettxout", []any{"00", 0}, 0},
		{"getrawtransaction", []any{"zz"}, rpcclient.CodeInvalidParameter},
		{"getrawtransaction", []any{"00"}, rpcclient.CodeInvalidAddressOrKey},
		{"getrawtransaction", []any{"00", true}, rpcclient.CodeMisc},
		{"sendrawtransaction", []any{"00", "yes"}, rpcclient.CodeType},
	} {
		err := c.Call(ctx, tc.method, tc.params, nil)
		var re *rpcclient.Error
		got := 0
		if errors.As(err, &re) {
			got = re.Code
		} else if err != nil {
			got = 1
		}
		if got != tc.code {
			t.Errorf("%s %v: %v, want code %d", tc.method, tc.params, err, tc.code)
		}
	}
}
