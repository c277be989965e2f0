package simnode

import (
	"bytes"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/purepool/purepool/biblepay"
)

// Error codes, as bitcoind's rpcprotocol.h.
const (
	CodeMisc              = -1
	CodeType              = -3
	CodeWallet            = -4
	CodeInvalidAddress    = -5
	CodeInsufficientFunds = -6
	CodeInvalidParameter  = -8
	CodeDeserialization   = -22
	CodeInvalidRequest    = -32600
	CodeMethodNotFound    = -32601
	CodeParse             = -32700
)

const maxMoney int64 = 15_010_010_010 * biblepay.Coin

// MaxRequestBytes bounds a request body.
const MaxRequestBytes = 64 << 20

// rpcError is a JSON-RPC error reply.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

// amount encodes satoshis as an exact JSON number of BBP with 8 decimals,
// as bitcoind's ValueFromAmount.
type amount int64

func (a amount) MarshalJSON() ([]byte, error) { return []byte(biblepay.FormatBBP(int64(a))), nil }

// parseAmount reads a JSON amount exactly (AmountFromValue).
func parseAmount(raw json.RawMessage) (int64, error) {
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return 0, &rpcError{CodeType, "Invalid amount"}
		}
		s = str
	} else if s == "" || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) {
		return 0, &rpcError{CodeType, "Amount is not a number or string"}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, &rpcError{CodeType, "Invalid amount"}
	}
	r.Mul(r, new(big.Rat).SetInt64(biblepay.Coin))
	if !r.IsInt() || !r.Num().IsInt64() {
		return 0, &rpcError{CodeType, "Invalid amount"}
	}
	v := r.Num().Int64()
	if v < 0 || v > maxMoney {
		return 0, &rpcError{CodeType, "Amount out of range"}
	}
	return v, nil
}

type rpcRequest struct {
	Method string
	Params json.RawMessage
	ID     json.RawMessage
	// invalid is why the request object is not a valid request.
	invalid *rpcError
}

type rpcReply struct {
	Result any             `json:"result"`
	Error  *rpcError       `json:"error"`
	ID     json.RawMessage `json:"id"`
}

// call is one request being served.
type call struct {
	n      *Node
	method string
	params []json.RawMessage
	r      *http.Request
}

type handlerFunc func(c *call) (any, error)

// errDrop closes the connection without a reply; errHang holds the reply
// until the caller gives up (send-then-error and send-then-timeout).
var (
	errDrop = errors.New("drop the connection")
	errHang = errors.New("never answer")
)

// Handler serves the JSON-RPC interface.
func (n *Node) Handler() http.Handler { return http.HandlerFunc(n.serveHTTP) }

