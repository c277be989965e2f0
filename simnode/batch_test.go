package simnode_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simnode"
)

type reply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	ID json.RawMessage `json:"id"`
}

func postRaw(t *testing.T, url, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.SetBasicAuth("u", "p")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// postBatch posts a batch and reads its replies, which come with HTTP 200
// whatever each outcome.
func postBatch(t *testing.T, url, body string) []reply {
	t.Helper()
	code, b := postRaw(t, url, body)
	if code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", code, b)
	}
	var got []reply
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return got
}

// TestBatchIsBitcoindsJSONRPCExecBatch: an array of requests is answered by
// an array of replies in order, with HTTP 200 whatever each outcome; each
// element is parsed on its own, as bitcoind's JSONRequest::parse does.
func TestBatchIsBitcoindsJSONRPCExecBatch(t *testing.T) {
	srv, _ := start(t, simnode.Config{User: "u", Password: "p"})
	got := postBatch(t, srv.URL, `[
		{"id":1,"method":"getblockcount"},
		{"id":"two","method":"getblockhash","params":[7]},
		{"id":3,"method":"nosuchmethod","params":[]},
		5,
		null,
		{"id":6},
		{"id":7,"method":8},
		{"id":8,"method":"getblockcount","params":{"a":1}},
		{"id":9,"method":"exec","params":["hexblocktocoinbase","00ff",""]},
		{"method":"getblockhash","params":[0]}
	]`)
	want := []struct {
		id   string
		code int
		msg  string
	}{
		{"1", 0, ""},
		{`"two"`, -8, "Block height out of range"},
		{"3", -32601, "Method not found"},
		{"null", -32600, "Invalid Request object"},
		{"null", -32600, "Invalid Request object"},
		{"6", -32600, "Missing method"},
		{"7", -32600, "Method must be a string"},
		{"8", -32600, "Params must be an array"},
		{"9", -22, "Block decode failed"},
		{"null", 0, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("%d replies to %d requests: %s", len(got), len(want), mustJSON(got))
	}
	for i, w := range want {
		g := got[i]
		if string(g.ID) != w.id {
			t.Errorf("reply %d: id %s, want %s", i, g.ID, w.id)
		}
		switch {
		case w.code == 0 && g.Error != nil:
			t.Errorf("reply %d: error %+v", i, *g.Error)
		case w.code != 0 && (g.Error == nil || g.Error.Code != w.code || g.Error.Message != w.msg || string(g.Result) != "null"):
			t.Errorf("reply %d: %s, want error %d %q", i, mustJSON(g), w.code, w.msg)
		}
	}
	if string(got[0].Result) != "0" {
		t.Errorf("getblockcount in a batch: %s", got[0].Result)
	}
	var genesis string
	if json.Unmarshal(got[9].Result, &genesis) != nil || len(genesis) != 64 {
		t.Errorf("getblockhash 0 in a batch: %s", got[9].Result)
	}

	if code, body := postRaw(t, srv.URL, ` [] `); code != http.StatusOK || strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("empty batch: %d %s", code, body)
	}
	// A single request gets the same parse, with bitcoind's HTTP statuses.
	for _, tc := range []struct {
		body   string
		status int
		code   int
		msg    string
	}{
		{`5`, 500, -32700, "Top-level object parse error"},
		{`[1,`, 500, -32700, "Parse error"},
		{`{"id":1}`, 400, -32600, "Missing method"},
		{`{"id":1,"method":["x"]}`, 400, -32600, "Method must be a string"},
		{`{"id":1,"method":"getblockcount","params":"x"}`, 400, -32600, "Params must be an array"},
	} {
		code, body := postRaw(t, srv.URL, tc.body)
		var r reply
		if err := json.Unmarshal(body, &r); err != nil || code != tc.status || r.Error == nil || r.Error.Code != tc.code || r.Error.Message != tc.msg {
			t.Errorf("%s: HTTP %d %s, want %d %d %q", tc.body, code, body, tc.status, tc.code, tc.msg)
		}
	}
}

