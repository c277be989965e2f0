package rpcclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/purepool/purepool/biblepay"
)

// BatchCall is one call of a Batch.
type BatchCall struct {
	Method string
	Params []any
	// Result, a pointer, receives the decoded result unless it is nil.
	Result any
}

// ErrNoReply is a call's outcome when the node's batch reply holds no
// element with the call's id.
var ErrNoReply = errors.New("no reply to this call in the batch reply")

// Batch sends calls as one JSON-RPC batch: a JSON array of requests in one
// HTTP request, answered by an array of replies (bitcoind's httprpc.cpp,
// inherited by Dash and biblepayd). The node runs the calls in order and
// answers HTTP 200 even when some of them fail.
//
// errs[i] is calls[i]'s own outcome, as Call would report it: nil, the
// node's *Error, or a decoding error (ErrNoReply if the node left it out).
// err is about the exchange as a whole (transport, HTTP status such as 401,
// or a reply that is not an array); then errs is nil and no call's outcome
// is known — the node may have run some of them.
func (c *Client) Batch(ctx context.Context, calls ...BatchCall) (errs []error, err error) {
	if len(calls) == 0 {
		return nil, nil
	}
	reqs := make([]request, len(calls))
	index := make(map[uint64]int, len(calls))
	names := make([]string, len(calls))
	for i, call := range calls {
		params := call.Params
		if params == nil {
			params = []any{}
		}
		id := c.id.Add(1)
		reqs[i] = request{JSONRPC: "1.0", ID: id, Method: call.Method, Params: params}
		index[id] = i
		names[i] = call.Method
	}
	what := "batch of " + strings.Join(names, ", ")
	body, err := json.Marshal(reqs)
	if err != nil {
		return nil, fmt.Errorf("rpcclient: encode %s: %w", what, err)
	}
	status, raw, err := c.post(ctx, what, body)
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(raw)
	if status != http.StatusOK || len(trimmed) == 0 || trimmed[0] != '[' {
		// The request as a whole failed: bitcoind answers a single error
		// object (parse error, 500) or nothing at all (401).
		var r response
		if json.Unmarshal(raw, &r) == nil && r.Error != nil {
			return nil, fmt.Errorf("rpcclient: %s: %w", what, r.Error)
		}
		return nil, fmt.Errorf("rpcclient: %s: %w", what, &HTTPError{StatusCode: status, Body: string(raw)})
	}
	var replies []response
	if err := json.Unmarshal(raw, &replies); err != nil {
		return nil, fmt.Errorf("rpcclient: %s: decode reply: %w", what, err)
	}
	errs = make([]error, len(calls))
	seen := make([]bool, len(calls))
	for _, r := range replies {
		id, perr := strconv.ParseUint(string(r.ID), 10, 64)
		i, ok := index[id]
		if perr != nil || !ok || seen[i] {
			continue // not an answer to one of our calls, or a second one
		}
		seen[i] = true
		m := calls[i].Method
		if r.Error != nil {
			errs[i] = fmt.Errorf("rpcclient: %s: %w", m, r.Error)
			continue
		}
		errs[i] = decodeResult(m, r.Result, calls[i].Result)
	}
	for i := range calls {
		if !seen[i] {
			errs[i] = fmt.Errorf("rpcclient: %s: %w", calls[i].Method, ErrNoReply)
		}
	}
	return errs, nil
}

// ShareCheck is what the node says about one share, each answer with the
// error its single-call method (ExecBibleHash, ExecHexBlockToCoinbase,
// ExecPinfo) would have returned.
type ShareCheck struct {
	BibleHash    string // exec biblehash of fields 0, 1, 2, 3 and 13
	BibleHashErr error  // ErrNoBibleHash when the node left the key out
	Coinbase     *HexBlockCoinbase
	CoinbaseErr  error // an *Error with code -22 for a block that does not decode
	Pinfo        *Pinfo
	PinfoErr     error // and Pinfo nil when not asked
}

// CheckShare asks the node about a share in one round trip: exec biblehash
// and exec hexblocktocoinbase and, with withPinfo, exec pinfo, as one
// batch. The error is about the exchange; each answer carries its own.
func (c *Client) CheckShare(ctx context.Context, sol biblepay.Solution, withPinfo bool) (*ShareCheck, error) {
	checks, err := c.CheckShares(ctx, []biblepay.Solution{sol}, withPinfo)
	if err != nil {
		return nil, err
	}
	return checks[0], nil
}

// CheckShares asks the node about several shares in one round trip: each
// share's exec biblehash and exec hexblocktocoinbase and, with withPinfo,
// one exec pinfo whose answer every check carries. checks[i] answers
// sols[i]. The error is about the exchange; each answer carries its own.
func (c *Client) CheckShares(ctx context.Context, sols []biblepay.Solution, withPinfo bool) ([]*ShareCheck, error) {
	if len(sols) == 0 {
		return nil, nil
	}
	hashRaw := make([]json.RawMessage, len(sols))
	cbRaw := make([]json.RawMessage, len(sols))
	var pinfoRaw json.RawMessage
	calls := make([]BatchCall, 0, 2*len(sols)+1)
	if withPinfo {
		calls = append(calls, BatchCall{Method: "exec", Params: execParams("pinfo", nil), Result: &pinfoRaw})
	}
	for i, sol := range sols {
		calls = append(calls,
			BatchCall{Method: "exec", Params: execParams("biblehash", bibleHashArgs(sol.BlockHash, sol.BlockTime, sol.PrevBlockTime, sol.PrevHeight, sol.Nonce)), Result: &hashRaw[i]},
			BatchCall{Method: "exec", Params: execParams("hexblocktocoinbase", []string{sol.BlockHex, sol.TransactionHex}), Result: &cbRaw[i]})
	}
	errs, err := c.Batch(ctx, calls...)
	if err != nil {
		return nil, err
	}
	var pinfo *Pinfo
	var pinfoErr error
	if withPinfo {
		if pinfoErr = errs[0]; pinfoErr == nil {
			var p Pinfo
			if pinfoErr = decodeExec("pinfo", pinfoRaw, &p); pinfoErr == nil {
				pinfo = &p
			}
		}
		errs = errs[1:]
	}
	checks := make([]*ShareCheck, len(sols))
	for i := range sols {
		out := &ShareCheck{Pinfo: pinfo, PinfoErr: pinfoErr}
		if out.BibleHashErr = errs[2*i]; out.BibleHashErr == nil {
			out.BibleHash, out.BibleHashErr = decodeBibleHash(hashRaw[i])
		}
		if out.CoinbaseErr = errs[2*i+1]; out.CoinbaseErr == nil {
			var cb HexBlockCoinbase
			if out.CoinbaseErr = decodeExec("hexblocktocoinbase", cbRaw[i], &cb); out.CoinbaseErr == nil {
				out.Coinbase = &cb
			}
		}
		checks[i] = out
	}
	return checks, nil
}