func (n *Node) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if n.cfg.User != "" || n.cfg.Password != "" {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(n.cfg.User)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(n.cfg.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="jsonrpc"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	if r.Method != http.MethodPost {
		http.Error(w, "JSONRPC server handles only POST requests", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil || len(body) > MaxRequestBytes {
		writeReply(w, http.StatusBadRequest, rpcReply{Error: &rpcError{CodeInvalidRequest, "Request too large or unreadable"}, ID: json.RawMessage("null")})
		return
	}
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		n.serveBatch(w, r, body)
		return
	}
	var obj map[string]json.RawMessage
	if len(body) == 0 || body[0] != '{' || json.Unmarshal(body, &obj) != nil {
		msg := "Parse error"
		if json.Valid(body) {
			msg = "Top-level object parse error" // JSON, but neither an object nor an array
		}
		writeReply(w, http.StatusInternalServerError, rpcReply{Error: &rpcError{CodeParse, msg}, ID: json.RawMessage("null")})
		return
	}
	rep, err := n.dispatch(r, parseRequest(obj))
	switch err {
	case errDrop:
		dropConnection(w)
	case errHang:
		n.hang(r)
	}
	status := http.StatusOK
	if rep.Error != nil {
		switch rep.Error.Code {
		case CodeInvalidRequest:
			status = http.StatusBadRequest
		case CodeMethodNotFound:
			status = http.StatusNotFound
		default:
			status = http.StatusInternalServerError
		}
	}
	writeReply(w, status, rep)
}

func writeReply(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"result":null,"error":{"code":-1,"message":"internal encoding error"},"id":null}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// serveBatch answers a JSON array of requests as bitcoind's
// JSONRPCExecBatch does: the requests run in order, each gets its own reply
// (an element that is not a request object gets -32600 "Invalid Request
// object" with a null id), and the array of replies goes out with HTTP 200
// whatever the elements' outcomes. A simulated failure after a send (drop or
// hang) hits the whole HTTP reply, as a real network failure would, after
// every element has run.
func (n *Node) serveBatch(w http.ResponseWriter, r *http.Request, body []byte) {
	objs, ok := batchObjects(body)
	if !ok {
		writeReply(w, http.StatusInternalServerError, rpcReply{Error: &rpcError{CodeParse, "Parse error"}, ID: json.RawMessage("null")})
		return
	}
	replies := make([]rpcReply, 0, len(objs))
	var failure error
	for _, obj := range objs {
		if obj == nil {
			replies = append(replies, rpcReply{Error: &rpcError{CodeInvalidRequest, "Invalid Request object"}, ID: json.RawMessage("null")})
			continue
		}
		rep, err := n.dispatch(r, parseRequest(obj))
		if err == errDrop || err == errHang {
			failure = err
		}
		replies = append(replies, rep)
	}
	switch failure {
	case errDrop:
		dropConnection(w)
	case errHang:
		n.hang(r)
	}
	writeReply(w, http.StatusOK, replies)
}

// batchObjects decodes a batch's elements, nil for one that is not an
// object; ok is false when the body is not a JSON array. The usual batch,
// all objects, is decoded in one pass.
func batchObjects(body []byte) (objs []map[string]json.RawMessage, ok bool) {
	if json.Unmarshal(body, &objs) == nil {
		return objs, true // a null element decodes to a nil map
	}
	var elems []json.RawMessage
	if json.Unmarshal(body, &elems) != nil {
		return nil, false
	}
	objs = make([]map[string]json.RawMessage, len(elems))
	for i, e := range elems {
		if len(e) > 0 && e[0] == '{' {
			_ = json.Unmarshal(e, &objs[i]) // valid JSON: an object always decodes
		}
	}
	return objs, true
}

// parseRequest reads a request object as bitcoind's JSONRequest::parse: the
// id first, so that later errors carry it; then the method, which must be a
// string; then params, an array or absent/null.
func parseRequest(obj map[string]json.RawMessage) rpcRequest {
	req := rpcRequest{ID: obj["id"]}
	m, ok := obj["method"]
	switch {
	case !ok || string(m) == "null":
		req.invalid = &rpcError{CodeInvalidRequest, "Missing method"}
	case json.Unmarshal(m, &req.Method) != nil:
		req.invalid = &rpcError{CodeInvalidRequest, "Method must be a string"}
	}
	req.Params = obj["params"]
	return req
}

// dropConnection closes the connection without a reply.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			panic(http.ErrAbortHandler)
		}
	}
	panic(http.ErrAbortHandler)
}

// hang holds the reply until the caller gives up, the node restarts or
// closes.
func (n *Node) hang(r *http.Request) {
	n.mu.Lock()
	restarted := n.restarted
	n.mu.Unlock()
	select {
	case <-r.Context().Done():
	case <-restarted:
	case <-n.closed:
	case <-time.After(10 * time.Minute):
	}
	panic(http.ErrAbortHandler)
}

func (n *Node) dispatch(r *http.Request, req rpcRequest) (rpcReply, error) {
	id := req.ID
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	rep := rpcReply{ID: id}
	if req.invalid != nil {
		rep.Error = req.invalid
		return rep, nil
	}
	c := &call{n: n, method: req.Method, r: r}
	p := bytes.TrimSpace(req.Params)
	if len(p) > 0 && string(p) != "null" {
		if err := json.Unmarshal(p, &c.params); err != nil {
			rep.Error = &rpcError{CodeInvalidRequest, "Params must be an array"}
			return rep, nil
		}
	}
	h, ok := handlers[req.Method]
	if !ok {
		rep.Error = &rpcError{CodeMethodNotFound, "Method not found"}
		return rep, nil
	}
	res, err := h(c)
	if err == errDrop || err == errHang {
		return rep, err
	}
	if err != nil {
		var re *rpcError
		if !errors.As(err, &re) {
			re = &rpcError{CodeMisc, err.Error()}
		}
		rep.Error = re
		return rep, nil
	}
	rep.Result = res
	return rep, nil
}

var handlers map[string]handlerFunc

