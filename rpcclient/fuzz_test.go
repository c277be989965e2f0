package rpcclient_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/rpcclient"
)

// fuzzReply is what the fuzzed node answers: a status and a body.
type fuzzReply struct {
	status int
	body   []byte
}

// FuzzReplyDecoding serves arbitrary bytes with an arbitrary status as the
// node's reply and calls every typed method on it: the client must never
// panic, and every failure must be an error the callers can classify
// (the node's *Error, *HTTPError, *ExecError, *RejectedError, a bad amount,
// a malformed block, or a JSON decoding error), wrapped with the method.
func FuzzReplyDecoding(f *testing.F) {
	seeds := []struct {
		status int
		body   string
	}{
		{200, `{"result":1234,"error":null,"id":1}`},
		{200, `{"result":null,"error":{"code":-5,"message":"Block not found"},"id":1}`},
		{500, `{"result":null,"error":{"code":-8,"message":"Block height out of range"},"id":1}`},
		{401, ``},
		{403, `Forbidden`},
		{200, ``},
		{200, `{}`},
		{200, `null`},
		{200, `[]`},
		{200, `[{"result":1,"error":null,"id":1},{"result":null,"error":{"code":-22,"message":"Block decode failed"},"id":2},5,null]`},
		{500, `[{"result":{"Command":"pinfo","height":"x"},"error":null,"id":3}]`},
		{200, `{"result":"high-hash","error":null,"id":1}`},
		{200, `{"result":{"Command":"subsidy","error":"block not found"},"error":null,"id":1}`},
		{200, `{"result":{"Command":"biblehash","BibleHash":"00"},"error":null,"id":1}`},
		{200, `{"result":{"balance":16235.85745354,"immature_balance":1e308,"paytxfee":-0.000000001},"error":null,"id":1}`},
		{200, `{"result":{"amount":1e1000000,"fee":"x"},"error":null,"id":1}`},
		{200, `{"result":[{"amount":-1.5,"category":"send","address":"x"}],"error":null,"id":1}`},
		{200, `{"result":"0100000001` + strings.Repeat("ff", 40) + `","error":null,"id":1}`},
		{200, `{"result":{"hash":"ab","height":-1,"tx":[1,2],"time":"x"},"error":null,"id":1}`},
		{200, `{"result":{"version":536870912,"transactions":[{"data":"zz"}],"coinbasevalue":1e30},"error":null,"id":1}`},
		{200, `{"result":1,"error":{"code":"x"},"id":1}`},
		{200, `{"result":` + strings.Repeat("[", 10000) + `}`},
		{204, `{"result":1,"error":null,"id":1}`},
		{599, "\x00\xff\xfe"},
		{200, `[{"result":{"Command":"pinfo","height":5,"pow_difficulty":1},"error":null,"id":@0},` +
			`{"result":{"BibleHash":"` + strings.Repeat("0a", 32) + `"},"error":null,"id":@1},` +
			`{"result":null,"error":{"code":-22,"message":"Block decode failed"},"id":@2},` +
			`{"result":{"BibleHash":""},"error":null,"id":@3},{"result":{"recipient":"x"},"error":null,"id":@4}]`},
		{200, `[{"result":1,"error":null,"id":@2},{"result":1,"error":null,"id":@2},{"result":1,"id":"x"},null,7]`},
		{200, `[]`},
		{500, `{"result":null,"error":{"code":-32700,"message":"Parse error"},"id":null}`},
	}
	for _, s := range seeds {
		f.Add(uint16(s.status), []byte(s.body))
	}

	// Batch replies are matched by id, which the fuzzer cannot know: "@0",
	// "@1", … in the reply stand for the ids of the request's calls.
	var reply atomic.Pointer[fuzzReply]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rp := reply.Load()
		body := rp.body
		req, _ := io.ReadAll(r.Body)
		var calls []struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(req, &calls) != nil {
			calls = calls[:0]
			var one struct {
				ID json.RawMessage `json:"id"`
			}
			if json.Unmarshal(req, &one) == nil {
				calls = append(calls, one)
			}
		}
		if bytes.Contains(body, []byte("@")) {
			for i := len(calls) - 1; i >= 0; i-- { // @10 before @1
				body = bytes.ReplaceAll(body, []byte("@"+strconv.Itoa(i)), calls[i].ID)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rp.status)
		_, _ = w.Write(body)
	}))
	f.Cleanup(srv.Close)
	c, err := rpcclient.New(rpcclient.Config{URL: srv.URL, Network: biblepay.Networks["test"], Timeout: 5 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	pool := biblepay.Networks["test"].Address([20]byte{1})

	f.Fuzz(func(t *testing.T, status uint16, body []byte) {
		// net/http only lets a handler write final statuses; 204 and 304
		// carry no body, which is one more case.
		code := int(status)
		if code < 200 || code > 599 {
			code = 200 + code%400
		}
		reply.Store(&fuzzReply{status: code, body: body})
		// A reply must not make the client work for long: crash the
		// worker (the fuzzer keeps the input) rather than stall.
		watchdog := time.AfterFunc(10*time.Second, func() {
			panic(fmt.Sprintf("decoding a %d-byte reply took over 10 s", len(body)))
		})
		defer watchdog.Stop()
		calls := map[string]func() (any, error){
			"Call":       func() (any, error) { var v any; err := c.Call(ctx, "x", nil, &v); return &v, err },
			"CallNil":    func() (any, error) { return 0, c.Call(ctx, "x", nil, nil) },
			"BlockCount": func() (any, error) { return c.GetBlockCount(ctx) },
			"BlockHash":  func() (any, error) { return c.GetBlockHash(ctx, 1) },
			"Block":      func() (any, error) { return c.GetBlock(ctx, "ab") },
			"BlockHex":   func() (any, error) { return c.GetBlockHex(ctx, "ab") },
			"Submit":     func() (any, error) { return 0, c.SubmitBlock(ctx, "00") },
			"Template":   func() (any, error) { return c.GetBlockTemplate(ctx) },
			"MiningInfo": func() (any, error) { return c.GetMiningInfo(ctx) },
			"Subsidy":    func() (any, error) { return c.ExecSubsidy(ctx, 1) },
			"Pinfo":      func() (any, error) { return c.ExecPinfo(ctx) },
			"BibleHash":  func() (any, error) { return c.ExecBibleHash(ctx, "ab", 1, 1, 1, 1) },
			"HexBlock":   func() (any, error) { return c.ExecHexBlockToCoinbase(ctx, "00", "00") },
			"Coinbase":   func() (any, error) { return c.BlockCoinbase(ctx, 1) },
			"DecodeTx":   func() (any, error) { return c.DecodeRawTransaction(ctx, "00") },
			"SendMany": func() (any, error) {
				return c.SendMany(ctx, map[string]int64{pool: biblepay.Coin}, 1, "c", nil)
			},
			"SendTo":      func() (any, error) { return c.SendToAddress(ctx, pool, 1, "", "", false) },
			"Transaction": func() (any, error) { return c.GetTransaction(ctx, "ab") },
			"ListTx":      func() (any, error) { return c.ListTransactions(ctx, "*", 10, 0) },
			"WalletInfo":  func() (any, error) { return c.GetWalletInfo(ctx) },
			"Validate":    func() (any, error) { return c.ValidateAddress(ctx, pool) },
			"NewAddress":  func() (any, error) { return c.GetNewAddress(ctx) },
			"Batch": func() (any, error) {
				var n int64
				errs, err := c.Batch(ctx, rpcclient.BatchCall{Method: "x", Result: &n}, rpcclient.BatchCall{Method: "y"})
				if err != nil {
					return nil, err
				}
				return errs, errors.Join(errs...)
			},
			"CheckShare": func() (any, error) {
				r, err := c.CheckShare(ctx, biblepay.Solution{BlockHash: "ab", BlockTime: 1, BlockHex: "00"}, true)
				if err != nil {
					return nil, err
				}
				return r, errors.Join(r.BibleHashErr, r.CoinbaseErr, r.PinfoErr)
			},
		}
		for name, call := range calls {
			v, err := call()
			if err == nil {
				if rv := reflect.ValueOf(v); v == nil || (rv.Kind() == reflect.Pointer && rv.IsNil()) {
					t.Fatalf("%s: no error and no result", name)
				}
				continue
			}
			var each []error
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				each = j.Unwrap() // a batch: every call's own error
			} else {
				each = []error{err}
			}
			for _, err := range each {
				if !classified(err) {
					t.Fatalf("%s: unclassified error %T: %v", name, err, err)
				}
				if !strings.HasPrefix(err.Error(), "rpcclient: ") {
					t.Fatalf("%s: error %q does not say it comes from the client", name, err)
				}
			}
		}
	})
}

// classified reports whether err is one of the failures a caller can tell
// apart with errors.As / errors.Is.
func classified(err error) bool {
	var (
		node     *rpcclient.Error
		httpErr  *rpcclient.HTTPError
		execErr  *rpcclient.ExecError
		rejected *rpcclient.RejectedError
		syntax   *json.SyntaxError
		typeErr  *json.UnmarshalTypeError
		hexErr   hex.InvalidByteError
	)
	switch {
	case errors.As(err, &node), errors.As(err, &httpErr), errors.As(err, &execErr), errors.As(err, &rejected),
		errors.As(err, &syntax), errors.As(err, &typeErr), errors.As(err, &hexErr),
		errors.Is(err, rpcclient.ErrBadAmount), errors.Is(err, rpcclient.ErrNoBibleHash), errors.Is(err, rpcclient.ErrNoReply),
		errors.Is(err, biblepay.ErrMalformedTx), errors.Is(err, hex.ErrLength), errors.Is(err, rpcclient.ErrNoResult):
		return true
	}
	return false
}
