package simnode

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/purepool/purepool/biblepay"
)

// Raw transactions, coin locks and the UTXO queries (spec §3), as Dash
// 0.12.1 / Bitcoin 0.12 (BiblePay's generation) answer them.

// More error codes of rpcprotocol.h.
const (
	CodeTransactionError          = -25 // "Missing inputs"
	CodeTransactionRejected       = -26 // "<reject code>: <reason>"
	CodeTransactionAlreadyInChain = -27 // "transaction already in block chain"
	CodeInternal                  = -32603
)

// Reject codes of a -26 message (main.h REJECT_*).
const (
	rejectInvalid         = 0x10
	rejectNonstandard     = 0x40
	rejectDuplicate       = 0x12 // also REJECT_CONFLICT
	rejectInsufficientFee = 0x42
	rejectHighFee         = 0x100
)

// MinRelayFeePerKB is the relay minimum (-minrelaytxfee, 1000 satoshis per
// 1000 bytes as in Dash 0.12); a fee above 10,000 times it is "absurdly
// high" unless sendrawtransaction allows high fees.
const MinRelayFeePerKB int64 = 1_000

// maxDataCarrierBytes bounds a standard OP_RETURN script (nMaxDatacarrierBytes).
const maxDataCarrierBytes = 83

// DefaultBroadcastDelay is how long DelayNextSend holds a send by default.
const DefaultBroadcastDelay = 30 * time.Second

func rejected(code int, reason string) *rpcError {
	return &rpcError{CodeTransactionRejected, fmt.Sprintf("%d: %s", code, reason)}
}

func relayFee(size int) int64 { return int64(size) * MinRelayFeePerKB / 1000 }

// jsonType is univalue's type name of a JSON value.
func jsonType(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "null"
	}
	switch t[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// typeCheck is RPCTypeCheck with fAllowNull: each present, non-null
// parameter must have its type.
func (c *call) typeCheck(types ...string) error {
	for i, want := range types {
		if i >= len(c.params) {
			break
		}
		if got := jsonType(c.params[i]); got != "null" && got != want {
			return &rpcError{CodeType, fmt.Sprintf("Expected type %s, got %s", want, got)}
		}
	}
	return nil
}

func isHex(s string) bool {
	if s == "" || len(s)%2 != 0 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// parseHashV is ParseHashV: hex, right-aligned into a uint256.
func parseHashV(s, name string) ([32]byte, error) {
	if !isHex(s) {
		return [32]byte{}, &rpcError{CodeInvalidParameter, name + " must be hexadecimal string (not '" + s + "')"}
	}
	return uint256S(s), nil
}

// objectFields reads a JSON object's members in order, duplicates kept
// (univalue keeps them; a lookup by key finds the first).
func objectFields(raw json.RawMessage) (keys []string, vals []json.RawMessage, err error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, &rpcError{CodeMisc, "JSON value is not an object as expected"}
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, &rpcError{CodeParse, "Parse error"}
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, &rpcError{CodeParse, "Parse error"}
		}
		keys = append(keys, k)
		vals = append(vals, v)
	}
	return keys, vals, nil
}

func firstValue(keys []string, vals []json.RawMessage, key string) json.RawMessage {
	for i, k := range keys {
		if k == key {
			return vals[i]
		}
	}
	return nil
}

// outPointParam reads {"txid": hex, "vout": n} as createrawtransaction and
// lockunspent do.
func outPointParam(raw json.RawMessage, strictTypes bool) (biblepay.OutPoint, error) {
	if jsonType(raw) != "object" {
		if strictTypes {
			return biblepay.OutPoint{}, &rpcError{CodeInvalidParameter, "Invalid parameter, expected object"}
		}
		return biblepay.OutPoint{}, &rpcError{CodeMisc, "JSON value is not an object as expected"}
	}
	var o map[string]json.RawMessage
	_ = json.Unmarshal(raw, &o)
	if strictTypes { // RPCTypeCheckObj(o, {txid: str, vout: num})
		for _, f := range [][2]string{{"txid", "string"}, {"vout", "number"}} {
			v, ok := o[f[0]]
			if !ok || jsonType(v) == "null" {
				return biblepay.OutPoint{}, &rpcError{CodeType, "Missing " + f[0]}
			}
			if got := jsonType(v); got != f[1] {
				return biblepay.OutPoint{}, &rpcError{CodeType, fmt.Sprintf("Expected type %s for %s, got %s", f[1], f[0], got)}
			}
		}
	}
	var txid string
	if json.Unmarshal(o["txid"], &txid) != nil {
		return biblepay.OutPoint{}, &rpcError{CodeInvalidParameter, "txid must be hexadecimal string (not '')"}
	}
	if !isHex(txid) {
		msg := "txid must be hexadecimal string (not '" + txid + "')"
		if strictTypes {
			msg = "Invalid parameter, expected hex txid"
		}
		return biblepay.OutPoint{}, &rpcError{CodeInvalidParameter, msg}
	}
	v, ok := o["vout"]
	if !ok || jsonType(v) != "number" {
		return biblepay.OutPoint{}, &rpcError{CodeInvalidParameter, "Invalid parameter, missing vout key"}
	}
	var vout int64
	if json.Unmarshal(v, &vout) != nil || vout > math.MaxInt32 {
		return biblepay.OutPoint{}, &rpcError{CodeMisc, "JSON integer out of range"}
	}
	if vout < 0 {
		return biblepay.OutPoint{}, &rpcError{CodeInvalidParameter, "Invalid parameter, vout must be positive"}
	}
	return biblepay.OutPoint{Hash: uint256S(txid), Index: uint32(vout)}, nil
}