func init() {
	handlers = map[string]handlerFunc{
		"getblockcount":        rpcGetBlockCount,
		"getbestblockhash":     rpcGetBestBlockHash,
		"getblockhash":         rpcGetBlockHash,
		"getblock":             rpcGetBlock,
		"getblockchaininfo":    rpcGetBlockchainInfo,
		"getmininginfo":        rpcGetMiningInfo,
		"getblocktemplate":     rpcGetBlockTemplate,
		"submitblock":          rpcSubmitBlock,
		"exec":                 rpcExec,
		"decoderawtransaction": rpcDecodeRawTransaction,
		"validateaddress":      rpcValidateAddress,
		"getnewaddress":        rpcGetNewAddress,
		"getaccountaddress":    rpcGetAccountAddress,
		"getwalletinfo":        rpcGetWalletInfo,
		"getbalance":           rpcGetBalance,
		"sendtoaddress":        rpcSendToAddress,
		"sendmany":             rpcSendMany,
		"gettransaction":       rpcGetTransaction,
		"listtransactions":     rpcListTransactions,
		"sim_generate":         rpcSimGenerate,
		"sim_reorg":            rpcSimReorg,
		"sim_doublespend":      rpcSimDoubleSpend,
		"sim_fund":             rpcSimFund,
		"sim_failnextsend":     rpcSimFailNextSend,
		"sim_sendthenerror":    rpcSimSendThenError,
		"sim_sendthentimeout":  rpcSimSendThenTimeout,
		"sim_pause":            rpcSimPause,
		"sim_resume":           rpcSimResume,
		"sim_sethashrate":      rpcSimSetHashRate,
		"sim_info":             rpcSimInfo,

		"createrawtransaction": rpcCreateRawTransaction,
		"fundrawtransaction":   rpcFundRawTransaction,
		"signrawtransaction":   rpcSignRawTransaction,
		"sendrawtransaction":   rpcSendRawTransaction,
		"getrawtransaction":    rpcGetRawTransaction,
		"gettxout":             rpcGetTxOut,
		"listunspent":          rpcListUnspent,
		"lockunspent":          rpcLockUnspent,
		"listlockunspent":      rpcListLockUnspent,
		"sim_delaynextsend":    rpcSimDelayNextSend,
		"sim_restart":          rpcSimRestart,
	}
}

// Parameter helpers: bitcoind reports a JSON type mismatch as a runtime
// error (-1) with univalue's message, and a wrong count with the help text.

func (c *call) count(min, max int, usage string) error {
	if len(c.params) < min || len(c.params) > max {
		return &rpcError{CodeMisc, c.method + " " + usage}
	}
	return nil
}

func (c *call) has(i int) bool { return i < len(c.params) && string(c.params[i]) != "null" }

func (c *call) str(i int) (string, error) {
	if i < len(c.params) {
		if s, ok := plainString(c.params[i]); ok {
			return s, nil
		}
	}
	var s string
	if i >= len(c.params) || json.Unmarshal(c.params[i], &s) != nil {
		return "", &rpcError{CodeMisc, "JSON value is not a string as expected"}
	}
	return s, nil
}

// plainString reads a JSON string without escapes (hex, numbers as
// strings: every exec argument a pool sends) directly; raw comes from a
// document already validated, so the quotes delimit it exactly.
func plainString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	for _, b := range in {
		if b == '\\' || b == '"' || b < 0x20 || b >= 0x80 {
			return "", false // escapes, or non-ASCII that may need repair: the decoder's job
		}
	}
	return string(in), true
}

func (c *call) optStr(i int, def string) (string, error) {
	if !c.has(i) {
		return def, nil
	}
	return c.str(i)
}

func (c *call) integer(i int) (int64, error) {
	var v int64
	if i >= len(c.params) || json.Unmarshal(c.params[i], &v) != nil {
		return 0, &rpcError{CodeMisc, "JSON value is not an integer as expected"}
	}
	return v, nil
}

func (c *call) optInt(i int, def int64) (int64, error) {
	if !c.has(i) {
		return def, nil
	}
	return c.integer(i)
}

func (c *call) optBool(i int, def bool) (bool, error) {
	if !c.has(i) {
		return def, nil
	}
	var b bool
	if json.Unmarshal(c.params[i], &b) != nil {
		return false, &rpcError{CodeMisc, "JSON value is not a boolean as expected"}
	}
	return b, nil
}

func rpcGetBlockCount(c *call) (any, error) {
	if err := c.count(0, 0, ""); err != nil {
		return nil, err
	}
	return c.n.Height(), nil
}

func rpcGetBestBlockHash(c *call) (any, error) {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	return c.n.tip().hashHex, nil
}

func rpcGetBlockHash(c *call) (any, error) {
	if err := c.count(1, 1, "index"); err != nil {
		return nil, err
	}
	h, err := c.integer(0)
	if err != nil {
		return nil, err
	}
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	if h < 0 || h >= int64(len(c.n.chain)) {
		return nil, &rpcError{CodeInvalidParameter, "Block height out of range"}
	}
	return c.n.chain[h].hashHex, nil
}

func rpcGetBlock(c *call) (any, error) {
	if err := c.count(1, 2, `"hash" ( verbose )`); err != nil {
		return nil, err
	}
	hash, err := c.str(0)
	if err != nil {
		return nil, err
	}
	verbose, err := c.optBool(1, true)
	if err != nil {
		return nil, err
	}
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	b, ok := c.n.blocks[strings.ToLower(hash)]
	if !ok {
		return nil, &rpcError{CodeInvalidAddress, "Block not found"}
	}
	if !verbose {
		return hex.EncodeToString(b.raw), nil
	}
	return c.n.blockJSON(b), nil
}

