package rpcclient_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simnode"
)

const minerGUID = "eef5cbcb-f673-4203-a791-f773b177f1df"

type env struct {
	srv *simnode.Server
	c   *rpcclient.Client
	ctx context.Context
}

func start(t *testing.T, cfg simnode.Config) *env {
	t.Helper()
	cfg.User, cfg.Password = "user", "secret"
	if cfg.NetworkHashRate == 0 {
		cfg.NetworkHashRate = 50 // a few thousand hashes per block: quick to mine
	}
	srv, err := simnode.Start(cfg, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c, err := rpcclient.New(rpcclient.Config{URL: srv.URL, User: "user", Password: "secret", Network: srv.Node.Network(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, c: c, ctx: context.Background()}
}

func (e *env) poolBlock(t *testing.T) (hash string, height int64) {
	t.Helper()
	h, err := e.srv.Node.MinePoolBlock(e.ctx, e.srv.Node.WalletAddress(), minerGUID)
	if err != nil {
		t.Fatal(err)
	}
	return h, e.srv.Node.Height()
}

func (e *env) generate(t *testing.T, n int) {
	t.Helper()
	var hashes []string
	if err := e.c.Call(e.ctx, "sim_generate", []any{n}, &hashes); err != nil || len(hashes) != n {
		t.Fatalf("sim_generate %d: %v, %d hashes", n, err, len(hashes))
	}
}

func rpcCode(err error) int {
	var re *rpcclient.Error
	if errors.As(err, &re) {
		return re.Code
	}
	return 0
}

// keys returns the sorted keys of a JSON object reply.
func keys(t *testing.T, c *rpcclient.Client, method string, params ...any) map[string]any {
	t.Helper()
	var m map[string]any
	if err := c.Call(context.Background(), method, params, &m); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return m
}

func requireKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	for _, k := range want {
		if _, ok := m[k]; !ok {
			got := make([]string, 0, len(m))
			for k := range m {
				got = append(got, k)
			}
			sort.Strings(got)
			t.Errorf("%s: field %q missing; have %v", what, k, got)
		}
	}
}

func TestAmountsGoOnTheWireExactly(t *testing.T) {
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		io.WriteString(w, `{"result":"00","error":null,"id":1}`)
	}))
	defer srv.Close()
	c, _ := rpcclient.New(rpcclient.Config{URL: srv.URL})
	addr := "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci"
	if _, err := c.SendMany(context.Background(), map[string]int64{addr: 1623585745354}, 1, "c", []string{addr}); err != nil {
		t.Fatal(err)
	}
	if want := `"params":["",{"` + addr + `":16235.85745354},1,"c",["` + addr + `"]]`; !strings.Contains(string(body), want) {
		t.Errorf("sendmany body %s, want %s", body, want)
	}
	if _, err := c.SendToAddress(context.Background(), addr, 10, "", "", true); err != nil {
		t.Fatal(err)
	}
	if want := `"params":["` + addr + `",0.00000010,"","",true]`; !strings.Contains(string(body), want) {
		t.Errorf("sendtoaddress body %s, want %s", body, want)
	}
	if _, err := c.ExecBibleHash(context.Background(), "ab", 1, 2, 3, 4); err == nil || !strings.Contains(string(body), `"params":["biblehash","ab","1","2","3","4"]`) {
		t.Errorf("exec arguments are not all strings: %s", body)
	}
}

func TestMainNetwork(t *testing.T) {
	e := start(t, simnode.Config{Network: biblepay.Networks["main"]})
	if a := e.srv.Node.WalletAddress(); a[0] != 'B' || e.srv.Node.Maturity() != 101 {
		t.Fatalf("main wallet address %s, maturity %d", a, e.srv.Node.Maturity())
	}
	if v, _ := e.c.ValidateAddress(e.ctx, "B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH"); !v.IsValid {
		t.Error("main address invalid on main")
	}
	if v, _ := e.c.ValidateAddress(e.ctx, "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci"); v.IsValid {
		t.Error("test address valid on main")
	}
	_, height := e.poolBlock(t)
	if s, err := e.c.ExecSubsidy(e.ctx, height); err != nil || s.Recipient[0] != 'B' {
		t.Errorf("main subsidy %+v, %v", s, err)
	}
}