func rpcCreateRawTransaction(c *call) (any, error) {
	if err := c.count(2, 3, `[{"txid":"id","vout":n},...] {"address":amount,"data":"hex",...} ( locktime )`); err != nil {
		return nil, err
	}
	if err := c.typeCheck("array", "object", "number"); err != nil {
		return nil, err
	}
	var inputs []json.RawMessage
	if json.Unmarshal(c.params[0], &inputs) != nil || jsonType(c.params[0]) != "array" {
		return nil, &rpcError{CodeMisc, "JSON value is not an array as expected"}
	}
	keys, vals, err := objectFields(c.params[1])
	if err != nil {
		return nil, err
	}
	tx := biblepay.Tx{Version: 1}
	explicit := int64(0)
	if c.has(2) {
		if explicit, err = c.integer(2); err != nil {
			return nil, err
		}
		if explicit < 0 || explicit > math.MaxUint32 {
			return nil, &rpcError{CodeInvalidParameter, "Invalid parameter, locktime out of range"}
		}
	}
	tx.LockTime = uint32(explicit)
	if tx.LockTime == 0 {
		// BiblePay's quirk: no locktime means the node's adjusted time,
		// and (as with any locktime) the inputs get sequence 0xfffffffe,
		// so the transaction is final only once the median time past
		// passes it. A height (e.g. the tip's) is final at once.
		tx.LockTime = uint32(c.n.now())
	}
	seq := uint32(0xffffffff)
	if tx.LockTime != 0 {
		seq = 0xfffffffe
	}
	for _, raw := range inputs {
		op, err := outPointParam(raw, false)
		if err != nil {
			return nil, err
		}
		tx.Inputs = append(tx.Inputs, biblepay.TxIn{PrevOut: op, Sequence: seq})
	}
	seen := map[string]bool{}
	for i, k := range keys {
		if k == "data" {
			v := firstValue(keys, vals, "data")
			var s string
			if json.Unmarshal(v, &s) != nil {
				s = strings.TrimSpace(string(v))
			}
			if !isHex(s) {
				return nil, &rpcError{CodeInvalidParameter, "Data must be hexadecimal string (not '" + s + "')"}
			}
			data, _ := hex.DecodeString(s)
			tx.Outputs = append(tx.Outputs, biblepay.TxOut{Value: 0, ScriptPubKey: biblepay.NullDataScript(data)})
			continue
		}
		script, err := c.n.cfg.Network.ScriptForAddress(k)
		if err != nil {
			return nil, &rpcError{CodeInvalidAddress, "Invalid Biblepay address: " + k}
		}
		if seen[k] {
			return nil, &rpcError{CodeInvalidParameter, "Invalid parameter, duplicated address: " + k}
		}
		seen[k] = true
		v, err := parseAmount(vals[i])
		if err != nil {
			return nil, err
		}
		tx.Outputs = append(tx.Outputs, biblepay.TxOut{Value: v, ScriptPubKey: script})
	}
	return hex.EncodeToString(tx.Bytes()), nil
}

// unlockedCoins are the wallet's spendable coins a send or
// fundrawtransaction may choose: locked ones are left alone.
func (n *Node) unlockedCoins(minConf int64) []spendableCoin {
	coins, _ := n.walletCoins(minConf)
	kept := coins[:0]
	for _, c := range coins {
		if !n.locks[c.op] {
			kept = append(kept, c)
		}
	}
	return kept
}

func rpcFundRawTransaction(c *call) (any, error) {
	if err := c.count(1, 2, `"hexstring" includeWatching`); err != nil {
		return nil, err
	}
	if err := c.typeCheck("string", "bool"); err != nil {
		return nil, err
	}
	s, err := c.str(0)
	if err != nil {
		return nil, err
	}
	if _, err := c.optBool(1, false); err != nil {
		return nil, err
	}
	tx, err := decodeTx(s)
	if err != nil {
		return nil, err
	}
	if len(tx.Outputs) == 0 {
		return nil, &rpcError{CodeInvalidParameter, "TX must have at least one output"}
	}
	n := c.n
	n.mu.Lock()
	defer n.mu.Unlock()
	funded, changePos, fee, err := n.fund(tx)
	if err != nil {
		return nil, err
	}
	return map[string]any{"hex": hex.EncodeToString(funded.Bytes()), "changepos": changePos, "fee": amount(fee)}, nil
}