// difficulty relative to Dash's proof-of-work limit, as getblock reports it
// (a display value, not money).
func difficulty(bits uint32) float64 {
	limit := biblepay.CompactToTarget(0x1e0ffff0)
	t := biblepay.CompactToTarget(bits)
	if t.Sign() == 0 {
		return 0
	}
	d, _ := new(big.Rat).SetFrac(limit, t).Float64()
	return d
}

func (n *Node) blockJSON(b *block) map[string]any {
	cb := b.txs[0]
	msg := cb.Message()
	m := map[string]any{
		"hash":               b.hashHex,
		"confirmations":      n.confirmations(b),
		"size":               len(b.raw),
		"height":             b.height,
		"version":            b.header.Version,
		"merkleroot":         biblepay.HashString(b.header.MerkleRoot),
		"tx":                 b.txids,
		"time":               int64(b.header.Time),
		"nonce":              b.header.Nonce,
		"bits":               fmt.Sprintf("%08x", b.header.Bits),
		"difficulty":         difficulty(b.header.Bits),
		"chainwork":          fmt.Sprintf("%064x", b.height+1),
		"hrtime":             time.Unix(int64(b.header.Time), 0).UTC().Format("01-02-2006 15:04:05"),
		"subsidy":            cb.Outputs[0].Value / biblepay.Coin,
		"blockversion":       biblepay.ExtractXML(msg, "<VER>", "</VER>"),
		"verses":             "",
		"satisfiesbiblehash": true,
		"biblehash":          b.bibleHash,
		"CPID":               "",
		"pow_difficulty":     difficulty(b.header.Bits),
	}
	if b.main {
		m["mediantime"] = n.medianTimePast(b.height)
		if b.height+1 < int64(len(n.chain)) {
			m["nextblockhash"] = n.chain[b.height+1].hashHex
		}
	}
	if b.height > 0 {
		m["previousblockhash"] = biblepay.HashString(b.header.PrevBlock)
	}
	return m
}

func rpcGetBlockchainInfo(c *call) (any, error) {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	t := c.n.tip()
	return map[string]any{
		"chain": c.n.cfg.Network.Name, "blocks": t.height, "headers": t.height, "bestblockhash": t.hashHex,
		"difficulty": difficulty(t.header.Bits), "mediantime": c.n.medianTimePast(t.height),
	}, nil
}

func rpcGetMiningInfo(c *call) (any, error) {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	return map[string]any{
		"blocks": c.n.tip().height, "difficulty": difficulty(c.n.bits), "networkhashps": c.n.hashRate,
		"pooledtx": len(c.n.mempool), "chain": c.n.cfg.Network.Name,
	}, nil
}

func rpcGetBlockTemplate(c *call) (any, error) {
	if err := c.count(0, 1, `( "jsonrequestobject" )`); err != nil {
		return nil, err
	}
	n := c.n
	n.mu.Lock()
	defer n.mu.Unlock()
	tip := n.tip()
	var fees int64
	txs := []map[string]any{}
	for _, m := range n.mempool {
		fees += m.fee
		txs = append(txs, map[string]any{"data": hex.EncodeToString(m.tx.Bytes()), "txid": m.txid, "hash": m.txid,
			"depends": []int{}, "fee": m.fee, "sigops": 0})
	}
	minTime := n.medianTimePast(tip.height) + 1
	cur := max(n.now(), minTime)
	return map[string]any{
		"capabilities":      []string{"proposal"},
		"version":           0x20000000,
		"rules":             []string{},
		"previousblockhash": tip.hashHex,
		"transactions":      txs,
		"coinbaseaux":       map[string]string{"flags": ""},
		"coinbasevalue":     n.cfg.BlockReward + fees,
		"longpollid":        fmt.Sprintf("%s%d", tip.hashHex, len(n.mempool)),
		"target":            biblepay.FormatHash(n.target),
		"mintime":           minTime,
		"mutable":           []string{"time", "transactions", "prevblock"},
		"noncerange":        "00000000ffffffff",
		"sigoplimit":        20000,
		"sizelimit":         2000000,
		"curtime":           cur,
		"bits":              fmt.Sprintf("%08x", n.bits),
		"height":            tip.height + 1,
	}, nil
}

func rpcSubmitBlock(c *call) (any, error) {
	if err := c.count(1, 2, `"hexdata" ( "jsonparametersobject" )`); err != nil {
		return nil, err
	}
	s, err := c.str(0)
	if err != nil {
		return nil, err
	}
	bl, err := biblepay.ParseBlockHex(s)
	if err != nil {
		return nil, &rpcError{CodeDeserialization, "Block decode failed"}
	}
	if reason := c.n.submitBlock(bl); reason != "" {
		return reason, nil
	}
	return nil, nil
}

