// Chain RPCs: block count, hashes and blocks, getblockchaininfo, and
// decoderawtransaction with the JSON form of blocks and transactions.

package simnode

import (
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/purepool/purepool/biblepay"
)

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

func rpcDecodeRawTransaction(c *call) (any, error) {
	if err := c.count(1, 1, `"hexstring"`); err != nil {
		return nil, err
	}
	tx, err := c.txHex(0)
	if err != nil {
		return nil, err
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
