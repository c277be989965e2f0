package rpcclient_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simnode"
)

// countingTransport counts the HTTP requests a client makes.
type countingTransport struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

func countingClient(t *testing.T, e *env) (*rpcclient.Client, *countingTransport) {
	t.Helper()
	ct := &countingTransport{next: &http.Transport{}}
	c, err := rpcclient.New(rpcclient.Config{URL: e.srv.URL, User: "user", Password: "secret", Network: e.srv.Node.Network(),
		Timeout: 10 * time.Second, HTTPClient: &http.Client{Transport: ct}})
	if err != nil {
		t.Fatal(err)
	}
	return c, ct
}

func TestBatchAnswersEachCallInOneRequest(t *testing.T) {
	e := start(t, simnode.Config{})
	e.generate(t, 3)
	c, ct := countingClient(t, e)

	var count int64
	var hash0, hash9 string
	var sub rpcclient.Subsidy
	errs, err := c.Batch(e.ctx,
		rpcclient.BatchCall{Method: "getblockcount", Result: &count},
		rpcclient.BatchCall{Method: "getblockhash", Params: []any{0}, Result: &hash0},
		rpcclient.BatchCall{Method: "getblockhash", Params: []any{9}, Result: &hash9}, // above the tip
		rpcclient.BatchCall{Method: "nosuchmethod"},
		rpcclient.BatchCall{Method: "exec", Params: []any{"subsidy", "2"}, Result: &sub},
		rpcclient.BatchCall{Method: "exec", Params: []any{"hexblocktocoinbase", "00ff", ""}},
	)
	if err != nil {
		t.Fatal(err)
	}
	if n := ct.n.Load(); n != 1 {
		t.Fatalf("%d HTTP requests for one batch", n)
	}
	if len(errs) != 6 {
		t.Fatalf("%d outcomes for 6 calls", len(errs))
	}
	want, _ := e.c.GetBlockHash(e.ctx, 0)
	if errs[0] != nil || count != 3 {
		t.Errorf("getblockcount: %d, %v", count, errs[0])
	}
	if errs[1] != nil || hash0 != want {
		t.Errorf("getblockhash 0: %q, %v; want %q", hash0, errs[1], want)
	}
	if rpcCode(errs[2]) != rpcclient.CodeInvalidParameter || hash9 != "" {
		t.Errorf("getblockhash above the tip: %q, %v", hash9, errs[2])
	}
	if rpcCode(errs[3]) != rpcclient.CodeMethodNotFound || !strings.HasPrefix(errs[3].Error(), "rpcclient: nosuchmethod: ") {
		t.Errorf("unknown method: %v", errs[3])
	}
	if errs[4] != nil || sub.Command != "subsidy" || sub.Subsidy != simnode.DefaultBlockReward/biblepay.Coin {
		t.Errorf("exec subsidy: %+v, %v", sub, errs[4])
	}
	if rpcCode(errs[5]) != rpcclient.CodeDeserialization {
		t.Errorf("bad block: %v", errs[5])
	}
	if errs, err := c.Batch(e.ctx); errs != nil || err != nil || ct.n.Load() != 1 {
		t.Errorf("an empty batch: %v, %v, %d requests", errs, err, ct.n.Load())
	}
}