func rpcDecodeRawTransaction(c *call) (any, error) {
	if err := c.count(1, 1, `"hexstring"`); err != nil {
		return nil, err
	}
	s, err := c.str(0)
	if err != nil {
		return nil, err
	}
	tx, err := biblepay.ParseTxHex(s)
	if err != nil {
		return nil, &rpcError{CodeDeserialization, "TX decode failed"}
	}
	return c.n.txJSON(tx), nil
}

func (n *Node) txJSON(tx biblepay.Tx) map[string]any {
	vin := []map[string]any{}
	for _, in := range tx.Inputs {
		if tx.IsCoinbase() {
			vin = append(vin, map[string]any{"coinbase": hex.EncodeToString(in.ScriptSig), "sequence": in.Sequence})
			continue
		}
		vin = append(vin, map[string]any{
			"txid": biblepay.HashString(in.PrevOut.Hash), "vout": in.PrevOut.Index,
			"scriptSig": scriptSigJSON(in.ScriptSig), "sequence": in.Sequence,
		})
	}
	vout := []map[string]any{}
	for i, o := range tx.Outputs {
		vout = append(vout, map[string]any{"value": amount(o.Value), "valueSat": o.Value, "n": i,
			"scriptPubKey": n.scriptPubKeyJSON(o.ScriptPubKey), "message": o.Message})
	}
	return map[string]any{"txid": tx.TxID(), "size": len(tx.Bytes()), "version": tx.Version, "locktime": tx.LockTime, "vin": vin, "vout": vout}
}

func rpcValidateAddress(c *call) (any, error) {
	if err := c.count(1, 1, `"biblepayaddress"`); err != nil {
		return nil, err
	}
	a, err := c.str(0)
	if err != nil {
		return nil, err
	}
	script, err := c.n.cfg.Network.ScriptForAddress(a)
	if err != nil {
		return map[string]any{"isvalid": false}, nil
	}
	c.n.mu.Lock()
	mine := c.n.wallet.keys[a]
	c.n.mu.Unlock()
	return map[string]any{"isvalid": true, "address": a, "scriptPubKey": hex.EncodeToString(script),
		"ismine": mine, "iswatchonly": false, "isscript": false, "account": ""}, nil
}

func rpcGetNewAddress(c *call) (any, error) {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	a := c.n.wallet.newAddress()
	return a, c.n.save()
}

func rpcGetAccountAddress(c *call) (any, error) { return c.n.wallet.defaultAddr, nil }

func (n *Node) balances() (balance, immature int64) {
	coins, imm := n.walletCoins(1)
	for _, c := range coins {
		balance += c.value
	}
	return balance, imm
}

func rpcGetWalletInfo(c *call) (any, error) {
	n := c.n
	n.mu.Lock()
	defer n.mu.Unlock()
	bal, imm := n.balances()
	return map[string]any{
		"walletversion": 61000, "balance": amount(bal), "retirement_account_balance": amount(0),
		"unconfirmed_balance": amount(0), "immature_balance": amount(imm), "txcount": len(n.wallet.order),
		"keypoololdest": 1518041437, "keypoolsize": 1000, "keys_left": 1000, "unlocked_until": 0,
		"paytxfee": amount(n.cfg.FeePerKB),
	}, nil
}

func rpcGetBalance(c *call) (any, error) {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	bal, _ := c.n.balances()
	return amount(bal), nil
}

// sendMode is what the next send (sendtoaddress, sendmany or
// sendrawtransaction) does beyond sending (sim_* calls).
type sendMode struct {
	fail        *rpcError     // fail without sending
	thenError   string        // "rpc" or "drop": send, then fail the call
	thenTimeout bool          // send, then never answer
	delay       time.Duration // wait this long, then send and answer
}

// send runs a wallet send under the node's lock and applies the armed sendMode.
func (c *call) send(pays []payment, subtract map[string]bool, minConf int64, comment, to string) (any, error) {
	return c.sending(func() (string, error) { return c.n.createSend(pays, subtract, minConf, comment, to) })
}

// sending runs do (a send, under the node's lock) with the armed sendMode:
// a failure instead of the send; a delay before it (the call is lost, and
// the transaction never sent, if the node restarts meanwhile); an error, a
// dropped connection or no answer at all after it.
func (c *call) sending(do func() (string, error)) (any, error) {
	n := c.n
	n.mu.Lock()
	mode := n.nextSend
	n.nextSend = sendMode{}
	restarted := n.restarted
	n.mu.Unlock()
	if mode.fail != nil {
		return nil, mode.fail
	}
	if mode.delay > 0 {
		t := time.NewTimer(mode.delay)
		select {
		case <-t.C:
		case <-restarted:
			t.Stop()
			return nil, errDrop
		case <-n.closed:
			t.Stop()
			return nil, errDrop
		}
	}
	n.mu.Lock()
	if n.restarted != restarted {
		n.mu.Unlock()
		return nil, errDrop // the process that took the call is gone
	}
	txid, err := do()
	if err == nil {
		err = n.save()
	}
	n.mu.Unlock()
	if err != nil {
		return nil, err
	}
	switch {
	case mode.thenTimeout:
		return nil, errHang
	case mode.thenError == "drop":
		return nil, errDrop
	case mode.thenError != "":
		return nil, &rpcError{CodeMisc, "simulated failure after the transaction was sent"}
	}
	return txid, nil
}