// fund is CWallet::FundTransaction: the transaction's inputs are kept
// (they must be the wallet's), unlocked wallet coins are added (unsigned,
// sequence 0xfffffffe) until they pay the outputs and the fee, and one
// change output goes in at a pseudo-random position. The outputs are not
// reduced.
func (n *Node) fund(tx biblepay.Tx) (biblepay.Tx, int, int64, error) {
	fail := func(msg string) (biblepay.Tx, int, int64, error) {
		return biblepay.Tx{}, -1, 0, &rpcError{CodeInternal, msg}
	}
	var out int64
	for _, o := range tx.Outputs {
		if o.Value < 0 {
			return fail("Transaction amounts must be positive")
		}
		if !biblepay.IsUnspendable(o.ScriptPubKey) && o.Value < Dust {
			return fail("Transaction amount too small")
		}
		out += o.Value
	}
	if len(tx.Outputs) == 0 || out > maxMoney {
		return fail("Transaction amounts must be positive")
	}
	var preset int64
	presetOps := map[biblepay.OutPoint]bool{}
	for _, in := range tx.Inputs {
		src, ok := n.wallet.txs[biblepay.HashString(in.PrevOut.Hash)]
		if !ok || int(in.PrevOut.Index) >= len(src.Tx.Outputs) {
			return fail("Insufficient funds") // TODO in bitcoind too: "Allow non-wallet inputs"
		}
		preset += src.Tx.Outputs[in.PrevOut.Index].Value
		presetOps[in.PrevOut] = true
	}
	var coins []spendableCoin
	for _, c := range n.unlockedCoins(1) {
		if !presetOps[c.op] {
			coins = append(coins, c)
		}
	}
	changeScript, _ := n.cfg.Network.ScriptForAddress(n.wallet.changeAddr)
	fee := MinFee
	for k := 0; k <= len(coins); k++ {
		in := preset
		for _, c := range coins[:k] {
			in += c.value
		}
		for range 20 {
			if in < out+fee {
				break // more coins
			}
			t := biblepay.Tx{Version: tx.Version, LockTime: tx.LockTime, Outputs: append([]biblepay.TxOut{}, tx.Outputs...)}
			t.Inputs = append(t.Inputs, tx.Inputs...)
			for _, c := range coins[:k] {
				t.Inputs = append(t.Inputs, biblepay.TxIn{PrevOut: c.op, Sequence: 0xfffffffe})
			}
			changePos := -1
			if change := in - out - fee; change >= Dust {
				// CreateTransaction puts the change at GetRandInt(n+1);
				// here a position drawn from the transaction, so that a
				// caller must read changepos, yet runs repeat.
				h := biblepay.DoubleSHA256(t.Bytes())
				changePos = int(h[0]) % (len(t.Outputs) + 1)
				t.Outputs = append(t.Outputs[:changePos], append([]biblepay.TxOut{{Value: change, ScriptPubKey: changeScript}}, t.Outputs[changePos:]...)...)
			}
			// The fee is for the signed size.
			signed := t
			signed.Inputs = append([]biblepay.TxIn{}, t.Inputs...)
			for i := range signed.Inputs {
				if len(signed.Inputs[i].ScriptSig) == 0 {
					signed.Inputs[i].ScriptSig = make([]byte, 106)
				}
			}
			req := max(MinFee, (int64(len(signed.Bytes()))*n.cfg.FeePerKB+999)/1000)
			if req > fee {
				fee = req
				continue
			}
			var outs int64
			for _, o := range t.Outputs {
				outs += o.Value
			}
			return t, changePos, in - outs, nil
		}
	}
	return fail("Insufficient funds")
}

// signView is what signrawtransaction sees: the chain's coins and the
// outputs of mempool transactions, without removing what the mempool
// spends (CCoinsViewMemPool).
func (n *Node) signView() map[biblepay.OutPoint]coin {
	view := make(map[biblepay.OutPoint]coin, len(n.utxo))
	for k, v := range n.utxo {
		view[k] = v
	}
	for _, m := range n.mempool {
		h := m.tx.Hash()
		for i, o := range m.tx.Outputs {
			if !biblepay.IsUnspendable(o.ScriptPubKey) {
				view[biblepay.OutPoint{Hash: h, Index: uint32(i)}] = coin{Out: o, Height: -1}
			}
		}
	}
	return view
}