// TestCheckShareAgreesWithSingleCalls: the batch gives each answer, and
// each error, that the three single calls give.
func TestCheckShareAgreesWithSingleCalls(t *testing.T) {
	e := start(t, simnode.Config{})
	e.generate(t, 2)
	hash, height := e.poolBlock(t)
	c, ct := countingClient(t, e)
	blockHex, err := e.c.GetBlockHex(e.ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	bl, err := biblepay.ParseBlockHex(blockHex)
	if err != nil {
		t.Fatal(err)
	}
	sol := biblepay.Solution{BlockHash: hash, BlockTime: int64(bl.Header.Time), PrevBlockTime: 1518041437, PrevHeight: height - 1,
		Nonce: bl.Header.Nonce, BlockHex: blockHex, TransactionHex: hexOf(bl.Txs[0])}

	r, err := c.CheckShare(e.ctx, sol, true)
	if err != nil {
		t.Fatal(err)
	}
	if n := ct.n.Load(); n != 1 {
		t.Fatalf("%d HTTP requests for one share", n)
	}
	wantHash, err := e.c.ExecBibleHash(e.ctx, sol.BlockHash, sol.BlockTime, sol.PrevBlockTime, sol.PrevHeight, sol.Nonce)
	if err != nil || r.BibleHashErr != nil || r.BibleHash != wantHash {
		t.Errorf("biblehash %q, %v; single call %q, %v", r.BibleHash, r.BibleHashErr, wantHash, err)
	}
	wantCB, err := e.c.ExecHexBlockToCoinbase(e.ctx, blockHex, sol.TransactionHex)
	if err != nil || r.CoinbaseErr != nil || r.Coinbase == nil || *r.Coinbase != *wantCB {
		t.Errorf("coinbase %+v, %v; single call %+v, %v", r.Coinbase, r.CoinbaseErr, wantCB, err)
	}
	if r.Coinbase != nil && r.Coinbase.Recipient != e.srv.Node.WalletAddress() {
		t.Errorf("recipient %s", r.Coinbase.Recipient)
	}
	wantP, err := e.c.ExecPinfo(e.ctx)
	if err != nil || r.PinfoErr != nil || r.Pinfo == nil || r.Pinfo.Height != wantP.Height || r.Pinfo.Height != height || r.Pinfo.Pinfo < 512 {
		t.Errorf("pinfo %+v, %v; single call %+v, %v", r.Pinfo, r.PinfoErr, wantP, err)
	}

	// Without pinfo, with a block that does not decode and a time of 0.
	bad := sol
	bad.BlockHex, bad.BlockTime = "00ff", 0
	r, err = c.CheckShare(e.ctx, bad, false)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(r.BibleHashErr, rpcclient.ErrNoBibleHash) || r.BibleHash != "" {
		t.Errorf("time 0: %q, %v", r.BibleHash, r.BibleHashErr)
	}
	_, single := e.c.ExecHexBlockToCoinbase(e.ctx, bad.BlockHex, "")
	if rpcCode(r.CoinbaseErr) != rpcclient.CodeDeserialization || r.Coinbase != nil || r.CoinbaseErr.Error() != single.Error() {
		t.Errorf("bad block: %+v, %v; single call %v", r.Coinbase, r.CoinbaseErr, single)
	}
	if r.Pinfo != nil || r.PinfoErr != nil {
		t.Errorf("pinfo not asked, got %+v, %v", r.Pinfo, r.PinfoErr)
	}
}

func TestBatchFailuresOfTheWholeExchange(t *testing.T) {
	e := start(t, simnode.Config{})
	bad, _ := rpcclient.New(rpcclient.Config{URL: e.srv.URL, User: "user", Password: "wrong"})
	var he *rpcclient.HTTPError
	if errs, err := bad.Batch(e.ctx, rpcclient.BatchCall{Method: "getblockcount"}); !errors.As(err, &he) || he.StatusCode != 401 || errs != nil {
		t.Errorf("wrong password: %v, %v", errs, err)
	}
	if _, err := bad.CheckShare(e.ctx, biblepay.Solution{}, true); !errors.As(err, &he) || he.StatusCode != 401 {
		t.Errorf("CheckShare with a wrong password: %v", err)
	}

	// A node that answers in another order, leaves a call out, answers a
	// call twice or with an id it was never sent.
	var reply func(ids []json.RawMessage) string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reqs []struct{ ID json.RawMessage }
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &reqs); err != nil {
			t.Errorf("not a batch: %s", body)
		}
		ids := make([]json.RawMessage, len(reqs))
		for i, q := range reqs {
			ids[i] = q.ID
		}
		io.WriteString(w, reply(ids))
	}))
	t.Cleanup(srv.Close)
	c, _ := rpcclient.New(rpcclient.Config{URL: srv.URL})
	reply = func(ids []json.RawMessage) string {
		return `[{"result":"b","error":null,"id":` + string(ids[1]) + `},{"result":"x","error":null,"id":"nope"},` +
			`{"result":"a","error":null,"id":` + string(ids[0]) + `},{"result":"again","error":null,"id":` + string(ids[0]) + `}]`
	}
	var a, b, missing string
	errs, err := c.Batch(e.ctx, rpcclient.BatchCall{Method: "m0", Result: &a}, rpcclient.BatchCall{Method: "m1", Result: &b},
		rpcclient.BatchCall{Method: "m2", Result: &missing})
	if err != nil || errs[0] != nil || errs[1] != nil || a != "a" || b != "b" {
		t.Errorf("out of order: %q %q %v %v", a, b, errs, err)
	}
	if len(errs) == 3 && (!errors.Is(errs[2], rpcclient.ErrNoReply) || !strings.HasPrefix(errs[2].Error(), "rpcclient: m2: ")) {
		t.Errorf("left out: %v", errs[2])
	}
	// bitcoind answers a request it cannot parse with one error object.
	reply = func([]json.RawMessage) string {
		return `{"result":null,"error":{"code":-32700,"message":"Parse error"},"id":null}`
	}
	if _, err := c.Batch(e.ctx, rpcclient.BatchCall{Method: "m"}); rpcCode(err) != rpcclient.CodeParse {
		t.Errorf("single error object: %v", err)
	}
	reply = func([]json.RawMessage) string { return `{"result":1,"error":null,"id":1}` }
	if _, err := c.Batch(e.ctx, rpcclient.BatchCall{Method: "m"}); !errors.As(err, &he) {
		t.Errorf("an object that is no batch reply: %v", err)
	}
}