func (c *call) payment(addr string, raw json.RawMessage) (payment, error) {
	script, err := c.n.cfg.Network.ScriptForAddress(addr)
	if err != nil {
		return payment{}, &rpcError{CodeInvalidAddress, "Invalid BiblePay address: " + addr}
	}
	v, err := parseAmount(raw)
	if err != nil {
		return payment{}, err
	}
	if v <= 0 {
		return payment{}, &rpcError{CodeType, "Invalid amount for send"}
	}
	return payment{addr: addr, amount: v, script: script}, nil
}

func rpcSendToAddress(c *call) (any, error) {
	if err := c.count(2, 7, `"biblepayaddress" amount ( "comment" "comment-to" subtractfeefromamount use_is use_ps )`); err != nil {
		return nil, err
	}
	addr, err := c.str(0)
	if err != nil {
		return nil, err
	}
	p, err := c.payment(addr, c.params[1])
	if err != nil {
		return nil, err
	}
	comment, err := c.optStr(2, "")
	if err != nil {
		return nil, err
	}
	to, err := c.optStr(3, "")
	if err != nil {
		return nil, err
	}
	sub, err := c.optBool(4, false)
	if err != nil {
		return nil, err
	}
	return c.send([]payment{p}, map[string]bool{addr: sub}, 1, comment, to)
}

func rpcSendMany(c *call) (any, error) {
	if err := c.count(2, 7, `"fromaccount" {"address":amount,...} ( minconf "comment" ["address",...] use_is use_ps )`); err != nil {
		return nil, err
	}
	if _, err := c.str(0); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(c.params[1]))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, &rpcError{CodeMisc, "JSON value is not an object as expected"}
	}
	var pays []payment
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, &rpcError{CodeParse, "Parse error"}
		}
		addr, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, &rpcError{CodeParse, "Parse error"}
		}
		if seen[addr] {
			return nil, &rpcError{CodeInvalidParameter, "Invalid parameter, duplicated address: " + addr}
		}
		seen[addr] = true
		p, err := c.payment(addr, raw)
		if err != nil {
			return nil, err
		}
		pays = append(pays, p)
	}
	minConf, err := c.optInt(2, 1)
	if err != nil {
		return nil, err
	}
	comment, err := c.optStr(3, "")
	if err != nil {
		return nil, err
	}
	sub := map[string]bool{}
	if c.has(4) {
		var list []string
		if json.Unmarshal(c.params[4], &list) != nil {
			return nil, &rpcError{CodeMisc, "JSON value is not an array as expected"}
		}
		for _, a := range list {
			if _, err := c.n.cfg.Network.ScriptForAddress(a); err != nil {
				return nil, &rpcError{CodeInvalidAddress, "Invalid BiblePay address: " + a}
			}
			sub[a] = true
		}
	}
	return c.send(pays, sub, minConf, comment, "")
}

func rpcGetTransaction(c *call) (any, error) {
	if err := c.count(1, 2, `"txid" ( includeWatchonly )`); err != nil {
		return nil, err
	}
	id, err := c.str(0)
	if err != nil {
		return nil, err
	}
	n := c.n
	n.mu.Lock()
	defer n.mu.Unlock()
	wt, ok := n.wallet.txs[strings.ToLower(id)]
	if !ok {
		return nil, &rpcError{CodeInvalidAddress, "Invalid or non-wallet transaction id"}
	}
	st := n.txState(wt)
	m := n.commonTxFields(wt, st)
	var net, fee int64
	details := n.entries(wt, false)
	for _, d := range details {
		v := int64(d["amount"].(amount))
		net += v
	}
	if wt.FromMe {
		fee = n.txFee(wt)
		m["fee"] = amount(-fee)
	}
	m["amount"] = amount(net)
	m["details"] = details
	m["hex"] = hex.EncodeToString(wt.Tx.Bytes())
	return m, nil
}

func rpcListTransactions(c *call) (any, error) {
	if err := c.count(0, 4, `( "account" count from includeWatchonly )`); err != nil {
		return nil, err
	}
	account, err := c.optStr(0, "*")
	if err != nil {
		return nil, err
	}
	count, err := c.optInt(1, 10)
	if err != nil {
		return nil, err
	}
	from, err := c.optInt(2, 0)
	if err != nil {
		return nil, err
	}
	if count < 0 {
		return nil, &rpcError{CodeInvalidParameter, "Negative count"}
	}
	if from < 0 {
		return nil, &rpcError{CodeInvalidParameter, "Negative from"}
	}
	n := c.n
	n.mu.Lock()
	defer n.mu.Unlock()
	all := []map[string]any{}
	if account == "*" || account == "" {
		for _, wt := range n.wallet.order {
			all = append(all, n.entries(wt, true)...)
		}
	}
	end := int64(len(all)) - from
	if end < 0 {
		end = 0
	}
	start := max(end-count, 0)
	return all[start:end], nil
}

