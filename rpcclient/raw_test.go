package rpcclient_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simnode"
)

// rawEnv is a node whose wallet holds a matured pool coinbase and, with
// funds, a few ordinary coins (each from a network transaction that keeps
// an unspent change output of its own).
func rawEnv(t *testing.T, cfg simnode.Config, funds ...int64) *env {
	t.Helper()
	e := start(t, cfg)
	matured(t, e)
	for _, f := range funds {
		if _, err := e.srv.Node.Fund(f); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func addr(e *env, b byte) string { return e.srv.Node.Network().Address([20]byte{0xaa, b}) }

func tipLock(t *testing.T, e *env) uint32 {
	t.Helper()
	h, err := e.c.GetBlockCount(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(h)
}

// signed builds, funds and signs a transaction paying outs (and data).
func signed(t *testing.T, e *env, inputs []rpcclient.OutPoint, outs []rpcclient.Output, data []byte) (string, *rpcclient.FundedTransaction) {
	t.Helper()
	raw, err := e.c.CreateRawTransaction(e.ctx, inputs, outs, data, tipLock(t, e))
	if err != nil {
		t.Fatal(err)
	}
	f, err := e.c.FundRawTransaction(e.ctx, raw, false)
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.c.SignRawTransaction(e.ctx, f.Hex, nil, nil, "")
	if err != nil || !s.Complete {
		t.Fatalf("sign: %+v, %v", s, err)
	}
	return s.Hex, f
}

// signOnly signs a transaction spending exactly inputs.
func signOnly(t *testing.T, e *env, inputs []rpcclient.OutPoint, outs []rpcclient.Output) string {
	t.Helper()
	raw, err := e.c.CreateRawTransaction(e.ctx, inputs, outs, nil, tipLock(t, e))
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.c.SignRawTransaction(e.ctx, raw, nil, nil, "")
	if err != nil || !s.Complete {
		t.Fatalf("sign: %+v, %v", s, err)
	}
	return s.Hex
}

func decode(t *testing.T, e *env, h string) *rpcclient.RawTransaction {
	t.Helper()
	d, err := e.c.DecodeRawTransaction(e.ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func txidOf(t *testing.T, h string) string {
	t.Helper()
	tx, err := biblepay.ParseTxHex(h)
	if err != nil {
		t.Fatal(err)
	}
	return tx.TxID()
}

func balance(t *testing.T, e *env) int64 {
	t.Helper()
	w, err := e.c.GetWalletInfo(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return int64(w.Balance)
}

func isRPC(err error, code int, msg string) bool {
	var re *rpcclient.Error
	return errors.As(err, &re) && re.Code == code && (msg == "" || re.Message == msg)
}

// The payout path: create (two recipients and a data marker) → fund →
// sign → lock → send, then broadcast again in the mempool and once mined.
func TestRawTransactionPayoutPath(t *testing.T) {
	e := rawEnv(t, simnode.Config{})
	a, b := addr(e, 1), addr(e, 2)
	outs := []rpcclient.Output{{Address: a, AmountSat: 1_234_567_890_1}, {Address: b, AmountSat: 100_000_003}}
	marker := []byte("purepool payout 3f2a…")
	lock := tipLock(t, e)
	raw, err := e.c.CreateRawTransaction(e.ctx, nil, outs, marker, lock)
	if err != nil {
		t.Fatal(err)
	}
	d := decode(t, e, raw)
	if len(d.Vin) != 0 || len(d.Vout) != 3 || d.LockTime != lock || int64(d.Vout[0].Value) != outs[0].AmountSat || d.Vout[1].ScriptPubKey.Addresses[0] != b {
		t.Fatalf("created: %+v", d)
	}
	if got, ok := d.Vout[2].Data(); !ok || !bytes.Equal(got, marker) || d.Vout[2].Value != 0 ||
		d.Vout[2].ScriptPubKey.Asm != "OP_RETURN "+hex.EncodeToString(marker) {
		t.Fatalf("data output %+v", d.Vout[2])
	}

	before := balance(t, e)
	f, err := e.c.FundRawTransaction(e.ctx, raw, false)
	if err != nil {
		t.Fatal(err)
	}
	fd := decode(t, e, f.Hex)
	if int64(f.Fee) < simnode.MinFee || f.ChangePos < 0 || len(fd.Vout) != 4 || len(fd.Vin) != 1 {
		t.Fatalf("funded %+v: %+v", f, fd)
	}
	var in, out int64
	for _, op := range fd.Inputs() {
		o, err := e.c.GetTxOut(e.ctx, op.TxID, op.Vout, true)
		if err != nil || o == nil {
			t.Fatalf("input %s: %+v, %v", op, o, err)
		}
		in += int64(o.Value)
	}
	for _, v := range fd.Vin {
		if v.ScriptSig == nil || v.ScriptSig.Hex != "" || v.Sequence != 0xfffffffe {
			t.Errorf("funded input not as fundrawtransaction leaves it: %+v", v)
		}
	}
	k := 0
	for i, v := range fd.Vout {
		out += int64(v.Value)
		if i == f.ChangePos {
			continue
		}
		if k < 2 && (v.ValueSat != outs[k].AmountSat || v.ScriptPubKey.Addresses[0] != outs[k].Address) {
			t.Errorf("output %d changed: %+v", i, v)
		}
		if k == 2 {
			if got, _ := v.Data(); !bytes.Equal(got, marker) {
				t.Errorf("data output lost: %+v", v)
			}
		}
		k++
	}
	if in-out != int64(f.Fee) {
		t.Errorf("fee %d, inputs−outputs %d", f.Fee, in-out)
	}

	s, err := e.c.SignRawTransaction(e.ctx, f.Hex, nil, nil, "")
	if err != nil || !s.Complete || len(s.Errors) != 0 {
		t.Fatalf("sign: %+v, %v", s, err)
	}
	requireKeys(t, "signrawtransaction", keys(t, e.c, "signrawtransaction", f.Hex), "hex", "complete")
	if again, _ := e.c.SignRawTransaction(e.ctx, f.Hex, nil, nil, "ALL"); again.Hex != s.Hex {
		t.Error("signing is not deterministic")
	}
	if balance(t, e) != before {
		t.Error("signing alone changed the balance")
	}
	txid := txidOf(t, s.Hex)

	inputs := fd.Inputs()
	if err := e.c.LockUnspent(e.ctx, false, inputs); err != nil {
		t.Fatal(err)
	}
	if l, err := e.c.ListLockUnspent(e.ctx); err != nil || !slices.Equal(l, inputs) {
		t.Fatalf("listlockunspent = %v, %v; want %v", l, err, inputs)
	}
	if u, _ := e.c.ListUnspent(e.ctx, 1, 9999999, nil); len(u) != 0 {
		t.Errorf("listunspent shows locked coins: %+v", u)
	}
	if balance(t, e) != before {
		t.Error("locked coins left the balance")
	}
	// The only coin is locked: neither fundrawtransaction nor sendmany may use it.
	if _, err := e.c.FundRawTransaction(e.ctx, raw, false); !isRPC(err, rpcclient.CodeInternal, "Insufficient funds") {
		t.Errorf("fund with every coin locked: %v", err)
	}
	if _, err := e.c.SendMany(e.ctx, map[string]int64{a: biblepay.Coin}, 1, "", nil); !isRPC(err, rpcclient.CodeInsufficientFunds, "") {
		t.Errorf("sendmany with every coin locked: %v", err)
	}

	got, err := e.c.SendRawTransaction(e.ctx, s.Hex, false, false)
	if err != nil || got != txid {
		t.Fatalf("send: %s, %v; want %s", got, err, txid)
	}
	// The balance drops by what left the wallet (the own change in the
	// mempool is trusted, as bitcoind's balance counts it).
	if bal := balance(t, e); bal != before-outs[0].AmountSat-outs[1].AmountSat-int64(f.Fee) {
		t.Errorf("balance after the broadcast %d, want %d", bal, before-outs[0].AmountSat-outs[1].AmountSat-int64(f.Fee))
	}
	if again, err := e.c.SendRawTransaction(e.ctx, s.Hex, false, false); err != nil || again != txid {
		t.Errorf("broadcast again from the mempool: %s, %v", again, err)
	}
	v, err := e.c.GetRawTransactionVerbose(e.ctx, txid)
	if err != nil || v.Hex != s.Hex || v.BlockHash != "" || v.Confirmations != 0 || v.TxID != txid {
		t.Fatalf("getrawtransaction in the mempool: %+v, %v", v, err)
	}
	if o, _ := e.c.GetTxOut(e.ctx, inputs[0].TxID, inputs[0].Vout, true); o != nil {
		t.Error("gettxout: an input spent in the mempool is still unspent")
	}
	if o, _ := e.c.GetTxOut(e.ctx, inputs[0].TxID, inputs[0].Vout, false); o == nil {
		t.Error("gettxout without the mempool: the input is spent already")
	}
	if o, _ := e.c.GetTxOut(e.ctx, txid, uint32(f.ChangePos), true); o == nil || o.Confirmations != 0 || o.Value != fd.Vout[f.ChangePos].Value {
		t.Errorf("gettxout of the change in the mempool: %+v", o)
	}
	// The wallet lists it as a send, without a comment, the data output as
	// a send of 0 to no address.
	wt, err := e.c.GetTransaction(e.ctx, txid)
	if err != nil || wt.Comment != "" || int64(wt.Fee) != -int64(f.Fee) || wt.Confirmations != 0 || wt.Hex != s.Hex {
		t.Fatalf("gettransaction: %+v, %v", wt, err)
	}
	var sends []rpcclient.TransactionDetail
	for _, d := range wt.Details {
		if d.Category == "send" {
			sends = append(sends, d)
		}
	}
	if len(sends) != 3 || -int64(wt.Amount) != outs[0].AmountSat+outs[1].AmountSat || sends[2].Address != "" || sends[2].Amount != 0 {
		t.Errorf("send details %+v, amount %d", sends, wt.Amount)
	}

	e.generate(t, 1)
	if _, err := e.c.SendRawTransaction(e.ctx, s.Hex, false, false); !isRPC(err, rpcclient.CodeTransactionAlreadyInChain, "transaction already in block chain") {
		t.Errorf("broadcast of a mined transaction: %v", err)
	}
	v, err = e.c.GetRawTransactionVerbose(e.ctx, txid)
	if err != nil || v.Confirmations != 1 || v.BlockHash == "" || v.Time == 0 || v.BlockTime != v.Time {
		t.Fatalf("getrawtransaction mined: %+v, %v", v, err)
	}
	if d, ok := v.Vout[len(v.Vout)-1].Data(); f.ChangePos != len(v.Vout)-1 && (!ok || !bytes.Equal(d, marker)) {
		t.Errorf("data read back: %q %v", d, ok)
	}
	requireKeys(t, "getrawtransaction", keys(t, e.c, "getrawtransaction", txid, 1), "hex", "txid", "size", "version",
		"locktime", "vin", "vout", "blockhash", "confirmations", "time", "blocktime")
	if tx, _ := e.c.GetTransaction(e.ctx, txid); tx.Confirmations != 1 {
		t.Errorf("wallet: %d confirmations", tx.Confirmations)
	}
	l, _ := e.c.ListTransactions(e.ctx, "*", 100, 0)
	n := 0
	for _, en := range l {
		if en.TxID == txid && en.Category == "send" {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d send entries for the raw transaction", n)
	}
}

func TestCreateRawTransactionErrors(t *testing.T) {
	e := start(t, simnode.Config{})
	a := addr(e, 1)
	in := []any{map[string]any{"txid": strings.Repeat("ab", 32), "vout": 1}}
	for _, tc := range []struct {
		name   string
		params []any
		code   int
		msg    string
	}{
		{"duplicated address", []any{in, json.RawMessage(`{"` + a + `":1,"` + a + `":2}`)}, rpcclient.CodeInvalidParameter, "Invalid parameter, duplicated address: " + a},
		{"invalid address", []any{in, map[string]any{"yNotAnAddress": 1}}, rpcclient.CodeInvalidAddressOrKey, "Invalid Biblepay address: yNotAnAddress"},
		{"main address on test", []any{in, map[string]any{"B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH": 1}}, rpcclient.CodeInvalidAddressOrKey, "Invalid Biblepay address: B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH"},
		{"data not hex", []any{in, map[string]any{"data": "xyz"}}, rpcclient.CodeInvalidParameter, "Data must be hexadecimal string (not 'xyz')"},
		{"negative amount", []any{in, map[string]any{a: -1}}, rpcclient.CodeType, "Amount out of range"},
		{"locktime out of range", []any{in, map[string]any{a: 1}, -1}, rpcclient.CodeInvalidParameter, "Invalid parameter, locktime out of range"},
		{"vout missing", []any{[]any{map[string]any{"txid": "ab"}}, map[string]any{a: 1}}, rpcclient.CodeInvalidParameter, "Invalid parameter, missing vout key"},
		{"vout negative", []any{[]any{map[string]any{"txid": "ab", "vout": -1}}, map[string]any{a: 1}}, rpcclient.CodeInvalidParameter, "Invalid parameter, vout must be positive"},
		{"inputs not an array", []any{map[string]any{}, map[string]any{a: 1}}, rpcclient.CodeType, "Expected type array, got object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.c.Call(e.ctx, "createrawtransaction", tc.params, nil)
			if !isRPC(err, tc.code, tc.msg) {
				t.Errorf("got %v, want %d %q", err, tc.code, tc.msg)
			}
		})
	}

	// Locktime 0 is the node's time (BiblePay); an explicit one is kept;
	// either way the inputs get sequence 0xfffffffe.
	now := time.Now().Unix()
	for _, lt := range []uint32{0, 1234} {
		h, err := e.c.CreateRawTransaction(e.ctx, []rpcclient.OutPoint{{TxID: strings.Repeat("ab", 32), Vout: 1}}, []rpcclient.Output{{Address: a, AmountSat: 1}}, nil, lt)
		if err != nil {
			t.Fatal(err)
		}
		d := decode(t, e, h)
		want := lt != 0 && d.LockTime == lt || lt == 0 && int64(d.LockTime) >= now-5 && int64(d.LockTime) <= now+5
		if !want || d.Vin[0].Sequence != 0xfffffffe || d.Vin[0].TxID != strings.Repeat("ab", 32) || d.Vin[0].Vout != 1 {
			t.Errorf("locktime %d: %+v", lt, d)
		}
	}
	// Data only, and an empty output list.
	h, err := e.c.CreateRawTransaction(e.ctx, nil, nil, []byte{0xde, 0xad, 0xbe, 0xef, 0x01}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if d := decode(t, e, h); len(d.Vout) != 1 || d.Vout[0].ScriptPubKey.Type != "nulldata" || d.Vout[0].ScriptPubKey.Asm != "OP_RETURN deadbeef01" {
		t.Errorf("data only: %+v", d.Vout)
	}
	if h, err := e.c.CreateRawTransaction(e.ctx, nil, nil, nil, 7); err != nil || len(decode(t, e, h).Vout) != 0 {
		t.Errorf("no outputs: %v", err)
	}
}

// Every refusal of sendrawtransaction, with bitcoind 0.12's code and message.
func TestSendRawTransactionErrors(t *testing.T) {
	e := rawEnv(t, simnode.Config{}, 500*biblepay.Coin, 400*biblepay.Coin, 300*biblepay.Coin)
	to := addr(e, 9)
	pay := func(sat int64) []rpcclient.Output { return []rpcclient.Output{{Address: to, AmountSat: sat}} }
	coins, err := e.c.ListUnspent(e.ctx, 1, 9999999, nil)
	if err != nil || len(coins) != 4 {
		t.Fatalf("listunspent: %+v, %v", coins, err)
	}
	byValue := func(v int64) rpcclient.OutPoint {
		for _, c := range coins {
			if int64(c.Amount) == v {
				return rpcclient.OutPoint{TxID: c.TxID, Vout: c.Vout}
			}
		}
		t.Fatalf("no coin of %d", v)
		return rpcclient.OutPoint{}
	}
	coinbase := byValue(simnode.DefaultBlockReward) // its transaction has no other output
	funded := byValue(500 * biblepay.Coin)          // its transaction keeps the network's change
	third, fourth := byValue(400*biblepay.Coin), byValue(300*biblepay.Coin)
	fee := int64(10_000)

	// A transaction spending the coinbase, mined; one spending the funded
	// coin, mined; one spending the third coin, in the mempool.
	self := []rpcclient.Output{{Address: e.srv.Node.WalletAddress(), AmountSat: simnode.DefaultBlockReward - fee}}
	minedCB := signOnly(t, e, []rpcclient.OutPoint{coinbase}, self)
	minedFund := signOnly(t, e, []rpcclient.OutPoint{funded}, pay(500*biblepay.Coin-fee))
	// Their conflicts, signed while the inputs were unspent.
	conflictCB := signOnly(t, e, []rpcclient.OutPoint{coinbase}, pay(simnode.DefaultBlockReward-2*fee))
	conflictFund := signOnly(t, e, []rpcclient.OutPoint{funded}, pay(500*biblepay.Coin-2*fee))
	for _, h := range []string{minedCB, minedFund} {
		if _, err := e.c.SendRawTransaction(e.ctx, h, false, false); err != nil {
			t.Fatal(err)
		}
	}
	e.generate(t, 1)
	inMempool := signOnly(t, e, []rpcclient.OutPoint{third}, []rpcclient.Output{{Address: e.srv.Node.WalletAddress(), AmountSat: 400*biblepay.Coin - fee}})
	if _, err := e.c.SendRawTransaction(e.ctx, inMempool, false, false); err != nil {
		t.Fatal(err)
	}
	unsigned, _ := e.c.CreateRawTransaction(e.ctx, []rpcclient.OutPoint{fourth}, pay(300*biblepay.Coin-fee), nil, tipLock(t, e))
	good := signOnly(t, e, []rpcclient.OutPoint{fourth}, pay(300*biblepay.Coin-fee))
	tampered := func() string {
		tx, _ := biblepay.ParseTxHex(good)
		tx.Outputs[0].Value -= 1
		return hex.EncodeToString(tx.Bytes())
	}()
	future, _ := e.c.CreateRawTransaction(e.ctx, []rpcclient.OutPoint{fourth}, pay(300*biblepay.Coin-fee), nil, tipLock(t, e)+10)
	futureSigned, _ := e.c.SignRawTransaction(e.ctx, future, nil, nil, "")
	mempoolSpent := func() string { // spends the mempool transaction's output: fine, a chain of unconfirmed
		return signOnly(t, e, []rpcclient.OutPoint{{TxID: txidOf(t, inMempool), Vout: 0}}, pay(400*biblepay.Coin-2*fee))
	}

	for _, tc := range []struct {
		name string
		hex  string
		high bool
		code int
		msg  string
	}{
		{"not a transaction", "zz", false, rpcclient.CodeDeserialization, "TX decode failed"},
		{"truncated", good[:len(good)-4], false, rpcclient.CodeDeserialization, "TX decode failed"},
		{"input unknown", signOnlyUnknown(t, e, to), false, rpcclient.CodeTransactionError, "Missing inputs"},
		{"conflict after the first confirmed, its transaction spent entirely", conflictCB, false, rpcclient.CodeTransactionError, "Missing inputs"},
		{"conflict after the first confirmed, its transaction has other coins", conflictFund, false, rpcclient.CodeTransactionRejected, "18: bad-txns-inputs-spent"},
		{"confirmed, an output unspent", minedCB, false, rpcclient.CodeTransactionAlreadyInChain, "transaction already in block chain"},
		{"conflict in the mempool", signOnly(t, e, []rpcclient.OutPoint{third}, pay(400*biblepay.Coin-2*fee)), false, rpcclient.CodeTransactionRejected, "18: txn-mempool-conflict"},
		{"unsigned", unsigned, false, rpcclient.CodeTransactionRejected, "16: mandatory-script-verify-flag-failed (Operation not valid with the current stack size)"},
		{"changed after signing", tampered, false, rpcclient.CodeTransactionRejected, "16: mandatory-script-verify-flag-failed (Script evaluated without error but finished with a false/empty top stack element)"},
		{"time-locked", futureSigned.Hex, false, rpcclient.CodeTransactionRejected, "64: non-final"},
		{"dust", signOnly(t, e, []rpcclient.OutPoint{fourth}, []rpcclient.Output{{Address: to, AmountSat: 545}, {Address: addr(e, 3), AmountSat: 300*biblepay.Coin - fee - 545}}), false, rpcclient.CodeTransactionRejected, "64: dust"},
		{"no fee", signOnly(t, e, []rpcclient.OutPoint{fourth}, pay(300*biblepay.Coin)), false, rpcclient.CodeTransactionRejected, "66: insufficient priority"},
		{"above the inputs", signOnly(t, e, []rpcclient.OutPoint{fourth}, pay(300*biblepay.Coin+1)), false, rpcclient.CodeTransactionRejected, "16: bad-txns-in-belowout"},
		{"absurd fee", signOnly(t, e, []rpcclient.OutPoint{fourth}, pay(100*biblepay.Coin)), false, rpcclient.CodeTransactionRejected, "256: absurdly-high-fee"},
		{"two data outputs", twoData(t, e, fourth, to), false, rpcclient.CodeTransactionRejected, "64: multi-op-return"},
		{"a chain of unconfirmed", mempoolSpent(), false, 0, ""},
		{"absurd fee allowed", signOnly(t, e, []rpcclient.OutPoint{fourth}, pay(100*biblepay.Coin)), true, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			txid, err := e.c.SendRawTransaction(e.ctx, tc.hex, tc.high, false)
			if tc.code == 0 {
				if err != nil || txid != txidOf(t, tc.hex) {
					t.Errorf("got %s, %v; want the txid", txid, err)
				}
				return
			}
			if !isRPC(err, tc.code, tc.msg) || rpcclient.ErrorCode(err) != tc.code {
				t.Errorf("got %v, want %d %q", err, tc.code, tc.msg)
			}
		})
	}

	// A confirmed transaction whose outputs are all spent: -25, like a dead
	// one; getrawtransaction no longer finds it, the wallet does.
	spendAll := signOnly(t, e, []rpcclient.OutPoint{{TxID: txidOf(t, minedCB), Vout: 0}}, pay(simnode.DefaultBlockReward-2*fee))
	if _, err := e.c.SendRawTransaction(e.ctx, spendAll, false, false); err != nil {
		t.Fatal(err)
	}
	e.generate(t, 1)
	if _, err := e.c.SendRawTransaction(e.ctx, minedCB, false, false); !isRPC(err, rpcclient.CodeTransactionError, "Missing inputs") {
		t.Errorf("confirmed with every output spent: %v", err)
	}
	if _, err := e.c.GetRawTransaction(e.ctx, txidOf(t, minedCB)); !isRPC(err, rpcclient.CodeInvalidAddressOrKey, "No information available about transaction") {
		t.Errorf("getrawtransaction of a fully spent transaction: %v", err)
	}
	if tx, err := e.c.GetTransaction(e.ctx, txidOf(t, minedCB)); err != nil || tx.Confirmations != 2 {
		t.Errorf("gettransaction: %+v, %v", tx, err)
	}
}

func signOnlyUnknown(t *testing.T, e *env, to string) string {
	t.Helper()
	raw, _ := e.c.CreateRawTransaction(e.ctx, []rpcclient.OutPoint{{TxID: strings.Repeat("12", 32)}}, []rpcclient.Output{{Address: to, AmountSat: biblepay.Coin}}, nil, 1)
	return raw
}

func twoData(t *testing.T, e *env, in rpcclient.OutPoint, to string) string {
	t.Helper()
	raw, _ := e.c.CreateRawTransaction(e.ctx, []rpcclient.OutPoint{in}, []rpcclient.Output{{Address: to, AmountSat: 299 * biblepay.Coin}}, []byte("one"), 1)
	tx, _ := biblepay.ParseTxHex(raw)
	tx.Outputs = append(tx.Outputs, biblepay.TxOut{ScriptPubKey: biblepay.NullDataScript([]byte("two"))})
	s, err := e.c.SignRawTransaction(e.ctx, hex.EncodeToString(tx.Bytes()), nil, nil, "")
	if err != nil || !s.Complete {
		t.Fatalf("sign: %+v %v", s, err)
	}
	return s.Hex
}

func TestSignRawTransaction(t *testing.T) {
	e := rawEnv(t, simnode.Config{}, 50*biblepay.Coin)
	to := addr(e, 4)
	all, _ := e.c.ListUnspent(e.ctx, 1, 9999999, nil)
	var coins []rpcclient.Unspent
	for _, c := range all {
		if int64(c.Amount) == 50*biblepay.Coin {
			coins = append(coins, c)
		}
	}
	coin := rpcclient.OutPoint{TxID: coins[0].TxID, Vout: coins[0].Vout}
	first := signOnly(t, e, []rpcclient.OutPoint{coin}, []rpcclient.Output{{Address: to, AmountSat: int64(coins[0].Amount) - 10_000}})
	if _, err := e.c.SendRawTransaction(e.ctx, first, false, false); err != nil {
		t.Fatal(err)
	}
	// Spent in the mempool only: still signable (the node's view of the
	// chain and the mempool's outputs); spent in the chain: not.
	second, _ := e.c.CreateRawTransaction(e.ctx, []rpcclient.OutPoint{coin}, []rpcclient.Output{{Address: to, AmountSat: 1000 * biblepay.Coin}}, nil, 1)
	if s, err := e.c.SignRawTransaction(e.ctx, second, nil, nil, ""); err != nil || !s.Complete {
		t.Errorf("input spent in the mempool: %+v, %v", s, err)
	}
	e.generate(t, 1)
	s, err := e.c.SignRawTransaction(e.ctx, second, nil, nil, "")
	if err != nil || s.Complete || len(s.Errors) != 1 || s.Hex != second {
		t.Fatalf("input spent in the chain: %+v, %v", s, err)
	}
	if se := s.Errors[0]; se.TxID != coin.TxID || se.Vout != coin.Vout || se.ScriptSig != "" || se.Sequence != 0xfffffffe || se.Error != "Input not found or already spent" {
		t.Errorf("error entry %+v", se)
	}
	var m map[string]any
	if err := e.c.Call(e.ctx, "signrawtransaction", []any{second}, &m); err != nil {
		t.Fatal(err)
	}
	requireKeys(t, "signrawtransaction errors", m["errors"].([]any)[0].(map[string]any), "txid", "vout", "scriptSig", "sequence", "error")

	// A coin of someone else: the wallet has no key.
	fundTx, _ := e.c.GetTransaction(e.ctx, coins[0].TxID)
	other := rpcclient.OutPoint{TxID: fundTx.TxID, Vout: 1 - coins[0].Vout}
	theirs, _ := e.c.CreateRawTransaction(e.ctx, []rpcclient.OutPoint{other}, []rpcclient.Output{{Address: to, AmountSat: biblepay.Coin}}, nil, 1)
	s, _ = e.c.SignRawTransaction(e.ctx, theirs, nil, nil, "")
	if s.Complete || len(s.Errors) != 1 || s.Errors[0].Error != "Operation not valid with the current stack size" {
		t.Errorf("someone else's coin: %+v", s)
	}
	for _, tc := range []struct {
		params []any
		code   int
		msg    string
	}{
		{[]any{"zz"}, rpcclient.CodeDeserialization, "TX decode failed"},
		{[]any{second, nil, nil, "EVERYTHING"}, rpcclient.CodeInvalidParameter, "Invalid sighash param"},
		{[]any{second, nil, []string{"cNotAKey"}}, rpcclient.CodeInvalidAddressOrKey, "Invalid private key"},
		{[]any{second, "x"}, rpcclient.CodeType, "Expected type array, got string"},
	} {
		if err := e.c.Call(e.ctx, "signrawtransaction", tc.params, nil); !isRPC(err, tc.code, tc.msg) {
			t.Errorf("%v: %v, want %d %q", tc.params, err, tc.code, tc.msg)
		}
	}
}

func TestFundRawTransaction(t *testing.T) {
	e := rawEnv(t, simnode.Config{}, 70*biblepay.Coin, 80*biblepay.Coin)
	to := addr(e, 5)
	coins, _ := e.c.ListUnspent(e.ctx, 1, 9999999, nil)
	var small rpcclient.Unspent
	for _, c := range coins {
		if int64(c.Amount) == 70*biblepay.Coin {
			small = c
		}
	}
	// A preset input is kept first; more are added to pay 100 BBP.
	raw, _ := e.c.CreateRawTransaction(e.ctx, []rpcclient.OutPoint{{TxID: small.TxID, Vout: small.Vout}}, []rpcclient.Output{{Address: to, AmountSat: 100 * biblepay.Coin}}, nil, 1)
	f, err := e.c.FundRawTransaction(e.ctx, raw, false)
	if err != nil {
		t.Fatal(err)
	}
	d := decode(t, e, f.Hex)
	if len(d.Vin) < 2 || d.Vin[0].TxID != small.TxID || d.Vin[0].Vout != small.Vout || d.Vin[0].Sequence != 0xfffffffe {
		t.Errorf("preset input: %+v", d.Vin)
	}
	requireKeys(t, "fundrawtransaction", keys(t, e.c, "fundrawtransaction", raw), "hex", "changepos", "fee")
	// Locked coins are left alone, until unlocked.
	var all []rpcclient.OutPoint
	for _, c := range coins {
		all = append(all, rpcclient.OutPoint{TxID: c.TxID, Vout: c.Vout})
	}
	if err := e.c.LockUnspent(e.ctx, false, all[1:]); err != nil {
		t.Fatal(err)
	}
	big, _ := e.c.CreateRawTransaction(e.ctx, nil, []rpcclient.Output{{Address: to, AmountSat: int64(coins[0].Amount)}}, nil, 1)
	if _, err := e.c.FundRawTransaction(e.ctx, big, false); !isRPC(err, rpcclient.CodeInternal, "Insufficient funds") {
		t.Errorf("fund beyond the unlocked coin: %v", err)
	}
	if err := e.c.UnlockAllUnspent(e.ctx); err != nil {
		t.Fatal(err)
	}
	if l, _ := e.c.ListLockUnspent(e.ctx); len(l) != 0 {
		t.Errorf("after unlocking all: %v", l)
	}
	if _, err := e.c.FundRawTransaction(e.ctx, big, false); err != nil {
		t.Errorf("fund after unlocking: %v", err)
	}
	for _, tc := range []struct {
		params []any
		code   int
		msg    string
	}{
		{[]any{"zz"}, rpcclient.CodeDeserialization, "TX decode failed"},
		{[]any{"01000000000000000000"}, rpcclient.CodeInvalidParameter, "TX must have at least one output"},
		{[]any{raw, "yes"}, rpcclient.CodeType, "Expected type bool, got string"},
	} {
		if err := e.c.Call(e.ctx, "fundrawtransaction", tc.params, nil); !isRPC(err, tc.code, tc.msg) {
			t.Errorf("%v: %v, want %d %q", tc.params, err, tc.code, tc.msg)
		}
	}
	for _, tc := range []struct {
		params []any
		code   int
		msg    string
	}{
		{[]any{"yes"}, rpcclient.CodeType, "Expected type bool, got string"},
		{[]any{false, []any{"x"}}, rpcclient.CodeInvalidParameter, "Invalid parameter, expected object"},
		{[]any{false, []any{map[string]any{"vout": 1}}}, rpcclient.CodeType, "Missing txid"},
		{[]any{false, []any{map[string]any{"txid": "zz", "vout": 1}}}, rpcclient.CodeInvalidParameter, "Invalid parameter, expected hex txid"},
		{[]any{false, []any{map[string]any{"txid": "ab", "vout": -1}}}, rpcclient.CodeInvalidParameter, "Invalid parameter, vout must be positive"},
	} {
		if err := e.c.Call(e.ctx, "lockunspent", tc.params, nil); !isRPC(err, tc.code, tc.msg) {
			t.Errorf("lockunspent %v: %v, want %d %q", tc.params, err, tc.code, tc.msg)
		}
	}
}

func TestListUnspentAndGetTxOut(t *testing.T) {
	e := rawEnv(t, simnode.Config{}, 60*biblepay.Coin)
	u, err := e.c.ListUnspent(e.ctx, 1, 9999999, nil)
	if err != nil || len(u) != 2 {
		t.Fatalf("listunspent %+v, %v", u, err)
	}
	var m []map[string]any
	if err := e.c.Call(e.ctx, "listunspent", nil, &m); err != nil {
		t.Fatal(err)
	}
	requireKeys(t, "listunspent", m[0], "txid", "vout", "address", "account", "scriptPubKey", "amount", "confirmations", "spendable")
	if l, _ := e.c.ListUnspent(e.ctx, 1, 1, nil); len(l) != 1 || int64(l[0].Amount) != 60*biblepay.Coin || l[0].Confirmations != 1 {
		t.Errorf("maxconf 1: %+v", l)
	}
	if l, _ := e.c.ListUnspent(e.ctx, 1, 9999999, []string{addr(e, 1)}); len(l) != 0 {
		t.Errorf("filtered by another address: %+v", l)
	}
	if l, _ := e.c.ListUnspent(e.ctx, 1, 9999999, []string{e.srv.Node.WalletAddress()}); len(l) != 2 {
		t.Errorf("filtered by the wallet's address: %+v", l)
	}
	if _, err := e.c.ListUnspent(e.ctx, 1, 9, []string{"yBad"}); !isRPC(err, rpcclient.CodeInvalidAddressOrKey, "Invalid Biblepay address: yBad") {
		t.Errorf("bad address: %v", err)
	}
	o, err := e.c.GetTxOut(e.ctx, u[0].TxID, u[0].Vout, true)
	if err != nil || o == nil || o.Value != u[0].Amount || o.Confirmations != u[0].Confirmations || o.ScriptPubKey.Hex != u[0].ScriptPubKey || o.ScriptPubKey.Type != "pubkeyhash" {
		t.Fatalf("gettxout %+v, %v", o, err)
	}
	requireKeys(t, "gettxout", keys(t, e.c, "gettxout", u[0].TxID, u[0].Vout), "bestblock", "confirmations", "value", "scriptPubKey", "version", "coinbase")
	if o, err := e.c.GetTxOut(e.ctx, strings.Repeat("00", 32), 0, true); err != nil || o != nil {
		t.Errorf("unknown output: %+v, %v", o, err)
	}
	if o, _ := e.c.GetTxOut(e.ctx, u[0].TxID, 7, true); o != nil {
		t.Errorf("index beyond the outputs: %+v", o)
	}
	// A data output is never a coin.
	h, _ := signed(t, e, nil, []rpcclient.Output{{Address: addr(e, 1), AmountSat: biblepay.Coin}}, []byte("marker-marker"))
	txid, err := e.c.SendRawTransaction(e.ctx, h, false, false)
	if err != nil {
		t.Fatal(err)
	}
	e.generate(t, 1)
	d := decode(t, e, h)
	for _, v := range d.Vout {
		o, _ := e.c.GetTxOut(e.ctx, txid, uint32(v.N), true)
		if _, isData := v.Data(); isData == (o != nil) {
			t.Errorf("vout %d (%s): gettxout %+v", v.N, v.ScriptPubKey.Type, o)
		}
	}
}

// Failure modes of a broadcast: no answer, a slow node, a restart.
func TestBroadcastFailureModes(t *testing.T) {
	e := rawEnv(t, simnode.Config{}, 90*biblepay.Coin, 80*biblepay.Coin, 70*biblepay.Coin)
	to := addr(e, 6)
	pay := []rpcclient.Output{{Address: to, AmountSat: 10 * biblepay.Coin}}
	inMempool := func(txid string) bool {
		_, err := e.c.GetRawTransaction(e.ctx, txid)
		return err == nil
	}

	t.Run("accepted, never answered", func(t *testing.T) {
		h, _ := signed(t, e, nil, pay, nil)
		e.srv.Node.SendThenTimeout()
		ctx, cancel := context.WithTimeout(e.ctx, 300*time.Millisecond)
		defer cancel()
		if _, err := e.c.SendRawTransaction(ctx, h, false, false); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v", err)
		}
		if !inMempool(txidOf(t, h)) {
			t.Fatal("not in the mempool")
		}
		if id, err := e.c.SendRawTransaction(e.ctx, h, false, false); err != nil || id != txidOf(t, h) {
			t.Errorf("broadcast again: %s, %v", id, err)
		}
	})
	t.Run("delayed", func(t *testing.T) {
		h, _ := signed(t, e, nil, pay, nil)
		if err := e.c.Call(e.ctx, "sim_delaynextsend", []any{0.4}, nil); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		done := make(chan error, 1)
		go func() { _, err := e.c.SendRawTransaction(e.ctx, h, false, false); done <- err }()
		time.Sleep(100 * time.Millisecond)
		if inMempool(txidOf(t, h)) {
			t.Error("in the mempool before the delay ran out")
		}
		if err := <-done; err != nil || time.Since(start) < 400*time.Millisecond {
			t.Fatalf("delayed broadcast: %v after %s", err, time.Since(start))
		}
		if !inMempool(txidOf(t, h)) {
			t.Error("not in the mempool after the delay")
		}
	})
	t.Run("delayed past the caller's timeout", func(t *testing.T) {
		h, _ := signed(t, e, nil, pay, nil)
		e.srv.Node.DelayNextSend(400 * time.Millisecond)
		ctx, cancel := context.WithTimeout(e.ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := e.c.SendRawTransaction(ctx, h, false, false); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v", err)
		}
		if inMempool(txidOf(t, h)) {
			t.Fatal("in the mempool early")
		}
		time.Sleep(500 * time.Millisecond)
		if !inMempool(txidOf(t, h)) {
			t.Error("the node dropped the broadcast when the caller gave up")
		}
	})
	t.Run("delayed, then the node restarts", func(t *testing.T) {
		h, _ := signed(t, e, nil, pay, nil)
		e.srv.Node.DelayNextSend(2 * time.Second)
		done := make(chan error, 1)
		go func() { _, err := e.c.SendRawTransaction(e.ctx, h, false, false); done <- err }()
		time.Sleep(100 * time.Millisecond)
		if err := e.c.Call(e.ctx, "sim_restart", nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err == nil || rpcclient.ErrorCode(err) != 0 {
			t.Fatalf("a broadcast lost in a restart: %v, want a transport error", err)
		}
		if inMempool(txidOf(t, h)) {
			t.Error("the lost broadcast reached the mempool")
		}
		if id, err := e.c.SendRawTransaction(e.ctx, h, false, false); err != nil || id != txidOf(t, h) {
			t.Errorf("broadcast again: %s, %v", id, err)
		}
	})
	t.Run("failed without sending", func(t *testing.T) {
		h, _ := signed(t, e, nil, pay, nil)
		e.srv.Node.FailNextSend(rpcclient.CodeTransactionRejected, "66: insufficient priority")
		if _, err := e.c.SendRawTransaction(e.ctx, h, false, false); !isRPC(err, rpcclient.CodeTransactionRejected, "66: insufficient priority") {
			t.Fatalf("got %v", err)
		}
		if inMempool(txidOf(t, h)) {
			t.Error("sent")
		}
	})
}

// A restart loses the mempool and the locks. With rebroadcast (bitcoind)
// the wallet's own transactions come back at once; without, they stay out
// until broadcast again, and their inputs stay spent for the wallet.
func TestRestartLosesMempoolAndLocks(t *testing.T) {
	for _, rebroadcast := range []bool{true, false} {
		name := map[bool]string{true: "rebroadcast", false: "norebroadcast"}[rebroadcast]
		t.Run(name, func(t *testing.T) {
			e := rawEnv(t, simnode.Config{}, 90*biblepay.Coin)
			h, f := signed(t, e, nil, []rpcclient.Output{{Address: addr(e, 7), AmountSat: 10 * biblepay.Coin}}, []byte("m"))
			inputs := decode(t, e, h).Inputs()
			if err := e.c.LockUnspent(e.ctx, false, inputs); err != nil {
				t.Fatal(err)
			}
			txid, err := e.c.SendRawTransaction(e.ctx, h, false, false)
			if err != nil {
				t.Fatal(err)
			}
			bal := balance(t, e)
			if err := e.c.Call(e.ctx, "sim_restart", []any{name}, nil); err != nil {
				t.Fatal(err)
			}
			if l, _ := e.c.ListLockUnspent(e.ctx); len(l) != 0 {
				t.Errorf("locks survived the restart: %v", l)
			}
			_, err = e.c.GetRawTransaction(e.ctx, txid)
			if rebroadcast != (err == nil) {
				t.Errorf("in the mempool after the restart: %v", err)
			}
			wt, err := e.c.GetTransaction(e.ctx, txid)
			if err != nil || wt.Confirmations != 0 || len(wt.WalletConflicts) != 0 {
				t.Errorf("wallet after the restart: %+v, %v", wt, err)
			}
			if !rebroadcast {
				// Its inputs stay spent for the wallet, its change not yet trusted.
				change := decode(t, e, h).Vout[f.ChangePos].Value
				if got := balance(t, e); got != bal-int64(change) {
					t.Errorf("balance %d, want %d", got, bal-int64(change))
				}
				u, _ := e.c.ListUnspent(e.ctx, 0, 9999999, nil)
				for _, c := range u {
					if slices.Contains(inputs, rpcclient.OutPoint{TxID: c.TxID, Vout: c.Vout}) {
						t.Errorf("listunspent offers an input of the unbroadcast send: %+v", c)
					}
				}
				if id, err := e.c.SendRawTransaction(e.ctx, h, false, false); err != nil || id != txid {
					t.Fatalf("broadcast again: %s, %v", id, err)
				}
			}
			if got := balance(t, e); got != bal {
				t.Errorf("balance %d, want %d", got, bal)
			}
			e.generate(t, 1)
			if wt, _ := e.c.GetTransaction(e.ctx, txid); wt.Confirmations != 1 {
				t.Errorf("not mined: %+v", wt)
			}
		})
	}

	// A process restart (a new node on the same state file) forgets the
	// locks too, and reaccepts the wallet's unconfirmed transactions.
	file := filepath.Join(t.TempDir(), "simnode.json")
	e := start(t, simnode.Config{StateFile: file, Seed: 3})
	matured(t, e)
	h, _ := signed(t, e, nil, []rpcclient.Output{{Address: addr(e, 8), AmountSat: biblepay.Coin}}, nil)
	if err := e.c.LockUnspent(e.ctx, false, decode(t, e, h).Inputs()); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Node.Restart(false); err != nil { // the send is out of the mempool
		t.Fatal(err)
	}
	txid, err := e.c.SendRawTransaction(e.ctx, h, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Node.Restart(false); err != nil {
		t.Fatal(err)
	}
	e.srv.Close()
	e2 := start(t, simnode.Config{StateFile: file, Seed: 3})
	if l, _ := e2.c.ListLockUnspent(e2.ctx); len(l) != 0 {
		t.Errorf("locks after a new process: %v", l)
	}
	if _, err := e2.c.GetRawTransaction(e2.ctx, txid); err != nil {
		t.Errorf("the wallet's send was not reaccepted at startup: %v", err)
	}
}

// A wallet send (sendmany) is signed like a raw one: after a restart
// without rebroadcast, its hex from gettransaction goes back in as is.
func TestSendManyHexRebroadcasts(t *testing.T) {
	e := rawEnv(t, simnode.Config{})
	txid, err := e.c.SendMany(e.ctx, map[string]int64{addr(e, 1): 5 * biblepay.Coin, addr(e, 2): 7 * biblepay.Coin}, 1, "payout 7", nil)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := e.c.GetTransaction(e.ctx, txid)
	if err := e.srv.Node.Restart(false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.GetRawTransaction(e.ctx, txid); !isRPC(err, rpcclient.CodeInvalidAddressOrKey, "") {
		t.Fatalf("still in the mempool: %v", err)
	}
	if after, _ := e.c.GetTransaction(e.ctx, txid); after.Confirmations != 0 || after.Comment != "payout 7" {
		t.Errorf("wallet after the restart: %+v", after)
	}
	if id, err := e.c.SendRawTransaction(e.ctx, wt.Hex, false, false); err != nil || id != txid {
		t.Fatalf("rebroadcast of the sendmany hex: %s, %v", id, err)
	}
	e.generate(t, 1)
	if _, err := e.c.SendRawTransaction(e.ctx, wt.Hex, false, false); rpcclient.ErrorCode(err) != rpcclient.CodeTransactionAlreadyInChain {
		t.Errorf("mined: %v", err)
	}
	if after, _ := e.c.GetTransaction(e.ctx, txid); after.Confirmations != 1 || after.Comment != "payout 7" {
		t.Errorf("wallet after mining: %+v", after)
	}
}