func TestAuthAndTransportErrors(t *testing.T) {
	e := start(t, simnode.Config{})
	bad, _ := rpcclient.New(rpcclient.Config{URL: e.srv.URL, User: "user", Password: "wrong"})
	_, err := bad.GetBlockCount(e.ctx)
	var he *rpcclient.HTTPError
	if !errors.As(err, &he) || he.StatusCode != 401 {
		t.Fatalf("wrong password: %v, want HTTP 401", err)
	}
	err = e.c.Call(e.ctx, "nosuchmethod", nil, nil)
	if rpcCode(err) != rpcclient.CodeMethodNotFound {
		t.Fatalf("unknown method: %v", err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if _, err := e.c.GetBlockCount(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}

func TestBurstsStayNearTheClock(t *testing.T) {
	e := start(t, simnode.Config{})
	e.generate(t, 5000)
	hash, _ := e.c.GetBlockHash(e.ctx, 5000)
	b, _ := e.c.GetBlock(e.ctx, hash)
	if ahead := b.Time - time.Now().Unix(); ahead > 1000 {
		t.Errorf("5000 instant blocks run %d s ahead of the clock", ahead)
	}
	e.poolBlock(t) // a miner's block is not "time-too-new"
}

func TestChainCalls(t *testing.T) {
	e := start(t, simnode.Config{})
	e.generate(t, 3)
	n, err := e.c.GetBlockCount(e.ctx)
	if err != nil || n != 3 {
		t.Fatalf("GetBlockCount = %d, %v", n, err)
	}
	hash, err := e.c.GetBlockHash(e.ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.c.GetBlock(e.ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	if b.Hash != hash || b.Height != 2 || b.Confirmations != 2 || len(b.Tx) != 1 || b.NextBlockHash == "" || b.PreviousBlockHash == "" {
		t.Errorf("GetBlock = %+v", b)
	}
	if b.Subsidy.String() != "16235" || b.BlockVersion != simnode.Version {
		t.Errorf("subsidy %s, blockversion %q", b.Subsidy, b.BlockVersion)
	}
	raw := keys(t, e.c, "getblock", hash)
	requireKeys(t, "getblock", raw, "hash", "confirmations", "size", "height", "version", "merkleroot", "tx", "time",
		"mediantime", "nonce", "bits", "difficulty", "chainwork", "previousblockhash", "nextblockhash",
		"hrtime", "subsidy", "blockversion", "verses", "satisfiesbiblehash", "biblehash", "CPID", "pow_difficulty")
	hexBlock, err := e.c.GetBlockHex(e.ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	bl, err := biblepay.ParseBlockHex(hexBlock)
	if err != nil {
		t.Fatal(err)
	}
	if got := biblepay.HashString(biblepay.SimBlockHash(bl.Header.Bytes())); got != hash {
		t.Errorf("header hash %s, getblock hash %s", got, hash)
	}
	if int64(bl.Header.Time) != b.Time || bl.Txs[0].TxID() != b.Tx[0] {
		t.Errorf("hex block disagrees with the JSON")
	}
	if _, err := e.c.GetBlockHash(e.ctx, 99); rpcCode(err) != rpcclient.CodeInvalidParameter {
		t.Errorf("height out of range: %v", err)
	}
	if _, err := e.c.GetBlock(e.ctx, strings.Repeat("ab", 32)); rpcCode(err) != rpcclient.CodeInvalidAddressOrKey {
		t.Errorf("unknown block: %v", err)
	}
	tmpl, err := e.c.GetBlockTemplate(e.ctx)
	if err != nil || tmpl.Height != 4 || tmpl.PreviousBlockHash == "" || tmpl.CoinbaseValue != simnode.DefaultBlockReward || len(tmpl.Bits) != 8 {
		t.Errorf("GetBlockTemplate = %+v, %v", tmpl, err)
	}
	mi, err := e.c.GetMiningInfo(e.ctx)
	if err != nil || mi.Blocks != 3 || mi.Chain != "test" {
		t.Errorf("GetMiningInfo = %+v, %v", mi, err)
	}
}

func TestExecCallsAndExactCoinbase(t *testing.T) {
	e := start(t, simnode.Config{})
	e.generate(t, 2)
	hash, height := e.poolBlock(t)
	pool := e.srv.Node.WalletAddress()

	s, err := e.c.ExecSubsidy(e.ctx, height)
	if err != nil {
		t.Fatal(err)
	}
	if s.Command != "subsidy" || s.Subsidy != 16235 || s.Recipient != pool || s.MinerGUID != minerGUID ||
		s.BlockVersion != simnode.Version || s.BlockVersion2.String() != "1141" {
		t.Errorf("ExecSubsidy = %+v", s)
	}
	requireKeys(t, "exec subsidy", keys(t, e.c, "exec", "subsidy", "3"), "Command", "subsidy", "recipient", "blockversion", "blockversion2", "minerguid")
	net, err := e.c.ExecSubsidy(e.ctx, 1)
	if err != nil || net.Recipient == pool || net.MinerGUID != "" {
		t.Errorf("network block subsidy = %+v, %v", net, err)
	}
	var ee *rpcclient.ExecError
	if _, err := e.c.ExecSubsidy(e.ctx, height+1); !errors.As(err, &ee) || ee.Message != "block not found" {
		t.Errorf("subsidy above tip: %v", err)
	}
	if _, err := e.c.ExecSubsidy(e.ctx, 0); !errors.As(err, &ee) {
		t.Errorf("subsidy at 0: %v", err)
	}

	cb, err := e.c.BlockCoinbase(e.ctx, height)
	if err != nil {
		t.Fatal(err)
	}
	if cb.ValueSat != simnode.DefaultBlockReward || cb.Recipient != pool || cb.MinerGUID != minerGUID || cb.BlockHash != hash {
		t.Errorf("BlockCoinbase = %+v", cb)
	}
	if v, err := e.c.CoinbaseValueSat(e.ctx, height); err != nil || v != 1623585745354 {
		t.Errorf("CoinbaseValueSat = %d, %v", v, err)
	}

	p, err := e.c.ExecPinfo(e.ctx)
	if err != nil || p.Height != height || p.Pinfo < 512 {
		t.Errorf("ExecPinfo = %+v, %v", p, err)
	}
	requireKeys(t, "exec pinfo", keys(t, e.c, "exec", "pinfo"), "Command", "height", "pinfo", "elapsed")

	bh := strings.Repeat("0", 60) + "1234"
	got, err := e.c.ExecBibleHash(e.ctx, bh, 1518041523, 1518041437, 19309, 14217)
	h, _ := biblepay.ParseHashString(bh)
	if want := biblepay.SimBibleHash(h, 1518041523, 1518041437, 19309, 14217); err != nil || got != want {
		t.Errorf("ExecBibleHash = %s, %v; want %s", got, err, want)
	}
	if _, err := e.c.ExecBibleHash(e.ctx, bh, 0, 1518041437, 19309, 1); !errors.Is(err, rpcclient.ErrNoBibleHash) {
		t.Errorf("block time 0: %v", err)
	}
	// exec takes strings only, and biblehash exactly 6 parameters.
	if err := e.c.Call(e.ctx, "exec", []any{"biblehash", bh, 1518041523, "1", "1", "1"}, nil); rpcCode(err) != rpcclient.CodeMisc {
		t.Errorf("numeric exec argument: %v", err)
	}
	if err := e.c.Call(e.ctx, "exec", []any{"biblehash", bh, "1"}, nil); rpcCode(err) != rpcclient.CodeMisc {
		t.Errorf("short biblehash: %v", err)
	}

	blockHex, _ := e.c.GetBlockHex(e.ctx, hash)
	bl, _ := biblepay.ParseBlockHex(blockHex)
	hc, err := e.c.ExecHexBlockToCoinbase(e.ctx, blockHex, biblepay.Block{Txs: bl.Txs[:1]}.Txs[0].TxID())
	if err != nil {
		t.Fatal(err)
	}
	tip, _ := e.c.GetBlock(e.ctx, hash)
	wantBH := biblepay.SimBibleHash(biblepay.SimBlockHash(bl.Header.Bytes()), int64(bl.Header.Time), tip.Time, tip.Height, bl.Header.Nonce)
	if hc.TxID != bl.Txs[0].TxID() || hc.Recipient != pool || hc.Subsidy != 16235 || hc.BlockVersion != simnode.Version ||
		!hc.CPIDSigValid || !hc.CPIDLegal || hc.BibleHash != wantBH || !strings.Contains(hc.BlockMessage, "<MINERGUID>"+minerGUID) {
		t.Errorf("ExecHexBlockToCoinbase = %+v", hc)
	}
	requireKeys(t, "exec hexblocktocoinbase", keys(t, e.c, "exec", "hexblocktocoinbase", blockHex, ""),
		"Command", "txid", "recipient", "biblehash", "subsidy", "blockversion", "cpid_sig_valid", "cpid_legal", "cpid_legality_narr", "blockmessage")
	requireKeys(t, "exec biblehash", keys(t, e.c, "exec", "biblehash", bh, "1518041523", "1518041437", "19309", "14217"), "Command", "BibleHash")
	dec := keys(t, e.c, "decoderawtransaction", hexOf(bl.Txs[0]))
	requireKeys(t, "decoderawtransaction", dec, "txid", "size", "version", "locktime", "vin", "vout")
	vout := dec["vout"].([]any)[0].(map[string]any)
	requireKeys(t, "decoderawtransaction vout", vout, "value", "valueSat", "n", "scriptPubKey", "message")
	requireKeys(t, "decoderawtransaction scriptPubKey", vout["scriptPubKey"].(map[string]any), "asm", "hex", "reqSigs", "type", "addresses")
	requireKeys(t, "validateaddress", keys(t, e.c, "validateaddress", pool), "isvalid", "address", "scriptPubKey", "ismine", "iswatchonly", "account")
	if _, err := e.c.ExecHexBlockToCoinbase(e.ctx, "00ff", ""); rpcCode(err) != rpcclient.CodeDeserialization {
		t.Errorf("bad block hex: %v", err)
	}

	raw, err := e.c.DecodeRawTransaction(e.ctx, hexOf(bl.Txs[0]))
	if err != nil || len(raw.Vout) != 1 || raw.Vout[0].ValueSat != simnode.DefaultBlockReward || int64(raw.Vout[0].Value) != simnode.DefaultBlockReward ||
		raw.Vout[0].ScriptPubKey.Addresses[0] != pool || !strings.Contains(raw.Vout[0].Message, minerGUID) || raw.Vin[0].Coinbase == "" {
		t.Errorf("DecodeRawTransaction = %+v, %v", raw, err)
	}
	if err := e.c.SubmitBlock(e.ctx, blockHex); !isRejected(err, "duplicate") {
		t.Errorf("resubmitted block: %v", err)
	}
}

func isRejected(err error, reason string) bool {
	var r *rpcclient.RejectedError
	return errors.As(err, &r) && r.Reason == reason
}

func hexOf(tx biblepay.Tx) string { return hex.EncodeToString(tx.Bytes()) }

func TestWalletMaturityAndSends(t *testing.T) {
	e := start(t, simnode.Config{})
	_, height := e.poolBlock(t)
	pool := e.srv.Node.WalletAddress()
	w, err := e.c.GetWalletInfo(e.ctx)
	if err != nil || w.Balance != 0 || int64(w.ImmatureBalance) != simnode.DefaultBlockReward {
		t.Fatalf("after a pool block: %+v, %v", w, err)
	}
	requireKeys(t, "getwalletinfo", keys(t, e.c, "getwalletinfo"), "walletversion", "balance", "retirement_account_balance",
		"unconfirmed_balance", "immature_balance", "txcount", "keypoololdest", "keypoolsize", "keys_left", "unlocked_until", "paytxfee")
	list, _ := e.c.ListTransactions(e.ctx, "*", 10, 0)
	if len(list) != 1 || list[0].Category != "immature" || list[0].Confirmations != 1 || !list[0].Generated || int64(list[0].Amount) != simnode.DefaultBlockReward {
		t.Fatalf("listtransactions = %+v", list)
	}
	recipient := e.srv.Node.Network().Address([20]byte{1, 2, 3})
	if _, err := e.c.SendToAddress(e.ctx, recipient, biblepay.Coin, "too early", "", false); rpcCode(err) != rpcclient.CodeInsufficientFunds {
		t.Fatalf("send of immature funds: %v, want -6", err)
	}
	e.generate(t, int(e.srv.Node.Maturity())-2) // confirmations = maturity-1
	if l, _ := e.c.ListTransactions(e.ctx, "*", 1, 0); l[0].Category != "immature" {
		t.Fatalf("at maturity-1: %s", l[0].Category)
	}
	e.generate(t, 1)
	l, _ := e.c.ListTransactions(e.ctx, "*", 1, 0)
	if l[0].Category != "generate" || l[0].Confirmations != e.srv.Node.Maturity() {
		t.Fatalf("at maturity: %+v", l[0])
	}
	if w, _ := e.c.GetWalletInfo(e.ctx); int64(w.Balance) != simnode.DefaultBlockReward || w.ImmatureBalance != 0 {
		t.Fatalf("balance at maturity: %+v", w)
	}
	val, _ := e.c.ValidateAddress(e.ctx, pool)
	if !val.IsValid || !val.IsMine || val.ScriptPubKey == "" {
		t.Errorf("validateaddress pool: %+v", val)
	}
	if v, _ := e.c.ValidateAddress(e.ctx, "B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH"); v.IsValid {
		t.Errorf("a main address on test is valid: %+v", v)
	}

	// sendmany: two recipients, the fee shared by both.
	a := e.srv.Node.Network().Address([20]byte{7})
	b := e.srv.Node.Network().Address([20]byte{8})
	amounts := map[string]int64{a: 123_456_789_01, b: 1}
	amounts[b] = 100_000_003
	txid, err := e.c.SendMany(e.ctx, amounts, 1, "payout 42", []string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := e.c.GetTransaction(e.ctx, txid)
	if err != nil {
		t.Fatal(err)
	}
	fee := -int64(tx.Fee)
	if fee < simnode.MinFee || tx.Confirmations != 0 || tx.Comment != "payout 42" || len(tx.Details) != 2 || tx.Hex == "" {
		t.Fatalf("gettransaction = %+v", tx)
	}
	var paid int64
	for _, d := range tx.Details {
		if d.Category != "send" || int64(d.Fee) != -fee {
			t.Errorf("detail %+v", d)
		}
		paid += -int64(d.Amount)
	}
	if paid+fee != amounts[a]+amounts[b] || int64(tx.Amount) != -paid {
		t.Errorf("paid %d + fee %d != %d; amount %d", paid, fee, amounts[a]+amounts[b], tx.Amount)
	}
	requireKeys(t, "gettransaction", keys(t, e.c, "gettransaction", txid), "amount", "fee", "confirmations", "bcconfirmations",
		"txid", "walletconflicts", "time", "timereceived", "comment", "details", "hex")
	e.generate(t, 1)
	l, _ = e.c.ListTransactions(e.ctx, "*", 10, 0)
	var sends int
	for _, en := range l {
		if en.Category == "send" {
			sends++
			if en.TxID != txid || en.Comment != "payout 42" || en.Confirmations != 1 || en.BlockHash == "" || int64(en.Fee) != -fee {
				t.Errorf("send entry %+v", en)
			}
		}
	}
	if sends != 2 {
		t.Errorf("%d send entries", sends)
	}
	var entry map[string]any
	var entries []map[string]any
	if err := e.c.Call(e.ctx, "listtransactions", []any{"*", 10, 0}, &entries); err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		if en["category"] == "send" {
			entry = en
		}
	}
	requireKeys(t, "listtransactions", entry, "account", "address", "category", "amount", "vout", "fee", "confirmations",
		"bcconfirmations", "blockhash", "blockindex", "blocktime", "txid", "time", "timereceived", "comment")

	// sendtoaddress without subtracting: the recipient gets the exact amount.
	txid2, err := e.c.SendToAddress(e.ctx, a, 5*biblepay.Coin, "c", "to", false)
	if err != nil {
		t.Fatal(err)
	}
	tx2, _ := e.c.GetTransaction(e.ctx, txid2)
	if int64(tx2.Amount) != -5*biblepay.Coin || tx2.To != "to" || tx2.Fee >= 0 {
		t.Errorf("sendtoaddress = %+v", tx2)
	}
	w, _ = e.c.GetWalletInfo(e.ctx)
	if int64(w.Balance) != simnode.DefaultBlockReward-(amounts[a]+amounts[b])-5*biblepay.Coin+int64(tx2.Fee) {
		t.Errorf("balance %d after sends", w.Balance)
	}
	if _, err := e.c.SendToAddress(e.ctx, a, 20_000*biblepay.Coin, "", "", false); rpcCode(err) != rpcclient.CodeInsufficientFunds {
		t.Errorf("overspend: %v", err)
	}
	if _, err := e.c.SendToAddress(e.ctx, "yNotAnAddress", biblepay.Coin, "", "", false); rpcCode(err) != rpcclient.CodeInvalidAddressOrKey {
		t.Errorf("bad address: %v", err)
	}
	if _, err := e.c.SendToAddress(e.ctx, a, 0, "", "", false); rpcCode(err) != rpcclient.CodeType {
		t.Errorf("zero amount: %v", err)
	}
	if err := e.c.Call(e.ctx, "sendmany", []any{"", json.RawMessage(`{"` + a + `":1,"` + a + `":2}`)}, nil); rpcCode(err) != rpcclient.CodeInvalidParameter {
		t.Errorf("duplicated address: %v", err)
	}
	if _, err := e.c.GetTransaction(e.ctx, strings.Repeat("00", 32)); rpcCode(err) != rpcclient.CodeInvalidAddressOrKey {
		t.Errorf("unknown txid: %v", err)
	}
	_ = height
}

func TestReorgBeforeMaturityOrphansPoolBlock(t *testing.T) {
	e := start(t, simnode.Config{})
	e.generate(t, 3)
	hash, height := e.poolBlock(t)
	e.generate(t, 5)
	var r struct {
		Orphaned []string `json:"orphaned"`
		Height   int64    `json:"height"`
	}
	if err := e.c.Call(e.ctx, "sim_reorg", []any{7}, &r); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(r.Orphaned, hash) || r.Height != height+6 {
		t.Fatalf("sim_reorg = %+v", r)
	}
	b, _ := e.c.GetBlock(e.ctx, hash)
	if b.Confirmations != -1 {
		t.Errorf("orphaned block confirmations %d", b.Confirmations)
	}
	s, _ := e.c.ExecSubsidy(e.ctx, height)
	if s.Recipient == e.srv.Node.WalletAddress() || s.MinerGUID != "" {
		t.Errorf("height %d still pays the pool: %+v", height, s)
	}
	l, _ := e.c.ListTransactions(e.ctx, "*", 10, 0)
	if len(l) != 1 || l[0].Category != "orphan" || l[0].Confirmations != 0 {
		t.Errorf("after reorg: %+v", l)
	}
	if w, _ := e.c.GetWalletInfo(e.ctx); w.ImmatureBalance != 0 || w.Balance != 0 {
		t.Errorf("wallet after reorg: %+v", w)
	}
}

func TestReorgAfterMaturityConflictsTheSend(t *testing.T) {
	e := start(t, simnode.Config{})
	hash, _ := e.poolBlock(t)
	e.generate(t, int(e.srv.Node.Maturity())-1)
	to := e.srv.Node.Network().Address([20]byte{9})
	txid, err := e.c.SendToAddress(e.ctx, to, 100*biblepay.Coin, "matured payout", "", true)
	if err != nil {
		t.Fatal(err)
	}
	e.generate(t, 2)
	if tx, _ := e.c.GetTransaction(e.ctx, txid); tx.Confirmations != 2 {
		t.Fatalf("confirmations %d", tx.Confirmations)
	}
	if err := e.c.Call(e.ctx, "sim_reorg", []any{e.srv.Node.Maturity() + 2}, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := e.c.GetBlock(e.ctx, hash); b.Confirmations != -1 {
		t.Errorf("matured pool block not orphaned")
	}
	tx, err := e.c.GetTransaction(e.ctx, txid)
	if err != nil || tx.Confirmations != -1 || tx.Comment != "matured payout" {
		t.Errorf("send after the reorg: %+v, %v", tx, err)
	}
	l, _ := e.c.ListTransactions(e.ctx, "*", 10, 0)
	var cats []string
	for _, en := range l {
		cats = append(cats, en.Category)
	}
	if !slices.Contains(cats, "orphan") {
		t.Errorf("categories %v", cats)
	}
	if w, _ := e.c.GetWalletInfo(e.ctx); w.Balance != 0 {
		t.Errorf("balance %d after the reorg", w.Balance)
	}
}

func matured(t *testing.T, e *env) string {
	t.Helper()
	e.poolBlock(t)
	e.generate(t, int(e.srv.Node.Maturity()))
	return e.srv.Node.Network().Address([20]byte{4, 2})
}

func TestFailingSends(t *testing.T) {
	e := start(t, simnode.Config{})
	to := matured(t, e)
	count := func() int {
		l, err := e.c.ListTransactions(e.ctx, "*", 1000, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	before := count()

	if err := e.c.Call(e.ctx, "sim_failnextsend", []any{-6, "Insufficient funds"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SendToAddress(e.ctx, to, biblepay.Coin, "fail", "", false); rpcCode(err) != rpcclient.CodeInsufficientFunds {
		t.Fatalf("failnextsend: %v", err)
	}
	if count() != before {
		t.Fatal("a failed send left a transaction")
	}
	if _, err := e.c.SendToAddress(e.ctx, to, biblepay.Coin, "ok", "", false); err != nil {
		t.Fatalf("the send after a failed one: %v", err)
	}
	before = count()

	find := func(comment string) *rpcclient.TransactionEntry {
		l, _ := e.c.ListTransactions(e.ctx, "*", 1000, 0)
		for i := range l {
			if l[i].Comment == comment && l[i].Category == "send" {
				return &l[i]
			}
		}
		return nil
	}

	if err := e.c.Call(e.ctx, "sim_sendthenerror", nil, nil); err != nil {
		t.Fatal(err)
	}
	_, err := e.c.SendMany(e.ctx, map[string]int64{to: 2 * biblepay.Coin}, 1, "payout then error", nil)
	if rpcCode(err) != rpcclient.CodeMisc {
		t.Fatalf("sendthenerror: %v", err)
	}
	if en := find("payout then error"); en == nil || int64(en.Amount) != -2*biblepay.Coin {
		t.Fatalf("sendthenerror: the transaction is not listed: %+v", en)
	}

	if err := e.c.Call(e.ctx, "sim_sendthenerror", []any{"drop"}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.SendToAddress(e.ctx, to, 3*biblepay.Coin, "payout then drop", "", false)
	if err == nil || rpcCode(err) != 0 {
		t.Fatalf("sendthenerror drop: %v, want a transport error", err)
	}
	if find("payout then drop") == nil {
		t.Fatal("dropped send not listed")
	}

	if err := e.c.Call(e.ctx, "sim_sendthentimeout", nil, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 300*time.Millisecond)
	_, err = e.c.SendToAddress(ctx, to, 4*biblepay.Coin, "payout then timeout", "", false)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sendthentimeout: %v", err)
	}
	en := find("payout then timeout")
	if en == nil || en.Confirmations != 0 {
		t.Fatalf("timed-out send not listed: %+v", en)
	}
	if count() != before+3 {
		t.Errorf("%d entries, want %d", count(), before+3)
	}
	e.generate(t, 1)
	if en := find("payout then timeout"); en.Confirmations != 1 {
		t.Errorf("timed-out send not mined: %+v", en)
	}
}

func TestStateFileSurvivesRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "simnode.json")
	e := start(t, simnode.Config{StateFile: file, Seed: 7})
	to := matured(t, e)
	txid, err := e.c.SendToAddress(e.ctx, to, biblepay.Coin, "before restart", "", false)
	if err != nil {
		t.Fatal(err)
	}
	height := e.srv.Node.Height()
	pool := e.srv.Node.WalletAddress()
	wantInfo, _ := e.c.GetWalletInfo(e.ctx)
	e.srv.Close()

	e2 := start(t, simnode.Config{StateFile: file, Seed: 7})
	if e2.srv.Node.Height() != height || e2.srv.Node.WalletAddress() != pool {
		t.Fatalf("restart: height %d/%d, address %s/%s", e2.srv.Node.Height(), height, e2.srv.Node.WalletAddress(), pool)
	}
	tx, err := e2.c.GetTransaction(e2.ctx, txid)
	if err != nil || tx.Comment != "before restart" || tx.Confirmations != 0 {
		t.Fatalf("after restart: %+v, %v", tx, err)
	}
	if w, _ := e2.c.GetWalletInfo(e2.ctx); w.Balance != wantInfo.Balance {
		t.Errorf("balance %d, want %d", w.Balance, wantInfo.Balance)
	}
	e2.generate(t, 1)
	if tx, _ := e2.c.GetTransaction(e2.ctx, txid); tx.Confirmations != 1 {
		t.Errorf("mempool not restored: %+v", tx)
	}
}

// A reply without a result must not read as zero values: a wallet balance
// or block count of 0 that the node never said.
func TestNoResultIsAnError(t *testing.T) {
	for _, body := range []string{`{"result":null,"error":null,"id":1}`, `{"error":null,"id":1}`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) }))
		c, err := rpcclient.New(rpcclient.Config{URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetBlockCount(context.Background()); !errors.Is(err, rpcclient.ErrNoResult) {
			t.Errorf("%s: GetBlockCount error = %v, want ErrNoResult", body, err)
		}
		if _, err := c.GetWalletInfo(context.Background()); !errors.Is(err, rpcclient.ErrNoResult) {
			t.Errorf("%s: GetWalletInfo error = %v, want ErrNoResult", body, err)
		}
		srv.Close()
	}
}