// exec: every argument after the command is read with get_str().
func rpcExec(c *call) (any, error) {
	if len(c.params) < 1 || len(c.params) > 7 {
		return nil, &rpcError{CodeMisc, "exec <string::itemname> <string::parameter> \r\nExecutes an arbitrary command by name."}
	}
	cmd, err := c.str(0)
	if err != nil {
		return nil, err
	}
	res := map[string]any{"Command": cmd}
	n := c.n
	switch cmd {
	case "biblehash":
		if len(c.params) != 6 {
			return nil, &rpcError{CodeMisc, "You must specify blockhash, blocktime, prevblocktime, prevheight, and nonce IE: run biblehash blockhash 12345 12234 100 256."}
		}
		var s [5]string
		for i := range s {
			if s[i], err = c.str(i + 1); err != nil {
				return nil, err
			}
		}
		blockTime, prevTime, prevHeight, nonce := cnum(s[1]), cnum(s[2]), cnum(s[3]), cnum(s[4])
		if s[0] != "" && blockTime > 0 && prevTime > 0 && prevHeight >= 0 {
			res["BibleHash"] = biblepay.SimBibleHash(uint256S(s[0]), blockTime, prevTime, prevHeight, uint32(nonce))
		}
	case "pinfo":
		n.mu.Lock()
		t := n.tip()
		elapsed := n.now() - int64(t.header.Time)
		res["height"] = t.height
		res["pinfo"] = biblepay.MaxNonce(elapsed)
		res["elapsed"] = elapsed
		n.mu.Unlock()
	case "subsidy":
		if len(c.params) < 2 {
			return nil, &rpcError{CodeMisc, "You must specify height."}
		}
		s, err := c.str(1)
		if err != nil {
			return nil, err
		}
		h := cnum(s)
		n.mu.Lock()
		defer n.mu.Unlock()
		if h < 1 || h > n.tip().height {
			res["error"] = "block not found"
			return res, nil
		}
		cb := n.chain[h].txs[0]
		msg := cb.Message()
		ver := biblepay.ExtractXML(msg, "<VER>", "</VER>")
		v2, _ := strconv.ParseInt(strings.ReplaceAll(ver, ".", ""), 10, 64)
		recipient, _ := n.cfg.Network.AddressFromScript(cb.Outputs[0].ScriptPubKey)
		res["subsidy"] = cb.Outputs[0].Value / biblepay.Coin
		res["recipient"] = recipient
		res["blockversion"] = ver
		res["blockversion2"] = v2
		res["minerguid"] = biblepay.ExtractXML(msg, "<MINERGUID>", "</MINERGUID>")
	case "hexblocktocoinbase":
		if len(c.params) < 2 {
			return nil, &rpcError{CodeMisc, "You must specify the block hex."}
		}
		s, err := c.str(1)
		if err != nil {
			return nil, err
		}
		bl, err := biblepay.ParseBlockHex(s)
		if err != nil || len(bl.Txs[0].Outputs) == 0 {
			return nil, &rpcError{CodeDeserialization, "Block decode failed"}
		}
		cb := bl.Txs[0]
		msg := cb.Message()
		n.mu.Lock()
		t := n.tip()
		tipTime, tipHeight := int64(t.header.Time), t.height
		n.mu.Unlock()
		recipient, _ := n.cfg.Network.AddressFromScript(cb.Outputs[0].ScriptPubKey)
		res["txid"] = cb.TxID()
		res["recipient"] = recipient
		res["biblehash"] = biblepay.SimBibleHash(biblepay.SimBlockHash(bl.Header.Bytes()), int64(bl.Header.Time), tipTime, tipHeight, bl.Header.Nonce)
		res["subsidy"] = cb.Outputs[0].Value / biblepay.Coin
		res["blockversion"] = biblepay.ExtractXML(msg, "<VER>", "</VER>")
		res["cpid_sig_valid"] = true
		res["cpid_legal"] = true
		res["cpid_legality_narr"] = ""
		res["blockmessage"] = msg
	}
	return res, nil
}

// cnum reads a number the way the node's cdbl does: anything unparsable is 0.
func cnum(s string) int64 {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return 0
		}
		return int64(f)
	}
	return v
}

// uint256S parses leniently like the node: optional 0x, then leading hex
// digits, right-aligned.
func uint256S(s string) [32]byte {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	i := 0
	for i < len(s) && i < 64 && strings.ContainsRune("0123456789abcdefABCDEF", rune(s[i])) {
		i++
	}
	digits := strings.Repeat("0", 64-i) + s[:i]
	h, _ := biblepay.ParseHashString(digits)
	return h
}