func rpcSignRawTransaction(c *call) (any, error) {
	if err := c.count(1, 4, `"hexstring" ( [{"txid":"id","vout":n,"scriptPubKey":"hex","redeemScript":"hex"},...] ["privatekey1",...] sighashtype )`); err != nil {
		return nil, err
	}
	if err := c.typeCheck("string", "array", "array", "string"); err != nil {
		return nil, err
	}
	tx, err := c.txHex(0)
	if err != nil {
		return nil, err
	}
	n := c.n
	n.mu.Lock()
	defer n.mu.Unlock()
	view := n.signView()
	if c.has(1) {
		var prevs []json.RawMessage
		_ = json.Unmarshal(c.params[1], &prevs)
		for _, p := range prevs {
			if jsonType(p) != "object" {
				return nil, &rpcError{CodeDeserialization, "expected object with {\"txid'\",\"vout\",\"scriptPubKey\"}"}
			}
			var o map[string]json.RawMessage
			_ = json.Unmarshal(p, &o)
			for _, f := range [][2]string{{"txid", "string"}, {"vout", "number"}, {"scriptPubKey", "string"}} {
				if got := jsonType(o[f[0]]); got != f[1] {
					if _, ok := o[f[0]]; !ok {
						return nil, &rpcError{CodeType, "Missing " + f[0]}
					}
					return nil, &rpcError{CodeType, fmt.Sprintf("Expected type %s for %s, got %s", f[1], f[0], got)}
				}
			}
			var txid, spk string
			var vout int64
			_ = json.Unmarshal(o["txid"], &txid)
			_ = json.Unmarshal(o["scriptPubKey"], &spk)
			_ = json.Unmarshal(o["vout"], &vout)
			h, err := parseHashV(txid, "txid")
			if err != nil {
				return nil, err
			}
			if vout < 0 {
				return nil, &rpcError{CodeDeserialization, "vout must be positive"}
			}
			if !isHex(spk) {
				return nil, &rpcError{CodeInvalidParameter, "scriptPubKey must be hexadecimal string (not '" + spk + "')"}
			}
			script, _ := hex.DecodeString(spk)
			op := biblepay.OutPoint{Hash: h, Index: uint32(vout)}
			if have, ok := view[op]; ok && !bytes.Equal(have.Out.ScriptPubKey, script) {
				return nil, &rpcError{CodeDeserialization, "Previous output scriptPubKey mismatch:\n" +
					n.scriptPubKeyJSON(have.Out.ScriptPubKey)["asm"].(string) + "\nvs:\n" + n.scriptPubKeyJSON(script)["asm"].(string)}
			}
			if _, ok := view[op]; !ok {
				view[op] = coin{Out: biblepay.TxOut{ScriptPubKey: script}, Height: -1}
			}
		}
	}
	useWallet := true
	if c.has(2) {
		var keys []json.RawMessage
		_ = json.Unmarshal(c.params[2], &keys)
		useWallet = false
		for range keys {
			// The simulated wallet's keys are not real keys: none can be
			// given in WIF. (bitcoind: -5 for a key it cannot decode.)
			return nil, &rpcError{CodeInvalidAddress, "Invalid private key"}
		}
	}
	hashType := sigHashAll
	if c.has(3) {
		name, err := c.str(3)
		if err != nil {
			return nil, err
		}
		t, ok := sigHashNames[name]
		if !ok {
			return nil, &rpcError{CodeInvalidParameter, "Invalid sighash param"}
		}
		hashType = t
	}
	errs := []map[string]any{}
	for i, in := range tx.Inputs {
		cn, ok := view[in.PrevOut]
		if !ok {
			errs = append(errs, inputError(in, "Input not found or already spent"))
			continue
		}
		if useWallet && (hashType&0x1f != sigHashSingle || i < len(tx.Outputs)) {
			if a, ok := n.cfg.Network.AddressFromScript(cn.Out.ScriptPubKey); ok && n.wallet.keys[a] {
				tx.Inputs[i].ScriptSig = simSign(tx, i, cn.Out.ScriptPubKey, hashType)
			}
		}
		if e := verifyInput(tx, i, cn.Out.ScriptPubKey); e != "" {
			errs = append(errs, inputError(tx.Inputs[i], e))
		}
	}
	res := map[string]any{"hex": hex.EncodeToString(tx.Bytes()), "complete": len(errs) == 0}
	if len(errs) > 0 {
		res["errors"] = errs
	}
	return res, nil
}

func inputError(in biblepay.TxIn, msg string) map[string]any {
	return map[string]any{"txid": biblepay.HashString(in.PrevOut.Hash), "vout": in.PrevOut.Index,
		"scriptSig": hex.EncodeToString(in.ScriptSig), "sequence": in.Sequence, "error": msg}
}

func rpcSendRawTransaction(c *call) (any, error) {
	if err := c.count(1, 3, `"hexstring" ( allowhighfees instantsend )`); err != nil {
		return nil, err
	}
	if err := c.typeCheck("string", "bool", "bool"); err != nil {
		return nil, err
	}
	tx, err := c.txHex(0)
	if err != nil {
		return nil, err
	}
	allowHigh, err := c.optBool(1, false)
	if err != nil {
		return nil, err
	}
	if _, err := c.optBool(2, false); err != nil {
		return nil, err
	}
	return c.sending(func() (string, error) { return c.n.broadcast(tx, allowHigh) })
}

