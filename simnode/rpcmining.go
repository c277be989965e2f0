// Mining and pool RPCs: getmininginfo, getblocktemplate, submitblock, and exec
// (biblehash, pinfo, subsidy, hexblocktocoinbase) with the node's lenient
// number and hash parsing.

package simnode

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/purepool/purepool/biblepay"
)

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
