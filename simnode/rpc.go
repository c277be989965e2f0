// The JSON-RPC interface: HTTP and basic auth, batches, dispatch to the
// handlers table, error codes and replies, dropped and hanging replies.

package simnode

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
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

// MaxRequestBytes bounds a request body.
const MaxRequestBytes = 64 << 20

// rpcError is a JSON-RPC error reply.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

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