// broadcast is sendrawtransaction under the node's lock.
func (n *Node) broadcast(tx biblepay.Tx, allowHighFees bool) (string, error) {
	txid := tx.TxID()
	if n.inMempool(txid) {
		return txid, nil
	}
	h := tx.Hash()
	for i := range tx.Outputs {
		if _, ok := n.utxo[biblepay.OutPoint{Hash: h, Index: uint32(i)}]; ok {
			return "", &rpcError{CodeTransactionAlreadyInChain, "transaction already in block chain"}
		}
	}
	if err := n.policyCheck(tx, allowHighFees); err != nil {
		return "", err
	}
	if !n.acceptToMempool(tx) {
		return "", &rpcError{CodeTransactionError, "Missing inputs"}
	}
	n.noticeOwnTx(tx, txid)
	return txid, nil
}

// noticeOwnTx records a transaction that entered the mempool in the wallet
// if it spends or pays the wallet (SyncTransaction → AddToWalletIfInvolvingMe).
// A raw transaction has no comment.
func (n *Node) noticeOwnTx(tx biblepay.Tx, txid string) {
	delete(n.unbroadcast, txid)
	if _, ok := n.wallet.txs[txid]; ok {
		return
	}
	fromMe := n.walletDebit(tx) > 0
	if fromMe || n.wallet.paysMe(tx) {
		n.wallet.add(&walletTx{TxID: txid, Tx: tx, TimeReceived: n.now(), FromMe: fromMe})
	}
}

// walletDebit is what a transaction spends of the wallet's coins.
func (n *Node) walletDebit(tx biblepay.Tx) int64 {
	var d int64
	for _, in := range tx.Inputs {
		src, ok := n.wallet.txs[biblepay.HashString(in.PrevOut.Hash)]
		if !ok || int(in.PrevOut.Index) >= len(src.Tx.Outputs) {
			continue
		}
		if _, mine := n.wallet.addressOf(src.Tx.Outputs[in.PrevOut.Index].ScriptPubKey); mine {
			d += src.Tx.Outputs[in.PrevOut.Index].Value
		}
	}
	return d
}

// isFinal is IsFinalTx at the next block's height and, for a time lock,
// the tip's median time past (BIP113, standard since 0.12).
func (n *Node) isFinal(tx biblepay.Tx) bool {
	if tx.LockTime == 0 {
		return true
	}
	limit := n.tip().height + 1
	if tx.LockTime >= 500_000_000 {
		limit = n.medianTimePast(n.tip().height)
	}
	if int64(tx.LockTime) < limit {
		return true
	}
	for _, in := range tx.Inputs {
		if in.Sequence != 0xffffffff {
			return false
		}
	}
	return true
}

