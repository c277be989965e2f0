package simnode_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simnode"
)

func start(t testing.TB, cfg simnode.Config) (*simnode.Server, *rpcclient.Client) {
	t.Helper()
	if cfg.NetworkHashRate == 0 {
		cfg.NetworkHashRate = 50
	}
	srv, err := simnode.Start(cfg, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c, _ := rpcclient.New(rpcclient.Config{URL: srv.URL, User: cfg.User, Password: cfg.Password, Network: srv.Node.Network()})
	return srv, c
}

// matureCoinbase gives the wallet a mature pool coinbase to spend.
func matureCoinbase(t *testing.T, n *simnode.Node) {
	t.Helper()
	if _, err := n.MinePoolBlock(context.Background(), n.WalletAddress(), "g"); err != nil {
		t.Fatal(err)
	}
	n.Generate(int(n.Maturity()))
}

// candidate builds a block on the tip paying payTo, mined to the network
// target unless unmined.
func candidate(t *testing.T, c *rpcclient.Client, payTo string, value int64, mine bool) biblepay.Block {
	t.Helper()
	ctx := context.Background()
	tmpl, err := c.GetBlockTemplate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prevBlock, _ := c.GetBlock(ctx, tmpl.PreviousBlockHash)
	prev, _ := biblepay.ParseHashString(tmpl.PreviousBlockHash)
	script, _ := c.Network().ScriptForAddress(payTo)
	var bits uint32
	b, _ := hex.DecodeString(tmpl.Bits)
	for _, x := range b {
		bits = bits<<8 | uint32(x)
	}
	if value == 0 {
		value = tmpl.CoinbaseValue
	}
	txs := []biblepay.Tx{{Version: 1,
		Inputs:  []biblepay.TxIn{{PrevOut: biblepay.OutPoint{Index: 0xffffffff}, ScriptSig: biblepay.CoinbaseScript(tmpl.Height, 1), Sequence: 0xffffffff}},
		Outputs: []biblepay.TxOut{{Value: value, ScriptPubKey: script, Message: biblepay.PoolCoinbaseMessage("1.1.4.1", "g")}},
	}}
	h := biblepay.Header{Version: tmpl.Version, PrevBlock: prev, MerkleRoot: biblepay.MerkleRoot(txs), Time: uint32(tmpl.CurTime), Bits: bits}
	target := biblepay.CompactToTarget(bits)
	for n := uint32(0); n <= 512; n++ {
		h.Nonce = n
		bh := biblepay.SimBibleHash(biblepay.SimBlockHash(h.Bytes()), int64(h.Time), prevBlock.Time, tmpl.Height-1, n)
		v, _ := biblepay.ParseHash(bh)
		if (v.Cmp(target) <= 0) == mine {
			return biblepay.Block{Header: h, Txs: txs}
		}
	}
	t.Fatal("no nonce in range; raise the target")
	return biblepay.Block{}
}

func TestSubmitBlockChecks(t *testing.T) {
	srv, c := start(t, simnode.Config{NetworkHashRate: 1.0 / 60}) // difficulty 1: every hash is a block
	ctx := context.Background()
	pool := srv.Node.WalletAddress()
	submit := func(bl biblepay.Block) error { return c.SubmitBlock(ctx, hex.EncodeToString(bl.Bytes())) }
	reason := func(err error) string {
		var r *rpcclient.RejectedError
		if errors.As(err, &r) {
			return r.Reason
		}
		return "accepted or other: " + errFmt(err)
	}

	bad := candidate(t, c, pool, 0, true)
	bad.Header.PrevBlock = [32]byte{1}
	if got := reason(submit(bad)); got != "bad-prevblk" {
		t.Errorf("unknown prev: %s", got)
	}
	bad = candidate(t, c, pool, 0, true)
	bad.Header.Bits = 0x1d00ffff
	if got := reason(submit(bad)); got != "bad-diffbits" {
		t.Errorf("wrong bits: %s", got)
	}
	bad = candidate(t, c, pool, 0, true)
	bad.Header.MerkleRoot = [32]byte{}
	if got := reason(submit(bad)); got != "bad-txnmrklroot" {
		t.Errorf("merkle: %s", got)
	}
	bad = candidate(t, c, pool, 0, true)
	bad.Header.Nonce = 100_000
	if got := reason(submit(bad)); got != "high-nonce" {
		t.Errorf("nonce above the max-nonce rule: %s", got)
	}
	over := candidate(t, c, pool, simnode.DefaultBlockReward+1, true)
	if got := reason(submit(over)); got != "bad-cb-amount" {
		t.Errorf("coinbase overpays: %s", got)
	}
	if err := c.SubmitBlock(ctx, "00ff"); rpcCode(err) != rpcclient.CodeDeserialization {
		t.Errorf("garbage: %v", err)
	}
	good := candidate(t, c, pool, 0, true)
	if err := submit(good); err != nil {
		t.Fatalf("good block: %v", err)
	}
	if got := reason(submit(good)); got != "duplicate" {
		t.Errorf("duplicate: %s", got)
	}
	if got := reason(submit(candidateOn(t, good))); got != "inconclusive" && got != "duplicate" {
		t.Errorf("stale prev: %s", got)
	}
	s, _ := c.ExecSubsidy(ctx, srv.Node.Height())
	if s.Recipient != pool || s.MinerGUID != "g" {
		t.Errorf("subsidy %+v", s)
	}

	// At a real target, an unmined header is refused.
	if err := srv.Node.SetHashRate(1e9); err != nil {
		t.Fatal(err)
	}
	if got := reason(submit(candidate(t, c, pool, 0, false))); got != "high-hash" {
		t.Errorf("unmined: %s", got)
	}
}

// candidateOn re-uses an accepted block's parent: a block on a known but
// no longer best parent.
func candidateOn(t *testing.T, accepted biblepay.Block) biblepay.Block {
	bl := accepted
	bl.Header.Nonce++
	return bl
}

func errFmt(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

func rpcCode(err error) int {
	var re *rpcclient.Error
	if errors.As(err, &re) {
		return re.Code
	}
	return 0
}

func TestChainedSendsSurviveReorg(t *testing.T) {
	srv, c := start(t, simnode.Config{})
	ctx := context.Background()
	matureCoinbase(t, srv.Node)
	to := srv.Node.Network().Address([20]byte{3})
	var ids []string
	for i := range 3 { // each spends the previous one's change
		id, err := c.SendToAddress(ctx, to, int64(i+1)*biblepay.Coin, "chain", "", false)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	srv.Node.Generate(1)
	if _, err := srv.Node.Reorg(1); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		tx, err := c.GetTransaction(ctx, id)
		// Back in the mempool, then mined in the first of the 2 new blocks.
		if err != nil || tx.Confirmations != 2 {
			t.Errorf("%s after reorg: %+v, %v", id, tx, err)
		}
	}
	w, _ := c.GetWalletInfo(ctx)
	var fees int64
	for _, id := range ids {
		tx, _ := c.GetTransaction(ctx, id)
		fees += -int64(tx.Fee)
	}
	if int64(w.Balance) != simnode.DefaultBlockReward-6*biblepay.Coin-fees {
		t.Errorf("balance %d, fees %d", w.Balance, fees)
	}
}

func TestBlockProductionPauseResume(t *testing.T) {
	srv, c := start(t, simnode.Config{BlockTime: 20 * time.Millisecond})
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Node.Height() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if srv.Node.Height() < 2 {
		t.Fatal("no blocks produced")
	}
	if err := c.Call(ctx, "sim_pause", nil, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond) // let a tick in flight finish
	h := srv.Node.Height()
	time.Sleep(100 * time.Millisecond)
	if srv.Node.Height() != h {
		t.Fatalf("paused node mined: %d → %d", h, srv.Node.Height())
	}
	if err := c.Call(ctx, "sim_resume", nil, nil); err != nil {
		t.Fatal(err)
	}
	for srv.Node.Height() == h && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if srv.Node.Height() == h {
		t.Fatal("resumed node mines nothing")
	}
	var info map[string]any
	before := srv.Node.Target()
	if err := c.Call(ctx, "sim_sethashrate", []any{1e6}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, "sim_info", nil, &info); err != nil || info["target"] == before || srv.Node.Target() == before {
		t.Errorf("sethashrate did not move the target: %v %v", info, err)
	}
}

func TestHTTPEnvelope(t *testing.T) {
	srv, _ := start(t, simnode.Config{User: "u", Password: "p"})
	post := func(body string) (int, map[string]any, []any) {
		code, b := postRaw(t, srv.URL, body)
		var m map[string]any
		var l []any
		if bytes.HasPrefix(b, []byte("[")) {
			json.Unmarshal(b, &l)
		} else {
			json.Unmarshal(b, &m)
		}
		return code, m, l
	}
	code, m, _ := post(`{"jsonrpc":"1.0","id":"a","method":"getblockcount","params":[]}`)
	if code != 200 || m["id"] != "a" || m["error"] != nil || m["result"] != float64(0) {
		t.Errorf("ok reply %d %v", code, m)
	}
	code, m, _ = post(`{"id":1,"method":"getblockhash","params":[5]}`)
	e, _ := m["error"].(map[string]any)
	if code != 500 || e["code"] != float64(-8) || m["result"] != nil {
		t.Errorf("error reply %d %v", code, m)
	}
	code, m, _ = post(`{"id":1,"method":"nope"}`)
	if code != 404 {
		t.Errorf("unknown method: %d %v", code, m)
	}
	code, m, _ = post(`{not json`)
	if e, _ := m["error"].(map[string]any); code != 500 || e["code"] != float64(-32700) {
		t.Errorf("parse error: %d %v", code, m)
	}
	code, _, l := post(`[{"id":1,"method":"getblockcount"},{"id":2,"method":"getblockhash","params":[0]}]`)
	if code != 200 || len(l) != 2 {
		t.Errorf("batch: %d %v", code, l)
	}
	resp, _ := http.Get(srv.URL)
	if resp.StatusCode != 401 {
		t.Errorf("GET without auth: %d", resp.StatusCode)
	}
	resp.Body.Close()
}

func TestDoubleSpendConflictsASend(t *testing.T) {
	srv, c := start(t, simnode.Config{})
	ctx := context.Background()
	matureCoinbase(t, srv.Node)
	to := srv.Node.Network().Address([20]byte{3})
	first, err := c.SendToAddress(ctx, to, biblepay.Coin, "first", "", false)
	if err != nil {
		t.Fatal(err)
	}
	child, err := c.SendToAddress(ctx, to, 2*biblepay.Coin, "spends first's change", "", false)
	if err != nil {
		t.Fatal(err)
	}
	srv.Node.Generate(1)
	if tx, _ := c.GetTransaction(ctx, first); tx.Confirmations != 1 {
		t.Fatalf("before: %+v", tx)
	}

	var res struct {
		Conflict string `json:"conflict"`
	}
	if err := c.Call(ctx, "sim_doublespend", []any{first}, &res); err != nil || res.Conflict == "" {
		t.Fatalf("sim_doublespend: %+v, %v", res, err)
	}
	// One block orphaned, two mined; the conflicting spend is in the first.
	tx, err := c.GetTransaction(ctx, first)
	if err != nil || tx.Confirmations != -2 || len(tx.WalletConflicts) != 1 || tx.WalletConflicts[0] != res.Conflict {
		t.Fatalf("conflicted send: %+v, %v (conflict %s)", tx, err, res.Conflict)
	}
	// The child spent outputs that never made it: conflicted, no culprit.
	if tx, err := c.GetTransaction(ctx, child); err != nil || tx.Confirmations != -1 || len(tx.WalletConflicts) != 0 {
		t.Fatalf("child of the conflicted send: %+v, %v", tx, err)
	}
	srv.Node.Generate(3)
	if tx, _ := c.GetTransaction(ctx, first); tx.Confirmations != -5 {
		t.Fatalf("conflict depth after 3 more blocks: %d, want -5", tx.Confirmations)
	}
	if w, _ := c.GetWalletInfo(ctx); w.Balance != 0 {
		t.Fatalf("the wallet's only coin was double spent, yet its balance is %d", w.Balance)
	}

	// The operator tops the wallet up: an ordinary receive, no coinbase.
	var funding string
	if err := c.Call(ctx, "sim_fund", []any{5}, &funding); err != nil {
		t.Fatal(err)
	}
	if w, _ := c.GetWalletInfo(ctx); int64(w.Balance) != 5*biblepay.Coin {
		t.Fatalf("balance after funding 5 BBP: %d", w.Balance)
	}
	if tx, err := c.GetTransaction(ctx, funding); err != nil || tx.Confirmations != 1 || len(tx.Details) != 1 || tx.Details[0].Category != "receive" {
		t.Fatalf("funding transaction: %+v, %v", tx, err)
	}
	if err := c.Call(ctx, "sim_fund", []any{-1}, nil); err == nil {
		t.Fatal("sim_fund -1 succeeded")
	}

	for _, bad := range []any{first, "00", 7} {
		if err := c.Call(ctx, "sim_doublespend", []any{bad}, nil); err == nil {
			t.Errorf("sim_doublespend %v succeeded", bad)
		}
	}
}