// TestBatchSendThenDropLosesTheWholeReply: a simulated network failure
// after a send hits the batch's HTTP reply, though every call ran.
func TestBatchSendThenDropLosesTheWholeReply(t *testing.T) {
	srv, c := start(t, simnode.Config{User: "u", Password: "p", Maturity: 2})
	ctx := context.Background()
	if _, err := srv.Node.MinePoolBlock(ctx, srv.Node.WalletAddress(), "eef5cbcb-f673-4203-a791-f773b177f1df"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Node.Generate(3); err != nil {
		t.Fatal(err)
	}
	srv.Node.SendThenError(true)
	to := srv.Node.Network().Address([20]byte{4, 2})
	before := srv.Node.Height()
	errs, err := c.Batch(ctx, rpcclient.BatchCall{Method: "sendtoaddress", Params: []any{to, json.Number("1.5")}},
		rpcclient.BatchCall{Method: "sim_generate", Params: []any{1}})
	if err == nil {
		t.Fatalf("dropped reply: outcomes %v, want the exchange to fail", errs)
	}
	// Both calls ran: the payment is in the wallet and the block was made.
	l, lerr := c.ListTransactions(ctx, "*", 100, 0)
	if lerr != nil {
		t.Fatal(lerr)
	}
	sent := false
	for _, e := range l {
		sent = sent || (e.Category == "send" && e.Address == to && int64(e.Amount) == -150_000_000)
	}
	if !sent || srv.Node.Height() != before+1 {
		t.Errorf("sent %v, height %d → %d", sent, before, srv.Node.Height())
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestExecArgumentsWithEscapes: an exec argument written with JSON escapes
// is the same string as written plainly.
func TestExecArgumentsWithEscapes(t *testing.T) {
	srv, _ := start(t, simnode.Config{User: "u", Password: "p"})
	hash := strings.Repeat("ab", 32)
	code, body := postRaw(t, srv.URL, `[
		{"id":1,"method":"exec","params":["biblehash","`+hash+`","1518041523","1518041437","19309","14217"]},
		{"id":2,"method":"exec","params":["bible\u0068ash","\u0061b`+hash[2:]+`","1518041523","1518041437","19309","1421\u0037"]}
	]`)
	var got []reply
	if err := json.Unmarshal(body, &got); err != nil || code != 200 || len(got) != 2 {
		t.Fatalf("HTTP %d %s", code, body)
	}
	var plain, escaped struct{ BibleHash string }
	json.Unmarshal(got[0].Result, &plain)
	json.Unmarshal(got[1].Result, &escaped)
	if plain.BibleHash == "" || plain.BibleHash != escaped.BibleHash {
		t.Errorf("plain %s, escaped %s", got[0].Result, got[1].Result)
	}
}

// TestParameterErrors pins the replies of the shared parameter readers: a
// hex transaction that does not decode, and a mode word outside its two
// choices.
func TestParameterErrors(t *testing.T) {
	srv, _ := start(t, simnode.Config{User: "u", Password: "p"})
	got := postBatch(t, srv.URL, `[
		{"id":1,"method":"decoderawtransaction","params":["zz"]},
		{"id":2,"method":"decoderawtransaction","params":[5]},
		{"id":3,"method":"fundrawtransaction","params":["zz"]},
		{"id":4,"method":"signrawtransaction","params":["zz"]},
		{"id":5,"method":"sendrawtransaction","params":["zz"]},
		{"id":6,"method":"sim_sendthenerror","params":["x"]},
		{"id":7,"method":"sim_restart","params":["x"]}
	]`)
	want := []struct {
		code int
		msg  string
	}{
		{-22, "TX decode failed"},
		{-1, "JSON value is not a string as expected"},
		{-22, "TX decode failed"},
		{-22, "TX decode failed"},
		{-22, "TX decode failed"},
		{-8, `mode must be "rpc" or "drop"`},
		{-8, `mode must be "rebroadcast" or "norebroadcast"`},
	}
	if len(got) != len(want) {
		t.Fatalf("%d replies to %d requests: %s", len(got), len(want), mustJSON(got))
	}
	for i, w := range want {
		if g := got[i]; g.Error == nil || g.Error.Code != w.code || g.Error.Message != w.msg {
			t.Errorf("reply %d: %s, want error %d %q", i, mustJSON(g), w.code, w.msg)
		}
	}
}