// policyCheck is AcceptToMemoryPool's checks in its order, with bitcoind's
// reject reasons: CheckTransaction, IsStandardTx, finality, mempool
// conflicts, missing inputs (-25), spent inputs, coinbase maturity and
// amounts, the relay fee, the absurd fee, the signatures.
func (n *Node) policyCheck(tx biblepay.Tx, allowHighFees bool) error {
	switch {
	case len(tx.Inputs) == 0:
		return rejected(rejectInvalid, "bad-txns-vin-empty")
	case len(tx.Outputs) == 0:
		return rejected(rejectInvalid, "bad-txns-vout-empty")
	}
	var out int64
	for _, o := range tx.Outputs {
		if o.Value < 0 {
			return rejected(rejectInvalid, "bad-txns-vout-negative")
		}
		if o.Value > maxMoney {
			return rejected(rejectInvalid, "bad-txns-vout-toolarge")
		}
		out += o.Value
		if out > maxMoney {
			return rejected(rejectInvalid, "bad-txns-txouttotal-toolarge")
		}
	}
	seenIn := map[biblepay.OutPoint]bool{}
	for _, in := range tx.Inputs {
		if seenIn[in.PrevOut] {
			return rejected(rejectInvalid, "bad-txns-inputs-duplicate")
		}
		seenIn[in.PrevOut] = true
	}
	if tx.IsCoinbase() {
		return rejected(rejectInvalid, "coinbase")
	}
	for _, in := range tx.Inputs {
		if in.PrevOut.Hash == [32]byte{} && in.PrevOut.Index == 0xffffffff {
			return rejected(rejectInvalid, "bad-txns-prevout-null")
		}
	}
	// IsStandardTx.
	size := len(tx.Bytes())
	switch {
	case tx.Version < 1 || tx.Version > 2:
		return rejected(rejectNonstandard, "version")
	case size > 100_000:
		return rejected(rejectNonstandard, "tx-size")
	}
	for _, in := range tx.Inputs {
		if len(in.ScriptSig) > 1650 {
			return rejected(rejectNonstandard, "scriptsig-size")
		}
		if _, ok := biblepay.ParsePushes(in.ScriptSig); !ok {
			return rejected(rejectNonstandard, "scriptsig-not-pushonly")
		}
	}
	nullData := 0
	for _, o := range tx.Outputs {
		if _, ok := n.cfg.Network.AddressFromScript(o.ScriptPubKey); ok {
			if o.Value < Dust {
				return rejected(rejectNonstandard, "dust")
			}
			continue
		}
		if _, ok := biblepay.NullData(o.ScriptPubKey); ok && len(o.ScriptPubKey) <= maxDataCarrierBytes {
			nullData++
			continue
		}
		return rejected(rejectNonstandard, "scriptpubkey")
	}
	if nullData > 1 {
		return rejected(rejectNonstandard, "multi-op-return")
	}
	if !n.isFinal(tx) {
		return rejected(rejectNonstandard, "non-final")
	}
	for _, m := range n.mempool {
		for _, in := range m.tx.Inputs {
			if seenIn[in.PrevOut] {
				return rejected(rejectDuplicate, "txn-mempool-conflict")
			}
		}
	}
	// Inputs: a previous transaction the node has no coins of at all is
	// "Missing inputs" (also a confirmed one whose outputs are all spent);
	// one that still has coins, but not this one, is "bad-txns-inputs-spent".
	// The chain's coins and the mempool's outputs, as CCoinsViewMemPool
	// sees them (what the mempool spends was refused above).
	view := n.signView()
	haveTx := map[[32]byte]bool{}
	for op := range view {
		haveTx[op.Hash] = true
	}
	for _, in := range tx.Inputs {
		if !haveTx[in.PrevOut.Hash] {
			return &rpcError{CodeTransactionError, "Missing inputs"}
		}
	}
	var in int64
	for _, txin := range tx.Inputs {
		c, ok := view[txin.PrevOut]
		if !ok {
			return rejected(rejectDuplicate, "bad-txns-inputs-spent")
		}
		if c.Coinbase && n.tip().height+1-c.Height < n.cfg.Maturity {
			return rejected(rejectInvalid, "bad-txns-premature-spend-of-coinbase")
		}
		in += c.Out.Value
	}
	if in < out {
		return rejected(rejectInvalid, "bad-txns-in-belowout")
	}
	fee := in - out
	if fee < relayFee(size) {
		return rejected(rejectInsufficientFee, "insufficient priority")
	}
	if !allowHighFees && fee > relayFee(size)*10_000 {
		return rejected(rejectHighFee, "absurdly-high-fee")
	}
	for i, txin := range tx.Inputs {
		if e := verifyInput(tx, i, view[txin.PrevOut].Out.ScriptPubKey); e != "" {
			return rejected(rejectInvalid, "mandatory-script-verify-flag-failed ("+e+")")
		}
	}
	return nil
}

// findTx is GetTransaction without -txindex: the mempool, then a
// main-chain transaction that still has an unspent output.
func (n *Node) findTx(txid string) (biblepay.Tx, *block, bool) {
	for _, m := range n.mempool {
		if m.txid == txid {
			return m.tx, nil, true
		}
	}
	b, ok := n.txBlock[txid]
	if !ok {
		return biblepay.Tx{}, nil, false
	}
	for i, id := range b.txids {
		if id != txid {
			continue
		}
		tx := b.txs[i]
		h := tx.Hash()
		for j := range tx.Outputs {
			if _, ok := n.utxo[biblepay.OutPoint{Hash: h, Index: uint32(j)}]; ok {
				return tx, b, true
			}
		}
	}
	return biblepay.Tx{}, nil, false
}

func rpcGetRawTransaction(c *call) (any, error) {
	if err := c.count(1, 2, `"txid" ( verbose )`); err != nil {
		return nil, err
	}
	s, err := c.str(0)
	if err != nil {
		return nil, err
	}
	h, err := parseHashV(s, "parameter 1")
	if err != nil {
		return nil, err
	}
	verbose, err := c.optInt(1, 0)
	if err != nil {
		return nil, err
	}
	n := c.n
	n.mu.Lock()
	defer n.mu.Unlock()
	tx, b, ok := n.findTx(biblepay.HashString(h))
	if !ok {
		return nil, &rpcError{CodeInvalidAddress, "No information available about transaction"}
	}
	if verbose == 0 {
		return hex.EncodeToString(tx.Bytes()), nil
	}
	m := n.txJSON(tx)
	m["hex"] = hex.EncodeToString(tx.Bytes())
	if b != nil {
		m["blockhash"] = b.hashHex
		m["height"] = b.height
		m["confirmations"] = n.tip().height - b.height + 1
		m["time"] = int64(b.header.Time)
		m["blocktime"] = int64(b.header.Time)
	}
	return m, nil
}

