package rpcclient

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/purepool/purepool/biblepay"
)

// Raw transactions (spec §3): build with CreateRawTransaction, add the
// wallet's inputs and change with FundRawTransaction, sign with
// SignRawTransaction, lock the inputs with LockUnspent, broadcast with
// SendRawTransaction, as often as needed: the same hex is the same
// transaction.

// Error codes of the raw-transaction calls.
const (
	// CodeTransactionError (-25) is "Missing inputs": an input's previous
	// transaction has no unspent output left, which is also what a
	// transaction that is confirmed and whose outputs are all spent gets,
	// so it alone tells neither "dead" nor "done".
	CodeTransactionError = -25
	// CodeTransactionRejected (-26) is a refusal by policy, as "<reject
	// code>: <reason>": "18: txn-mempool-conflict" (another mempool
	// transaction spends an input), "18: bad-txns-inputs-spent" (an input
	// is spent while its transaction has other unspent outputs), "64:
	// non-final", "66: insufficient priority", "256: absurdly-high-fee",
	// "16: mandatory-script-verify-flag-failed (…)", …
	CodeTransactionRejected = -26
	// CodeTransactionAlreadyInChain (-27) is "transaction already in block
	// chain": it is mined and has an unspent output. A broadcast succeeded.
	CodeTransactionAlreadyInChain = -27
	// CodeInternal (-32603) is what fundrawtransaction of this generation
	// answers when it cannot fund ("Insufficient funds").
	CodeInternal = -32603
)

// ErrorCode is the node's error code in err (an *Error anywhere in its
// chain), or 0 if err is no node error (a transport failure, a timeout).
func ErrorCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// OutPoint names an output: a transaction id (display hex) and an index.
type OutPoint struct {
	TxID string `json:"txid"`
	Vout uint32 `json:"vout"`
}

// Output is one recipient of CreateRawTransaction.
type Output struct {
	Address   string
	AmountSat int64
}

// CreateRawTransaction builds an unsigned transaction spending inputs (may
// be empty: FundRawTransaction adds them) and paying outputs in their
// order; data, if not nil, adds a 0-value `OP_RETURN <data>` output last.
// A locktime of 0 is replaced by the node's time (BiblePay), which, with
// the inputs' sequence 0xfffffffe, keeps the transaction out of the
// mempool ("64: non-final") until the chain's median time passes it; a
// block height such as the tip's is final at once.
func (c *Client) CreateRawTransaction(ctx context.Context, inputs []OutPoint, outputs []Output, data []byte, locktime uint32) (string, error) {
	if inputs == nil {
		inputs = []OutPoint{}
	}
	// The outputs object in order: the node creates outputs in key order.
	var obj bytes.Buffer
	obj.WriteByte('{')
	for i, o := range outputs {
		if i > 0 {
			obj.WriteByte(',')
		}
		k, _ := json.Marshal(o.Address)
		obj.Write(k)
		obj.WriteByte(':')
		obj.WriteString(string(FormatAmount(o.AmountSat)))
	}
	if data != nil {
		if len(outputs) > 0 {
			obj.WriteByte(',')
		}
		obj.WriteString(`"data":"` + hex.EncodeToString(data) + `"`)
	}
	obj.WriteByte('}')
	var h string
	err := c.Call(ctx, "createrawtransaction", []any{inputs, json.RawMessage(obj.Bytes()), locktime}, &h)
	return h, err
}

// FundedTransaction is fundrawtransaction's result.
type FundedTransaction struct {
	Hex       string `json:"hex"`
	ChangePos int    `json:"changepos"` // -1 without change
	Fee       Amount `json:"fee"`       // satoshis: inputs − outputs
}