func rpcSimGenerate(c *call) (any, error) {
	k, err := c.optInt(0, 1)
	if err != nil {
		return nil, err
	}
	hashes, err := c.n.Generate(int(k))
	if err != nil {
		return nil, &rpcError{CodeInvalidParameter, err.Error()}
	}
	return hashes, nil
}

func rpcSimReorg(c *call) (any, error) {
	k, err := c.optInt(0, 1)
	if err != nil {
		return nil, err
	}
	orphaned, err := c.n.Reorg(int(k))
	if err != nil {
		return nil, &rpcError{CodeInvalidParameter, err.Error()}
	}
	return map[string]any{"orphaned": orphaned, "height": c.n.Height()}, nil
}

func rpcSimDoubleSpend(c *call) (any, error) {
	if err := c.count(1, 1, "txid"); err != nil {
		return nil, err
	}
	txid, err := c.str(0)
	if err != nil {
		return nil, err
	}
	conflict, err := c.n.DoubleSpend(txid)
	if err != nil {
		return nil, &rpcError{CodeInvalidAddress, err.Error()}
	}
	return map[string]any{"conflict": conflict, "height": c.n.Height()}, nil
}

func rpcSimFund(c *call) (any, error) {
	if err := c.count(1, 1, "amount"); err != nil {
		return nil, err
	}
	p, err := c.payment(c.n.WalletAddress(), c.params[0])
	if err != nil {
		return nil, err
	}
	txid, err := c.n.Fund(p.amount)
	if err != nil {
		return nil, &rpcError{CodeWallet, err.Error()}
	}
	return txid, nil
}

func rpcSimFailNextSend(c *call) (any, error) {
	code, err := c.optInt(0, CodeWallet)
	if err != nil {
		return nil, err
	}
	msg, err := c.optStr(1, "Error: The transaction was rejected!")
	if err != nil {
		return nil, err
	}
	c.n.FailNextSend(int(code), msg)
	return nil, nil
}

func rpcSimSendThenError(c *call) (any, error) {
	mode, err := c.optStr(0, "rpc")
	if err != nil {
		return nil, err
	}
	if mode != "rpc" && mode != "drop" {
		return nil, &rpcError{CodeInvalidParameter, `mode must be "rpc" or "drop"`}
	}
	c.n.SendThenError(mode == "drop")
	return nil, nil
}

func rpcSimSendThenTimeout(c *call) (any, error) { c.n.SendThenTimeout(); return nil, nil }
func rpcSimPause(c *call) (any, error)           { c.n.Pause(); return nil, nil }
func rpcSimResume(c *call) (any, error)          { c.n.Resume(); return nil, nil }

func rpcSimSetHashRate(c *call) (any, error) {
	var rate float64
	if len(c.params) != 1 || json.Unmarshal(c.params[0], &rate) != nil {
		return nil, &rpcError{CodeMisc, "sim_sethashrate hashespersecond"}
	}
	if err := c.n.SetHashRate(rate); err != nil {
		return nil, &rpcError{CodeInvalidParameter, err.Error()}
	}
	return nil, nil
}

func rpcSimInfo(c *call) (any, error) {
	n := c.n
	n.mu.Lock()
	defer n.mu.Unlock()
	return map[string]any{
		"network": n.cfg.Network.Name, "walletaddress": n.wallet.defaultAddr, "height": n.tip().height,
		"paused": n.paused, "hashrate": n.hashRate, "target": biblepay.FormatHash(n.target),
		"bits": fmt.Sprintf("%08x", n.bits), "maturity": n.cfg.Maturity, "blockreward": n.cfg.BlockReward,
		"mempool": len(n.mempool), "lockedcoins": len(n.locks),
	}, nil
}

// FailNextSend makes the next sendmany/sendtoaddress/sendrawtransaction fail with the given
// error without sending (sim_failnextsend).
func (n *Node) FailNextSend(code int, message string) {
	n.mu.Lock()
	n.nextSend = sendMode{fail: &rpcError{code, message}}
	n.mu.Unlock()
}

// SendThenError makes the next send succeed on chain but answer the caller
// with an RPC error, or, with drop, close the connection without an answer
// (sim_sendthenerror).
func (n *Node) SendThenError(drop bool) {
	n.mu.Lock()
	n.nextSend = sendMode{thenError: map[bool]string{false: "rpc", true: "drop"}[drop]}
	n.mu.Unlock()
}

// SendThenTimeout makes the next send succeed on chain and never answer,
// so the caller times out (sim_sendthentimeout).
func (n *Node) SendThenTimeout() {
	n.mu.Lock()
	n.nextSend = sendMode{thenTimeout: true}
	n.mu.Unlock()
}