func rpcGetTxOut(c *call) (any, error) {
	if err := c.count(2, 3, `"txid" n ( includemempool )`); err != nil {
		return nil, err
	}
	s, err := c.str(0)
	if err != nil {
		return nil, err
	}
	idx, err := c.integer(1)
	if err != nil {
		return nil, err
	}
	withMempool, err := c.optBool(2, true)
	if err != nil {
		return nil, err
	}
	n := c.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if idx < 0 || idx > math.MaxUint32 {
		return nil, nil
	}
	op := biblepay.OutPoint{Hash: uint256S(s), Index: uint32(idx)}
	view := n.utxo
	if withMempool {
		view = n.mempoolView()
	}
	cn, ok := view[op]
	if !ok {
		return nil, nil
	}
	conf := int64(0)
	if cn.Height >= 0 {
		conf = n.tip().height - cn.Height + 1
	}
	version := int32(1)
	if tx, _, ok := n.findTx(biblepay.HashString(op.Hash)); ok {
		version = tx.Version
	}
	return map[string]any{"bestblock": n.tip().hashHex, "confirmations": conf, "value": amount(cn.Out.Value),
		"scriptPubKey": n.scriptPubKeyJSON(cn.Out.ScriptPubKey), "version": version, "coinbase": cn.Coinbase}, nil
}

func rpcListUnspent(c *call) (any, error) {
	if err := c.count(0, 3, `( minconf maxconf  ["address",...] )`); err != nil {
		return nil, err
	}
	if err := c.typeCheck("number", "number", "array"); err != nil {
		return nil, err
	}
	minConf, err := c.optInt(0, 1)
	if err != nil {
		return nil, err
	}
	maxConf, err := c.optInt(1, 9999999)
	if err != nil {
		return nil, err
	}
	var filter map[string]bool
	if c.has(2) {
		var list []json.RawMessage
		_ = json.Unmarshal(c.params[2], &list)
		filter = map[string]bool{}
		for _, raw := range list {
			var a string
			if json.Unmarshal(raw, &a) != nil {
				return nil, &rpcError{CodeMisc, "JSON value is not a string as expected"}
			}
			if err := c.n.cfg.Network.ValidateAddress(a); err != nil {
				return nil, &rpcError{CodeInvalidAddress, "Invalid Biblepay address: " + a}
			}
			if filter[a] {
				return nil, &rpcError{CodeInvalidParameter, "Invalid parameter, duplicated address: " + a}
			}
			filter[a] = true
		}
	}
	n := c.n
	n.mu.Lock()
	defer n.mu.Unlock()
	tipH := n.tip().height
	list := []map[string]any{}
	// AvailableCoins(fOnlyConfirmed=false): mature, not spent (mempool
	// included), not locked; mempool coins have 0 confirmations.
	coins, _ := n.walletCoins(0)
	view := n.mempoolView()
	for _, sc := range coins {
		if n.locks[sc.op] {
			continue
		}
		conf := int64(0)
		if sc.height >= 0 {
			conf = tipH - sc.height + 1
		}
		if conf < minConf || conf > maxConf {
			continue
		}
		cn := view[sc.op]
		addr, _ := n.cfg.Network.AddressFromScript(cn.Out.ScriptPubKey)
		if filter != nil && !filter[addr] {
			continue
		}
		e := map[string]any{"txid": biblepay.HashString(sc.op.Hash), "vout": sc.op.Index, "address": addr}
		if addr != n.wallet.changeAddr {
			e["account"] = "" // in the address book; change addresses are not
		}
		e["scriptPubKey"] = hex.EncodeToString(cn.Out.ScriptPubKey)
		e["amount"] = amount(cn.Out.Value)
		e["confirmations"] = conf
		e["spendable"] = true
		list = append(list, e)
	}
	return list, nil
}