// FundRawTransaction adds wallet inputs (never locked ones; unsigned) and
// one change output to a transaction; its outputs are not reduced, so the
// fee comes on top. A wallet that cannot pay is an *Error -32603
// "Insufficient funds".
func (c *Client) FundRawTransaction(ctx context.Context, txHex string, includeWatching bool) (*FundedTransaction, error) {
	var f FundedTransaction
	if err := c.Call(ctx, "fundrawtransaction", []any{txHex, includeWatching}, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// PrevTx describes an output a transaction spends, for signing inputs the
// node does not know.
type PrevTx struct {
	TxID         string `json:"txid"`
	Vout         uint32 `json:"vout"`
	ScriptPubKey string `json:"scriptPubKey"`
	RedeemScript string `json:"redeemScript,omitempty"`
}

// SignError is an input signrawtransaction could not sign.
type SignError struct {
	TxID      string `json:"txid"`
	Vout      uint32 `json:"vout"`
	ScriptSig string `json:"scriptSig"`
	Sequence  uint32 `json:"sequence"`
	Error     string `json:"error"` // e.g. "Input not found or already spent"
}

// SignedTransaction is signrawtransaction's result.
type SignedTransaction struct {
	Hex      string      `json:"hex"`
	Complete bool        `json:"complete"`
	Errors   []SignError `json:"errors"`
}

// SignRawTransaction signs a transaction's inputs with the wallet's keys.
// prevTxs, privKeys and sigHashType ("" is "ALL") are optional. An input
// that is unknown or spent in the chain comes back in Errors ("Input not
// found or already spent") and Complete is false: that is no RPC error.
func (c *Client) SignRawTransaction(ctx context.Context, txHex string, prevTxs []PrevTx, privKeys []string, sigHashType string) (*SignedTransaction, error) {
	params := []any{txHex}
	if prevTxs != nil || privKeys != nil || sigHashType != "" {
		var p, k any
		if prevTxs != nil {
			p = prevTxs
		}
		if privKeys != nil {
			k = privKeys
		}
		if sigHashType == "" {
			sigHashType = "ALL"
		}
		params = append(params, p, k, sigHashType)
	}
	var s SignedTransaction
	if err := c.Call(ctx, "signrawtransaction", params, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// SendRawTransaction broadcasts a signed transaction and returns its id.
// It is idempotent: a transaction already in the mempool returns its id
// again; one already mined with an unspent output is an *Error -27
// (CodeTransactionAlreadyInChain); -25 and -26 need a look at the inputs
// (GetTxOut) and at the transaction (GetTransaction) to tell a dead
// transaction from a confirmed one whose outputs are spent. Only a nil
// error or -27 prove the broadcast; a timeout proves nothing either way.
func (c *Client) SendRawTransaction(ctx context.Context, txHex string, allowHighFees, instantSend bool) (string, error) {
	var txid string
	err := c.Call(ctx, "sendrawtransaction", []any{txHex, allowHighFees, instantSend}, &txid)
	return txid, err
}

// LockUnspent locks (unlock false) or unlocks outputs, so that neither
// fundrawtransaction nor sendmany spends them. Locks live in the node's
// memory only: a restart forgets them.
func (c *Client) LockUnspent(ctx context.Context, unlock bool, outpoints []OutPoint) error {
	if outpoints == nil {
		outpoints = []OutPoint{}
	}
	return c.lockUnspent(ctx, []any{unlock, outpoints})
}

// UnlockAllUnspent unlocks every locked output (lockunspent true).
func (c *Client) UnlockAllUnspent(ctx context.Context) error {
	return c.lockUnspent(ctx, []any{true})
}

func (c *Client) lockUnspent(ctx context.Context, params []any) error {
	var ok bool
	if err := c.Call(ctx, "lockunspent", params, &ok); err != nil {
		return err
	}
	if !ok {
		return errors.New("rpcclient: lockunspent answered false")
	}
	return nil
}

// ListLockUnspent returns the locked outputs.
func (c *Client) ListLockUnspent(ctx context.Context) ([]OutPoint, error) {
	var l []OutPoint
	if err := c.Call(ctx, "listlockunspent", nil, &l); err != nil {
		return nil, err
	}
	return l, nil
}

// GetRawTransaction returns a transaction's hex. Without -txindex the node
// finds only mempool transactions and mined ones that still have an
// unspent output; otherwise it is an *Error -5 ("No information available
// about transaction"): ask GetTransaction for the wallet's own.
func (c *Client) GetRawTransaction(ctx context.Context, txid string) (string, error) {
	var h string
	err := c.Call(ctx, "getrawtransaction", []any{txid, 0}, &h)
	return h, err
}

// RawTransactionVerbose is getrawtransaction's decoded form: the decoded
// transaction plus its hex and, once mined, its block.
type RawTransactionVerbose struct {
	RawTransaction
	Hex           string `json:"hex"`
	BlockHash     string `json:"blockhash"` // "" in the mempool
	Height        int64  `json:"height"`
	Confirmations int64  `json:"confirmations"` // 0 in the mempool
	Time          int64  `json:"time"`
	BlockTime     int64  `json:"blocktime"`
}

// GetRawTransactionVerbose returns a transaction decoded (getrawtransaction
// txid 1), with the same reach as GetRawTransaction.
func (c *Client) GetRawTransactionVerbose(ctx context.Context, txid string) (*RawTransactionVerbose, error) {
	var r RawTransactionVerbose
	if err := c.Call(ctx, "getrawtransaction", []any{txid, 1}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// TxOut is gettxout's result: an unspent output.
type TxOut struct {
	BestBlock     string       `json:"bestblock"`
	Confirmations int64        `json:"confirmations"` // 0 for a mempool output
	Value         Amount       `json:"value"`
	ScriptPubKey  ScriptPubKey `json:"scriptPubKey"`
	Version       int32        `json:"version"`
	Coinbase      bool         `json:"coinbase"`
}

// GetTxOut returns an unspent output, or nil if it is spent (in the
// mempool too, with includeMempool) or unknown.
func (c *Client) GetTxOut(ctx context.Context, txid string, vout uint32, includeMempool bool) (*TxOut, error) {
	var o *TxOut
	if err := c.Call(ctx, "gettxout", []any{txid, vout, includeMempool}, &o); err != nil {
		return nil, err
	}
	return o, nil
}

// Unspent is one entry of listunspent.
type Unspent struct {
	TxID          string `json:"txid"`
	Vout          uint32 `json:"vout"`
	Address       string `json:"address"`
	Account       string `json:"account"`
	ScriptPubKey  string `json:"scriptPubKey"`
	Amount        Amount `json:"amount"`
	Confirmations int64  `json:"confirmations"`
	Spendable     bool   `json:"spendable"`
}

// ListUnspent returns the wallet's spendable, unlocked outputs with
// minConf..maxConf confirmations, only those paying addresses if any are
// given.
func (c *Client) ListUnspent(ctx context.Context, minConf, maxConf int, addresses []string) ([]Unspent, error) {
	params := []any{minConf, maxConf}
	if addresses != nil {
		params = append(params, addresses)
	}
	var l []Unspent
	if err := c.Call(ctx, "listunspent", params, &l); err != nil {
		return nil, err
	}
	return l, nil
}

// Data returns the bytes of a data output (`OP_RETURN <data>`, type
// "nulldata"); ok is false for any other output.
func (v RawVout) Data() (data []byte, ok bool) {
	if v.ScriptPubKey.Type != "nulldata" {
		return nil, false
	}
	script, err := hex.DecodeString(v.ScriptPubKey.Hex)
	if err != nil {
		return nil, false
	}
	return biblepay.NullData(script)
}

// OutPointOf names an output of a transaction id.
func OutPointOf(txid string, vout uint32) OutPoint { return OutPoint{TxID: txid, Vout: vout} }

func (o OutPoint) String() string { return o.TxID + ":" + strconv.FormatUint(uint64(o.Vout), 10) }

// Inputs are the outputs a decoded transaction spends.
func (t *RawTransaction) Inputs() []OutPoint {
	ops := make([]OutPoint, 0, len(t.Vin))
	for _, in := range t.Vin {
		if in.Coinbase == "" {
			ops = append(ops, OutPoint{TxID: in.TxID, Vout: in.Vout})
		}
	}
	return ops
}
