package simnode_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/simnode"
)

// The simnode's RPC throughput for the two calls a pool makes per share,
// against a bare net/http JSON-RPC echo handler measured in the same run:
//
//	go test ./simnode -run '^$' -bench . -benchtime 2s
//
// Compare ns/op of BenchmarkRPC/exec_biblehash and exec_hexblocktocoinbase
// with BenchmarkRPC/echo; batch_share is one share's three questions as one
// JSON-RPC batch, as the backend asks them.
func BenchmarkRPC(b *testing.B) {
	srv, _ := start(b, simnode.Config{User: "u", Password: "p"})
	ctx := context.Background()
	blockHash, err := srv.Node.MinePoolBlock(ctx, srv.Node.WalletAddress(), "eef5cbcb-f673-4203-a791-f773b177f1df")
	if err != nil {
		b.Fatal(err)
	}
	var blockHex string
	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(`{"id":1,"method":"getblock","params":["`+blockHash+`",false]}`))
	req.SetBasicAuth("u", "p")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	var r struct{ Result string }
	json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	blockHex = r.Result
	bl, _ := biblepay.ParseBlockHex(blockHex)
	txHex := hex.EncodeToString(bl.Txs[0].Bytes())

	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		type request struct {
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			ID     json.RawMessage `json:"id"`
		}
		echoed := func(req request) map[string]any {
			return map[string]any{"result": req.Params, "error": nil, "id": req.ID}
		}
		body, _ := io.ReadAll(r.Body)
		var out []byte
		if bytes.HasPrefix(body, []byte("[")) { // a batch
			var reqs []request
			if err := json.Unmarshal(body, &reqs); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			replies := make([]map[string]any, len(reqs))
			for i, req := range reqs {
				replies[i] = echoed(req)
			}
			out, _ = json.Marshal(replies)
		} else {
			var req request
			if err := json.Unmarshal(body, &req); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			out, _ = json.Marshal(echoed(req))
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	}))
	b.Cleanup(echo.Close)

	bibleHash := `{"jsonrpc":"1.0","id":1,"method":"exec","params":["biblehash","` + strings.Repeat("ab", 32) + `","1518041523","1518041437","19309","14217"]}`
	coinbase := `{"jsonrpc":"1.0","id":1,"method":"exec","params":["hexblocktocoinbase","` + blockHex + `","` + txHex + `"]}`
	pinfo := `{"jsonrpc":"1.0","id":3,"method":"exec","params":["pinfo"]}`
	// One share's three questions as one batch (what the backend sends).
	share := "[" + bibleHash + "," + coinbase + "," + pinfo + "]"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	run := func(b *testing.B, url, body string) {
		b.SetBytes(int64(len(body)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest("POST", url, bytes.NewReader([]byte(body)))
				req.SetBasicAuth("u", "p")
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("HTTP %d", resp.StatusCode)
					return
				}
			}
		})
	}
	// Interleaved: each iteration sends the same body to the echo handler
	// and to the simnode, so load from elsewhere on the machine hits both
	// alike; reported as ns per request of each and their ratio.
	pair := func(b *testing.B, body string) {
		one := func(url string) time.Duration {
			began := time.Now()
			req, _ := http.NewRequest("POST", url, strings.NewReader(body))
			req.SetBasicAuth("u", "p")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("HTTP %d", resp.StatusCode)
			}
			return time.Since(began)
		}
		var echoT, nodeT time.Duration
		for i := 0; i < b.N; i++ {
			if i%2 == 0 {
				echoT += one(echo.URL)
				nodeT += one(srv.URL)
			} else {
				nodeT += one(srv.URL)
				echoT += one(echo.URL)
			}
		}
		b.ReportMetric(float64(echoT.Nanoseconds())/float64(b.N), "echo-ns/req")
		b.ReportMetric(float64(nodeT.Nanoseconds())/float64(b.N), "simnode-ns/req")
		b.ReportMetric(float64(nodeT)/float64(echoT), "simnode/echo")
	}
	b.Run("interleaved_biblehash", func(b *testing.B) { pair(b, bibleHash) })
	b.Run("interleaved_hexblocktocoinbase", func(b *testing.B) { pair(b, coinbase) })
	b.Run("interleaved_batch_share", func(b *testing.B) { pair(b, share) })

	b.Run("echo_biblehash_body", func(b *testing.B) { run(b, echo.URL, bibleHash) })
	b.Run("exec_biblehash", func(b *testing.B) { run(b, srv.URL, bibleHash) })
	b.Run("echo_hexblock_body", func(b *testing.B) { run(b, echo.URL, coinbase) })
	b.Run("exec_hexblocktocoinbase", func(b *testing.B) { run(b, srv.URL, coinbase) })
	b.Run("exec_pinfo", func(b *testing.B) { run(b, srv.URL, pinfo) })
	b.Run("echo_batch_share_body", func(b *testing.B) { run(b, echo.URL, share) })
	b.Run("batch_share", func(b *testing.B) { run(b, srv.URL, share) })
}