func rpcLockUnspent(c *call) (any, error) {
	if err := c.count(1, 2, `unlock [{"txid":"txid","vout":n},...]`); err != nil {
		return nil, err
	}
	if got := jsonType(c.params[0]); got != "bool" {
		return nil, &rpcError{CodeType, "Expected type bool, got " + got}
	}
	if len(c.params) > 1 {
		if got := jsonType(c.params[1]); got != "array" {
			return nil, &rpcError{CodeType, "Expected type array, got " + got}
		}
	}
	unlock, _ := c.optBool(0, false)
	n := c.n
	if len(c.params) == 1 {
		if unlock {
			n.mu.Lock()
			n.locks = map[biblepay.OutPoint]bool{}
			n.mu.Unlock()
		}
		return true, nil
	}
	var list []json.RawMessage
	_ = json.Unmarshal(c.params[1], &list)
	ops := make([]biblepay.OutPoint, 0, len(list))
	for _, raw := range list {
		op, err := outPointParam(raw, true)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, op := range ops {
		if unlock {
			delete(n.locks, op)
		} else {
			n.locks[op] = true
		}
	}
	return true, nil
}

func rpcListLockUnspent(c *call) (any, error) {
	if err := c.count(0, 0, ""); err != nil {
		return nil, err
	}
	n := c.n
	n.mu.Lock()
	ops := make([]biblepay.OutPoint, 0, len(n.locks))
	for op := range n.locks {
		ops = append(ops, op)
	}
	n.mu.Unlock()
	// std::set<COutPoint> order: the hash as stored, then the index.
	sort.Slice(ops, func(i, j int) bool {
		if c := bytes.Compare(ops[i].Hash[:], ops[j].Hash[:]); c != 0 {
			return c < 0
		}
		return ops[i].Index < ops[j].Index
	})
	list := []map[string]any{}
	for _, op := range ops {
		list = append(list, map[string]any{"txid": biblepay.HashString(op.Hash), "vout": op.Index})
	}
	return list, nil
}

// isUnbroadcast reports whether a wallet send was dropped from the mempool
// by a Restart without rebroadcast and has not been mined, broadcast again
// or conflicted since: all its inputs are still unspent in the chain.
func (n *Node) isUnbroadcast(wt *walletTx) bool {
	if !n.unbroadcast[wt.TxID] {
		return false
	}
	if _, mined := n.txBlock[wt.TxID]; mined || n.inMempool(wt.TxID) {
		return false
	}
	for _, in := range wt.Tx.Inputs {
		if _, ok := n.utxo[in.PrevOut]; !ok {
			return false
		}
	}
	return true
}

// reacceptWalletTxs is ReacceptWalletTransactions, which bitcoind runs at
// startup: every wallet transaction that is neither mined nor in the
// mempool goes back into the mempool, in the wallet's order, if it still
// fits (a conflicted one does not).
func (n *Node) reacceptWalletTxs() {
	for _, wt := range n.wallet.order {
		if wt.Tx.IsCoinbase() || n.inMempool(wt.TxID) {
			continue
		}
		if _, mined := n.txBlock[wt.TxID]; mined {
			continue
		}
		if n.isFinal(wt.Tx) && n.acceptToMempool(wt.Tx) {
			delete(n.unbroadcast, wt.TxID)
		}
	}
}

// Restart simulates a restart of biblepayd (sim_restart): the mempool and
// the wallet's coin locks are lost, and calls in flight die (a delayed send
// never happens; a hanging one loses its connection). The chain and the
// wallet stay.
//
// With rebroadcast (what bitcoind 0.12 does: ReacceptWalletTransactions at
// startup) the wallet's unconfirmed transactions, raw ones it recorded
// included, go straight back into the mempool; only transactions that do
// not concern the wallet are lost. Without it (a node started with
// -walletbroadcast=0, or the worst case a payer must survive) they stay out:
// the wallet still lists them with 0 confirmations and keeps their inputs
// as spent, until someone sends their hex again, a later restart
// reaccepts them, or a conflicting transaction is mined.
func (n *Node) Restart(rebroadcast bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.restarted)
	n.restarted = make(chan struct{})
	n.locks = map[biblepay.OutPoint]bool{}
	old := n.mempool
	n.mempool = nil
	if rebroadcast {
		n.reacceptWalletTxs()
	} else {
		for _, m := range old {
			if _, ok := n.wallet.txs[m.txid]; ok {
				n.unbroadcast[m.txid] = true
			}
		}
	}
	return n.save()
}

// DelayNextSend makes the next send (sendtoaddress, sendmany or
// sendrawtransaction) wait d (DefaultBroadcastDelay if d <= 0) before it
// is made and answered, as a busy node does (sim_delaynextsend). A caller
// that gives up meanwhile does not stop it; a Restart meanwhile does.
func (n *Node) DelayNextSend(d time.Duration) {
	if d <= 0 {
		d = DefaultBroadcastDelay
	}
	n.mu.Lock()
	n.nextSend = sendMode{delay: d}
	n.mu.Unlock()
}

// LockedCoins is the number of coins the wallet holds locked.
func (n *Node) LockedCoins() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.locks)
}

func rpcSimDelayNextSend(c *call) (any, error) {
	secs := DefaultBroadcastDelay.Seconds()
	if c.has(0) {
		if json.Unmarshal(c.params[0], &secs) != nil || secs < 0 || math.IsInf(secs, 0) || math.IsNaN(secs) {
			return nil, &rpcError{CodeMisc, "sim_delaynextsend ( seconds )"}
		}
	}
	c.n.DelayNextSend(time.Duration(secs * float64(time.Second)))
	return nil, nil
}

func rpcSimRestart(c *call) (any, error) {
	mode, err := c.optMode(0, "rebroadcast", "norebroadcast")
	if err != nil {
		return nil, err
	}
	if err := c.n.Restart(mode == "rebroadcast"); err != nil {
		return nil, &rpcError{CodeMisc, err.Error()}
	}
	return nil, nil
}
