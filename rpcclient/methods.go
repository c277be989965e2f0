package rpcclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/purepool/purepool/biblepay"
)

// ExecError is an `exec` reply that carries an "error" field instead of
// data (e.g. `exec subsidy` for a height above the tip: "block not found").
type ExecError struct {
	Command string
	Message string
}

func (e *ExecError) Error() string { return fmt.Sprintf("exec %s: %s", e.Command, e.Message) }

// RejectedError is submitblock's refusal, with the node's reason
// ("high-hash", "bad-prevblk", "duplicate", ...).
type RejectedError struct{ Reason string }

func (e *RejectedError) Error() string { return "block rejected: " + e.Reason }

// GetBlockCount returns the tip height.
func (c *Client) GetBlockCount(ctx context.Context) (int64, error) {
	var n int64
	err := c.Call(ctx, "getblockcount", nil, &n)
	return n, err
}

// GetBlockHash returns the hash of the main-chain block at a height.
func (c *Client) GetBlockHash(ctx context.Context, height int64) (string, error) {
	var h string
	err := c.Call(ctx, "getblockhash", []any{height}, &h)
	return h, err
}

// GetBlock returns a block's verbose JSON.
func (c *Client) GetBlock(ctx context.Context, hash string) (*Block, error) {
	var b Block
	if err := c.Call(ctx, "getblock", []any{hash, true}, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// GetBlockHex returns a serialized block (getblock hash false).
func (c *Client) GetBlockHex(ctx context.Context, hash string) (string, error) {
	var h string
	err := c.Call(ctx, "getblock", []any{hash, false}, &h)
	return h, err
}

// SubmitBlock offers a block; a refusal is a *RejectedError.
func (c *Client) SubmitBlock(ctx context.Context, blockHex string) error {
	var reason *string
	if err := c.Call(ctx, "submitblock", []any{blockHex}, &reason); err != nil {
		return err
	}
	if reason != nil && *reason != "" {
		return fmt.Errorf("rpcclient: submitblock: %w", &RejectedError{Reason: *reason})
	}
	return nil
}

// GetBlockTemplate returns work for a miner.
func (c *Client) GetBlockTemplate(ctx context.Context) (*BlockTemplate, error) {
	var t BlockTemplate
	if err := c.Call(ctx, "getblocktemplate", []any{}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// GetMiningInfo returns the node's mining summary.
func (c *Client) GetMiningInfo(ctx context.Context) (*MiningInfo, error) {
	var m MiningInfo
	if err := c.Call(ctx, "getmininginfo", nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// exec sends every argument as a JSON string, as the node requires.
func (c *Client) exec(ctx context.Context, command string, args []string, result any) error {
	var raw json.RawMessage
	if err := c.Call(ctx, "exec", execParams(command, args), &raw); err != nil {
		return err
	}
	return decodeExec(command, raw, result)
}

// execParams is an exec call's parameters: the command, then every
// argument as a JSON string.
func execParams(command string, args []string) []any {
	params := make([]any, 0, len(args)+1)
	params = append(params, command)
	for _, a := range args {
		params = append(params, a)
	}
	return params
}

// decodeExec decodes an exec result, turning a reply that carries an
// "error" field into an *ExecError.
func decodeExec(command string, raw json.RawMessage, result any) error {
	var e struct {
		Command string `json:"Command"`
		Error   string `json:"error"`
	}
	if err := json.Unmarshal(raw, &e); err == nil && e.Error != "" {
		return fmt.Errorf("rpcclient: %w", &ExecError{Command: command, Message: e.Error})
	}
	if err := json.Unmarshal(raw, result); err != nil {
		return fmt.Errorf("rpcclient: exec %s: decode result: %w", command, err)
	}
	return nil
}

// ExecSubsidy returns `exec subsidy <height>`. A height outside 1..tip is an
// *ExecError ("block not found").
func (c *Client) ExecSubsidy(ctx context.Context, height int64) (*Subsidy, error) {
	var s Subsidy
	if err := c.exec(ctx, "subsidy", []string{strconv.FormatInt(height, 10)}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// ExecPinfo returns `exec pinfo`: the tip height and the max nonce now.
func (c *Client) ExecPinfo(ctx context.Context) (*Pinfo, error) {
	var p Pinfo
	if err := c.exec(ctx, "pinfo", nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// ErrNoBibleHash is returned when `exec biblehash` leaves the BibleHash key
// out (empty block hash, a time ≤ 0 or a negative height).
var ErrNoBibleHash = errors.New("rpcclient: exec biblehash returned no BibleHash")

// ExecBibleHash asks the node for the BibleHash of a share's fields 0, 1, 2,
// 3 and 13.
func (c *Client) ExecBibleHash(ctx context.Context, blockHash string, blockTime, prevBlockTime, prevHeight int64, nonce uint32) (string, error) {
	var raw json.RawMessage
	if err := c.Call(ctx, "exec", execParams("biblehash", bibleHashArgs(blockHash, blockTime, prevBlockTime, prevHeight, nonce)), &raw); err != nil {
		return "", err
	}
	return decodeBibleHash(raw)
}

func bibleHashArgs(blockHash string, blockTime, prevBlockTime, prevHeight int64, nonce uint32) []string {
	return []string{blockHash, strconv.FormatInt(blockTime, 10), strconv.FormatInt(prevBlockTime, 10),
		strconv.FormatInt(prevHeight, 10), strconv.FormatUint(uint64(nonce), 10)}
}

func decodeBibleHash(raw json.RawMessage) (string, error) {
	var r struct {
		BibleHash string `json:"BibleHash"`
	}
	if err := decodeExec("biblehash", raw, &r); err != nil {
		return "", err
	}
	if r.BibleHash == "" {
		return "", ErrNoBibleHash
	}
	return r.BibleHash, nil
}

// ExecHexBlockToCoinbase decodes a share's block (field 14); txHex (field
// 15) is passed along and ignored by the node. A bad block is an *Error
// with code -22.
func (c *Client) ExecHexBlockToCoinbase(ctx context.Context, blockHex, txHex string) (*HexBlockCoinbase, error) {
	var r HexBlockCoinbase
	if err := c.exec(ctx, "hexblocktocoinbase", []string{blockHex, txHex}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// BlockCoinbase reads the coinbase of the main-chain block at a height
// exactly, from the serialized block: vout[0]'s value in satoshis (exec
// subsidy truncates to whole BBP), its recipient and the miner guid.
func (c *Client) BlockCoinbase(ctx context.Context, height int64) (*Coinbase, error) {
	hash, err := c.GetBlockHash(ctx, height)
	if err != nil {
		return nil, err
	}
	hexBlock, err := c.GetBlockHex(ctx, hash)
	if err != nil {
		return nil, err
	}
	bl, err := biblepay.ParseBlockHex(hexBlock)
	if err != nil {
		return nil, fmt.Errorf("rpcclient: block %s: %w", hash, err)
	}
	cb := bl.Txs[0]
	if len(cb.Outputs) == 0 {
		return nil, fmt.Errorf("rpcclient: block %s: %w: coinbase has no outputs", hash, biblepay.ErrMalformedTx)
	}
	msg := cb.Message()
	out := &Coinbase{
		Height:    height,
		BlockHash: hash,
		Time:      int64(bl.Header.Time),
		Bits:      bl.Header.Bits,
		TxID:      cb.TxID(),
		ValueSat:  cb.Outputs[0].Value,
		MinerGUID: biblepay.ExtractXML(msg, "<MINERGUID>", "</MINERGUID>"),
		Version:   biblepay.ExtractXML(msg, "<VER>", "</VER>"),
		Message:   msg,
	}
	out.Recipient, _ = c.network.AddressFromScript(cb.Outputs[0].ScriptPubKey)
	return out, nil
}

// CoinbaseValueSat is vout[0]'s exact value of the block at a height.
func (c *Client) CoinbaseValueSat(ctx context.Context, height int64) (int64, error) {
	cb, err := c.BlockCoinbase(ctx, height)
	if err != nil {
		return 0, err
	}
	return cb.ValueSat, nil
}

// DecodeRawTransaction decodes a hex transaction.
func (c *Client) DecodeRawTransaction(ctx context.Context, txHex string) (*RawTransaction, error) {
	var r RawTransaction
	if err := c.Call(ctx, "decoderawtransaction", []any{txHex}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SendMany pays several addresses (satoshis) in one transaction from the
// default account. subtractFeeFrom lists the addresses that pay the fee;
// comment is stored with the transaction and shows in ListTransactions,
// which is how a payer finds a send whose reply it never saw.
func (c *Client) SendMany(ctx context.Context, amounts map[string]int64, minConf int, comment string, subtractFeeFrom []string) (string, error) {
	obj := make(map[string]json.Number, len(amounts))
	for a, v := range amounts {
		obj[a] = FormatAmount(v)
	}
	if subtractFeeFrom == nil {
		subtractFeeFrom = []string{}
	}
	var txid string
	err := c.Call(ctx, "sendmany", []any{"", obj, minConf, comment, subtractFeeFrom}, &txid)
	return txid, err
}

// SendToAddress pays one address (satoshis).
func (c *Client) SendToAddress(ctx context.Context, address string, amountSat int64, comment, commentTo string, subtractFee bool) (string, error) {
	var txid string
	err := c.Call(ctx, "sendtoaddress", []any{address, FormatAmount(amountSat), comment, commentTo, subtractFee}, &txid)
	return txid, err
}

// GetTransaction returns a wallet transaction; an unknown id is an *Error
// with code -5.
func (c *Client) GetTransaction(ctx context.Context, txid string) (*Transaction, error) {
	var t Transaction
	if err := c.Call(ctx, "gettransaction", []any{txid}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ListTransactions returns up to count wallet entries after skipping the
// from most recent, oldest first (account "*" for all).
func (c *Client) ListTransactions(ctx context.Context, account string, count, from int) ([]TransactionEntry, error) {
	var l []TransactionEntry
	err := c.Call(ctx, "listtransactions", []any{account, count, from}, &l)
	return l, err
}

// GetWalletInfo returns the wallet's balances.
func (c *Client) GetWalletInfo(ctx context.Context) (*WalletInfo, error) {
	var w WalletInfo
	if err := c.Call(ctx, "getwalletinfo", nil, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// ValidateAddress asks the node about an address.
func (c *Client) ValidateAddress(ctx context.Context, address string) (*AddressValidation, error) {
	var v AddressValidation
	if err := c.Call(ctx, "validateaddress", []any{address}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// GetNewAddress returns a new address of the node's wallet.
func (c *Client) GetNewAddress(ctx context.Context) (string, error) {
	var a string
	err := c.Call(ctx, "getnewaddress", nil, &a)
	return a, err
}
